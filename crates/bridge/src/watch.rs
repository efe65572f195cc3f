//! The watcher: one small actor per server that monitors every connection actor, so that
//! a connection whose actor dies (a host actor that crashed or returned) does not stay open
//! with nobody behind it.
//!
//! Invariants:
//! - The I/O thread sends `Watch` right after it spawned the actor and `Unwatch` when the
//!   connection has ended; the watcher holds a `Conn` only in between. The watcher monitors
//!   the actor and only then posts its `Connect` event, so the monitor exists before the
//!   actor can act on the connection (and die of it).
//! - On the actor's `Down`: the connection is aborted with 1000 after a normal exit, 1011
//!   after any other; a connection already closing is left alone.

use std::collections::HashMap;

use scheduler::{Control, Message, MonitorRef, Pid, Runtime};

use crate::conn::Conn;
use crate::event::{Event, EventKind};

pub(crate) enum WatchMsg {
    Watch(Pid, Conn),
    Unwatch(Pid),
}

pub(crate) fn spawn_watcher(rt: &Runtime) -> Pid {
    let mut watched: HashMap<Pid, (MonitorRef, Conn)> = HashMap::new();
    rt.spawn_fn(move |cx, msg| {
        match msg {
            Message::Down { pid, reason, .. } => {
                if let Some((_, conn)) = watched.remove(&pid) {
                    if reason.is_normal() {
                        conn.abort(1000, "");
                    } else {
                        log::debug!(
                            "connection {}: actor {pid} exited ({reason}); closing with 1011",
                            conn.id()
                        );
                        conn.abort(1011, "internal error");
                    }
                }
            }
            other => match other.downcast::<WatchMsg>() {
                Ok(WatchMsg::Watch(pid, conn)) => {
                    // Monitor first, then hand the actor its first event: so a `Down` with
                    // `NoProc` can only mean the actor died before it heard of the connection.
                    let m = cx.monitor(pid);
                    cx.send(pid, Event::new(conn.clone(), EventKind::Connect, None));
                    watched.insert(pid, (m, conn));
                }
                Ok(WatchMsg::Unwatch(pid)) => {
                    if let Some((m, _)) = watched.remove(&pid) {
                        cx.demonitor(m);
                    }
                }
                Err(_) => {}
            },
        }
        Control::Continue
    })
}
