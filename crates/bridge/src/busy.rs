//! The answer to a client over `max_connections`: `503 Service Unavailable` before the
//! upgrade, the same response plain or TLS.
//!
//! Invariants:
//! - The accept thread never waits here. A plain socket gets the 503 in one non-blocking
//!   write from the accept thread itself (see `server.rs`, which then drains it a while). A
//!   TLS socket needs a TLS handshake first, so it gets its own short-lived thread
//!   (`tern-ws-busy`), which runs the handshake, writes the 503, sends close_notify and
//!   drains the socket, all before `Options::busy_tls_timeout` (or `handshake_timeout` if
//!   smaller) plus `Options::busy_linger`.
//! - At most `Options::max_busy_tls_answers` such threads run per server; a TLS socket over
//!   that is closed without an answer (a flood of the TLS port costs a bounded number of
//!   threads). The slot is a [`BusySlot`](crate::server::BusySlot), given back when the
//!   thread ends, however it ends (or at once if the thread cannot be spawned).
//! - Busy threads watch the server's stop fd: `Server::stop` ends them at once and waits for
//!   them with the connection threads.
//! - Both paths go through a `ws::WsStream` (plain, or TLS with its handshake driven by the
//!   busy thread's reads) and write through [`crate::io::ResponseOut`], which sends
//!   close_notify (TLS) and shuts the socket down for writing once the response is out.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use ws::{Response, WsStream};

use crate::handler::panic_text;
use crate::io::{wait_for_input, write_response, Wait};
use crate::server::{BusySlot, ServerShared};

/// Stack of a busy TLS thread (the TLS handshake runs deeper than a plain thread needs, and a
/// TLS read takes its ciphertext into an 18 KiB local).
const BUSY_STACK: usize = 256 * 1024;

/// The response to a client over `max_connections`.
pub(crate) fn response() -> Response {
    Response::reject(503, "Service Unavailable").header("Retry-After", "1")
}

/// Reads and discards what the socket holds. Returns false once the peer has closed (or the
/// socket failed), true while it is open and would block.
pub(crate) fn discard_input(sock: &TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match (&*sock).read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

/// Answers a TLS socket over `max_connections` on its own thread, holding `slot` until it
/// ends. If the thread cannot be spawned, the socket and the slot are dropped at once.
pub(crate) fn start_tls(slot: BusySlot, sock: TcpStream, peer: SocketAddr) -> io::Result<()> {
    std::thread::Builder::new()
        .name("tern-ws-busy".into())
        .stack_size(BUSY_STACK)
        .spawn(move || {
            let s = slot.server();
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| answer_tls(s, sock, peer))) {
                log::error!("busy thread for {peer} panicked: {}", panic_text(&*p));
            }
            drop(slot);
        })?;
    Ok(())
}

/// TLS handshake, the 503 and close_notify, then the drain; every wait bounded.
fn answer_tls(s: &Arc<ServerShared>, sock: TcpStream, peer: SocketAddr) {
    let deadline = Instant::now() + s.opts.handshake_timeout.min(s.opts.busy_tls_timeout);
    let Some(cfg) = &s.tls else { return };
    if sock.set_nonblocking(true).is_err() {
        return;
    }
    let _ = sock.set_nodelay(true);
    let stream = match WsStream::tls_server(sock, cfg.clone()) {
        Ok(t) => t,
        Err(e) => {
            log::debug!("{peer}: TLS session for the 503: {e}");
            return;
        }
    };
    // (1) The TLS handshake, driven by reads. Plaintext (the request) may follow it; it is not
    // needed.
    let mut buf = [0u8; 1024];
    loop {
        match crate::io::eof_as_zero(stream.read_drained(&mut buf)) {
            Ok((0, _)) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                log::debug!("{peer}: TLS handshake for the 503: {e}");
                return;
            }
        }
        if !stream.is_handshaking() {
            break;
        }
        match wait_for_input(s, &stream, deadline) {
            Ok(Wait::Ready) => {}
            _ => {
                log::debug!("{peer}: no TLS handshake in time for the 503");
                return;
            }
        }
    }
    // (2) The 503, close_notify, and the write side shut down.
    if write_response(s, &stream, &response(), deadline).is_err() {
        return;
    }
    // (3) Drain until the client closes, or `busy_linger`.
    crate::io::linger(s, stream.tcp(), Instant::now() + s.opts.busy_linger);
}
