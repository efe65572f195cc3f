//! Watching a connection's actor: a connection whose actor exits (a host actor that
//! crashed or returned) must not stay open with nobody behind it.
//!
//! Invariants:
//! - The I/O thread calls [`watch`] right after it spawned the actor and before it posts
//!   `Connect`, so the hook exists before the actor can act on the connection (and die of
//!   it). The hook is a scheduler exit hook (`Runtime::on_exit`): setting it up wakes
//!   nobody, and when the actor exits it runs on the thread running that exit.
//! - On the actor's exit: the connection is aborted with 1000 after a normal exit, 1011
//!   after any other; a connection already closing or finished is left alone. The hook holds
//!   only a weak reference, so an actor that outlives its connection does not keep the
//!   connection's socket state (its wake fd) alive.

use std::sync::Arc;

use scheduler::{Pid, Runtime};

use crate::conn::Conn;

/// Closes `conn` when the actor `pid` exits (see the module docs).
pub(crate) fn watch(rt: &Runtime, pid: Pid, conn: &Conn) {
    let weak = Arc::downgrade(&conn.inner);
    rt.on_exit(pid, move |pid, reason| {
        let Some(inner) = weak.upgrade() else { return };
        let conn = Conn { inner };
        if reason.is_normal() {
            conn.abort(1000, "");
        } else {
            log::debug!(
                "connection {}: actor {pid} exited ({reason}); closing with 1011",
                conn.id()
            );
            conn.abort(1011, "internal error");
        }
    });
}
