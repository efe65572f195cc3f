//! Write batching on I/O threads: while an I/O thread feeds one read's worth of input (and
//! runs actor steps inline for it), sends made on that thread are queued instead of written,
//! and each touched connection is flushed once at the end with one `writev`. A burst of
//! broadcasts that arrived in one read then costs one write per member, not one per message.
//!
//! Invariants:
//! - Only a thread between [`begin`] and [`end`] batches; every other thread writes at once.
//! - A connection whose queue went from empty to non-empty during a batch is in this thread's
//!   list exactly once and is flushed (or its own I/O thread woken) by [`end`]; so a queue is
//!   never left non-empty with nobody responsible for it. Other senders that find it
//!   non-empty append behind, as always. The batching thread's own connection is not woken:
//!   its loop flushes its queue right after the batch (`conn::set_served_here`).
//! - [`end`] pops one connection at a time, so no `RefCell` borrow is held while flushing.

use std::cell::{Cell, RefCell};

use crate::conn::Conn;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static PENDING: RefCell<Vec<Conn>> = const { RefCell::new(Vec::new()) };
}

/// Starts batching on this thread.
pub(crate) fn begin() {
    ACTIVE.with(|a| a.set(true));
}

/// Whether this thread is batching.
pub(crate) fn active() -> bool {
    ACTIVE.with(Cell::get)
}

/// Records a connection to flush at [`end`] (its queue just became non-empty).
pub(crate) fn defer(conn: &Conn) {
    PENDING.with(|p| p.borrow_mut().push(conn.clone()));
}

/// Stops batching and flushes every connection touched.
pub(crate) fn end() {
    ACTIVE.with(|a| a.set(false));
    while let Some(c) = PENDING.with(|p| p.borrow_mut().pop()) {
        c.flush_deferred();
    }
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if p.capacity() > 4096 {
            *p = Vec::new();
        }
    });
}
