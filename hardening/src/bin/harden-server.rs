//! The server under attack: a bridge server (plain, and wss when given a certificate) built
//! only on the bridge's public API, run as a subprocess so that the tests can read its RSS,
//! descriptors and threads from `/proc` and see whether it survives.
//!
//! Arguments are `key=value` options (see [`hardening::ServerArgs`] for the names). On start
//! it prints `port=N` (and `tls_port=N`) then `ready` on stdout. Commands on stdin, one per
//! line, each answered with one line on stdout:
//! - `stats` → `stats key=value ...` (see [`hardening::Stats`]);
//! - `stop` → stops the servers (every connection gets 1001), waits (at most 2 s) for the
//!   `on_close` callbacks, prints `stopped ms=N` followed by the stats words, shuts the
//!   runtime down and exits 0.
//!
//! Behaviour per connection, chosen by the request path:
//! - `/room/NAME` joins room NAME; each message goes to every other member (a chat);
//! - any other path echoes every message back;
//! - query `panic_every=N`: `on_message` panics on every N-th message of that connection;
//! - query `crash_connect=1`: `on_connect` panics;
//! - query `slow_ms=N`: `on_message` takes N ms (blocking its worker, as slow work does);
//! - query `slow_connect_ms=N`: `on_connect` takes N ms before deciding;
//! - query `welcome=1`: `on_connect` sends "welcome" before accepting.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bridge::{Conn, Data, Decision, Handler};
use hardening::ServerArgs;

/// Counters shared by every connection's handler.
#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    closed: AtomicU64,
    dup_closes: AtomicU64,
    panics: AtomicU64,
    messages: AtomicU64,
    welcome_failed: AtomicU64,
    codes: Mutex<Vec<(u16, u64)>>,
}

#[derive(Clone)]
struct Harden {
    c: Arc<Counters>,
    room: Option<String>,
    panic_every: u64,
    slow_ms: u64,
    seen: u64,
    closed: Arc<AtomicBool>,
}

fn query_param<'a>(query: Option<&'a str>, key: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

impl Handler for Harden {
    fn on_connect(&mut self, conn: &Conn) -> Decision {
        let query = conn.query();
        if let Some(ms) = query_param(query, "slow_connect_ms").and_then(|v| v.parse().ok()) {
            // An on_connect that looks something up slowly (and blocks its worker meanwhile).
            std::thread::sleep(Duration::from_millis(ms));
        }
        if query_param(query, "crash_connect") == Some("1") {
            self.c.panics.fetch_add(1, Ordering::Relaxed);
            panic!("harden-server: on_connect asked to crash");
        }
        self.panic_every = query_param(query, "panic_every")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.slow_ms = query_param(query, "slow_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.room = conn
            .path()
            .strip_prefix("/room/")
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        if let Some(r) = &self.room {
            conn.join(r);
        }
        if query_param(query, "welcome") == Some("1") {
            // A greeting sent while deciding (the result is counted: see `welcome_failed`).
            if conn.send("welcome").is_err() {
                self.c.welcome_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        // A fresh flag per connection (the template's clone would share it otherwise).
        self.closed = Arc::new(AtomicBool::new(false));
        self.c.accepted.fetch_add(1, Ordering::Relaxed);
        Decision::ACCEPT
    }

    fn on_message(&mut self, conn: &Conn, msg: Data) {
        self.c.messages.fetch_add(1, Ordering::Relaxed);
        self.seen += 1;
        if self.panic_every > 0 && self.seen % self.panic_every == 0 {
            self.c.panics.fetch_add(1, Ordering::Relaxed);
            panic!("harden-server: message {} asked to panic", self.seen);
        }
        if self.slow_ms > 0 {
            // A handler busy with slow work (it blocks its scheduler worker, as slow work
            // does).
            std::thread::sleep(Duration::from_millis(self.slow_ms));
        }
        match &self.room {
            Some(r) => {
                conn.server_rooms()
                    .broadcast_except(r, msg.as_payload(), conn);
            }
            None => {
                let _ = conn.send_payload(msg.as_payload());
            }
        }
    }

    fn on_close(&mut self, _conn: &Conn, code: u16, _reason: &str) {
        if self.closed.swap(true, Ordering::SeqCst) {
            self.c.dup_closes.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.c.closed.fetch_add(1, Ordering::Relaxed);
        let mut codes = self.c.codes.lock().unwrap_or_else(|e| e.into_inner());
        match codes.iter_mut().find(|(k, _)| *k == code) {
            Some((_, n)) => *n += 1,
            None => codes.push((code, 1)),
        }
    }
}

/// One stderr line per panic, message included, so that the tests can tell the panics they
/// asked for (`... asked to ...`) from real ones.
fn one_line_panics() {
    std::panic::set_hook(Box::new(|info| {
        let p = info.payload();
        let msg = p
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| p.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let at = info
            .location()
            .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
        let thread = std::thread::current();
        eprintln!(
            "thread '{}' panicked{at}: {msg}",
            thread.name().unwrap_or("?")
        );
    }));
}

/// The counters as `key=value` words (see `hardening::Stats`).
fn stats_line(c: &Counters, plain: &bridge::Server, tls: Option<&bridge::Server>) -> String {
    let mut codes = c.codes.lock().unwrap_or_else(|e| e.into_inner()).clone();
    codes.sort_unstable();
    let codes: Vec<String> = codes.iter().map(|(k, n)| format!("{k}:{n}")).collect();
    let rooms: Vec<String> = plain
        .rooms()
        .list()
        .iter()
        .map(|(r, n)| format!("{r}:{n}"))
        .collect();
    format!(
        "live={} tls_live={} rooms={} accepted={} closed={} dup_closes={} panics={} \
         messages={} welcome_failed={} codes={} roomlist={}",
        plain.connection_count(),
        tls.map_or(0, |t| t.connection_count()),
        plain.rooms().room_count(),
        c.accepted.load(Ordering::SeqCst),
        c.closed.load(Ordering::SeqCst),
        c.dup_closes.load(Ordering::Relaxed),
        c.panics.load(Ordering::Relaxed),
        c.messages.load(Ordering::Relaxed),
        c.welcome_failed.load(Ordering::Relaxed),
        codes.join(","),
        rooms.join(","),
    )
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    one_line_panics();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = match ServerArgs::parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("harden-server: {e}");
            std::process::exit(2);
        }
    };
    let rt = scheduler::Runtime::new(scheduler::Config {
        workers: a.workers,
        ..Default::default()
    });
    let counters = Arc::new(Counters::default());
    let handler = Harden {
        c: counters.clone(),
        room: None,
        panic_every: 0,
        slow_ms: 0,
        seen: 0,
        closed: Arc::new(AtomicBool::new(false)),
    };
    let opts = a.options();
    let plain = match bridge::serve(&rt, handler.clone(), 0, opts.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("harden-server: {e}");
            std::process::exit(1);
        }
    };
    let tls = a.tls.as_ref().map(|(cert, key)| {
        bridge::serve_tls(&rt, handler, 0, cert.as_ref(), key.as_ref(), opts).unwrap_or_else(|e| {
            eprintln!("harden-server: {e}");
            std::process::exit(1);
        })
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "port={}", plain.port());
    if let Some(t) = &tls {
        let _ = writeln!(out, "tls_port={}", t.port());
    }
    let _ = writeln!(out, "ready");
    let _ = out.flush();

    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "stats" => {
                let _ = writeln!(out, "stats {}", stats_line(&counters, &plain, tls.as_ref()));
            }
            "stop" => {
                let t0 = Instant::now();
                std::thread::scope(|s| {
                    if let Some(t) = &tls {
                        s.spawn(move || t.stop());
                    }
                    plain.stop();
                });
                let ms = t0.elapsed().as_millis();
                // Every accepted connection's `on_close` runs on its actor after `stop`
                // returns; give the actors a moment (bounded) to run them, then report.
                let deadline = Instant::now() + Duration::from_secs(2);
                let (_tx, pace) = std::sync::mpsc::channel::<()>();
                while counters.closed.load(Ordering::SeqCst)
                    < counters.accepted.load(Ordering::SeqCst)
                    && Instant::now() < deadline
                {
                    let _ = pace.recv_timeout(Duration::from_millis(5));
                }
                let _ = writeln!(
                    out,
                    "stopped ms={ms} {}",
                    stats_line(&counters, &plain, tls.as_ref())
                );
                let _ = out.flush();
                rt.shutdown();
                std::process::exit(0);
            }
            other => {
                let _ = writeln!(out, "error unknown command {other:?}");
            }
        }
        let _ = out.flush();
    }
    // stdin closed: the test process went away; leave quietly.
    plain.stop();
    if let Some(t) = &tls {
        t.stop();
    }
    rt.shutdown();
}
