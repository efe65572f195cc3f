//! Rooms: named broadcast groups of connections.
//!
//! Invariants:
//! - Lock order: the room map (`map`) → one room's member table (`Room::members`) → a
//!   connection's own room list (`Conn::rooms` lock) → a connection's outbound queue. Nothing
//!   takes them in another order, and no lock here is held across a blocking call (sends are
//!   non-blocking writes or queue appends).
//! - A member is inserted only while the map is locked (read or write), and an emptied room
//!   is removed only under the map's write lock after re-checking it is still empty, so a
//!   join can never land in a room that has left the map.
//! - A connection that has ended (its room list is marked `gone`) cannot join; its rooms are
//!   all left by [`Rooms::leave_all`], which the connection's I/O thread runs when the
//!   connection ends, before `on_close` is delivered.
//! - A broadcast encodes its frame once into shared bytes; every member's queue holds the
//!   same `Arc`. A member whose queue is full is closed (1008) by its own send; the
//!   broadcaster and the other members go on.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use crate::conn::{Conn, ConnId};
use crate::frame;
use crate::outbound::Chunk;
use crate::Payload;

/// A set of named rooms. Cheap to clone (a shared handle); safe to use from any actor or
/// thread. Each server has its own ([`Server::rooms`](crate::Server::rooms),
/// [`Conn::server_rooms`]).
#[derive(Clone, Default)]
pub struct Rooms {
    map: Arc<RwLock<HashMap<Arc<str>, Arc<Room>>>>,
}

#[derive(Default)]
struct Room {
    members: RwLock<HashMap<ConnId, Conn>>,
}

impl fmt::Debug for Rooms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rooms")
            .field("rooms", &self.room_count())
            .finish()
    }
}

impl Rooms {
    /// An empty set of rooms.
    pub fn new() -> Rooms {
        Rooms::default()
    }

    /// Adds `conn` to `room` (created on first join). Returns false if it was already a
    /// member or the connection has ended.
    pub fn join(&self, conn: &Conn, room: &str) -> bool {
        {
            let map = read(&self.map);
            if let Some((k, r)) = map.get_key_value(room) {
                return add_member(r, k.clone(), conn);
            }
        }
        let mut map = write(&self.map);
        let key: Arc<str> = match map.get_key_value(room) {
            Some((k, _)) => k.clone(),
            None => {
                let k: Arc<str> = room.into();
                map.insert(k.clone(), Arc::new(Room::default()));
                k
            }
        };
        let r = map.get(&key).cloned().unwrap_or_default();
        let added = add_member(&r, key.clone(), conn);
        if !added && read(&r.members).is_empty() {
            map.remove(&key);
        }
        added
    }

    /// Removes `conn` from `room`; an emptied room vanishes. Returns false if it was not a
    /// member.
    pub fn leave(&self, conn: &Conn, room: &str) -> bool {
        let removed = {
            let map = read(&self.map);
            let Some(r) = map.get(room) else { return false };
            let removed = write(&r.members).remove(&conn.id()).is_some();
            if removed {
                conn.forget_room(room);
            }
            removed
        };
        if removed {
            self.drop_if_empty(room);
        }
        removed
    }

    /// Removes `conn` from every room and marks it gone, so that it can join no more.
    pub(crate) fn leave_all(&self, conn: &Conn) {
        for room in conn.take_rooms_and_mark_gone() {
            let map = read(&self.map);
            if let Some(r) = map.get(&*room) {
                write(&r.members).remove(&conn.id());
            }
            drop(map);
            self.drop_if_empty(&room);
        }
    }

    fn drop_if_empty(&self, room: &str) {
        let mut map = write(&self.map);
        if map.get(room).is_some_and(|r| read(&r.members).is_empty()) {
            map.remove(room);
        }
    }

    /// Sends `msg` to every member; returns how many took it. The frame is encoded once.
    pub fn broadcast<'a>(&self, room: &str, msg: impl Into<Payload<'a>>) -> usize {
        self.broadcast_inner(room, msg.into(), None)
    }

    /// Sends `msg` to every member but `except`.
    pub fn broadcast_except<'a>(
        &self,
        room: &str,
        msg: impl Into<Payload<'a>>,
        except: &Conn,
    ) -> usize {
        self.broadcast_inner(room, msg.into(), Some(except.id()))
    }

    fn broadcast_inner(&self, room: &str, msg: Payload<'_>, except: Option<ConnId>) -> usize {
        let Some(r) = read(&self.map).get(room).cloned() else {
            return 0;
        };
        let chunk = Chunk::Shared(Arc::from(frame::encode_payload(msg)));
        let members = read(&r.members);
        let mut sent = 0;
        for (id, c) in members.iter() {
            if Some(*id) != except && c.send_chunk(chunk.clone()).is_ok() {
                sent += 1;
            }
        }
        sent
    }

    /// The open members of `room` (closing ones are left out).
    pub fn members(&self, room: &str) -> Vec<Conn> {
        let Some(r) = read(&self.map).get(room).cloned() else {
            return Vec::new();
        };
        let members = read(&r.members);
        members.values().filter(|c| c.is_open()).cloned().collect()
    }

    /// Number of members of `room` (0 if it does not exist).
    pub fn member_count(&self, room: &str) -> usize {
        read(&self.map)
            .get(room)
            .map_or(0, |r| read(&r.members).len())
    }

    /// Number of rooms.
    pub fn room_count(&self) -> usize {
        read(&self.map).len()
    }

    /// Every room with its member count, sorted by name (for the REPL's `:rooms`).
    pub fn list(&self) -> Vec<(String, usize)> {
        let map = read(&self.map);
        let mut v: Vec<(String, usize)> = map
            .iter()
            .map(|(k, r)| (k.to_string(), read(&r.members).len()))
            .collect();
        v.sort();
        v
    }
}

fn add_member(r: &Room, key: Arc<str>, conn: &Conn) -> bool {
    let mut members = write(&r.members);
    if members.contains_key(&conn.id()) {
        return false;
    }
    if !conn.remember_room(key) {
        return false;
    }
    members.insert(conn.id(), conn.clone());
    true
}

// A panic while one of these locks is held cannot leave the maps half-updated (every
// critical section is a single insert or remove), so a poisoned lock is still usable.
fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
