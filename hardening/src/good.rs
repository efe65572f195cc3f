//! Well-behaved clients that keep talking while an attack runs.
//!
//! - [`GoodClients`]: each client (one thread, one tungstenite connection to `/echo`) does
//!   round trips of numbered messages and checks each echo is the one it sent.
//! - [`RoomTalk`]: members of one room (`/room/NAME`) each send numbered, time-stamped
//!   messages; every member checks it receives every other member's messages, in order,
//!   within the bound.
//!
//! Invariants: each client thread owns its socket; the test talks to it only through a
//! channel whose disconnection means "stop"; that channel's `recv_timeout` also paces the
//! sending, so there is no sleep. Every read has a socket timeout, so no thread can hang.

use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

type Ws = WebSocket<TcpStream>;

/// What the good clients saw.
#[derive(Debug, Clone, Default)]
pub struct GoodReport {
    /// Round trips (echo) or messages received (room).
    pub count: u64,
    /// The slowest round trip or delivery.
    pub max_rtt: Duration,
    /// Everything that went wrong, one line each.
    pub errors: Vec<String>,
}

impl GoodReport {
    fn merge(&mut self, o: GoodReport) {
        self.count += o.count;
        self.max_rtt = self.max_rtt.max(o.max_rtt);
        self.errors.extend(o.errors);
    }

    /// Fails the test if a client saw an error, was slower than `bound`, or did fewer than
    /// `min_count` round trips in all.
    pub fn assert_ok(&self, bound: Duration, min_count: u64) {
        assert!(
            self.errors.is_empty(),
            "good clients saw errors: {:?}",
            self.errors
        );
        assert!(
            self.max_rtt <= bound,
            "a good client waited {:?} (bound {bound:?})",
            self.max_rtt
        );
        assert!(
            self.count >= min_count,
            "good clients did only {} round trips (expected at least {min_count})",
            self.count
        );
    }
}

fn connect(port: u16, path: &str, read_timeout: Duration) -> Result<Ws, String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(read_timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let url = format!("ws://127.0.0.1:{port}{path}");
    tungstenite::client(url, s)
        .map(|(ws, _)| ws)
        .map_err(|e| format!("handshake on {path}: {e}"))
}

fn close(mut ws: Ws) {
    let _ = ws.close(None);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if ws.read().is_err() {
            break;
        }
    }
}

/// Echo clients doing round trips until finished.
pub struct GoodClients {
    stop: Vec<Sender<()>>,
    handles: Vec<JoinHandle<GoodReport>>,
}

impl GoodClients {
    /// `n` clients on `ws://127.0.0.1:port/echo`, each doing a round trip, then waiting
    /// `pace`, until [`GoodClients::finish`]. Returns once all are connected (panics if one
    /// cannot connect: the attack has not started yet).
    pub fn echo(port: u16, n: usize, pace: Duration) -> GoodClients {
        let mut stop = Vec::new();
        let mut handles = Vec::new();
        for id in 0..n {
            let ws = connect(port, "/echo", Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("good client {id}: {e}"));
            let (tx, rx) = channel();
            stop.push(tx);
            handles.push(
                std::thread::Builder::new()
                    .name(format!("good-{id}"))
                    .spawn(move || echo_loop(id, ws, &rx, pace))
                    .expect("client thread"),
            );
        }
        GoodClients { stop, handles }
    }

    /// Stops the clients and gathers what they saw.
    pub fn finish(self) -> GoodReport {
        drop(self.stop);
        let mut r = GoodReport::default();
        for h in self.handles {
            match h.join() {
                Ok(one) => r.merge(one),
                Err(_) => r.errors.push("a good client thread panicked".into()),
            }
        }
        r
    }
}

fn echo_loop(id: usize, mut ws: Ws, stop: &Receiver<()>, pace: Duration) -> GoodReport {
    let mut r = GoodReport::default();
    // Bounded: the test finishes us long before this many round trips.
    for seq in 0..10_000_000u64 {
        let text = format!("good {id} {seq}");
        let t0 = Instant::now();
        if let Err(e) = ws.send(Message::text(text.clone())) {
            r.errors.push(format!("client {id}: send {seq}: {e}"));
            return r;
        }
        loop {
            match ws.read() {
                Ok(Message::Text(t)) if t.as_str() == text => break,
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(m) => {
                    r.errors
                        .push(format!("client {id}: expected {text:?}, got {m:?}"));
                    return r;
                }
                Err(e) => {
                    r.errors.push(format!(
                        "client {id}: read {seq} after {:?}: {e}",
                        t0.elapsed()
                    ));
                    return r;
                }
            }
        }
        r.max_rtt = r.max_rtt.max(t0.elapsed());
        r.count += 1;
        match stop.recv_timeout(pace) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
    close(ws);
    r
}

/// A room conversation among `n` members.
pub struct RoomTalk {
    stop: Vec<Sender<()>>,
    handles: Vec<JoinHandle<GoodReport>>,
    shared: Arc<Shared>,
}

/// Shared by the members: how many each has sent, and how many stopped sending.
struct Shared {
    sent: Vec<AtomicU64>,
    done: AtomicUsize,
}

impl RoomTalk {
    /// `n` members of room `room` on `port`; each sends one message every `pace`. Returns
    /// once all have joined (the server says the room has `n + already` members is the
    /// caller's check; here each member's first message proves the others hear it).
    pub fn start(port: u16, room: &str, n: usize, pace: Duration) -> RoomTalk {
        let base = Instant::now();
        let shared = Arc::new(Shared {
            sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
            done: AtomicUsize::new(0),
        });
        let mut conns = Vec::new();
        for id in 0..n {
            let ws = connect(port, &format!("/room/{room}"), Duration::from_millis(20))
                .unwrap_or_else(|e| panic!("room member {id}: {e}"));
            conns.push(ws);
        }
        let mut stop = Vec::new();
        let mut handles = Vec::new();
        for (id, ws) in conns.into_iter().enumerate() {
            let (tx, rx) = channel();
            stop.push(tx);
            let shared = shared.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("member-{id}"))
                    .spawn(move || member_loop(id, ws, &rx, pace, base, &shared))
                    .expect("member thread"),
            );
        }
        RoomTalk {
            stop,
            handles,
            shared,
        }
    }

    /// Stops sending, lets every member receive what the others sent, and reports.
    pub fn finish(self) -> GoodReport {
        drop(self.stop);
        let mut r = GoodReport::default();
        for h in self.handles {
            match h.join() {
                Ok(one) => r.merge(one),
                Err(_) => r.errors.push("a room member thread panicked".into()),
            }
        }
        let sent: u64 = self
            .shared
            .sent
            .iter()
            .map(|s| s.load(Ordering::SeqCst))
            .sum();
        if sent == 0 {
            r.errors.push("the room members sent nothing".into());
        }
        r
    }
}

/// State of one member: what it expects next from each other member.
struct Member {
    id: usize,
    base: Instant,
    next: Vec<u64>,
    r: GoodReport,
}

impl Member {
    /// Handles one received text; false on a protocol violation (recorded).
    fn got(&mut self, text: &str) -> bool {
        let mut parts = text.splitn(3, ' ');
        let parsed = (|| {
            let from: usize = parts.next()?.parse().ok()?;
            let seq: u64 = parts.next()?.parse().ok()?;
            let at: u64 = parts.next()?.parse().ok()?;
            Some((from, seq, at))
        })();
        let Some((from, seq, at)) = parsed else {
            self.r
                .errors
                .push(format!("member {}: unexpected {text:?}", self.id));
            return false;
        };
        if from >= self.next.len() || from == self.id {
            self.r
                .errors
                .push(format!("member {}: message from {from}?", self.id));
            return false;
        }
        if seq != self.next[from] {
            self.r.errors.push(format!(
                "member {}: from {from} expected #{} got #{seq} (lost or out of order)",
                self.id, self.next[from]
            ));
            return false;
        }
        self.next[from] += 1;
        let now = self.base.elapsed();
        let lat = now.saturating_sub(Duration::from_micros(at));
        self.r.max_rtt = self.r.max_rtt.max(lat);
        self.r.count += 1;
        true
    }

    /// Reads whatever has arrived (the socket's read timeout is short). False on an error.
    fn drain(&mut self, ws: &mut Ws) -> bool {
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => {
                    if !self.got(t.as_str()) {
                        return false;
                    }
                }
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(m) => {
                    self.r
                        .errors
                        .push(format!("member {}: unexpected {m:?}", self.id));
                    return false;
                }
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return true
                }
                Err(e) => {
                    self.r.errors.push(format!("member {}: read: {e}", self.id));
                    return false;
                }
            }
        }
    }
}

fn member_loop(
    id: usize,
    mut ws: Ws,
    stop: &Receiver<()>,
    pace: Duration,
    base: Instant,
    shared: &Shared,
) -> GoodReport {
    let sent = &shared.sent[..];
    let mut m = Member {
        id,
        base,
        next: vec![0; sent.len()],
        r: GoodReport::default(),
    };
    let mut seq = 0u64;
    let sending = DoneGuard(&shared.done);
    // Bounded: the test finishes us long before this many messages.
    while seq < 10_000_000 {
        let at = base.elapsed().as_micros();
        if let Err(e) = ws.send(Message::text(format!("{id} {seq} {at}"))) {
            m.r.errors.push(format!("member {id}: send {seq}: {e}"));
            return m.r;
        }
        seq += 1;
        sent[id].store(seq, Ordering::SeqCst);
        if !m.drain(&mut ws) {
            return m.r;
        }
        match stop.recv_timeout(pace) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
    drop(sending);
    // Receive everything the others sent (they stop at about the same time), within 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let settled = shared.done.load(Ordering::SeqCst) == sent.len();
        let all = (0..sent.len())
            .filter(|&o| o != id)
            .all(|o| m.next[o] >= sent[o].load(Ordering::SeqCst));
        if settled && all {
            break;
        }
        if Instant::now() >= deadline {
            let missing: Vec<String> = (0..sent.len())
                .filter(|&o| o != id)
                .map(|o| format!("{o}: {}/{}", m.next[o], sent[o].load(Ordering::SeqCst)))
                .collect();
            m.r.errors.push(format!(
                "member {id}: messages lost: {}",
                missing.join(", ")
            ));
            return m.r;
        }
        if !m.drain(&mut ws) {
            return m.r;
        }
    }
    close(ws);
    m.r
}

/// Counts a member out of the sending phase however it leaves it.
struct DoneGuard<'a>(&'a AtomicUsize);

impl Drop for DoneGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
