//! [`Conn`]: the handle of one WebSocket connection, and the state it shares with its I/O
//! thread.
//!
//! Invariants:
//! - `ConnShared` is shared by the I/O thread, the connection actor, rooms and any sender.
//!   The I/O thread is the only one that reads the socket or ends the connection.
//! - `out` (the outbound queue, the stream for direct writes, the phase) is one mutex, held
//!   only for non-blocking work: queue appends and non-blocking writes. The stream is a
//!   shared `ws::WsStream`, plain or TLS: a sender that finds the queue empty writes to it
//!   itself (for TLS it encrypts too, under the stream's own short locks); whatever the socket
//!   does not take is queued, or (TLS) stays in the stream as ciphertext (`wants_write`), and
//!   the I/O thread is woken through `wake` to flush it on POLLOUT. A sender on an I/O thread
//!   that is feeding a read only queues, and flushes at the end of that read (`batch.rs`).
//!   Nothing is written outside that lock, so frames never interleave and TLS records keep
//!   the queue's order. The I/O thread is the only one that reads the stream (which also
//!   drives the TLS handshake) or shuts it down.
//! - Phases (in `out`): `Handshake` → `Open` (accepted; sends allowed) → `Closing` (a close
//!   frame is queued, by us or in answer to the peer; sends fail) → `Done` (socket released).
//!   Only the I/O thread moves to `Done`.
//! - Lock order: rooms locks (see `rooms.rs`) → `rooms` here → `out` → the stream's own
//!   locks (TLS: its `out`, then its `tls`; see `ws::WsStream`); `decision` → `out`. The
//!   stream's reader takes only the stream's locks, never this `out`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use scheduler::Pid;
use ws::WsStream;

use crate::error::Error;
use crate::frame;
use crate::outbound::{Chunk, Outbound, Pushed};
use crate::rooms::Rooms;
use crate::server::ServerShared;
use crate::sys::EventFd;
use crate::Payload;

/// A connection's number, unique within the process (never 0).
pub(crate) type ConnId = u64;

thread_local! {
    /// The connection this thread is the I/O thread of, while it serves it (0: none).
    static SERVED_HERE: std::cell::Cell<ConnId> = const { std::cell::Cell::new(0) };
}

/// Records that this thread now serves connection `id` (0: none), set by the I/O thread.
/// A connection's own I/O thread is never woken for what it does itself: it looks for the
/// decision right after running `Connect` inline, and flushes its queue right after each
/// write batch.
pub(crate) fn set_served_here(id: ConnId) {
    SERVED_HERE.with(|c| c.set(id));
}

/// Whether this thread is the I/O thread of connection `id`.
fn served_here(id: ConnId) -> bool {
    SERVED_HERE.with(|c| c.get()) == id
}

/// The connect decision of the connection actor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Upgrade, optionally selecting one of the subprotocols the client offered.
    Accept { protocol: Option<String> },
    /// Answer this HTTP status (403 by default) instead of upgrading.
    Reject { status: u16 },
}

impl Decision {
    /// Accept without a subprotocol.
    pub const ACCEPT: Decision = Decision::Accept { protocol: None };
    /// Reject with 403 Forbidden.
    pub const FORBIDDEN: Decision = Decision::Reject { status: 403 };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Handshake,
    Open,
    Closing,
    Done,
}

pub(crate) struct Out {
    pub(crate) q: Outbound,
    /// The stream (plain or TLS), for direct writes by senders; `None` before the I/O thread
    /// shares it and once it is released.
    pub(crate) sock: Option<Arc<WsStream>>,
    pub(crate) phase: Phase,
    /// The close we sent (code, reason), once we sent one.
    pub(crate) sent_close: Option<(u16, String)>,
    /// A close asked by another thread (code, reason, drop pending output), for the I/O
    /// thread to run through the protocol state.
    pub(crate) close_req: Option<(u16, String, bool)>,
    /// The 101 answer, prepared by the I/O thread; queued by `decide` on accept, so that
    /// frames sent right after `accept()` follow it.
    pub(crate) upgrade: Option<ws::Response>,
    /// The handshake deadline: a decision made later is refused (the I/O thread answers 503),
    /// also when `on_connect` ran on the I/O thread itself and so could not be timed out.
    pub(crate) decide_by: Option<std::time::Instant>,
}

#[derive(Default)]
struct RoomList {
    list: Vec<Arc<str>>,
    gone: bool,
}

/// The parsed upgrade request.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestInfo {
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) protocols: Vec<String>,
}

pub(crate) struct ConnShared {
    id: ConnId,
    peer: SocketAddr,
    tls: bool,
    request: RequestInfo,
    protocol: OnceLock<String>,
    pid: OnceLock<Pid>,
    pub(crate) server: Arc<ServerShared>,
    pub(crate) out: Mutex<Out>,
    pub(crate) wake: Arc<EventFd>,
    decision: Mutex<Option<Decision>>,
    rooms: Mutex<RoomList>,
    in_bytes: AtomicUsize,
    in_msgs: AtomicUsize,
    pub(crate) paused: AtomicBool,
    /// Set by `Server::stop` for connections that outlived the stop timeout.
    pub(crate) force_end: AtomicBool,
}

/// One WebSocket connection. Cheap to clone; usable from any actor or thread. A send never
/// waits for the peer or for the I/O thread: it writes what the socket takes at once and
/// queues the rest (bounded by [`Options::outbound_buffer`](crate::Options::outbound_buffer)).
#[derive(Clone)]
pub struct Conn {
    pub(crate) inner: Arc<ConnShared>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("id", &self.inner.id)
            .field("peer", &self.inner.peer)
            .field("path", &self.inner.request.path)
            .field("query", &self.inner.request.query)
            .finish()
    }
}

impl PartialEq for Conn {
    fn eq(&self, other: &Conn) -> bool {
        self.inner.id == other.inner.id
    }
}
impl Eq for Conn {}

impl Conn {
    pub(crate) fn new(
        id: ConnId,
        peer: SocketAddr,
        tls: bool,
        request: RequestInfo,
        server: Arc<ServerShared>,
        wake: Arc<EventFd>,
    ) -> Conn {
        let max = server.opts.outbound_buffer;
        Conn {
            inner: Arc::new(ConnShared {
                id,
                peer,
                tls,
                request,
                protocol: OnceLock::new(),
                pid: OnceLock::new(),
                server,
                out: Mutex::new(Out {
                    q: Outbound::new(max),
                    sock: None,
                    phase: Phase::Handshake,
                    sent_close: None,
                    close_req: None,
                    upgrade: None,
                    decide_by: None,
                }),
                wake,
                decision: Mutex::new(None),
                rooms: Mutex::new(RoomList::default()),
                in_bytes: AtomicUsize::new(0),
                in_msgs: AtomicUsize::new(0),
                paused: AtomicBool::new(false),
                force_end: AtomicBool::new(false),
            }),
        }
    }

    /// A number for this connection, unique within the process.
    pub fn id(&self) -> u64 {
        self.inner.id
    }
    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer
    }
    /// The request path, without the query string: `/room/lobby` for `/room/lobby?x=1`.
    pub fn path(&self) -> &str {
        &self.inner.request.path
    }
    /// The query string after the `?`, as sent (not decoded): `Some("x=1")` for
    /// `/room/lobby?x=1`, `None` when the request target has no `?`.
    pub fn query(&self) -> Option<&str> {
        self.inner.request.query.as_deref()
    }
    /// The request headers, names as sent.
    pub fn headers(&self) -> &[(String, String)] {
        &self.inner.request.headers
    }
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner
            .request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The subprotocols the client offered, in its order.
    pub fn requested_protocols(&self) -> &[String] {
        &self.inner.request.protocols
    }
    /// The subprotocol selected when the connection was accepted.
    pub fn subprotocol(&self) -> Option<&str> {
        self.inner.protocol.get().map(String::as_str)
    }
    /// Whether this is a wss (TLS) connection.
    pub fn is_tls(&self) -> bool {
        self.inner.tls
    }
    /// The connection actor's pid (set before its first event is posted).
    pub fn pid(&self) -> Option<Pid> {
        self.inner.pid.get().copied()
    }
    pub(crate) fn set_pid(&self, pid: Pid) {
        let _ = self.inner.pid.set(pid);
    }
    /// Whether the connection is open for sending.
    pub fn is_open(&self) -> bool {
        self.inner.lock_out().phase == Phase::Open
    }
    /// Messages (count, bytes) delivered to the connection actor and not yet processed: what
    /// inbound flow control bounds (see [`Options::inbound_queue_messages`](crate::Options)).
    pub fn pending_inbound(&self) -> (usize, usize) {
        (
            self.inner.in_msgs.load(Ordering::SeqCst),
            self.inner.in_bytes.load(Ordering::SeqCst),
        )
    }
    /// Bytes waiting in the outbound queue.
    pub fn queued_bytes(&self) -> usize {
        self.inner.lock_out().q.queued()
    }

    /// Sends a text message.
    pub fn send(&self, text: &str) -> Result<(), Error> {
        self.send_payload(Payload::Text(text))
    }
    /// Sends a binary message.
    pub fn send_binary(&self, bytes: &[u8]) -> Result<(), Error> {
        self.send_payload(Payload::Binary(bytes))
    }
    /// Sends a text or binary message.
    pub fn send_payload(&self, msg: Payload<'_>) -> Result<(), Error> {
        self.send_chunk(Chunk::Owned(frame::encode_payload(msg)))
    }

    /// Queues one encoded frame (shared by a broadcast, or owned).
    pub(crate) fn send_chunk(&self, chunk: Chunk) -> Result<(), Error> {
        let s = &*self.inner;
        let mut out = s.lock_out();
        let handshake = match out.phase {
            Phase::Open => false,
            // Sent before the upgrade (from `on_connect`): waits behind the 101.
            Phase::Handshake => true,
            Phase::Closing | Phase::Done => return Err(Error::Closed),
        };
        // On an I/O thread in the middle of a read, queue now and write once at its end.
        let batching = !handshake && crate::batch::active();
        let Out { q, sock, .. } = &mut *out;
        let pushed = match sock {
            Some(sk) if !handshake && !batching => {
                let mut w: &WsStream = sk;
                match q.push(chunk, Some(&mut w)) {
                    // TLS: the frame is encrypted but not all of it reached the socket; the
                    // I/O thread writes the rest on POLLOUT.
                    Pushed::Written if sk.wants_write() => Pushed::QueuedWake,
                    p => p,
                }
            }
            _ => q.push(chunk, None::<&mut &WsStream>),
        };
        match pushed {
            Pushed::Written | Pushed::Queued => Ok(()),
            Pushed::QueuedWake if handshake => Ok(()),
            Pushed::QueuedWake if batching => {
                drop(out);
                crate::batch::defer(self);
                Ok(())
            }
            Pushed::QueuedWake => {
                drop(out);
                s.wake.signal();
                Ok(())
            }
            Pushed::Closed => Err(Error::Closed),
            Pushed::Overflow { queued } => {
                let max = s.server.opts.outbound_buffer;
                log::info!(
                    "connection {} from {}: outbound buffer full ({queued} bytes), closing with {}",
                    s.id,
                    s.peer,
                    crate::CLOSE_OUTBOUND_FULL
                );
                s.begin_close(
                    &mut out,
                    crate::CLOSE_OUTBOUND_FULL,
                    "outbound buffer full",
                    true,
                );
                drop(out);
                s.wake.signal();
                Err(Error::OutboundFull { queued, max })
            }
        }
    }

    /// The end of a write batch (`batch.rs`): writes what the socket takes now; wakes the
    /// connection's I/O thread for the rest (queued frames, or TLS ciphertext left in the
    /// stream), unless the batch ran on that I/O thread, which flushes next anyway.
    pub(crate) fn flush_deferred(&self) {
        let s = &*self.inner;
        let mut out = s.lock_out();
        let Out { q, sock, .. } = &mut *out;
        let left = match sock {
            // An error is left for the I/O thread to meet on its own write.
            Some(sk) => !matches!(crate::io::flush_queue(sk, q), Ok(true)),
            None => !q.is_empty(),
        };
        drop(out);
        if left && !served_here(s.id) {
            s.wake.signal();
        }
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes; longer is cut
    /// at a character boundary). Frames already queued go out first. Fails if the connection
    /// is not open or the code may not be sent (RFC 6455 §7.4: 1000–1003, 1007–1011,
    /// 3000–4999).
    pub fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        if !ws::is_valid_close_code(code) {
            return Err(Error::InvalidCloseCode { code });
        }
        let s = &*self.inner;
        let mut out = s.lock_out();
        if out.phase != Phase::Open {
            return Err(Error::Closed);
        }
        s.begin_close(&mut out, code, reason, false);
        drop(out);
        s.wake.signal();
        Ok(())
    }

    /// Closes at once, dropping queued output (handler crash, dead peer). No-op if already
    /// closing.
    pub(crate) fn abort(&self, code: u16, reason: &str) {
        let s = &*self.inner;
        let mut out = s.lock_out();
        match out.phase {
            Phase::Open => s.begin_close(&mut out, code, reason, true),
            Phase::Done => return, // the I/O thread is gone: nobody to wake
            Phase::Handshake | Phase::Closing => {}
        }
        drop(out);
        s.wake.signal();
    }

    /// Accepts the connection (answer to `EventKind::Connect`).
    pub fn accept(&self) -> Result<(), Error> {
        self.decide(Decision::ACCEPT)
    }
    /// Rejects the connection with an HTTP status (403 when in doubt).
    pub fn reject(&self, status: u16) -> Result<(), Error> {
        self.decide(Decision::Reject { status })
    }
    /// Answers the connect request. On accept the 101 is queued at once, so the connection
    /// is open for sends as soon as this returns.
    pub fn decide(&self, d: Decision) -> Result<(), Error> {
        let mut slot = self
            .inner
            .decision
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut out = self.inner.lock_out();
        let late = out
            .decide_by
            .is_some_and(|t| std::time::Instant::now() >= t);
        if slot.is_some() || out.phase != Phase::Handshake || late {
            return Err(Error::AlreadyDecided);
        }
        if let Decision::Accept { protocol } = &d {
            let Some(mut resp) = out.upgrade.take() else {
                return Err(Error::AlreadyDecided);
            };
            if let Some(p) = protocol {
                let _ = self.inner.protocol.set(p.clone());
                resp = resp.protocol(p);
            }
            let Out { q, sock, .. } = &mut *out;
            // The 101 goes in front of whatever was sent during the handshake.
            q.push_front(Chunk::Owned(resp.to_bytes()));
            if let Some(sk) = sock {
                // Non-blocking; the I/O thread (woken below) writes what is left.
                let _ = crate::io::flush_queue(sk, q);
            }
            out.phase = Phase::Open;
        }
        drop(out);
        *slot = Some(d);
        drop(slot);
        if !served_here(self.inner.id) {
            self.inner.wake.signal();
        }
        Ok(())
    }
    pub(crate) fn take_decision(&self) -> Option<Decision> {
        self.inner
            .decision
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The rooms of this connection's server.
    pub fn server_rooms(&self) -> &Rooms {
        &self.inner.server.rooms
    }
    /// Joins `room` of this connection's server (see [`Rooms::join`]).
    pub fn join(&self, room: &str) -> bool {
        self.inner.server.rooms.join(self, room)
    }
    /// Leaves `room` (see [`Rooms::leave`]).
    pub fn leave(&self, room: &str) -> bool {
        self.inner.server.rooms.leave(self, room)
    }
    /// The rooms this connection is in.
    pub fn rooms(&self) -> Vec<String> {
        self.inner
            .lock_rooms()
            .list
            .iter()
            .map(|r| r.to_string())
            .collect()
    }

    pub(crate) fn remember_room(&self, room: Arc<str>) -> bool {
        let mut l = self.inner.lock_rooms();
        if l.gone {
            return false;
        }
        l.list.push(room);
        true
    }
    pub(crate) fn forget_room(&self, room: &str) {
        self.inner.lock_rooms().list.retain(|r| &**r != room);
    }
    pub(crate) fn take_rooms_and_mark_gone(&self) -> Vec<Arc<str>> {
        let mut l = self.inner.lock_rooms();
        l.gone = true;
        std::mem::take(&mut l.list)
    }
}

impl ConnShared {
    pub(crate) fn lock_out(&self) -> MutexGuard<'_, Out> {
        // Every critical section on `out` leaves it consistent (no user code runs inside),
        // so a poisoned lock is still usable.
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn lock_rooms(&self) -> MutexGuard<'_, RoomList> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves to `Closing` (no more sends) and leaves the close for the I/O thread. Caller
    /// holds `out` and wakes the I/O thread afterwards.
    pub(crate) fn begin_close(&self, out: &mut Out, code: u16, reason: &str, drop_pending: bool) {
        if out.close_req.is_none() && out.sent_close.is_none() {
            out.close_req = Some((
                code,
                frame::truncate_reason(reason).to_string(),
                drop_pending,
            ));
        }
        if out.phase == Phase::Open {
            out.phase = Phase::Closing;
        }
    }

    /// Makes the I/O thread drop the connection at once (stop timeout passed).
    pub(crate) fn force_end(&self) {
        self.force_end.store(true, Ordering::SeqCst);
        self.wake.signal();
    }

    pub(crate) fn inbound_add(&self, bytes: usize) {
        self.in_bytes.fetch_add(bytes, Ordering::SeqCst);
        self.in_msgs.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn inbound_sub(&self, bytes: usize) {
        self.in_bytes.fetch_sub(bytes, Ordering::SeqCst);
        self.in_msgs.fetch_sub(1, Ordering::SeqCst);
        // Register-recheck with the I/O thread: it stores `paused` then re-reads the counters.
        if self.paused.load(Ordering::SeqCst) && !self.inbound_over() {
            self.wake.signal();
        }
    }

    /// Messages delivered to the actor and not yet processed.
    pub(crate) fn inbound_msgs(&self) -> usize {
        self.in_msgs.load(Ordering::SeqCst)
    }

    /// Whether the actor holds more unprocessed input than the bounds allow.
    pub(crate) fn inbound_over(&self) -> bool {
        let o = &self.server.opts;
        self.in_bytes.load(Ordering::SeqCst) > o.inbound_queue_bytes
            || self.in_msgs.load(Ordering::SeqCst) >= o.inbound_queue_messages
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{channel, Sender};
    use std::time::{Duration, Instant};

    use super::Conn;
    use crate::{Handler, Options};

    #[derive(Clone)]
    struct Keep(Sender<Conn>);
    impl Handler for Keep {
        fn on_open(&mut self, conn: &Conn) {
            let _ = self.0.send(conn.clone());
        }
    }

    /// A send from another thread whose frame rustls took whole, but whose ciphertext the
    /// socket took only in part, must wake the I/O thread to write the rest on POLLOUT: that
    /// thread sits in `poll` for input only, the queue is empty, and nothing else would
    /// write the ciphertext left in the stream. The client does not read until the sends
    /// stop at the first such send; then it must receive every message (the heartbeat is
    /// off, so nothing else wakes the I/O thread).
    #[test]
    fn ciphertext_left_behind_by_a_sender_reaches_the_peer() {
        let dir = std::env::temp_dir().join(format!("tern-conn-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();

        let rt = scheduler::Runtime::new(scheduler::Config {
            workers: 2,
            ..Default::default()
        });
        let (tx, rx) = channel();
        let opts = Options {
            bind_addr: "127.0.0.1".parse().unwrap(),
            heartbeat_interval: None,
            stop_timeout: Duration::from_millis(300),
            ..Default::default()
        };
        let server = crate::serve_tls(&rt, Keep(tx), 0, &cert, &key, opts).unwrap();
        let config = ws::ClientConfig {
            tls: Some(ws::client_config_from_pem(ck.cert.pem().as_bytes()).unwrap()),
            ..Default::default()
        };
        let url = format!("wss://localhost:{}/", server.port());
        let mut client = ws::connect(&url, config).unwrap();
        let conn = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // Past the I/O thread's one timed wake-up after the open (it trims its stack then,
        // `io::TRIM_IDLE_STACK_AFTER`), which would flush the stream by the way.
        std::thread::sleep(Duration::from_millis(400));

        let msg = vec![7u8; 32 * 1024];
        let mut sent = 0;
        loop {
            conn.send_binary(&msg).unwrap();
            sent += 1;
            let out = conn.inner.lock_out();
            let left_behind = out.sock.as_ref().is_some_and(|s| s.wants_write());
            let queued = !out.q.is_empty();
            drop(out);
            if left_behind && !queued {
                break;
            }
            assert!(
                !queued,
                "send {sent} was queued before any left ciphertext behind"
            );
            assert!(sent < 100_000, "the socket never filled up");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for i in 0..sent {
            match client.recv(Some(deadline)) {
                Ok(ws::Recv::Binary(b)) => assert_eq!(b.len(), msg.len()),
                other => panic!("message {i} of {sent}: {other:?}"),
            }
        }
        server.stop();
        rt.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
