//! [`Handler`]: callbacks for native Rust servers, and [`HandlerProcess`], the connection
//! actor that runs them.
//!
//! The native mode is built on the host mode (`serve_with`): `serve` spawns one
//! `HandlerProcess` per connection, which receives the same [`Event`]s any host actor does.
//!
//! Invariants:
//! - Every callback runs inside the connection's actor, on a scheduler worker, one at a time.
//! - `on_close` runs exactly once for every connection `on_connect` accepted: on its `Closed`
//!   event, at once after a crash (with 1011), or at once with 1006 when the accept came too
//!   late (the handshake had ended: deadline, stop, client gone). It never runs for a
//!   rejected connection.
//! - A panic in a callback is caught here: the socket is closed with 1011, the connection
//!   leaves every room, `on_close` runs, and the actor exits with `Crashed`, so the scheduler
//!   sends exit signals to the actors linked to it. Nothing else is affected. A panic in
//!   `on_connect` rejects the request with HTTP 500 instead (there is no WebSocket yet).
//! - While a callback runs, the message's flow-control ticket is held, so the messages a
//!   handler is still working on count against the inbound bound.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use scheduler::{Context, ExitReason, Message, Process, Step};

use crate::conn::{Conn, Decision};
use crate::event::{Data, Event, EventKind};

/// Callbacks of a connection actor. Each connection gets its own clone of the handler (so
/// `&mut self` is per-connection state; share state across connections with an `Arc`
/// inside). Every method has a default.
pub trait Handler: Send + 'static {
    /// A client asks to connect (path, headers, peer, offered subprotocols are on `conn`).
    /// Default: accept. Messages sent from here (a welcome, room broadcasts after a `join`)
    /// wait for the upgrade and follow the 101 if the connection is accepted; they are
    /// dropped if it is not.
    fn on_connect(&mut self, conn: &Conn) -> Decision {
        let _ = conn;
        Decision::ACCEPT
    }
    /// The connection was accepted and is open: sends work from here on (a welcome message,
    /// joining rooms). Runs right after an accepting `on_connect`. Default: nothing.
    fn on_open(&mut self, conn: &Conn) {
        let _ = conn;
    }
    /// A whole message arrived. Default: ignore it.
    fn on_message(&mut self, conn: &Conn, msg: Data) {
        let _ = (conn, msg);
    }
    /// The connection ended, with the real close code (see `EventKind::Closed`). Runs exactly
    /// once per accepted connection. Default: nothing.
    fn on_close(&mut self, conn: &Conn, code: u16, reason: &str) {
        let _ = (conn, code, reason);
    }
    /// Another actor sent the connection's actor an ordinary message (or an exit signal or
    /// down message). Default: log it at debug level and drop it.
    fn on_info(&mut self, conn: &Conn, msg: Message) {
        log::debug!("connection {}: unhandled message {msg:?}", conn.id());
    }
}

/// The connection actor of [`serve`](crate::serve).
pub(crate) struct HandlerProcess<H> {
    h: H,
    conn: Conn,
    accepted: bool,
    closed: bool,
}

impl<H: Handler> HandlerProcess<H> {
    pub(crate) fn new(h: H, conn: Conn) -> HandlerProcess<H> {
        HandlerProcess {
            h,
            conn,
            accepted: false,
            closed: false,
        }
    }

    /// Runs one event; `Some(step)` ends the actor.
    fn handle(&mut self, ev: Event) -> Option<Step> {
        let Event {
            conn: _,
            kind,
            ticket,
        } = ev;
        match kind {
            EventKind::Connect => {
                let (h, conn) = (&mut self.h, &self.conn);
                match catch_unwind(AssertUnwindSafe(|| h.on_connect(conn))) {
                    Ok(d) => {
                        let accept = matches!(d, Decision::Accept { .. });
                        let decided = self.conn.decide(d).is_ok();
                        if decided && accept {
                            self.accepted = true;
                            let (h, conn) = (&mut self.h, &self.conn);
                            catch_unwind(AssertUnwindSafe(|| h.on_open(conn)))
                                .err()
                                .map(|p| self.crash(&*p))
                        } else if accept {
                            // The handler said yes, but the handshake had already ended
                            // (deadline, stop, client gone): it still hears the end, once.
                            self.accepted = true;
                            self.closed = true;
                            let (h, conn) = (&mut self.h, &self.conn);
                            let r = catch_unwind(AssertUnwindSafe(|| {
                                h.on_close(conn, 1006, "handshake not completed")
                            }));
                            Some(Step::Exit(match r {
                                Ok(()) => ExitReason::Normal,
                                Err(p) => ExitReason::crashed(panic_text(&*p)),
                            }))
                        } else {
                            Some(Step::Exit(ExitReason::Normal))
                        }
                    }
                    Err(p) => {
                        let msg = panic_text(&*p);
                        log::warn!("connection {}: on_connect panicked: {msg}", self.conn.id());
                        let _ = self.conn.reject(500);
                        Some(Step::Exit(ExitReason::crashed(msg)))
                    }
                }
            }
            EventKind::Message(data) => {
                let (h, conn) = (&mut self.h, &self.conn);
                let r = catch_unwind(AssertUnwindSafe(|| h.on_message(conn, data)));
                drop(ticket);
                r.err().map(|p| self.crash(&*p))
            }
            EventKind::Closed { code, reason } => {
                if self.accepted && !self.closed {
                    self.closed = true;
                    let (h, conn) = (&mut self.h, &self.conn);
                    if let Err(p) =
                        catch_unwind(AssertUnwindSafe(|| h.on_close(conn, code, &reason)))
                    {
                        let msg = panic_text(&*p);
                        log::warn!("connection {}: on_close panicked: {msg}", self.conn.id());
                        return Some(Step::Exit(ExitReason::crashed(msg)));
                    }
                }
                Some(Step::Exit(ExitReason::Normal))
            }
        }
    }

    fn crash(&mut self, payload: &(dyn Any + Send)) -> Step {
        let msg = panic_text(payload);
        log::warn!(
            "connection {} ({}): handler panicked: {msg}; closing with 1011",
            self.conn.id(),
            self.conn.peer_addr()
        );
        self.conn.abort(1011, "internal error");
        self.conn.server_rooms().leave_all(&self.conn);
        if self.accepted && !self.closed {
            self.closed = true;
            let (h, conn) = (&mut self.h, &self.conn);
            if catch_unwind(AssertUnwindSafe(|| {
                h.on_close(conn, 1011, "internal error")
            }))
            .is_err()
            {
                log::warn!("connection {}: on_close panicked too", self.conn.id());
            }
        }
        Step::Exit(ExitReason::crashed(msg))
    }
}

impl<H: Handler> Process for HandlerProcess<H> {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        while let Some(msg) = cx.recv() {
            let end = match Event::from_message(msg) {
                Ok(ev) => self.handle(ev),
                Err(other) => {
                    let (h, conn) = (&mut self.h, &self.conn);
                    catch_unwind(AssertUnwindSafe(|| h.on_info(conn, other)))
                        .err()
                        .map(|p| self.crash(&*p))
                }
            };
            if let Some(step) = end {
                return step;
            }
            if !cx.consume(1) {
                return Step::Yield;
            }
        }
        Step::WAIT
    }
}

pub(crate) fn panic_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}
