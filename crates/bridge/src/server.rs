//! [`Server`]: the listening socket, its accept thread, the table of live connections, and
//! the orderly stop.
//!
//! Invariants:
//! - The accept thread owns the listener. It never reads a request: each accepted socket is
//!   handed to its own I/O thread (see `io.rs`), which runs the handshake under the deadline.
//!   Over `max_connections` the accept thread answers `503` itself on a plain socket (one
//!   non-blocking write) and drains the client's request a short while so that the answer is
//!   not lost to a reset; at most `Options::max_busy_answers` such sockets are kept, the
//!   rest are dropped. A TLS socket over the limit gets its 503 from a short-lived busy
//!   thread, at most `Options::max_busy_tls_answers` at once; past that it is just closed
//!   (see `busy.rs`).
//! - With `Options::defer_accept` the kernel hands over a connection once its first bytes
//!   are in (or the deferral ran out), so a new I/O thread usually finds its request waiting.
//! - `live` counts the accepted sockets whose I/O thread has not finished (handshaking or
//!   open); it is what `max_connections` bounds. `conns` holds the connections that have a
//!   `Conn` (their request was parsed), so that `stop` can close them. `busy_tls` counts the
//!   busy threads (not connections: they never count against `max_connections`).
//! - Nothing here blocks a scheduler worker; the accept thread waits only in `poll(2)` on the
//!   listener and its wake fd.
//! - Stop, in order: (1) set `stopping` and wake the accept thread, which drops the listener
//!   and exits (busy threads see the same wake and end); (2) close every connection with
//!   1001 (sockets still in their handshake are dropped by their I/O thread when it sees
//!   `stopping`); (3) wait until `live` and `busy_tls` are 0 or `stop_timeout` passes;
//!   (4) abort what is left (their I/O threads drop the sockets at once) and wait a short
//!   moment more.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scheduler::{Pid, Runtime};

use crate::conn::{Conn, ConnId};
use crate::error::Error;
use crate::handler::{Handler, HandlerProcess};
use crate::io::ResponseOut;
use crate::options::Options;
use crate::ratelimit::RateLimit;
use crate::rooms::Rooms;
use crate::sys::{self, EventFd, PollFd};

type Spawner = dyn Fn(Conn) -> Pid + Send + Sync;

pub(crate) struct ServerShared {
    pub(crate) opts: Options,
    pub(crate) rooms: Rooms,
    pub(crate) rt: Runtime,
    spawner: Box<Spawner>,
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    local_addr: SocketAddr,
    live: Mutex<usize>,
    live_cv: Condvar,
    live_fast: AtomicUsize,
    busy_tls: AtomicUsize,
    conns: Mutex<HashMap<ConnId, Conn>>,
    pub(crate) stopping: AtomicBool,
    stop_wake: EventFd,
    /// Spare I/O threads (`pool.rs`).
    pub(crate) pool: crate::pool::Pool,
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);
static SERVERS: Mutex<Vec<Weak<ServerShared>>> = Mutex::new(Vec::new());

impl ServerShared {
    pub(crate) fn next_conn_id() -> ConnId {
        NEXT_CONN.fetch_add(1, Ordering::Relaxed)
    }

    /// Spawns the connection actor through the host's callback.
    pub(crate) fn spawn_actor(&self, conn: Conn) -> Pid {
        (self.spawner)(conn)
    }

    /// Posts an event to a connection actor from its I/O thread: with
    /// `run_actor_on_io_thread`, an idle actor's step runs right here (`send_inline`);
    /// otherwise a scheduler worker runs it.
    pub(crate) fn post(&self, pid: Pid, ev: crate::event::Event) {
        if self.opts.run_actor_on_io_thread {
            self.rt.send_inline(pid, ev);
        } else {
            self.rt.send(pid, ev);
        }
    }

    pub(crate) fn stop_wake_fd(&self) -> std::os::fd::RawFd {
        self.stop_wake.raw()
    }

    pub(crate) fn register(&self, conn: &Conn) {
        lock(&self.conns).insert(conn.id(), conn.clone());
    }

    pub(crate) fn unregister(&self, id: ConnId) {
        lock(&self.conns).remove(&id);
    }

    /// Called once by every I/O thread as it ends.
    pub(crate) fn thread_done(&self) {
        let mut live = lock(&self.live);
        *live -= 1;
        self.live_fast.store(*live, Ordering::Relaxed);
        if *live == 0 {
            self.live_cv.notify_all();
        }
    }

    fn try_take_slot(&self) -> bool {
        let mut live = lock(&self.live);
        if *live >= self.opts.max_connections {
            return false;
        }
        *live += 1;
        self.live_fast.store(*live, Ordering::Relaxed);
        true
    }

    /// One of the `Options::max_busy_tls_answers` slots for answering a TLS socket over the
    /// limit.
    fn try_take_busy_slot(self: &Arc<Self>) -> Option<BusySlot> {
        self.busy_tls
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.opts.max_busy_tls_answers).then_some(n + 1)
            })
            .ok()?;
        Some(BusySlot(self.clone()))
    }
}

/// A busy thread's slot (see `busy.rs`); given back on drop, waking `stop`.
pub(crate) struct BusySlot(Arc<ServerShared>);

impl BusySlot {
    pub(crate) fn server(&self) -> &Arc<ServerShared> {
        &self.0
    }
}

impl Drop for BusySlot {
    fn drop(&mut self) {
        // Under `live`'s lock, so that `wait_live_zero` cannot miss the wake-up.
        let _live = lock(&self.0.live);
        if self.0.busy_tls.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.live_cv.notify_all();
        }
    }
}

/// A running server. Dropping the handle does not stop it; call [`Server::stop`].
pub struct Server {
    shared: Arc<ServerShared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.shared.local_addr)
            .field("connections", &self.connection_count())
            .finish()
    }
}

/// A summary of one live server (for the REPL's `:servers`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerInfo {
    pub addr: SocketAddr,
    pub tls: bool,
    pub connections: usize,
    pub rooms: Vec<(String, usize)>,
}

/// Every server of this process that has not been stopped.
pub fn servers() -> Vec<ServerInfo> {
    let mut list = lock(&SERVERS);
    list.retain(|w| {
        w.upgrade()
            .is_some_and(|s| !s.stopping.load(Ordering::Relaxed))
    });
    list.iter()
        .filter_map(Weak::upgrade)
        .map(|s| ServerInfo {
            addr: s.local_addr,
            tls: s.tls.is_some(),
            connections: s.live_fast.load(Ordering::Relaxed),
            rooms: s.rooms.list(),
        })
        .collect()
}

/// Serves WebSocket on `port` (0: any free port) with one actor per connection running
/// `handler` (each connection gets its own clone). Returns once the socket is bound.
pub fn serve<H: Handler + Clone>(
    rt: &Runtime,
    handler: H,
    port: u16,
    opts: Options,
) -> Result<Server, Error> {
    serve_with(rt, handler_spawner(rt, handler), port, None, opts)
}

/// Like [`serve`], over TLS (wss) with a PEM certificate chain and private key.
pub fn serve_tls<H: Handler + Clone>(
    rt: &Runtime,
    handler: H,
    port: u16,
    cert_path: &Path,
    key_path: &Path,
    opts: Options,
) -> Result<Server, Error> {
    let tls = crate::tls::load_server_config(cert_path, key_path)?;
    serve_with(rt, handler_spawner(rt, handler), port, Some(tls), opts)
}

/// The spawner of the native mode: a clone of the handler per connection, in a
/// `HandlerProcess`. (The template sits in a mutex so that `H` need not be `Sync`.)
fn handler_spawner<H: Handler + Clone>(
    rt: &Runtime,
    handler: H,
) -> impl Fn(Conn) -> Pid + Send + Sync + 'static {
    let rt = rt.clone();
    let template = Mutex::new(handler);
    move |conn| {
        let h = lock(&template).clone();
        rt.spawn_waiting(HandlerProcess::new(h, conn))
    }
}

/// The low-level entry point: for each connection whose request arrived, `spawn` is called
/// (on that connection's I/O thread) to create the connection actor, and the actor receives
/// the connection's [`Event`](crate::Event)s (first `Connect`, which it must answer with
/// [`Conn::accept`] or [`Conn::reject`]). A VM runs its own process per connection this way.
/// Spawn it with [`Runtime::spawn_waiting`] if its first step only waits for a message:
/// then `Connect` runs on the I/O thread and the upgrade is answered without a hand-off
/// (with [`Runtime::spawn`] it works too, through a worker).
///
/// If the actor exits while its connection is open, the connection is closed: 1011 after a
/// crash, 1000 after a normal exit.
pub fn serve_with(
    rt: &Runtime,
    spawn: impl Fn(Conn) -> Pid + Send + Sync + 'static,
    port: u16,
    tls: Option<Arc<rustls::ServerConfig>>,
    opts: Options,
) -> Result<Server, Error> {
    opts.validate()?;
    let addr = SocketAddr::new(opts.bind_addr, port);
    let listener = TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| Error::Bind { addr, source })?;
    if !opts.defer_accept.is_zero() {
        if let Err(e) = sys::defer_accept(&listener, opts.defer_accept) {
            log::debug!("TCP_DEFER_ACCEPT on {addr}: {e}; accepting without it");
        }
    }
    let local_addr = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    let stop_wake = EventFd::new().map_err(|source| Error::Resource {
        what: "eventfd",
        source,
    })?;
    let pool = crate::pool::Pool::new(opts.spare_io_threads, opts.spare_io_thread_timeout);
    let shared = Arc::new(ServerShared {
        opts,
        rooms: Rooms::new(),
        rt: rt.clone(),
        spawner: Box::new(spawn),
        tls,
        local_addr,
        live: Mutex::new(0),
        live_cv: Condvar::new(),
        live_fast: AtomicUsize::new(0),
        busy_tls: AtomicUsize::new(0),
        conns: Mutex::new(HashMap::new()),
        stopping: AtomicBool::new(false),
        stop_wake,
        pool,
    });
    let s2 = shared.clone();
    let handle = std::thread::Builder::new()
        .name(format!("tern-ws-accept-{}", local_addr.port()))
        .stack_size(256 * 1024)
        .spawn(move || accept_loop(s2, listener))
        .map_err(|source| Error::Resource {
            what: "accept thread",
            source,
        })?;
    lock(&SERVERS).push(Arc::downgrade(&shared));
    log::info!(
        "serving WebSocket{} on {local_addr}",
        if shared.tls.is_some() { " (TLS)" } else { "" }
    );
    Ok(Server {
        shared,
        accept: Mutex::new(Some(handle)),
    })
}

impl Server {
    /// The bound address (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }
    /// The bound port.
    pub fn port(&self) -> u16 {
        self.shared.local_addr.port()
    }
    /// Sockets accepted and not yet finished (handshaking or open).
    pub fn connection_count(&self) -> usize {
        self.shared.live_fast.load(Ordering::Relaxed)
    }
    /// The open (or closing) connections.
    pub fn connections(&self) -> Vec<Conn> {
        lock(&self.shared.conns).values().cloned().collect()
    }
    /// This server's rooms.
    pub fn rooms(&self) -> &Rooms {
        &self.shared.rooms
    }

    /// Stops accepting, closes every connection with 1001, waits up to
    /// [`Options::stop_timeout`] for the close handshakes, then drops what is left. Returns
    /// once every connection thread has ended (or, for a thread that does not end within a
    /// further second, gives up waiting and logs it). Idempotent.
    pub fn stop(&self) {
        let s = &*self.shared;
        if s.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // (1) the accept thread.
        s.stop_wake.signal();
        if let Some(h) = lock(&self.accept).take() {
            let _ = h.join();
        }
        // No more hand-overs: spare threads end, busy ones end after their socket.
        s.pool.close();
        // (2) 1001 to everyone.
        for c in self.connections() {
            let _ = c.close(1001, "server shutting down");
            c.inner.wake.signal();
        }
        // (3) bounded wait.
        let deadline = Instant::now() + s.opts.stop_timeout;
        if !wait_live_zero(s, deadline) {
            // (4) drop the stragglers.
            for c in self.connections() {
                c.inner.force_end();
            }
            if !wait_live_zero(s, Instant::now() + Duration::from_secs(1)) {
                log::warn!(
                    "server {}: {} connection threads did not end in time",
                    s.local_addr,
                    *lock(&s.live)
                );
            }
        }
        lock(&SERVERS).retain(|w| w.upgrade().is_some_and(|o| !Arc::ptr_eq(&o, &self.shared)));
        log::info!("server {} stopped", s.local_addr);
    }
}

fn wait_live_zero(s: &ServerShared, deadline: Instant) -> bool {
    let mut live = lock(&s.live);
    while *live > 0 || s.busy_tls.load(Ordering::SeqCst) > 0 {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        live = s
            .live_cv
            .wait_timeout(live, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    true
}

struct Rejecting {
    sock: ws::WsStream,
    until: Instant,
}

fn accept_loop(s: Arc<ServerShared>, listener: TcpListener) {
    use std::os::fd::AsRawFd;
    let mut rejecting: Vec<Rejecting> = Vec::new();
    let mut paused_until: Option<Instant> = None;
    let mut fds: Vec<PollFd> = Vec::new();
    loop {
        if s.stopping.load(Ordering::SeqCst) {
            break;
        }
        let now = Instant::now();
        if paused_until.is_some_and(|t| now >= t) {
            paused_until = None;
        }
        fds.clear();
        fds.push(PollFd::new(s.stop_wake.raw(), sys::POLLIN));
        fds.push(PollFd::new(
            listener.as_raw_fd(),
            if paused_until.is_some() {
                0
            } else {
                sys::POLLIN
            },
        ));
        for r in &rejecting {
            fds.push(PollFd::new(r.sock.as_raw_fd(), sys::POLLIN));
        }
        let deadline = rejecting.iter().map(|r| r.until).chain(paused_until).min();
        if let Err(e) = sys::poll(&mut fds, deadline) {
            log::error!("accept loop on {}: poll failed: {e}", s.local_addr);
            break;
        }
        // Drain and expire the rejected sockets.
        let now = Instant::now();
        let mut i = 0;
        rejecting.retain_mut(|r| {
            let ready = fds[2 + i].revents() != 0;
            i += 1;
            if now >= r.until {
                return false;
            }
            if !ready {
                return true;
            }
            crate::busy::discard_input(r.sock.tcp())
        });
        if fds[1].revents() == 0 {
            continue;
        }
        loop {
            match listener.accept() {
                Ok((sock, peer)) => {
                    if s.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    if !s.try_take_slot() {
                        reject_busy(&s, sock, peer, &mut rejecting);
                        continue;
                    }
                    if let Err(e) = crate::io::start(s.clone(), sock, peer) {
                        static LIMIT: RateLimit = RateLimit::new();
                        if let Some(n) = LIMIT.check() {
                            log::error!("cannot start a connection thread for {peer}: {e} ({n} more since the last such line)");
                        }
                        s.thread_done();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    // Out of descriptors or memory: stop accepting for a moment rather than
                    // spin on a listener that stays readable.
                    static LIMIT: RateLimit = RateLimit::new();
                    if let Some(n) = LIMIT.check() {
                        log::warn!(
                            "accept on {} failed: {e}; pausing accepts for 100 ms ({n} more pauses since the last such line)",
                            s.local_addr
                        );
                    }
                    paused_until = Some(Instant::now() + Duration::from_millis(100));
                    break;
                }
            }
        }
    }
    log::debug!("accept loop on {} ended", s.local_addr);
}

fn reject_busy(
    s: &Arc<ServerShared>,
    sock: TcpStream,
    peer: SocketAddr,
    rejecting: &mut Vec<Rejecting>,
) {
    log::debug!(
        "{peer}: over max_connections ({}), answering 503",
        s.opts.max_connections
    );
    if s.tls.is_some() {
        // The TLS handshake must not run here: a busy thread answers, if one is free.
        let Some(slot) = s.try_take_busy_slot() else {
            log::debug!("{peer}: too many busy TLS sockets; closing it without a 503");
            return;
        };
        if let Err(e) = crate::busy::start_tls(slot, sock, peer) {
            static LIMIT: RateLimit = RateLimit::new();
            if let Some(n) = LIMIT.check() {
                log::warn!("cannot start a busy thread for {peer}: {e} ({n} more since the last such line)");
            }
        }
        return;
    }
    if sock.set_nonblocking(true).is_err() {
        return;
    }
    // One write: a fresh socket's buffer takes the whole response; if not, drop it.
    let mut out = ResponseOut::new(&crate::busy::response());
    let sock = ws::WsStream::plain(sock);
    if !matches!(out.step(&sock), Ok(true)) {
        return;
    }
    if rejecting.len() < s.opts.max_busy_answers {
        rejecting.push(Rejecting {
            sock,
            until: Instant::now() + s.opts.busy_linger,
        });
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
