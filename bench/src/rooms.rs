//! The room registry shared by the peer chat servers (`tt_chat`, `fws_chat`).
//!
//! Ownership: the registry owns one outbound queue sender per member; each connection's
//! writer task owns the receiver and the socket's write half; the reader task only posts.
//! Lock: one `std::sync::Mutex` around the whole map, held only while posting with
//! `try_send` (never across an `.await` or any I/O), so a broadcast never waits on a socket.
//! A member whose queue is full (a slow reader) is removed from the room on the spot; its
//! sender is dropped, so its writer drains, sees the channel closed and closes the
//! connection. Empty rooms vanish.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::mpsc;

/// Outbound queue length per member (messages). A member this far behind is dropped.
pub const QUEUE: usize = 4096;

/// Rooms of members, each member known by an id and its outbound queue.
pub struct Rooms<T> {
    map: Mutex<HashMap<String, HashMap<u64, mpsc::Sender<T>>>>,
    next_id: AtomicU64,
}

impl<T> Default for Rooms<T> {
    fn default() -> Self {
        Rooms {
            map: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        }
    }
}

impl<T: Clone> Rooms<T> {
    /// Adds a member with outbound queue `tx` to `room`; returns its id.
    pub fn join(&self, room: &str, tx: mpsc::Sender<T>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(room.to_string()).or_default().insert(id, tx);
        id
    }

    /// Removes member `id` from `room` (no-op when already gone).
    pub fn leave(&self, room: &str, id: u64) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(members) = map.get_mut(room) {
            members.remove(&id);
            if members.is_empty() {
                map.remove(room);
            }
        }
    }

    /// Posts `msg` to every member of `room` except `from`; drops members whose queue is
    /// full or closed. Returns how many members it was posted to.
    pub fn broadcast_except(&self, room: &str, from: u64, msg: &T) -> usize {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let Some(members) = map.get_mut(room) else {
            return 0;
        };
        let mut sent = 0;
        members.retain(|&id, tx| {
            if id == from {
                return true;
            }
            let ok = tx.try_send(msg.clone()).is_ok();
            sent += ok as usize;
            ok
        });
        if members.is_empty() {
            map.remove(room);
        }
        sent
    }

    /// Number of members of `room`.
    pub fn count(&self, room: &str) -> usize {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(room).map_or(0, HashMap::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_skips_sender_and_drops_full_members() {
        let rooms = Rooms::<u32>::default();
        let (ta, mut ra) = mpsc::channel(4);
        let (tb, mut rb) = mpsc::channel(1);
        let a = rooms.join("r", ta);
        let _b = rooms.join("r", tb);
        assert_eq!(rooms.broadcast_except("r", a, &1), 1);
        assert_eq!(rb.try_recv().ok(), Some(1));
        assert!(ra.try_recv().is_err());
        // b's queue holds one message: the second fills it, the third drops b.
        assert_eq!(rooms.broadcast_except("r", a, &2), 1);
        assert_eq!(rooms.broadcast_except("r", a, &3), 0);
        assert_eq!(rooms.count("r"), 1);
        rooms.leave("r", a);
        assert_eq!(rooms.count("r"), 0);
        assert_eq!(rooms.broadcast_except("r", 0, &4), 0);
    }
}
