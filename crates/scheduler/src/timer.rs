//! The one timer facility: a binary heap of deadlines served by one thread.
//!
//! It serves both `send_after` (the entry holds the message) and receive timeouts (the
//! entry holds the waiting process's cell, and firing only notifies it: a process that was
//! woken by a message meanwhile just sees a spurious resume and waits again).
//!
//! Entries live in `entries` (id → entry); the heap holds `(deadline, id)`. Cancelling
//! removes the entry at once; its heap slot becomes garbage that is skipped when it
//! surfaces, and the heap is rebuilt from `entries` when garbage outnumbers live entries,
//! so cancelled timers never pile up.
//!
//! Locking: `inner` is held only for heap and map operations; due entries are collected
//! under it and acted on after it is released. The timer thread is the only one that
//! blocks on `cv`, and only while holding nothing else.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::message::Message;
use crate::pid::Pid;
use crate::table::{lock, Cell, IdMap};

pub(crate) enum Action {
    /// Wake a process waiting with a deadline.
    Wake(Arc<Cell>),
    /// `send_after`.
    Send(Pid, Message),
}

struct Entry {
    deadline: Instant,
    action: Action,
}

#[derive(Default)]
struct Inner {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    entries: IdMap<u64, Entry>,
    next_id: u64,
    shutdown: bool,
}

pub(crate) struct Timers {
    inner: Mutex<Inner>,
    cv: Condvar,
}

/// Heaps smaller than this are never rebuilt (garbage is cheap there).
const COMPACT_MIN: usize = 1024;

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            inner: Mutex::new(Inner {
                next_id: 1,
                ..Inner::default()
            }),
            cv: Condvar::new(),
        }
    }

    /// Adds a timer; returns its id.
    pub(crate) fn insert(&self, deadline: Instant, action: Action) -> u64 {
        let mut inner = lock(&self.inner);
        let id = inner.next_id;
        inner.next_id += 1;
        if inner.shutdown {
            drop(inner);
            drop(action); // nothing will ever fire it
            return id;
        }
        let earliest = inner.heap.peek().map(|Reverse((d, _))| *d);
        inner.heap.push(Reverse((deadline, id)));
        inner.entries.insert(id, Entry { deadline, action });
        drop(inner);
        if earliest.map_or(true, |e| deadline < e) {
            self.cv.notify_one();
        }
        id
    }

    /// Removes a pending timer; `true` when it had not fired yet.
    pub(crate) fn cancel(&self, id: u64) -> bool {
        let mut inner = lock(&self.inner);
        let removed = inner.entries.remove(&id);
        let heap_len = inner.heap.len();
        if heap_len > COMPACT_MIN && heap_len > 2 * inner.entries.len() {
            let live: Vec<_> = inner
                .entries
                .iter()
                .map(|(&id, e)| Reverse((e.deadline, id)))
                .collect();
            inner.heap = BinaryHeap::from(live);
        }
        drop(inner);
        removed.is_some() // the entry (maybe a message) drops here, unlocked
    }

    /// Pending timers (cancelled ones excluded).
    pub(crate) fn len(&self) -> usize {
        lock(&self.inner).entries.len()
    }

    pub(crate) fn shutdown(&self) {
        let entries = {
            let mut inner = lock(&self.inner);
            inner.shutdown = true;
            inner.heap.clear();
            std::mem::take(&mut inner.entries)
        };
        self.cv.notify_all();
        drop(entries);
    }

    /// The timer thread: waits for the earliest deadline, fires what is due, until shutdown.
    pub(crate) fn run(&self, mut fire: impl FnMut(Action)) {
        let mut due = Vec::new();
        let mut inner = lock(&self.inner);
        loop {
            if inner.shutdown {
                return;
            }
            let now = Instant::now();
            while let Some(&Reverse((deadline, id))) = inner.heap.peek() {
                if deadline > now {
                    break;
                }
                inner.heap.pop();
                if let Some(entry) = inner.entries.remove(&id) {
                    due.push(entry.action);
                }
            }
            if !due.is_empty() {
                drop(inner);
                for action in due.drain(..) {
                    // A message that cannot be delivered is dropped here, and its Drop is
                    // user code: a panic there must not stop every timer.
                    let fired = catch_unwind(AssertUnwindSafe(|| fire(action)));
                    if fired.is_err() {
                        log::error!("scheduler: a timer's message panicked when dropped");
                    }
                }
                inner = lock(&self.inner);
                continue;
            }
            inner = match inner.heap.peek() {
                None => self.cv.wait(inner).unwrap_or_else(|e| e.into_inner()),
                Some(&Reverse((deadline, _))) => {
                    let wait = deadline.saturating_duration_since(now);
                    self.cv
                        .wait_timeout(inner, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn send(n: u64) -> Action {
        Action::Send(Pid(n), Message::new(n))
    }

    #[test]
    fn cancelled_timers_do_not_pile_up() {
        let t = Timers::new();
        let far = Instant::now() + Duration::from_secs(3600);
        for i in 0..10_000 {
            let id = t.insert(far + Duration::from_millis(i), send(i));
            assert!(t.cancel(id));
            assert!(!t.cancel(id), "second cancel reports nothing pending");
        }
        assert_eq!(t.len(), 0);
        assert!(lock(&t.inner).heap.len() <= 2 * COMPACT_MIN + 1);
    }

    #[test]
    fn fires_in_deadline_order_and_stops() {
        let t = Arc::new(Timers::new());
        let now = Instant::now();
        for i in [3u64, 1, 2] {
            t.insert(now + Duration::from_millis(i), send(i));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let t2 = Arc::clone(&t);
        let h = std::thread::spawn(move || {
            t2.run(|a| {
                if let Action::Send(pid, _) = a {
                    tx.send(pid.0).unwrap();
                }
            })
        });
        let got: Vec<u64> = (0..3)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(got, vec![1, 2, 3]);
        t.shutdown();
        h.join().unwrap();
    }
}
