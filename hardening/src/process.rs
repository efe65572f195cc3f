//! [`ServerProc`]: `harden-server` as a child process, its commands, its `/proc` figures.
//!
//! Invariants:
//! - The child's stdout and stderr are always drained by two reader threads (a server that
//!   logs into a full pipe would block, and the test would measure the pipe, not the server).
//!   Stdout lines go to a channel (answers to commands); stderr lines are kept, capped at
//!   [`STDERR_KEEP`] lines plus a count, for the "no panic, no log flood" checks.
//! - The stdout channel disconnects when the child exits (its stdout reaches EOF): that is how
//!   a test waits for the exit with a deadline.
//! - Dropping a `ServerProc` that is still running kills that child (by its own handle) and
//!   reaps it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::args::ServerArgs;

/// Stderr lines kept for inspection; the rest are only counted.
pub const STDERR_KEEP: usize = 10_000;
/// How long the server has to answer a command or to start (generous: the suite may run
/// next to other builds on 2 cores).
const ANSWER: Duration = Duration::from_secs(30);

/// A running `harden-server`.
pub struct ServerProc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    stderr_count: Arc<AtomicUsize>,
    /// The plain (ws) port.
    pub port: u16,
    /// The wss port, when started with a certificate.
    pub tls_port: Option<u16>,
    exited: bool,
}

/// The server's own counters (the `stats` command).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Plain sockets accepted and not finished (handshaking or open).
    pub live: usize,
    /// Same for the wss server.
    pub tls_live: usize,
    /// Rooms of the plain server.
    pub rooms: usize,
    /// Connections whose `on_connect` accepted.
    pub accepted: u64,
    /// `on_close` calls (first per connection).
    pub closed: u64,
    /// `on_close` calls beyond the first for one connection (must stay 0).
    pub dup_closes: u64,
    /// Handler panics asked for (`crash_connect`, `panic_every`).
    pub panics: u64,
    /// Messages seen by `on_message`.
    pub messages: u64,
    /// `Conn::send` calls from `on_connect` (`welcome=1`) that failed.
    pub welcome_failed: u64,
    /// `on_close` codes with their counts, sorted by code.
    pub codes: Vec<(u16, u64)>,
    /// Rooms with their member counts, sorted by name.
    pub roomlist: Vec<(String, usize)>,
}

impl Stats {
    /// How many connections were reported to `on_close` with `code`.
    pub fn code(&self, code: u16) -> u64 {
        self.codes
            .iter()
            .find(|(k, _)| *k == code)
            .map_or(0, |(_, n)| *n)
    }

    /// Members of `room` (0 if it does not exist).
    pub fn members(&self, room: &str) -> usize {
        self.roomlist
            .iter()
            .find(|(r, _)| r == room)
            .map_or(0, |(_, n)| *n)
    }

    fn parse(line: &str) -> Option<Stats> {
        Stats::parse_words(line.strip_prefix("stats ")?)
    }

    fn parse_words(words: &str) -> Option<Stats> {
        let mut s = Stats::default();
        for kv in words.split(' ') {
            let (k, v) = kv.split_once('=')?;
            match k {
                "live" => s.live = v.parse().ok()?,
                "tls_live" => s.tls_live = v.parse().ok()?,
                "rooms" => s.rooms = v.parse().ok()?,
                "accepted" => s.accepted = v.parse().ok()?,
                "closed" => s.closed = v.parse().ok()?,
                "dup_closes" => s.dup_closes = v.parse().ok()?,
                "panics" => s.panics = v.parse().ok()?,
                "messages" => s.messages = v.parse().ok()?,
                "welcome_failed" => s.welcome_failed = v.parse().ok()?,
                "codes" => {
                    for p in v.split(',').filter(|p| !p.is_empty()) {
                        let (c, n) = p.split_once(':')?;
                        s.codes.push((c.parse().ok()?, n.parse().ok()?));
                    }
                }
                "roomlist" => {
                    for p in v.split(',').filter(|p| !p.is_empty()) {
                        let (r, n) = p.rsplit_once(':')?;
                        s.roomlist.push((r.to_string(), n.parse().ok()?));
                    }
                }
                _ => {}
            }
        }
        Some(s)
    }
}

/// What a stop did.
#[derive(Debug, Clone)]
pub struct StopReport {
    /// How long `Server::stop` took (measured by the server).
    pub stop: Duration,
    /// From sending the command to the process's exit.
    pub exit: Duration,
    /// The counters after the stop's `on_close` callbacks.
    pub stats: Stats,
}

/// What `/proc/PID` says about a process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcStats {
    /// Resident set size, KiB (`VmRSS`).
    pub rss_kb: u64,
    /// Open descriptors (entries of `/proc/PID/fd`).
    pub fds: usize,
    /// Threads (entries of `/proc/PID/task`).
    pub threads: usize,
    /// CPU time used so far (user + system), in clock ticks (`/proc/PID/stat`; 100 a second
    /// on Linux).
    pub cpu_ticks: u64,
}

impl ProcStats {
    /// Reads the figures of process `pid`; `None` once it is gone.
    pub fn of(pid: u32) -> Option<ProcStats> {
        let base = Path::new("/proc").join(pid.to_string());
        let status = std::fs::read_to_string(base.join("status")).ok()?;
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
        let fds = std::fs::read_dir(base.join("fd")).ok()?.count();
        let threads = std::fs::read_dir(base.join("task")).ok()?.count();
        // Fields after the command name (which may hold spaces): state is the 3rd field,
        // utime and stime the 14th and 15th.
        let stat = std::fs::read_to_string(base.join("stat")).ok()?;
        let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |i: usize| rest.get(i - 3).and_then(|v| v.parse::<u64>().ok());
        let cpu_ticks = ticks(14)? + ticks(15)?;
        Some(ProcStats {
            rss_kb,
            fds,
            threads,
            cpu_ticks,
        })
    }
}

impl std::fmt::Display for ProcStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rss={} KiB fds={} threads={}",
            self.rss_kb, self.fds, self.threads
        )
    }
}

/// Polls `f` until it returns true or `timeout` passes; returns its last answer. For state
/// that lives in another process (its counters, `/proc`), which cannot notify us.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let (_tx, pace) = channel::<()>();
    loop {
        if f() {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return f();
        }
        // Paces the polling; nothing is ever sent, so this is a timed wait.
        let _ = pace.recv_timeout(left.min(Duration::from_millis(20)));
    }
}

fn spawn_reader(
    name: &str,
    r: impl std::io::Read + Send + 'static,
    mut each: impl FnMut(String) -> bool + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if !each(line) {
                    break;
                }
            }
        })
}

impl ServerProc {
    /// Starts `harden-server` (the path from `env!("CARGO_BIN_EXE_harden-server")`) and waits
    /// for its ports.
    pub fn start(exe: &str, args: &ServerArgs) -> ServerProc {
        let mut cmd = match args.nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(exe);
                c
            }
            None => Command::new(exe),
        };
        let mut child = cmd
            .args(args.to_args())
            .env("RUST_LOG", &args.log)
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
        let (tx, lines): (Sender<String>, _) = channel();
        let out = child.stdout.take().expect("piped stdout");
        spawn_reader("harden-stdout", out, move |l| tx.send(l).is_ok()).expect("reader thread");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stderr_count = Arc::new(AtomicUsize::new(0));
        let (keep, count) = (stderr.clone(), stderr_count.clone());
        let err = child.stderr.take().expect("piped stderr");
        spawn_reader("harden-stderr", err, move |l| {
            if count.fetch_add(1, Ordering::Relaxed) < STDERR_KEEP {
                keep.lock().unwrap_or_else(|e| e.into_inner()).push(l);
            }
            true
        })
        .expect("reader thread");
        let stdin = child.stdin.take();
        let mut p = ServerProc {
            child,
            stdin,
            lines,
            stderr,
            stderr_count,
            port: 0,
            tls_port: None,
            exited: false,
        };
        loop {
            let l = p.line();
            if let Some(v) = l.strip_prefix("port=") {
                p.port = v.parse().expect("port");
            } else if let Some(v) = l.strip_prefix("tls_port=") {
                p.tls_port = Some(v.parse().expect("tls port"));
            } else if l == "ready" {
                break;
            }
        }
        p
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn line(&mut self) -> String {
        match self.lines.recv_timeout(ANSWER) {
            Ok(l) => l,
            Err(e) => panic!(
                "harden-server (pid {}) said nothing within {ANSWER:?} ({e}); process status \
                 {:?}; stderr tail: {:?}",
                self.pid(),
                self.child.try_wait(),
                self.stderr_tail(20)
            ),
        }
    }

    /// Sends one command and returns its one-line answer.
    pub fn command(&mut self, cmd: &str) -> String {
        let stdin = self.stdin.as_mut().expect("server already stopped");
        writeln!(stdin, "{cmd}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("harden-server is gone ({e})"));
        self.line()
    }

    /// The server's counters.
    pub fn stats(&mut self) -> Stats {
        let l = self.command("stats");
        Stats::parse(&l).unwrap_or_else(|| panic!("bad stats line {l:?}"))
    }

    /// RSS, descriptors and threads of the server process.
    pub fn proc_stats(&self) -> ProcStats {
        ProcStats::of(self.pid()).expect("the server process is gone")
    }

    /// Whether the process is still running (it did not crash).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stderr lines so far (at most [`STDERR_KEEP`]) and the total count.
    pub fn stderr(&self) -> (Vec<String>, usize) {
        (
            self.stderr
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            self.stderr_count.load(Ordering::Relaxed),
        )
    }

    fn stderr_tail(&self, n: usize) -> Vec<String> {
        let v = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        v[v.len().saturating_sub(n)..].to_vec()
    }

    /// Asserts that the server neither panicked outside a handler that was asked to, nor
    /// logged more than `max_lines` lines.
    pub fn assert_quiet(&self, max_lines: usize) {
        let (lines, count) = self.stderr();
        let panics: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("panicked") && !l.contains("asked to"))
            .collect();
        assert!(panics.is_empty(), "the server panicked: {panics:?}");
        assert!(
            count <= max_lines,
            "log flood: {count} stderr lines (bound {max_lines}); tail: {:?}",
            self.stderr_tail(10)
        );
    }

    /// Sends `stop` and waits for the process to exit, within `timeout`. Returns the time
    /// `Server::stop` took (as the server measured it) and the time until the exit.
    pub fn stop(&mut self, timeout: Duration) -> (Duration, Duration) {
        let r = self.stop_report(timeout);
        (r.stop, r.exit)
    }

    /// Like [`ServerProc::stop`], with the server's counters once the `on_close` callbacks
    /// of the stop have run.
    pub fn stop_report(&mut self, timeout: Duration) -> StopReport {
        let t0 = Instant::now();
        let l = self.command("stop");
        let (ms, stats) = l
            .strip_prefix("stopped ms=")
            .and_then(|v| v.split_once(' '))
            .and_then(|(ms, words)| Some((ms.parse::<u64>().ok()?, Stats::parse_words(words)?)))
            .unwrap_or_else(|| panic!("bad answer to stop: {l:?}"));
        self.stdin = None;
        let left = timeout.saturating_sub(t0.elapsed());
        loop {
            match self.lines.recv_timeout(left) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("harden-server did not exit within {timeout:?} of stop")
                }
            }
        }
        let status = self.child.wait().expect("wait for the server");
        self.exited = true;
        let exit = t0.elapsed();
        assert!(status.success(), "harden-server exited with {status}");
        StopReport {
            stop: Duration::from_millis(ms),
            exit,
            stats,
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Samples a process's RSS until stopped; reports the largest value seen.
pub struct RssMonitor {
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<u64>>,
}

impl RssMonitor {
    /// Starts sampling `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> RssMonitor {
        let (tx, rx) = channel::<()>();
        let handle = std::thread::Builder::new()
            .name("harden-rss".into())
            .spawn(move || {
                let mut max = 0;
                loop {
                    if let Some(p) = ProcStats::of(pid) {
                        max = max.max(p.rss_kb);
                    }
                    match rx.recv_timeout(every) {
                        Err(RecvTimeoutError::Timeout) => continue,
                        _ => return max,
                    }
                }
            })
            .expect("monitor thread");
        RssMonitor {
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stops sampling; the largest RSS seen, KiB.
    pub fn finish(mut self) -> u64 {
        self.stop.take();
        self.handle
            .take()
            .map_or(0, |h| h.join().expect("monitor thread"))
    }
}

impl Drop for RssMonitor {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
