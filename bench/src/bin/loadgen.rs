//! The load generator: `loadgen SCENARIO [--key value]...`, one JSON line per measurement
//! on stdout, warnings on stderr.
//!
//! Scenarios (see `bench/run.sh` for the exact invocations):
//! - `echo`: `--conns C` connections, each with one message of `--size B` bytes in flight
//!   (text when `--binary` is 0, the default below 1 KiB; binary otherwise), `--warmup` then
//!   `--duration` seconds; round trips/s, MB/s (payload bytes echoed per second), p50/p99.
//!   `--tls 1` runs it over wss.
//! - `fanout`: `--members M` connections join `/room/NAME`, one more connection publishes
//!   `--messages N` text messages of `--size B` bytes, each carrying its send time;
//!   deliveries/s, p50/p99 delivery latency, lost (must be 0), out of order. Members keep
//!   listening `--drain` seconds (default 20) after the last send: later is lost.
//! - `idle`: `--conns C` connections (each does one 32 B echo) held `--hold` seconds; the
//!   server's (`--pid`) RSS per connection, threads, and CPU used while idle.
//! - `churn`: `--conns C` loops of connect, one 32 B echo, close handshake, for `--duration`
//!   seconds; connections/s and errors (must be 0).
//! - `wait`: waits until `--port` accepts TCP (at most `--timeout` seconds); exit 1 if not.
//!
//! Threads: the connections are spread over `--threads` client threads (default: one per
//! core), each running its own single-threaded tokio runtime, so no lock or channel sits
//! between a connection and its thread. Each thread measures its own CPU time over the run;
//! a thread busier than 90% of the wall time is reported (`client_saturated`) because the
//! figures may then be the client's, not the server's. Every wait is bounded by
//! `--op-timeout` seconds (default 5); only 127.0.0.1 (or `--host`, which must be loopback)
//! is ever targeted.

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tern_bench::client::{op, Client, Incoming};
use tern_bench::procfs::{self, thread_cpu};
use tern_bench::stats::p50_p99_us;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// A client thread busier than this share of wall time is called saturated.
const SATURATED: f64 = 0.90;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Conn = Client<Box<dyn Io>>;

#[derive(Clone)]
struct Opts {
    host: String,
    port: u16,
    server: String,
    round: u64,
    threads: usize,
    conns: usize,
    size: usize,
    binary: bool,
    warmup: Duration,
    duration: Duration,
    tls: bool,
    members: usize,
    messages: usize,
    room: String,
    hold: Duration,
    pid: Option<u32>,
    op_timeout: Duration,
    /// Fan-out: how long members keep listening after the last send.
    drain: Duration,
    tls_config: Option<Arc<rustls::ClientConfig>>,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen echo|fanout|idle|churn|wait --port P [--server NAME] [--round N] \
         [--threads T] [--conns C] [--size B] [--binary 0|1] [--warmup S] [--duration S] \
         [--tls 0|1] [--members M] [--messages N] [--room NAME] [--hold S] [--pid PID] \
         [--op-timeout S] [--drain S] [--timeout S] [--host 127.0.0.1]"
    );
    std::process::exit(2)
}

fn parse_args() -> (String, HashMap<String, String>) {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| usage());
    let mut kv = HashMap::new();
    while let Some(k) = args.next() {
        let Some(key) = k.strip_prefix("--") else {
            eprintln!("loadgen: unexpected argument {k:?}");
            usage()
        };
        let v = args.next().unwrap_or_else(|| {
            eprintln!("loadgen: --{key} needs a value");
            usage()
        });
        kv.insert(key.to_string(), v);
    }
    (scenario, kv)
}

fn get<T: std::str::FromStr>(kv: &HashMap<String, String>, key: &str, default: T) -> T {
    match kv.get(key) {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("loadgen: bad value for --{key}: {v:?}");
            usage()
        }),
    }
}

fn secs(kv: &HashMap<String, String>, key: &str, default: f64) -> Duration {
    Duration::from_secs_f64(get(kv, key, default).max(0.0))
}

fn opts(kv: &HashMap<String, String>) -> Opts {
    #[rustfmt::skip]
    const KNOWN: &[&str] = &[
        "host", "port", "server", "round", "threads", "conns", "size", "binary", "warmup",
        "duration", "tls", "members", "messages", "room", "hold", "pid", "op-timeout",
        "timeout", "drain",
    ];
    if let Some(k) = kv.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        eprintln!("loadgen: unknown option --{k}");
        usage()
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let host: String = get(kv, "host", "127.0.0.1".to_string());
    match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => {}
        _ => {
            eprintln!("loadgen: --host must be a loopback address, not {host:?}");
            std::process::exit(2)
        }
    }
    let size: usize = get(kv, "size", 32);
    let tls = get(kv, "tls", 0u8) != 0;
    Opts {
        host,
        port: kv
            .get("port")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| usage()),
        server: get(kv, "server", "unknown".to_string()),
        round: get(kv, "round", 1),
        threads: get(kv, "threads", cores).max(1),
        conns: get(kv, "conns", 64).max(1),
        size: size.min(tern_bench::client::MAX_MESSAGE),
        binary: get(kv, "binary", u8::from(size >= 1024)) != 0,
        warmup: secs(kv, "warmup", 1.0),
        duration: secs(kv, "duration", 5.0),
        tls,
        members: get(kv, "members", 1000).max(1),
        messages: get(kv, "messages", 200).max(1),
        room: get(kv, "room", "bench".to_string()),
        hold: secs(kv, "hold", 10.0),
        pid: kv.get("pid").and_then(|p| p.parse().ok()),
        op_timeout: secs(kv, "op-timeout", 5.0),
        drain: secs(kv, "drain", 20.0),
        tls_config: tls.then(tern_bench::tls::client_config),
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "operation timed out")
}

/// Runs `fut` under the per-operation deadline.
async fn bounded<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| Err(timed_out()))
}

async fn connect(o: &Opts, path: &str, seed: u64) -> io::Result<Conn> {
    bounded(o.op_timeout, async {
        let tcp = TcpStream::connect((o.host.as_str(), o.port)).await?;
        tcp.set_nodelay(true)?;
        let io: Box<dyn Io> = match &o.tls_config {
            Some(cfg) => {
                let name = rustls::pki_types::ServerName::try_from("localhost")
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let tls = tokio_rustls::TlsConnector::from(cfg.clone());
                Box::new(tls.connect(name, tcp).await?)
            }
            None => Box::new(tcp),
        };
        Client::handshake(io, &format!("{}:{}", o.host, o.port), path, seed).await
    })
    .await
}

/// One round trip: send `payload`, wait for the same bytes back.
async fn round_trip(c: &mut Conn, opcode: u8, payload: &[u8]) -> io::Result<()> {
    c.send(opcode, payload).await?;
    match c.recv().await? {
        Incoming::Message(got_op, got) if got_op == opcode && got == payload => Ok(()),
        Incoming::Message(got_op, got) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "echo mismatch: sent {} bytes (op {opcode}), got {} (op {got_op})",
                payload.len(),
                got.len()
            ),
        )),
        Incoming::Close(code) => Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!("server closed with {code}"),
        )),
    }
}

fn payload(size: usize, binary: bool) -> Vec<u8> {
    if binary {
        (0..size).map(|i| (i * 31 + 7) as u8).collect()
    } else {
        (0..size).map(|i| b'a' + (i % 26) as u8).collect()
    }
}

fn size_label(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 {
        format!("{}KiB", size / 1024)
    } else {
        format!("{size}B")
    }
}

/// What one client thread reports besides its scenario data.
#[derive(Default, Clone, Copy)]
struct ThreadLoad {
    cpu: Duration,
    wall: Duration,
}

impl ThreadLoad {
    fn measure_since(cpu0: Duration, t0: Instant) -> Self {
        ThreadLoad {
            cpu: thread_cpu().saturating_sub(cpu0),
            wall: t0.elapsed(),
        }
    }
    fn share(&self) -> f64 {
        if self.wall.is_zero() {
            0.0
        } else {
            self.cpu.as_secs_f64() / self.wall.as_secs_f64()
        }
    }
}

/// Runs `f(i)` on `n` client threads, each with its own current-thread runtime.
fn on_threads<T, F, Fut>(n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = T>,
{
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let f = f.clone();
            std::thread::Builder::new()
                .name(format!("loadgen-{i}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("tokio runtime");
                    rt.block_on(f(i))
                })
                .expect("spawn client thread")
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("client thread panicked"))
        .collect()
}

/// Splits `total` items over `n` threads: how many thread `i` gets.
fn share_of(total: usize, n: usize, i: usize) -> usize {
    total / n + usize::from(i < total % n)
}

/// Adds the client-load fields to `out` and warns on stderr when a thread saturated.
fn client_load(out: &mut Value, loads: &[ThreadLoad], what: &str) {
    let shares: Vec<f64> = loads.iter().map(ThreadLoad::share).collect();
    let max = shares.iter().copied().fold(0.0, f64::max);
    if max > SATURATED {
        eprintln!(
            "loadgen: WARNING: a client thread was {:.0}% busy during {what}: the figures may be \
             bounded by the load generator, not the server (try --threads)",
            max * 100.0
        );
    }
    out["client_threads"] = json!(loads.len());
    out["client_cpu_max"] = json!((max * 1000.0).round() / 1000.0);
    out["client_saturated"] = json!(max > SATURATED);
}

fn base(o: &Opts, scenario: &str, case: String) -> Value {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "scenario": scenario,
        "case": case,
        "server": o.server,
        "round": o.round,
        "port": o.port,
        "unix_time": unix,
    })
}

#[derive(Default)]
struct Errors {
    count: u64,
    kinds: BTreeMap<String, u64>,
}

impl Errors {
    fn add(&mut self, e: &io::Error) {
        self.count += 1;
        let key = format!("{:?}: {}", e.kind(), e);
        let key: String = key.chars().take(120).collect();
        if self.kinds.len() < 8 || self.kinds.contains_key(&key) {
            *self.kinds.entry(key).or_default() += 1;
        }
    }
    fn merge(&mut self, other: Errors) {
        self.count += other.count;
        for (k, v) in other.kinds {
            if self.kinds.len() < 8 || self.kinds.contains_key(&k) {
                *self.kinds.entry(k).or_default() += v;
            }
        }
    }
    fn put(&self, out: &mut Value) {
        out["errors"] = json!(self.count);
        if !self.kinds.is_empty() {
            out["error_kinds"] = json!(self.kinds);
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The server's CPU time and context switches over a measurement window, per operation.
/// CPU comes from the process-wide tick counters (which keep the time of threads that
/// exited, e.g. per-connection threads in churn; 10 ms resolution) for windows of 2 s or
/// more, and from the per-thread nanosecond counters for shorter windows.
struct ServerWatch {
    pid: u32,
    start: procfs::TaskTotals,
    ticks_cpu: Duration,
    t0: Instant,
}

impl ServerWatch {
    fn start(pid: Option<u32>) -> Option<Self> {
        let pid = pid?;
        Some(ServerWatch {
            pid,
            start: procfs::task_totals(pid).ok()?,
            ticks_cpu: procfs::sample(pid).ok()?.cpu,
            t0: Instant::now(),
        })
    }

    /// Closes the window now.
    fn stop(self) -> Option<Window> {
        let end = procfs::task_totals(self.pid).ok()?;
        let ticks = procfs::sample(self.pid).ok()?.cpu;
        let wall = self.t0.elapsed().as_secs_f64().max(1e-9);
        let cpu = if wall >= 2.0 {
            ticks.saturating_sub(self.ticks_cpu).as_secs_f64()
        } else {
            end.cpu_ns.saturating_sub(self.start.cpu_ns) as f64 / 1e9
        };
        Some(Window {
            cpu,
            switches: end.switches.saturating_sub(self.start.switches),
            wall,
        })
    }
}

/// What the server used over a closed window.
struct Window {
    cpu: f64,
    switches: u64,
    wall: f64,
}

impl Window {
    /// Adds `server_cpu_percent`, `server_cpu_us_per_op` and `server_switches_per_op`.
    fn put(&self, ops: u64, out: &mut Value) {
        let ops = ops.max(1) as f64;
        out["server_cpu_percent"] = json!(round2(self.cpu / self.wall * 100.0));
        out["server_cpu_us_per_op"] = json!(round2(self.cpu * 1e6 / ops));
        out["server_switches_per_op"] = json!(round2(self.switches as f64 / ops));
    }
}

/// Watches the server from `warmup` after now until `duration` later.
fn watch_window(pid: Option<u32>, warmup: Duration, duration: Duration) -> Option<Window> {
    std::thread::sleep(warmup);
    let w = ServerWatch::start(pid);
    std::thread::sleep(duration);
    w?.stop()
}

// ---------------------------------------------------------------- echo

fn echo(o: Opts) -> Value {
    let threads = o.threads.min(o.conns);
    // The client threads and this one, which watches the server over the measured window.
    let start_line = Arc::new(Barrier::new(threads + 1));
    // Passed when every round trip is done and before any connection closes, so the
    // server's window ends while its per-connection threads (if any) still exist.
    let done_line = Arc::new(Barrier::new(threads + 1));
    let (sl, dl) = (start_line.clone(), done_line.clone());
    let opcode = if o.binary { op::BINARY } else { op::TEXT };
    let oc = o.clone();
    let clients = std::thread::spawn(move || {
        on_threads(threads, move |i| {
            let o = oc.clone();
            let (start_line, done_line) = (sl.clone(), dl.clone());
            async move {
                let mut errors = Errors::default();
                let mut conns = Vec::new();
                for k in 0..share_of(o.conns, threads, i) {
                    match connect(&o, "/", (i * 100_003 + k) as u64 + 1).await {
                        Ok(c) => conns.push(c),
                        Err(e) => errors.add(&e),
                    }
                }
                start_line.wait();
                let (cpu0, t0) = (thread_cpu(), Instant::now());
                let measure_from = t0 + o.warmup;
                let end = measure_from + o.duration;
                let tasks: Vec<_> = conns
                    .into_iter()
                    .map(|mut c| {
                        let data = payload(o.size, o.binary);
                        let limit = o.op_timeout;
                        tokio::spawn(async move {
                            let mut lat = Vec::with_capacity(4096);
                            let mut err = None;
                            loop {
                                let t = Instant::now();
                                if t >= end {
                                    break;
                                }
                                match bounded(limit, round_trip(&mut c, opcode, &data)).await {
                                    Ok(()) if t >= measure_from => {
                                        lat.push(t.elapsed().as_nanos() as u64)
                                    }
                                    Ok(()) => {}
                                    Err(e) => {
                                        err = Some(e);
                                        break;
                                    }
                                }
                            }
                            (lat, err, c)
                        })
                    })
                    .collect();
                let mut lat = Vec::new();
                let mut survivors = Vec::new();
                for t in tasks {
                    match t.await {
                        Ok((l, e, c)) => {
                            lat.extend_from_slice(&l);
                            match e {
                                Some(e) => errors.add(&e),
                                None => survivors.push(c),
                            }
                        }
                        Err(e) => errors.add(&io::Error::other(e.to_string())),
                    }
                }
                let load = ThreadLoad::measure_since(cpu0, t0);
                done_line.wait();
                for c in survivors {
                    let _ = bounded(Duration::from_secs(1), c.close()).await;
                }
                (lat, errors, load)
            }
        })
    });
    start_line.wait();
    std::thread::sleep(o.warmup);
    let watch = ServerWatch::start(o.pid);
    done_line.wait();
    let watch = watch.and_then(ServerWatch::stop);
    let per_thread = clients.join().expect("echo client threads panicked");
    let mut lat = Vec::new();
    let mut errors = Errors::default();
    let mut loads = Vec::new();
    for (l, e, load) in per_thread {
        lat.extend(l);
        errors.merge(e);
        loads.push(load);
    }
    let secs = o.duration.as_secs_f64().max(1e-9);
    let rts = lat.len() as f64 / secs;
    let (p50, p99) = p50_p99_us(&mut lat);
    let prefix = if o.tls { "wss echo" } else { "echo" };
    let mut out = base(
        &o,
        if o.tls { "wss_echo" } else { "echo" },
        format!("{prefix} c={} {}", o.conns, size_label(o.size)),
    );
    out["conns"] = json!(o.conns);
    out["size"] = json!(o.size);
    out["opcode"] = json!(if o.binary { "binary" } else { "text" });
    out["duration_s"] = json!(secs);
    out["round_trips"] = json!(lat.len());
    out["round_trips_per_s"] = json!(rts.round());
    out["mb_per_s"] = json!(round2(rts * o.size as f64 / 1e6));
    out["p50_us"] = json!(round2(p50));
    out["p99_us"] = json!(round2(p99));
    if let Some(w) = watch {
        w.put(out["round_trips"].as_u64().unwrap_or(0), &mut out);
    }
    errors.put(&mut out);
    client_load(&mut out, &loads, "echo");
    out
}

// ---------------------------------------------------------------- fan-out

/// Shared state of one fan-out run. Times are nanoseconds since `epoch`.
struct Fan {
    epoch: Instant,
    members: usize,
    synced: AtomicUsize,
    all_synced: Notify,
    /// When members stop waiting (0: publisher not done yet).
    deadline_ns: AtomicU64,
    first_send_ns: AtomicU64,
    /// Members that connected.
    connected: AtomicUsize,
    /// Members that stopped listening (all messages in, or gave up).
    done: AtomicUsize,
    /// Set (and `release` notified) when members may close their connections: after the
    /// server's window has ended, so per-connection threads are still counted in it.
    released: std::sync::atomic::AtomicBool,
    release: Notify,
}

impl Fan {
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

fn fanout(o: Opts) -> Value {
    let threads = o.threads.min(o.members);
    let fan = Arc::new(Fan {
        epoch: Instant::now(),
        members: o.members,
        synced: AtomicUsize::new(0),
        all_synced: Notify::new(),
        deadline_ns: AtomicU64::new(0),
        first_send_ns: AtomicU64::new(0),
        connected: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        released: std::sync::atomic::AtomicBool::new(false),
        release: Notify::new(),
    });
    // Member threads, the publisher and this thread (which watches the server).
    let connected = Arc::new(Barrier::new(threads + 2));
    let path = format!("/room/{}", o.room);

    // The publisher, on a thread of its own.
    let publisher = {
        let (o, fan, connected, path) = (o.clone(), fan.clone(), connected.clone(), path.clone());
        std::thread::Builder::new()
            .name("loadgen-pub".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(publish(o, fan, connected, path))
            })
            .expect("spawn publisher")
    };

    let (oc, fc, cc) = (o.clone(), fan.clone(), connected.clone());
    let members = std::thread::spawn(move || {
        on_threads(threads, move |i| {
            let (o, fan, connected, path) = (oc.clone(), fc.clone(), cc.clone(), path.clone());
            async move {
                let mut errors = Errors::default();
                let mut conns = Vec::new();
                let n = share_of(o.members, threads, i);
                let mut k = 0;
                while k < n {
                    let batch: Vec<_> = (k..n.min(k + 50))
                        .map(|j| {
                            let (o, path) = (o.clone(), path.clone());
                            tokio::spawn(async move {
                                connect(&o, &path, (i * 100_003 + j) as u64 + 1).await
                            })
                        })
                        .collect();
                    k = n.min(k + 50);
                    for b in batch {
                        match b.await {
                            Ok(Ok(c)) => conns.push(c),
                            Ok(Err(e)) => errors.add(&e),
                            Err(e) => errors.add(&io::Error::other(e.to_string())),
                        }
                    }
                }
                let connected_here = conns.len();
                fan.connected.fetch_add(connected_here, Ordering::AcqRel);
                connected.wait();
                let (cpu0, t0) = (thread_cpu(), Instant::now());
                let tasks: Vec<_> = conns
                    .into_iter()
                    .map(|c| tokio::spawn(member(c, fan.clone(), o.messages)))
                    .collect();
                let mut result = MemberResult::default();
                for t in tasks {
                    match t.await {
                        Ok(r) => result.merge(r),
                        Err(e) => errors.add(&io::Error::other(e.to_string())),
                    }
                }
                for e in std::mem::take(&mut result.errors) {
                    errors.add(&e);
                }
                (
                    result,
                    errors,
                    connected_here,
                    ThreadLoad::measure_since(cpu0, t0),
                )
            }
        })
    });
    connected.wait();
    let watch = ServerWatch::start(o.pid);
    // Close the window when every member has stopped listening (before their closes).
    let give_up = Instant::now() + Duration::from_secs(90);
    while fan.done.load(Ordering::Acquire) < fan.connected.load(Ordering::Acquire)
        && !members.is_finished()
    {
        if Instant::now() >= give_up {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let watch = watch.and_then(ServerWatch::stop);
    fan.released.store(true, Ordering::Release);
    fan.release.notify_waiters();
    let per_thread = members.join().expect("member threads panicked");
    let pub_result = publisher.join().expect("publisher panicked");

    let mut all = MemberResult::default();
    let mut errors = Errors::default();
    let mut loads = Vec::new();
    let mut connected_members = 0;
    for (r, e, n, load) in per_thread {
        all.merge(r);
        errors.merge(e);
        connected_members += n;
        loads.push(load);
    }
    let (sent, pub_err) = match pub_result {
        Ok(sent) => (sent, None),
        Err((sent, e)) => (sent, Some(e)),
    };
    if let Some(e) = &pub_err {
        errors.add(e);
    }
    let expected = connected_members * sent;
    let deliveries = all.lat.len();
    let first = fan.first_send_ns.load(Ordering::Relaxed);
    let span = all.last_ns.saturating_sub(first) as f64 / 1e9;
    let (p50, p99) = p50_p99_us(&mut all.lat);
    let mut out = base(&o, "fanout", format!("fanout {}x{}", o.members, o.messages));
    out["members"] = json!(o.members);
    out["connected_members"] = json!(connected_members);
    out["synced_members"] = json!(fan.synced.load(Ordering::Relaxed));
    out["messages"] = json!(o.messages);
    out["sent"] = json!(sent);
    out["size"] = json!(o.size);
    out["deliveries"] = json!(deliveries);
    out["deliveries_per_s"] = json!(if span > 0.0 {
        (deliveries as f64 / span).round()
    } else {
        f64::NAN
    });
    out["span_ms"] = json!(round2(span * 1000.0));
    out["p50_us"] = json!(round2(p50));
    out["p99_us"] = json!(round2(p99));
    out["lost"] =
        json!(expected.saturating_sub(deliveries) + (o.members - connected_members) * o.messages);
    out["out_of_order"] = json!(all.out_of_order);
    if let Some(w) = watch {
        w.put(deliveries as u64, &mut out);
    }
    errors.put(&mut out);
    client_load(&mut out, &loads, "fan-out");
    out
}

#[derive(Default)]
struct MemberResult {
    lat: Vec<u64>,
    last_ns: u64,
    out_of_order: u64,
    errors: Vec<io::Error>,
}

impl MemberResult {
    fn merge(&mut self, mut other: MemberResult) {
        self.lat.append(&mut other.lat);
        self.last_ns = self.last_ns.max(other.last_ns);
        self.out_of_order += other.out_of_order;
        self.errors.append(&mut other.errors);
    }
}

/// Parses a measurement message `m SEQ SEND_NS ...`.
fn parse_measured(p: &[u8]) -> Option<(u64, u64)> {
    let s = std::str::from_utf8(p).ok()?;
    let mut w = s.split(' ');
    if w.next()? != "m" {
        return None;
    }
    Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
}

async fn member(mut c: Conn, fan: Arc<Fan>, messages: usize) -> MemberResult {
    let mut r = MemberResult {
        lat: Vec::with_capacity(messages),
        ..Default::default()
    };
    let mut synced = false;
    let mut next_seq = 0u64;
    let hard_stop = Instant::now() + Duration::from_secs(60);
    while r.lat.len() < messages {
        let d = fan.deadline_ns.load(Ordering::Acquire);
        if (d != 0 && fan.now_ns() >= d) || Instant::now() >= hard_stop {
            break;
        }
        let got = tokio::time::timeout(Duration::from_millis(100), c.recv()).await;
        let now = fan.now_ns();
        match got {
            Err(_) => continue, // re-check the deadline
            Ok(Err(e)) => {
                r.errors.push(e);
                break;
            }
            Ok(Ok(Incoming::Close(code))) => {
                r.errors.push(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!("server closed a member with {code}"),
                ));
                break;
            }
            Ok(Ok(Incoming::Message(_, p))) => {
                if p.first() == Some(&b'p') {
                    if !synced {
                        synced = true;
                        if fan.synced.fetch_add(1, Ordering::AcqRel) + 1 == fan.members {
                            fan.all_synced.notify_one();
                        }
                    }
                } else if let Some((seq, sent)) = parse_measured(p) {
                    if seq != next_seq {
                        r.out_of_order += 1;
                    }
                    next_seq = seq + 1;
                    r.lat.push(now.saturating_sub(sent));
                    r.last_ns = now;
                }
            }
        }
    }
    fan.done.fetch_add(1, Ordering::AcqRel);
    let _ = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let released = fan.release.notified();
            if fan.released.load(Ordering::Acquire) {
                break;
            }
            released.await;
        }
    })
    .await;
    let _ = bounded(Duration::from_secs(1), c.close()).await;
    r
}

/// Connects, waits for the members, syncs (probes until every member has seen one), then
/// sends the measured messages back to back. Returns how many were sent.
async fn publish(
    o: Opts,
    fan: Arc<Fan>,
    connected: Arc<Barrier>,
    path: String,
) -> Result<usize, (usize, io::Error)> {
    let conn = connect(&o, &path, 0xfeed).await;
    connected.wait();
    let finish = |fan: &Fan, sent| {
        let stop = fan.now_ns() + o.drain.as_nanos() as u64;
        fan.deadline_ns.store(stop, Ordering::Release);
        sent
    };
    let mut c = match conn {
        Ok(c) => c,
        Err(e) => {
            // Nothing will be sent: members stop now.
            fan.deadline_ns
                .store(fan.now_ns().max(1), Ordering::Release);
            return Err((0, e));
        }
    };
    let sync_deadline = Instant::now() + Duration::from_secs(20);
    // Members join when their handshake completes server-side, which may be after the
    // client saw the 101: probe until every member has received one.
    loop {
        if fan.synced.load(Ordering::Acquire) >= fan.members {
            break;
        }
        if Instant::now() >= sync_deadline {
            eprintln!(
                "loadgen: fan-out: only {} of {} members received a probe within 20 s",
                fan.synced.load(Ordering::Acquire),
                fan.members
            );
            break;
        }
        if let Err(e) = c.send(op::TEXT, b"p").await {
            return Err((finish(&fan, 0), e));
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), fan.all_synced.notified()).await;
    }
    let mut buf = Vec::with_capacity(o.size.max(64));
    fan.first_send_ns.store(fan.now_ns(), Ordering::Release);
    for seq in 0..o.messages {
        buf.clear();
        buf.extend_from_slice(format!("m {seq} {} ", fan.now_ns()).as_bytes());
        while buf.len() < o.size {
            buf.push(b'x');
        }
        if let Err(e) = c.send(op::TEXT, &buf).await {
            return Err((finish(&fan, seq), e));
        }
    }
    let sent = finish(&fan, o.messages);
    // Stay in the room until every member is done or the deadline has passed.
    let stop = Instant::now() + o.drain + Duration::from_millis(200);
    while fan.done.load(Ordering::Acquire) < fan.synced.load(Ordering::Acquire)
        && Instant::now() < stop
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = bounded(Duration::from_secs(1), c.close()).await;
    Ok(sent)
}

// ---------------------------------------------------------------- idle

fn idle(o: Opts) -> Value {
    let Some(pid) = o.pid else {
        eprintln!("loadgen: idle needs --pid (the server's process id)");
        std::process::exit(2)
    };
    let before = match procfs::sample(pid) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("loadgen: cannot read /proc/{pid}: {e}");
            std::process::exit(1)
        }
    };
    let threads = o.threads.min(o.conns);
    let connected = Arc::new(Barrier::new(threads + 1));
    let release = Arc::new(Barrier::new(threads + 1));
    let oc = o.clone();
    let (c2, r2) = (connected.clone(), release.clone());
    let workers = std::thread::spawn(move || {
        on_threads(threads, move |i| {
            let (o, connected, release) = (oc.clone(), c2.clone(), r2.clone());
            async move {
                let mut errors = Errors::default();
                let mut conns = Vec::new();
                let n = share_of(o.conns, threads, i);
                let data = payload(32, false);
                let mut k = 0;
                while k < n {
                    let batch: Vec<_> = (k..n.min(k + 100))
                        .map(|j| {
                            let (o, data) = (o.clone(), data.clone());
                            tokio::spawn(async move {
                                let mut c = connect(&o, "/", (i * 100_003 + j) as u64 + 1).await?;
                                bounded(o.op_timeout, round_trip(&mut c, op::TEXT, &data)).await?;
                                Ok::<_, io::Error>(c)
                            })
                        })
                        .collect();
                    k = n.min(k + 100);
                    for b in batch {
                        match b.await {
                            Ok(Ok(c)) => conns.push(c),
                            Ok(Err(e)) => errors.add(&e),
                            Err(e) => errors.add(&io::Error::other(e.to_string())),
                        }
                    }
                }
                let held = conns.len();
                connected.wait();
                let (cpu0, t0) = (thread_cpu(), Instant::now());
                release.wait();
                let load = ThreadLoad::measure_since(cpu0, t0);
                drop(conns);
                (held, errors, load)
            }
        })
    });
    connected.wait();
    // Let the server settle after the last handshake before the idle window opens.
    std::thread::sleep(Duration::from_millis(500));
    let start = procfs::sample(pid);
    let t0 = Instant::now();
    std::thread::sleep(o.hold);
    let end = procfs::sample(pid);
    let held_for = t0.elapsed();
    release.wait();
    let per_thread = workers.join().expect("idle workers panicked");
    let mut errors = Errors::default();
    let mut held = 0;
    let mut loads = Vec::new();
    for (n, e, load) in per_thread {
        held += n;
        errors.merge(e);
        loads.push(load);
    }
    let mut out = base(&o, "idle", format!("idle {}", o.conns));
    out["conns"] = json!(o.conns);
    out["held"] = json!(held);
    out["hold_s"] = json!(round2(held_for.as_secs_f64()));
    match (start, end) {
        (Ok(s), Ok(e)) => {
            let per_conn = e.rss_bytes.saturating_sub(before.rss_bytes) as f64 / held.max(1) as f64;
            let cpu = e.cpu.saturating_sub(s.cpu).as_secs_f64() / held_for.as_secs_f64();
            out["rss_before_kib"] = json!(before.rss_bytes / 1024);
            out["rss_after_kib"] = json!(e.rss_bytes / 1024);
            out["rss_per_conn_kib"] = json!(round2(per_conn / 1024.0));
            out["threads_before"] = json!(before.threads);
            out["threads"] = json!(e.threads);
            out["idle_cpu_percent"] = json!(round2(cpu * 100.0));
        }
        (Err(e), _) | (_, Err(e)) => {
            errors.add(&io::Error::new(e.kind(), format!("/proc/{pid}: {e}")));
        }
    }
    errors.put(&mut out);
    let client_cpu: f64 = loads.iter().map(|l| l.cpu.as_secs_f64()).sum();
    out["client_idle_cpu_percent"] = json!(round2(client_cpu / held_for.as_secs_f64() * 100.0));
    out
}

// ---------------------------------------------------------------- churn

fn churn(o: Opts) -> Value {
    let threads = o.threads.min(o.conns);
    let start_line = Arc::new(Barrier::new(threads + 1));
    let (oc, sl) = (o.clone(), start_line.clone());
    let clients = std::thread::spawn(move || {
        on_threads(threads, move |i| {
            let (o, start_line) = (oc.clone(), sl.clone());
            async move {
                start_line.wait();
                let (cpu0, t0) = (thread_cpu(), Instant::now());
                let end = t0 + o.duration;
                let tasks: Vec<_> = (0..share_of(o.conns, threads, i))
                    .map(|k| {
                        let o = o.clone();
                        tokio::spawn(async move {
                            let data = payload(32, false);
                            let mut ok = 0u64;
                            let mut errors = Errors::default();
                            let mut seed = (i * 100_003 + k * 1_009) as u64 + 1;
                            while Instant::now() < end {
                                seed += 1;
                                let one = async {
                                    let mut c = connect(&o, "/", seed).await?;
                                    round_trip(&mut c, op::TEXT, &data).await?;
                                    c.close().await
                                };
                                match bounded(o.op_timeout, one).await {
                                    Ok(()) => ok += 1,
                                    Err(e) => errors.add(&e),
                                }
                            }
                            (ok, errors)
                        })
                    })
                    .collect();
                let mut ok = 0;
                let mut errors = Errors::default();
                for t in tasks {
                    match t.await {
                        Ok((n, e)) => {
                            ok += n;
                            errors.merge(e);
                        }
                        Err(e) => errors.add(&io::Error::other(e.to_string())),
                    }
                }
                (ok, errors, ThreadLoad::measure_since(cpu0, t0))
            }
        })
    });
    start_line.wait();
    let watch = watch_window(o.pid, Duration::ZERO, o.duration);
    let per_thread = clients.join().expect("churn client threads panicked");
    let mut ok = 0;
    let mut errors = Errors::default();
    let mut loads = Vec::new();
    for (n, e, load) in per_thread {
        ok += n;
        errors.merge(e);
        loads.push(load);
    }
    let wall = loads
        .iter()
        .map(|l| l.wall)
        .max()
        .unwrap_or(o.duration)
        .as_secs_f64()
        .max(1e-9);
    let mut out = base(&o, "churn", "churn".to_string());
    out["concurrency"] = json!(o.conns);
    out["duration_s"] = json!(round2(wall));
    out["connections"] = json!(ok);
    out["conns_per_s"] = json!((ok as f64 / wall).round());
    if let Some(w) = watch {
        // Switches are left out: a server's per-connection threads take theirs with them.
        w.put(ok, &mut out);
        if let Some(m) = out.as_object_mut() {
            m.remove("server_switches_per_op");
        }
    }
    errors.put(&mut out);
    client_load(&mut out, &loads, "churn");
    out
}

// ---------------------------------------------------------------- wait

fn wait_port(o: &Opts, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let addr = (o.host.as_str(), o.port);
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() {
    let (scenario, kv) = parse_args();
    let o = opts(&kv);
    let out = match scenario.as_str() {
        "echo" => echo(o),
        "fanout" => fanout(o),
        "idle" => idle(o),
        "churn" => churn(o),
        "wait" => {
            let limit = secs(&kv, "timeout", 10.0);
            if wait_port(&o, limit) {
                return;
            }
            eprintln!(
                "loadgen: nothing accepted on {}:{} within {limit:?}",
                o.host, o.port
            );
            std::process::exit(1)
        }
        other => {
            eprintln!("loadgen: unknown scenario {other:?}");
            usage()
        }
    };
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for total in [1, 5, 64, 1000, 5000] {
            for n in 1..5 {
                let s: usize = (0..n).map(|i| share_of(total, n, i)).sum();
                assert_eq!(s, total);
            }
        }
    }

    #[test]
    fn measured_message_parses() {
        assert_eq!(parse_measured(b"m 12 3456 xxxx"), Some((12, 3456)));
        assert_eq!(parse_measured(b"p"), None);
        assert_eq!(parse_measured(b"m x 1"), None);
    }

    #[test]
    fn labels() {
        assert_eq!(size_label(32), "32B");
        assert_eq!(size_label(16384), "16KiB");
    }
}
