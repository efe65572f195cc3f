//! Connection flood past `max_connections`: the sockets over the limit are answered 503
//! before any upgrade (or, past the server's reject backlog, simply closed: never a 101), the
//! server does not crash, the good clients go on, and once the flood leaves the server takes
//! new connections up to its limit again.
//! Short run: limit 40, 120 sockets. Soak: limit 500, 2,000 sockets.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hardening::{
    raw_upgrade, read_http_head, size, upgrade_request, wait_until, GoodClients, ServerArgs,
    ServerProc, RTT_BOUND,
};

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");
const GOOD: usize = 3;

#[test]
fn over_the_limit_gets_503_then_the_server_recovers() {
    let max = size(40, 500);
    let flood = size(120, 2000);
    let mut args = ServerArgs::default();
    args.opts.max_connections = max;
    let mut srv = ServerProc::start(EXE, &args);
    let good = GoodClients::echo(srv.port, GOOD, Duration::from_millis(20));
    let base = srv.proc_stats();

    // Open the flood first (each sends a whole upgrade request), then read the answers.
    let req = upgrade_request("/echo");
    let mut socks: Vec<TcpStream> = Vec::with_capacity(flood);
    for _ in 0..flood {
        let mut s = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
        let _ = s.write_all(req.as_bytes());
        socks.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut upgraded = 0;
    let mut busy = 0;
    let mut closed = 0;
    let mut other = Vec::new();
    for s in &mut socks {
        match read_http_head(s, deadline) {
            Ok(h) if h.starts_with("HTTP/1.1 101") => upgraded += 1,
            Ok(h) if h.starts_with("HTTP/1.1 503") => busy += 1,
            Ok(h) if h.is_empty() => closed += 1,
            Ok(h) => other.push(h),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                closed += 1
            }
            Err(e) => other.push(e.to_string()),
        }
    }
    let during = srv.proc_stats();
    let s = srv.stats();
    println!(
        "connection flood: limit {max}, {GOOD} good clients + {flood} flood sockets: {upgraded} \
         upgraded, {busy} answered 503, {closed} closed without an answer, other {other:?}; \
         server live {} ({}); before {base}",
        s.live, during
    );
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert_eq!(upgraded, max - GOOD, "exactly the free slots were upgraded");
    assert_eq!(busy + closed, flood - (max - GOOD));
    assert!(busy > 0, "no 503 at all");
    assert!(s.live <= max, "live {} over the limit {max}", s.live);
    assert!(srv.alive());

    // The flood leaves; the server comes back to the good clients only.
    drop(socks);
    assert!(
        wait_until(Duration::from_secs(10), || srv.stats().live == GOOD),
        "connections not released: {:?}",
        srv.stats()
    );
    // Recovery: the free slots take new clients again.
    let again: Vec<TcpStream> = (0..max - GOOD)
        .map(|i| {
            raw_upgrade(srv.port, "/echo", Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("client {i} after the flood: {e}"))
        })
        .collect();
    assert_eq!(srv.stats().live, max);
    drop(again);
    assert!(wait_until(Duration::from_secs(10), || srv.stats().live == GOOD));

    let report = good.finish();
    println!("connection flood: good clients {report:?}");
    report.assert_ok(RTT_BOUND, GOOD as u64);
    assert!(wait_until(Duration::from_secs(10), || {
        let p = srv.proc_stats();
        p.fds <= base.fds && p.threads <= base.threads
    }));
    let s = srv.stats();
    assert_eq!(s.dup_closes, 0);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}

/// Over wss: the sockets over the limit are closed before any TLS handshake (a 503 would
/// need one), the limit holds, and the server recovers.
#[test]
fn over_the_limit_on_wss_is_closed_then_the_server_recovers() {
    let max = size(20usize, 200);
    let flood = size(60usize, 600);
    let tc = hardening::TestCert::new();
    let mut args = ServerArgs {
        tls: tc.files(),
        ..Default::default()
    };
    args.opts.max_connections = max;
    let mut srv = ServerProc::start(EXE, &args);
    let tls_port = srv.tls_port.unwrap();
    let cfg = tc.client_config();
    let good = GoodClients::echo(srv.port, 2, Duration::from_millis(20));
    // The wss clients that fit, kept open.
    let held: Vec<_> = (0..max)
        .map(|i| {
            tc.connect(&cfg, tls_port, "/echo", Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("wss client {i} within the limit: {e}"))
        })
        .collect();
    // The flood: each tries a TLS handshake and an upgrade.
    let mut refused = 0;
    let mut other = Vec::new();
    for _ in 0..flood {
        match tc.connect(&cfg, tls_port, "/echo", Duration::from_secs(5)) {
            Ok(_) => other.push("upgraded over the limit".to_string()),
            Err(e) if e.contains("wss handshake") => refused += 1,
            Err(e) => other.push(e),
        }
    }
    let s = srv.stats();
    println!(
        "wss connection flood: limit {max} (all used by wss clients), {flood} more: {refused} \
         refused before the upgrade, other {other:?}; server tls_live {}",
        s.tls_live
    );
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(refused, flood);
    assert!(s.tls_live <= max);
    drop(held);
    assert!(wait_until(Duration::from_secs(10), || srv.stats().tls_live == 0));
    let again: Vec<_> = (0..max)
        .map(|i| {
            tc.connect(&cfg, tls_port, "/echo", Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("wss client {i} after the flood: {e}"))
        })
        .collect();
    drop(again);
    good.finish().assert_ok(RTT_BOUND, 2);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}
