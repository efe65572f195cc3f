//! The I/O thread of one connection: handshake, then the read/write/heartbeat loop.
//!
//! Invariants:
//! - One thread per accepted socket (named `tern-ws-io`, small stack), never a scheduler
//!   worker; once its socket is finished it may wait for the next one (`pool.rs`). The
//!   socket is a `ws::WsStream` (plain or TLS) shared with senders through `Out::sock`. This
//!   thread is its only reader (reads also drive the TLS handshake and feed the TLS session),
//!   the only one that shuts it down, and owns the `ws::Connection` protocol state and the
//!   heartbeat. Every thread, this one included, writes it only under the connection's `out`
//!   lock (`conn.rs`); for TLS the writer encrypts its own records (`WsStream`'s short locks,
//!   taken after `out`). The socket is NON-BLOCKING; the thread waits only in `poll(2)`, on
//!   the socket and the connection's wake fd, with the timeout set to the next real deadline
//!   (handshake, heartbeat, close), asking for POLLOUT while frames are queued or TLS
//!   ciphertext waits in the stream (`wants_write`; `flush` finishes it with
//!   `flush_pending`). An idle connection wakes only for its heartbeat (and once,
//!   `TRIM_IDLE_STACK_AFTER` after opening, to give back stack pages: `sys::trim_stack`).
//!   The wake fd is the thread's own, kept across the connections it serves and drained
//!   before each (`thread_wake_fd`); a late signal from a finished connection's handle is a
//!   spurious wake-up, which the loop tolerates.
//! - Reads: a read that drained the socket (`WsStream::read_drained`) goes straight to
//!   `poll(2)`, skipping the read that would only say `WouldBlock`. A TLS peer that closes TCP
//!   without close_notify counts as the peer closing (`eof_as_zero`), like a plain FIN.
//! - Other threads never touch the protocol state: they queue or write frames (see
//!   `conn.rs`) and, to close, set `Out::close_req` and wake this thread, which runs the close
//!   through `ws::Connection` and queues the close frame last.
//! - Inbound flow control: after posting a message, if the actor's unprocessed input is over
//!   the bounds, the thread sets `paused`, re-checks, and stops feeding and reading (the rest
//!   of the current read, at most one buffer, waits in `stash`) and stops asking for POLLIN;
//!   the actor's tickets wake it once under the bounds again.
//! - Order of output: a pong goes out before anything queued after the ping was read; when the
//!   peer's close (or a protocol error) follows messages the actor has not handled yet, our
//!   close frame is held until the actor has handled them (at most `close_timeout`), so their
//!   answers precede it.
//! - Waits that depend on the peer are bounded: the handshake by `handshake_timeout`, a
//!   closing connection by `close_timeout`, a silent open one by the heartbeat; a peer that
//!   overflowed its outbound buffer is dropped as soon as its close frame cannot be written.
//! - `Connect`, messages and `Closed` are posted with `ServerShared::post`: under
//!   `run_actor_on_io_thread` an idle actor's step runs on this thread (`send_inline`). An
//!   actor spawned waiting thus runs `on_connect` here, and the decision is there when it
//!   returns; otherwise the thread waits for it in `poll(2)` on the wake fd.
//! - Exactly once per connection whose `Connect` was posted and that the actor did not
//!   reject, `Loop::finish` runs: the socket is released, the connection leaves every room
//!   and the server's table, then `Closed` is posted (so `on_close` sees it out of every
//!   room). The socket is then dropped at once after a clean close the client began on
//!   plain TCP, else after a bounded linger (`linger`).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws::{
    CloseState, Connection, HandshakeStatus, HeartbeatAction, HeartbeatState, Response, Role,
    ServerHandshake, WsStream,
};

use crate::bufpool;
use crate::conn::{Conn, Decision, Phase, RequestInfo};
use crate::event::{Data, Event, EventKind, Ticket};
use crate::handler::panic_text;
use crate::outbound::{Chunk, Pushed};
use crate::server::ServerShared;
use crate::sys::{self, EventFd, PollFd};

/// Bytes read per loop turn at most, so queued output gets its turn.
const READ_TURN: usize = 256 * 1024;
/// How long after opening a connection its thread gives back the stack pages the handshake
/// and its first messages touched (one `madvise`; later, at each heartbeat ping). Short
/// connections (connect, a message, close) end before it and never pay the `madvise`; a
/// connection still open by then is likely to stay open, and stops holding the pages early.
const TRIM_IDLE_STACK_AFTER: Duration = Duration::from_millis(100);
/// Smallest stack for a TLS connection thread: the TLS handshake runs deeper, and a TLS read
/// (`ws::WsStream`) takes its ciphertext into an 18 KiB local. Idle, the thread gives those
/// pages back (`sys::trim_stack`).
const TLS_MIN_STACK: usize = 256 * 1024;

/// Starts serving an accepted socket: on a spare thread if one waits (see `pool.rs`), else on
/// a new thread. The caller has taken a `live` slot; the thread gives it back when the
/// socket is finished.
pub(crate) fn start(s: Arc<ServerShared>, sock: TcpStream, peer: SocketAddr) -> io::Result<()> {
    let Err((sock, peer)) = s.pool.hand_over(sock, peer) else {
        return Ok(());
    };
    let stack = if s.tls.is_some() {
        s.opts.io_thread_stack.max(TLS_MIN_STACK)
    } else {
        s.opts.io_thread_stack
    };
    std::thread::Builder::new()
        .name("tern-ws-io".into())
        .stack_size(stack)
        .spawn(move || {
            let mut job = Some((sock, peer));
            while let Some((sock, peer)) = job {
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| run(&s, sock, peer))) {
                    log::error!("connection thread for {peer} panicked: {}", panic_text(&*p));
                }
                s.thread_done();
                job = s.pool.next();
            }
        })?;
    Ok(())
}

thread_local! {
    /// This I/O thread's wake fd, kept from one connection to the next (see
    /// `thread_wake_fd`).
    static WAKE: std::cell::RefCell<Option<Arc<EventFd>>> = const { std::cell::RefCell::new(None) };
}

/// The wake fd for the connection this I/O thread is about to serve: the thread's own,
/// created once and drained here, so that a connection costs no `eventfd` and `close`. A
/// finished connection's handle may still signal it (a late ticket); the loop treats that as
/// the spurious wake-up it tolerates anyway.
fn thread_wake_fd() -> io::Result<Arc<EventFd>> {
    WAKE.with(|w| {
        let mut w = w.borrow_mut();
        if let Some(fd) = &*w {
            fd.drain();
            return Ok(fd.clone());
        }
        let fd = Arc::new(EventFd::new()?);
        *w = Some(fd.clone());
        Ok(fd)
    })
}

fn ws_config(o: &crate::Options) -> ws::Config {
    let d = ws::Config::default();
    ws::Config {
        max_header_bytes: o.max_request_bytes,
        handshake_timeout: o.handshake_timeout,
        max_frame_size: o.max_frame_size,
        max_message_size: o.max_message_size,
        ping_interval: o.heartbeat_interval.unwrap_or(d.ping_interval),
        pong_timeout: o.heartbeat_timeout,
        close_timeout: o.close_timeout,
        ..d
    }
}

pub(crate) enum Wait {
    Ready,
    TimedOut,
    Stopping,
}

/// Waits for the socket (`events`), the wake fd (if any) or the server's stop, until
/// `deadline`. Returns the socket's revents too.
///
/// Only threads still in the handshake (`watch_stop`) watch the server's stop fd: it stays
/// readable once signalled, and open connections are told to close through their own wake fd.
pub(crate) fn wait(
    s: &ServerShared,
    sock: &TcpStream,
    events: i16,
    wake: Option<&EventFd>,
    deadline: Option<Instant>,
    watch_stop: bool,
) -> io::Result<(Wait, i16)> {
    // A socket polled for nothing still reports errors and hang-ups; `events < 0` leaves it
    // out entirely (a paused reader that already saw a hang-up must not spin on it).
    let sock_fd = if events < 0 { -1 } else { sock.as_raw_fd() };
    let mut fds = [
        PollFd::new(sock_fd, events.max(0)),
        PollFd::new(if watch_stop { s.stop_wake_fd() } else { -1 }, sys::POLLIN),
        PollFd::new(wake.map_or(-1, EventFd::raw), sys::POLLIN),
    ];
    let n = sys::poll(&mut fds, deadline)?;
    if let Some(w) = wake {
        if fds[2].revents() != 0 {
            w.drain();
        }
    }
    if s.stopping.load(Ordering::SeqCst) && wake.is_none() {
        return Ok((Wait::Stopping, 0));
    }
    Ok((
        if n == 0 { Wait::TimedOut } else { Wait::Ready },
        fds[0].revents(),
    ))
}

/// Serves one accepted socket: the handshake, then the open connection. Two frames that are
/// never inlined into each other, so the stack an idle connection waits on holds only the
/// open loop's (the handshake's locals are gone; see `sys::trim_stack`).
fn run(s: &Arc<ServerShared>, sock: TcpStream, peer: SocketAddr) {
    if let Some(o) = handshake(s, sock, peer) {
        serve_open(s, o);
    }
    crate::conn::set_served_here(0);
}

/// What the handshake hands to the open loop.
struct Opened {
    conn: Conn,
    pid: scheduler::Pid,
    /// Shared with senders through `Out::sock` (see `conn.rs`).
    stream: Arc<WsStream>,
    cfg: ws::Config,
    /// Bytes that followed the upgrade request in the same read (an early first frame).
    rest: Vec<u8>,
    /// The request's last read drained the socket: the open loop waits before it reads.
    drained: bool,
}

/// Reads the upgrade request, lets the actor decide, answers refusals. `Some` once the
/// connection is open.
#[inline(never)]
fn handshake(s: &Arc<ServerShared>, sock: TcpStream, peer: SocketAddr) -> Option<Opened> {
    let deadline = Instant::now() + s.opts.handshake_timeout;
    if let Err(e) = sock.set_nonblocking(true) {
        log::debug!("{peer}: set_nonblocking: {e}");
        return None;
    }
    let _ = sock.set_nodelay(true);
    let stream = match &s.tls {
        None => WsStream::plain(sock),
        Some(cfg) => match WsStream::tls_server(sock, cfg.clone()) {
            Ok(t) => t,
            Err(e) => {
                log::warn!("{peer}: TLS session: {e}");
                return None;
            }
        },
    };
    let cfg = ws_config(&s.opts);
    let (mut req, drained) = read_request(s, &stream, &cfg, peer, deadline)?;

    let info = RequestInfo {
        path: req.path().to_string(),
        query: req.query().map(str::to_string),
        headers: req
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        protocols: req.protocols().to_vec(),
    };
    let wake = match thread_wake_fd() {
        Ok(w) => w,
        Err(e) => {
            static LIMIT: crate::ratelimit::RateLimit = crate::ratelimit::RateLimit::new();
            if let Some(n) = LIMIT.check() {
                log::warn!("{peer}: cannot create an eventfd ({e}); answering 503 ({n} more since the last such line)");
            }
            let _ = write_response(s, &stream, &crate::busy::response(), deadline);
            return None;
        }
    };
    let conn = Conn::new(
        ServerShared::next_conn_id(),
        peer,
        s.tls.is_some(),
        info,
        s.clone(),
        wake,
    );
    crate::conn::set_served_here(conn.id());
    let stream = Arc::new(stream);
    {
        let mut out = conn.inner.lock_out();
        out.upgrade = Some(Response::accept(&req));
        out.decide_by = Some(deadline);
        out.sock = Some(stream.clone());
    }
    s.register(&conn);
    let pid = match catch_unwind(AssertUnwindSafe(|| s.spawn_actor(conn.clone()))) {
        Ok(pid) => pid,
        Err(p) => {
            log::error!(
                "{peer}: the host's spawn callback panicked: {}",
                panic_text(&*p)
            );
            conn.inner.lock_out().phase = Phase::Done;
            s.unregister(conn.id());
            let resp = Response::reject(500, "Internal Server Error");
            let _ = write_response(s, &stream, &resp, deadline);
            return None;
        }
    };
    conn.set_pid(pid);
    // The exit hook first, then `Connect` (see `watch.rs`). An actor spawned waiting
    // (`Runtime::spawn_waiting`, as the native and VM spawners do) is idle, so its
    // `on_connect` runs right here and the decision is usually made when this returns.
    crate::watch::watch(&s.rt, pid, &conn);
    s.post(pid, Event::new(conn.clone(), EventKind::Connect, None));

    // Wait for the actor's decision, under the same handshake deadline.
    let decision = loop {
        if let Some(d) = conn.take_decision() {
            break Some(d);
        }
        match wait(
            s,
            stream.tcp(),
            0,
            Some(&conn.inner.wake),
            Some(deadline),
            true,
        ) {
            Ok((Wait::TimedOut, _)) | Err(_) => break None,
            Ok((_, rev)) if rev & sys::POLLERR_HUP != 0 => break None,
            Ok(_) if s.stopping.load(Ordering::SeqCst) => break None,
            // The actor died before deciding (its exit hook's abort woke us).
            Ok(_) if !s.rt.is_alive(pid) => break conn.take_decision(),
            Ok(_) => {}
        }
    };
    // `Conn::decide` queued the 101 and opened the connection on accept (and a close may
    // already have been asked: `Closing`).
    let accepted = {
        let mut out = conn.inner.lock_out();
        if matches!(out.phase, Phase::Open | Phase::Closing) {
            true
        } else {
            out.phase = Phase::Done;
            out.upgrade = None;
            out.q.clear(); // frames sent during the handshake: never upgraded, dropped
            out.sock = None;
            false
        }
    };
    if !accepted {
        match decision {
            Some(Decision::Reject { status }) => {
                let reason = status_reason(status);
                let _ = write_response(
                    s,
                    &stream,
                    &Response::reject(status, reason),
                    deadline + Duration::from_secs(1),
                );
                end_unaccepted(s, &conn, pid, false);
            }
            _ => {
                // Timed out, stopped, or the client left: the actor gets `Closed` so it can
                // end.
                let _ = write_response(
                    s,
                    &stream,
                    &Response::reject(503, "Service Unavailable"),
                    Instant::now() + Duration::from_millis(100),
                );
                end_unaccepted(s, &conn, pid, true);
            }
        }
        return None;
    }
    let rest = req.take_rest();
    drop(req); // its copy of the headers lives in the `Conn`; keep one per connection
    Some(Opened {
        conn,
        pid,
        stream,
        cfg,
        rest,
        drained,
    })
}

/// The open connection until it ends, then `finish`.
#[inline(never)]
fn serve_open(s: &Arc<ServerShared>, o: Opened) {
    // Boxed: the loop's state is the largest thing an idle connection keeps, and on the
    // heap it does not push the wait's stack frames onto another page.
    let mut lp = Box::new(Loop {
        s,
        conn: &o.conn,
        stream: &o.stream,
        ws: Connection::new(Role::Server, &o.cfg),
        hb: s
            .opts
            .heartbeat_interval
            .map(|_| HeartbeatState::new(&o.cfg, Instant::now())),
        ended: None,
        peer_close: None,
        read_eof: false,
        paused: false,
        linger_until: None,
        give_up_if_stuck: false,
        deferred: None,
        stash: Vec::new(),
        sock_hup: false,
        trim_at: Some(Instant::now() + TRIM_IDLE_STACK_AFTER),
        trim_now: false,
        wait_first: o.drained,
    });
    let (code, reason) = lp.run(&o.rest);
    lp.finish(o.pid, code, reason);
}

/// Reads and parses the upgrade request (and runs the TLS handshake) until `deadline`. With
/// the request: whether its last read drained the socket (`WsStream::read_drained`).
fn read_request(
    s: &ServerShared,
    stream: &WsStream,
    cfg: &ws::Config,
    peer: SocketAddr,
    deadline: Instant,
) -> Option<(ws::Request, bool)> {
    let mut hs = ServerHandshake::new(cfg, Some(peer));
    loop {
        let mut buf = bufpool::take();
        match eof_as_zero(stream.read_drained(&mut buf)) {
            Ok((0, _)) => return None,
            Ok((n, drained)) => match hs.feed(&buf[..n]) {
                Ok(HandshakeStatus::Done(req)) => return Some((req, drained)),
                Ok(_) => continue,
                Err(e) => {
                    log::debug!("{peer}: bad upgrade request: {e}");
                    if let Some(resp) = Response::from_error(&e) {
                        let _ = write_response(s, stream, &resp, deadline);
                    }
                    return None;
                }
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::debug!("{peer}: during handshake: {e}");
                return None;
            }
        }
        drop(buf); // hold no buffer while waiting (slow clients)
        match wait_for_input(s, stream, deadline) {
            Ok(Wait::Ready) => {}
            Ok(Wait::TimedOut) => {
                log::debug!("{peer}: handshake timed out");
                if !stream.is_handshaking() {
                    let resp = Response::from_error(&ws::Error::HandshakeTimeout);
                    if let Some(r) = resp {
                        let _ = write_response(
                            s,
                            stream,
                            &r,
                            Instant::now() + Duration::from_millis(100),
                        );
                    }
                }
                return None;
            }
            Ok(Wait::Stopping) | Err(_) => return None,
        }
    }
}

/// An HTTP response on its way out, written as far as the socket takes it at each
/// [`ResponseOut::step`]. The one way responses are written (handshake refusals from the I/O
/// thread, the 503s over `max_connections`, plain or TLS; see `busy.rs`).
pub(crate) struct ResponseOut {
    q: crate::outbound::Outbound,
}

impl ResponseOut {
    pub(crate) fn new(resp: &Response) -> ResponseOut {
        let mut q = crate::outbound::Outbound::new(usize::MAX);
        let _ = q.push(Chunk::Owned(resp.to_bytes()), None::<&mut &WsStream>);
        ResponseOut { q }
    }

    /// Writes until the socket would block. Once everything is out (TLS: encrypted and
    /// written), sends close_notify (TLS) and shuts the socket down for writing, and returns
    /// true.
    pub(crate) fn step(&mut self, stream: &WsStream) -> io::Result<bool> {
        if !flush_queue(stream, &mut self.q)? {
            return Ok(false);
        }
        let _ = stream.shutdown(Shutdown::Write);
        Ok(true)
    }
}

/// Between two reads of a handshake (ours, or a TLS handshake whose records rustls may have
/// waiting): writes what waits without blocking, then waits for input, and for POLLOUT too
/// while records still wait, until `deadline` or the server's stop. `Err`: the write failed.
pub(crate) fn wait_for_input(
    s: &ServerShared,
    stream: &WsStream,
    deadline: Instant,
) -> io::Result<Wait> {
    match stream.flush_pending() {
        Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
        _ => {}
    }
    let events = sys::POLLIN
        | if stream.wants_write() {
            sys::POLLOUT
        } else {
            0
        };
    wait(s, stream.tcp(), events, None, Some(deadline), true).map(|(w, _)| w)
}

/// Writes `q` (TLS: ciphertext left over from earlier writes first) until the socket would
/// block. True when the queue is empty and no ciphertext waits in the stream.
pub(crate) fn flush_queue(
    stream: &WsStream,
    q: &mut crate::outbound::Outbound,
) -> io::Result<bool> {
    match stream.flush_pending() {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
        r => r?,
    }
    // `&WsStream` writes vectored: plain, one `writev`; TLS, at most 64 KiB of plaintext per
    // write, each write first flushing what the previous one left (else `WouldBlock`).
    let mut w = stream;
    Ok(q.flush(&mut w)? && !stream.wants_write())
}

/// A TLS peer closing TCP without close_notify ends the stream like a plain FIN does (`Ok(0)`).
pub(crate) fn eof_as_zero(r: io::Result<(usize, bool)>) -> io::Result<(usize, bool)> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok((0, true)),
        r => r,
    }
}

/// Writes an HTTP response (through TLS if any) until done or `deadline`, then shuts the
/// socket down for writing.
pub(crate) fn write_response(
    s: &ServerShared,
    stream: &WsStream,
    resp: &Response,
    deadline: Instant,
) -> io::Result<()> {
    let mut out = ResponseOut::new(resp);
    loop {
        if out.step(stream)? {
            return Ok(());
        }
        match wait(s, stream.tcp(), sys::POLLOUT, None, Some(deadline), true)? {
            (Wait::Ready, _) => {}
            _ => return Err(io::ErrorKind::TimedOut.into()),
        }
    }
}

fn status_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Rejected",
    }
}

/// A connection that never opened: forget it; tell the actor only if it did not decide.
fn end_unaccepted(s: &ServerShared, conn: &Conn, pid: scheduler::Pid, post_closed: bool) {
    s.rooms.leave_all(conn);
    s.unregister(conn.id());
    if post_closed {
        s.rt.send(
            pid,
            Event::new(
                conn.clone(),
                EventKind::Closed {
                    code: 1006,
                    reason: "handshake not completed".into(),
                },
                None,
            ),
        );
    }
}

/// A lingering close. Our last frames are flushed and the write side is shut (FIN sent); if
/// the socket were dropped now while the peer is still sending (a message over the limit,
/// frames after a protocol error), the kernel would answer with a RST, and a RST makes the
/// peer's kernel discard our close frame (or a 503) before the peer reads it. So read and
/// discard until the peer's FIN, an error, `until` or the server's stop (`stop()` already
/// waited its bounded time for the closes). Used after `Closed` was posted (it delays nobody
/// but this connection's own thread, which still holds its `live` slot, so `max_connections`
/// counts lingering sockets too) and after a TLS 503 (`busy.rs`).
pub(crate) fn linger(s: &ServerShared, sock: &TcpStream, until: Instant) {
    while crate::busy::discard_input(sock) {
        match wait(s, sock, sys::POLLIN, None, Some(until), true) {
            Ok((Wait::Ready, _)) => {}
            _ => return,
        }
    }
}

/// The open-connection loop's state.
struct Loop<'a> {
    s: &'a ServerShared,
    conn: &'a Conn,
    /// Also `Out::sock`: senders write it too, under the connection's `out` lock.
    stream: &'a WsStream,
    ws: Connection,
    hb: Option<HeartbeatState>,
    /// Set when the connection must end now, with the code to report.
    ended: Option<(u16, String)>,
    /// The peer's close (code, reason), once received.
    peer_close: Option<(u16, String)>,
    read_eof: bool,
    paused: bool,
    /// Once the protocol state is closed: when to stop waiting for the last bytes to drain.
    linger_until: Option<Instant>,
    /// Closing for an outbound overflow: drop the socket if the close frame does not fit.
    give_up_if_stuck: bool,
    /// Our close frame (echo or failure), held until the actor has handled the messages it
    /// was given, or until the instant.
    deferred: Option<(Vec<u8>, Instant)>,
    /// Input read but not yet fed, because reading paused (flow control) mid-buffer.
    stash: Vec<u8>,
    /// The socket reported an error or hang-up (the next read or write will say which).
    sock_hup: bool,
    /// When to give back the stack pages the handshake touched (`sys::trim_stack`), once.
    /// Not at once: `madvise` costs a TLB shoot-down on the other CPUs, which short
    /// connections should not pay.
    trim_at: Option<Instant>,
    /// Trim the stack before the next wait (from the loop's own frame, the shallowest point
    /// of an open connection, so that only the pages the wait needs stay).
    trim_now: bool,
    /// Skip the first turn's read: the handshake's last read drained the socket, so it could
    /// only say `WouldBlock`; `poll` (level-triggered) reports anything newer.
    wait_first: bool,
}

impl Loop<'_> {
    /// Runs until the connection is over; returns the code and reason for `on_close`.
    fn run(&mut self, rest: &[u8]) -> (u16, String) {
        if !rest.is_empty() {
            self.feed(rest);
        }
        loop {
            self.release_deferred();
            self.take_close_request();
            if self.ended.is_none() && !self.paused && !self.stash.is_empty() {
                let stash = std::mem::take(&mut self.stash);
                self.feed(&stash);
            }
            let mut more = false;
            if self.ended.is_none()
                && !self.paused
                && !self.read_eof
                && self.stash.is_empty()
                && !std::mem::take(&mut self.wait_first)
            {
                more = self.read();
            }
            self.timers();
            let flushed = self.flush();
            if self.give_up_if_stuck && !flushed {
                let sent = self.conn.inner.lock_out().sent_close.clone();
                self.ended
                    .get_or_insert(sent.unwrap_or((1006, String::new())));
            }
            if let Some(r) = self.done(flushed) {
                return r;
            }
            if more {
                continue;
            }
            let mut events = 0;
            if !self.paused && !self.read_eof {
                events |= sys::POLLIN;
            }
            if !flushed {
                events |= sys::POLLOUT;
            }
            if events == 0 && self.sock_hup {
                events = -1;
            }
            let deadline = self.deadline();
            if std::mem::take(&mut self.trim_now) {
                sys::trim_stack();
            }
            match wait(
                self.s,
                self.stream.tcp(),
                events,
                Some(&self.conn.inner.wake),
                deadline,
                false,
            ) {
                Ok((_, rev)) => {
                    if rev & sys::POLLERR_HUP != 0 {
                        self.sock_hup = true;
                    }
                }
                Err(e) => {
                    log::warn!("connection {}: poll: {e}", self.conn.id());
                    return (1006, "poll failed".into());
                }
            }
            if self.paused && !self.conn.inner.inbound_over() {
                self.paused = false;
                self.conn.inner.paused.store(false, Ordering::SeqCst);
            }
        }
    }

    /// Releases the connection and posts its one `Closed`.
    fn finish(&mut self, pid: scheduler::Pid, code: u16, reason: String) {
        let (s, conn, stream) = (self.s, self.conn, self.stream);
        let we_closed_first = {
            let mut out = conn.inner.lock_out();
            out.phase = Phase::Done;
            out.q.clear();
            out.sock = None;
            out.sent_close.is_some() // set when we began the close, not when we answered one
        };
        // TLS: close_notify first (best effort), then FIN.
        let _ = stream.shutdown(Shutdown::Write);
        s.rooms.leave_all(conn);
        s.unregister(conn.id());
        log::debug!(
            "connection {} from {} closed: {code} {reason:?}",
            conn.id(),
            conn.peer_addr()
        );
        s.post(
            pid,
            Event::new(conn.clone(), EventKind::Closed { code, reason }, None),
        );
        // A clean close the peer began: its close frame was its last word (RFC 6455 §5.5.1)
        // and everything it sent before has arrived, so once that is read, dropping the
        // socket sends a FIN, not a RST, and the server closes first, as §7.1.1 asks; waiting
        // for the peer's FIN would only cost this thread one more wake-up. Not when we began
        // the close: the peer may still have data in flight behind its answer (a client
        // cut off by 1009 while sending, seen with Python `websockets`), and a RST would make
        // its kernel drop our close frame unread. Nor over TLS: the peer may still send its
        // close_notify. Those linger.
        let peer_began = self.peer_close.is_some() && self.ws.is_closed() && !we_closed_first;
        if peer_began && matches!(stream, WsStream::Plain(_)) {
            let _ = crate::busy::discard_input(stream.tcp());
            return;
        }
        linger(
            s,
            stream.tcp(),
            Instant::now() + s.opts.close_timeout.min(s.opts.close_linger),
        );
    }

    /// Another thread asked to close (`Conn::close`, overflow, crash, stop): run it through
    /// the protocol state and queue the frame last.
    fn take_close_request(&mut self) {
        let mut out = self.conn.inner.lock_out();
        let Some((code, reason, drop_pending)) = out.close_req.take() else {
            return;
        };
        if self.ws.close_state() != CloseState::Open {
            return;
        }
        match self.ws.close(Some(code), &reason, Instant::now()) {
            Ok(frame) => {
                out.q.close(Chunk::Owned(frame), drop_pending);
                // A peer that let its buffer overflow is not reading: if the close frame
                // cannot go out at once, do not wait `close_timeout` for an answer.
                self.give_up_if_stuck = code == crate::CLOSE_OUTBOUND_FULL && drop_pending;
                out.sent_close = Some((code, reason));
            }
            Err(e) => log::debug!("connection {}: close({code}): {e}", self.conn.id()),
        }
    }

    /// Reads and feeds until the socket is drained, the actor is behind, or this turn's
    /// budget is used up. Returns true in the last case: input may be waiting where `poll`
    /// cannot see it (inside rustls), so the caller must not sleep before reading again.
    fn read(&mut self) -> bool {
        // Borrowed from the pool for this turn only: an idle connection holds no buffer.
        let mut lease = bufpool::take();
        let buf = &mut *lease;
        let mut total = 0;
        while !self.paused && self.ended.is_none() {
            if total >= READ_TURN {
                return true;
            }
            match eof_as_zero(self.stream.read_drained(buf)) {
                Ok((0, _)) => {
                    self.read_eof = true;
                    return false;
                }
                Ok((n, drained)) => {
                    total += n;
                    if let Some(hb) = &mut self.hb {
                        hb.on_activity(Instant::now());
                    }
                    self.feed(&buf[..n]);
                    if drained {
                        // Skip the read that would only say WouldBlock; poll
                        // (level-triggered) reports anything newer.
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("connection {}: read: {e}", self.conn.id());
                    self.ended = Some((1006, String::new()));
                    return false;
                }
            }
        }
        false
    }

    /// Feeds input with write batching on (see `batch.rs`): what the actors send while
    /// handling it goes out at the end, one write per connection.
    fn feed(&mut self, data: &[u8]) {
        crate::batch::begin();
        self.feed_inner(data);
        crate::batch::end();
    }

    fn feed_inner(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.ws.feed(data) {
                Ok(p) => {
                    data = &data[p.consumed..];
                    if self.ws.has_output() {
                        // A pong or close echo goes out before anything the actor answers
                        // to later messages.
                        self.push_ws_output();
                    }
                    if let Some(ev) = p.event {
                        self.event(ev);
                    }
                    if self.paused && !data.is_empty() {
                        // The actor is behind: keep the rest (at most one read) for later.
                        self.stash.extend_from_slice(data);
                        return;
                    }
                }
                Err(e) => {
                    let code = e.close_code().unwrap_or(1002);
                    log::debug!(
                        "connection {}: protocol error: {e}; closing with {code}",
                        self.conn.id()
                    );
                    self.push_ws_output();
                    self.peer_close.get_or_insert((code, e.to_string()));
                    self.conn
                        .inner
                        .lock_out()
                        .sent_close
                        .get_or_insert((code, e.to_string()));
                    return;
                }
            }
        }
        self.push_ws_output();
    }

    fn event(&mut self, ev: ws::Event) {
        let data = match ev {
            ws::Event::Text(t) => Data::Text(t),
            ws::Event::Binary(b) => Data::Binary(b),
            ws::Event::Pong(p) => {
                if let Some(hb) = &mut self.hb {
                    hb.on_pong(&p, Instant::now());
                }
                return;
            }
            ws::Event::Close { code, reason } => {
                self.peer_close = Some((code, reason));
                return;
            }
            _ => return, // Ping: the pong is already in the output.
        };
        let Some(pid) = self.conn.pid() else { return };
        let inner = &self.conn.inner;
        let ticket = Ticket::new(inner.clone(), data.len());
        let ev = Event::new(self.conn.clone(), EventKind::Message(data), Some(ticket));
        // No lock is held here: the actor's step may run on this thread.
        self.s.post(pid, ev);
        if inner.inbound_over() {
            // Register, re-check: a ticket dropped in between sees `paused` and wakes us.
            inner.paused.store(true, Ordering::SeqCst);
            if inner.inbound_over() {
                self.paused = true;
            } else {
                inner.paused.store(false, Ordering::SeqCst);
            }
        }
    }

    /// Queues what the protocol state wants sent (pongs, the close echo, a failing close).
    /// Queues a deferred close frame once the actor has handled what it was given.
    fn release_deferred(&mut self) {
        let Some((_, until)) = &self.deferred else {
            return;
        };
        if self.conn.inner.inbound_msgs() > 0 && Instant::now() < *until {
            return;
        }
        let Some((bytes, _)) = self.deferred.take() else {
            return;
        };
        self.conn.inner.paused.store(false, Ordering::SeqCst);
        let mut out = self.conn.inner.lock_out();
        out.q.close(Chunk::Owned(bytes), false);
        if out.phase == Phase::Open {
            out.phase = Phase::Closing;
        }
    }

    fn push_ws_output(&mut self) {
        let Some(bytes) = self.ws.take_output() else {
            return;
        };
        let mut out = self.conn.inner.lock_out();
        if self.ws.is_closed() {
            let inner = &self.conn.inner;
            // The peer closed (or broke the protocol) right after messages the actor has not
            // handled yet: their answers go out before our close frame. Wait for the actor
            // (its tickets wake us), at most `close_timeout`.
            inner.paused.store(true, Ordering::SeqCst);
            if inner.inbound_msgs() > 0 {
                self.deferred = Some((bytes, Instant::now() + self.s.opts.close_timeout));
                return;
            }
            inner.paused.store(false, Ordering::SeqCst);
            out.q.close(Chunk::Owned(bytes), false);
            if out.phase == Phase::Open {
                out.phase = Phase::Closing;
            }
            return;
        }
        // Written at once when nothing waits (TLS ciphertext the socket did not take stays in
        // the stream: `flush` sees it through `wants_write`).
        let mut w: &WsStream = self.stream;
        let pushed = if out.q.is_empty() {
            out.q.push(Chunk::Owned(bytes), Some(&mut w))
        } else {
            out.q.push(Chunk::Owned(bytes), None::<&mut &WsStream>)
        };
        if let Pushed::Overflow { queued } = pushed {
            // A peer that pings without reading our pongs: the outbound rule applies.
            log::info!(
                "connection {}: outbound buffer full ({queued} bytes) with control frames; closing",
                self.conn.id()
            );
            drop(out);
            self.conn
                .abort(crate::CLOSE_OUTBOUND_FULL, "outbound buffer full");
            self.take_close_request();
        }
    }

    /// Writes queued output, and (TLS) ciphertext a sender's write left in the stream; true
    /// when nothing is left. While false the loop asks for POLLOUT.
    fn flush(&mut self) -> bool {
        let mut out = self.conn.inner.lock_out();
        match flush_queue(self.stream, &mut out.q) {
            Ok(done) => done,
            Err(e) => {
                log::debug!("connection {}: write: {e}", self.conn.id());
                out.q.clear();
                drop(out);
                self.ended.get_or_insert((1006, String::new()));
                true
            }
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if self.trim_at.is_some_and(|t| now >= t) {
            self.trim_at = None;
            self.trim_now = true;
        }
        if self.ws.is_closed() && self.deferred.is_none() {
            let until = *self
                .linger_until
                .get_or_insert(now + self.s.opts.close_timeout);
            if now >= until {
                log::debug!(
                    "connection {}: peer does not read our last frames; dropping it",
                    self.conn.id()
                );
                let sent = self.conn.inner.lock_out().sent_close.clone();
                self.ended.get_or_insert(
                    sent.or_else(|| self.peer_close.clone())
                        .unwrap_or((1006, String::new())),
                );
            }
            return;
        }
        if self.ws.check_close_timeout(now).is_err() {
            log::debug!(
                "connection {}: no close from the peer in time",
                self.conn.id()
            );
            let sent = self.conn.inner.lock_out().sent_close.clone();
            self.ended
                .get_or_insert(sent.unwrap_or((1006, String::new())));
            return;
        }
        if self.ws.close_state() != CloseState::Open {
            return;
        }
        let Some(hb) = &mut self.hb else { return };
        if now < hb.next_deadline() {
            return;
        }
        match hb.on_deadline(now) {
            HeartbeatAction::SendPing(p) => {
                // Idle for a whole interval: give back the stack pages that handling
                // earlier messages touched.
                self.trim_now = true;
                if let Ok(frame) = self.ws.encode_ping(&p) {
                    let mut out = self.conn.inner.lock_out();
                    let _ = out.q.push(Chunk::Owned(frame), None::<&mut &WsStream>);
                }
            }
            HeartbeatAction::TimedOut => {
                // Tell a peer that still reads (1011), as far as its buffer takes it at once,
                // then drop it: the report is 1006 (no close handshake happened).
                if let Ok(frame) = self.ws.close(Some(1011), "heartbeat timeout", now) {
                    let mut out = self.conn.inner.lock_out();
                    out.q.close(Chunk::Owned(frame), true);
                    if out.phase == Phase::Open {
                        out.phase = Phase::Closing;
                    }
                }
                log::info!(
                    "connection {} from {}: no pong in time; dropping it",
                    self.conn.id(),
                    self.conn.peer_addr()
                );
                self.ended.get_or_insert((1006, "heartbeat timeout".into()));
            }
            _ => {}
        }
    }

    /// Whether the connection is over; if so, the code and reason to report.
    fn done(&mut self, flushed: bool) -> Option<(u16, String)> {
        if self.conn.inner.force_end.load(Ordering::SeqCst) && self.ended.is_none() {
            let sent = self.conn.inner.lock_out().sent_close.clone();
            self.ended = Some(sent.unwrap_or((1006, "server stopped".into())));
        }
        if let Some(e) = self.ended.take() {
            return Some(e);
        }
        if self.deferred.is_some() {
            return None;
        }
        if self.ws.is_closed() && (flushed || self.read_eof) {
            // Both closes exchanged (or the connection failed): report the peer's code if it
            // spoke first, else the one we sent.
            let sent = self.conn.inner.lock_out().sent_close.clone();
            return Some(
                sent.or_else(|| self.peer_close.clone())
                    .unwrap_or((1006, String::new())),
            );
        }
        if self.read_eof && self.stash.is_empty() {
            // TCP ended without a close handshake (or before the peer answered ours).
            return Some((1006, String::new()));
        }
        None
    }

    fn deadline(&self) -> Option<Instant> {
        if let Some((_, until)) = &self.deferred {
            return Some(*until);
        }
        if let CloseState::CloseSent { deadline } = self.ws.close_state() {
            return Some(deadline);
        }
        if self.ws.close_state() == CloseState::Open {
            let hb = self.hb.as_ref().map(HeartbeatState::next_deadline);
            return match (hb, self.trim_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        // Closed, flushing the last frames: bounded by the close timeout too.
        self.linger_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One wake fd per I/O thread, reused and drained for each connection it serves.
    #[test]
    fn a_thread_keeps_its_wake_fd_and_drains_it_for_the_next_connection() {
        let first = thread_wake_fd().unwrap();
        first.signal(); // a late signal from the finished connection
        let second = thread_wake_fd().unwrap();
        assert!(Arc::ptr_eq(&first, &second), "a new eventfd per connection");
        assert!(
            !second.drain(),
            "the stale signal was left for the next connection"
        );
        let other = std::thread::spawn(|| thread_wake_fd().unwrap().raw())
            .join()
            .unwrap();
        assert_ne!(other, first.raw(), "threads share a wake fd");
    }
}
