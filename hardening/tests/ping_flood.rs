//! Ping flood: a client sends pings and never reads the pongs. The pongs pile up in the
//! server's outbound queue until the outbound-buffer rule closes the connection (1008); the
//! server's memory stays bounded by that buffer, and the good clients go on.
//! Short run: 300,000 pings at most, a 64 KiB outbound buffer. Soak: 1,000,000 pings, the
//! default 4 MiB buffer.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use hardening::{
    masked_frame, raw_upgrade, size, wait_until, GoodClients, RssMonitor, ServerArgs, ServerProc,
    RTT_BOUND,
};

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");

#[test]
fn a_ping_flood_is_closed_by_the_outbound_buffer_rule() {
    let pings = size(300_000usize, 1_000_000);
    let outbound = size(64 * 1024, 4 << 20);
    let mut args = ServerArgs::default();
    args.opts.outbound_buffer = outbound;
    args.opts.close_timeout = Duration::from_secs(1);
    let mut srv = ServerProc::start(EXE, &args);
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let before = srv.proc_stats();
    let mon = RssMonitor::start(srv.pid(), Duration::from_millis(5));

    let mut s = raw_upgrade(srv.port, "/echo", Duration::from_secs(5)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    // Fixed, so that the pongs pile up in the server, not in the kernel (not below two
    // loopback segments, or TCP itself stalls).
    hardening::set_recv_buffer(&s, 128 * 1024).unwrap();
    let ping = masked_frame(true, 9, &[b'p'; 125]);
    const BATCH: usize = 1000;
    let batch = ping.repeat(BATCH);
    let t0 = Instant::now();
    let mut sent = 0;
    let mut write_error = None;
    while sent < pings {
        match s.write_all(&batch) {
            Ok(()) => sent += BATCH,
            Err(e) => {
                write_error = Some(e.kind());
                break;
            }
        }
    }
    let took = t0.elapsed();
    // Now read: pongs, then (if it got out before the socket was dropped) the 1008 close.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 64 * 1024];
    loop {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let close_frame = got
        .windows(4)
        .rev()
        .find(|w| w[0] == 0x88 && w[1] >= 2 && w[1] < 126)
        .map(|w| u16::from_be_bytes([w[2], w[3]]));
    let peak = mon.finish();
    println!(
        "ping flood: {sent} pings in {took:?} (stopped by {write_error:?}); read back {} KiB, \
         close frame {close_frame:?}; server RSS {} KiB before, {peak} KiB at peak (+{} KiB) \
         with a {} KiB outbound buffer",
        got.len() / 1024,
        before.rss_kb,
        peak.saturating_sub(before.rss_kb),
        outbound / 1024
    );
    assert!(
        wait_until(Duration::from_secs(10), || srv.stats().code(1008) == 1),
        "the flooding connection was not closed by the outbound rule: {:?}",
        srv.stats()
    );
    assert!(
        peak <= before.rss_kb + (outbound / 1024) as u64 + 8 * 1024,
        "RSS grew by {} KiB",
        peak - before.rss_kb
    );
    let report = good.finish();
    println!("ping flood: good clients {report:?}");
    report.assert_ok(RTT_BOUND, 3);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}

/// Unsolicited pongs need no answer: a flood of them costs the server nothing but reading,
/// the connection stays open and usable, and memory stays flat.
#[test]
fn an_unsolicited_pong_flood_is_read_and_ignored() {
    let pongs = size(200_000usize, 1_000_000);
    let mut srv = ServerProc::start(EXE, &ServerArgs::default());
    let good = GoodClients::echo(srv.port, 2, Duration::from_millis(20));
    let before = srv.proc_stats();
    let mon = RssMonitor::start(srv.pid(), Duration::from_millis(5));
    let mut s = raw_upgrade(srv.port, "/echo", Duration::from_secs(5)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let batch = masked_frame(true, 10, &[b'q'; 125]).repeat(1000);
    let t0 = Instant::now();
    for _ in 0..pongs / 1000 {
        s.write_all(&batch)
            .expect("the server stopped reading the pongs");
    }
    // Then a message: its echo is the first thing the server sends.
    s.write_all(&masked_frame(true, 1, b"still here")).unwrap();
    let f = hardening::read_frame(&mut s, 1 << 20).unwrap();
    let took = t0.elapsed();
    let peak = mon.finish();
    println!(
        "pong flood: {pongs} unsolicited pongs in {took:?}, then an echo ({:?}); server RSS {} \
         KiB before, {peak} KiB at peak",
        String::from_utf8_lossy(&f.payload),
        before.rss_kb
    );
    assert_eq!((f.opcode, &f.payload[..]), (1, &b"still here"[..]));
    assert!(
        peak <= before.rss_kb + 4 * 1024,
        "RSS grew by {} KiB",
        peak - before.rss_kb
    );
    assert_eq!(srv.stats().closed, 0, "nobody was closed");
    good.finish().assert_ok(RTT_BOUND, 2);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}
