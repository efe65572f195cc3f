//! Stalled reader: a room member that never reads while a sender's messages are broadcast to
//! the room. It is closed (1008) when its outbound buffer is full; the other members receive
//! every message, in order; the sender is never slowed down by it.
//! Short run: 20,000 broadcasts of 400 bytes, a 256 KiB outbound buffer. Soak: 100,000, the
//! default 4 MiB.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use hardening::{
    raw_upgrade, size, wait_until, GoodClients, RssMonitor, ServerArgs, ServerProc, RTT_BOUND,
};
use tungstenite::{Message, WebSocket};

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");

fn member(port: u16) -> WebSocket<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tungstenite::client(format!("ws://127.0.0.1:{port}/room/stall"), s)
        .unwrap()
        .0
}

#[test]
fn a_stalled_member_is_closed_and_the_others_get_every_message_in_order() {
    let n = size(20_000u64, 100_000);
    let outbound = size(256 * 1024, 4 << 20);
    let mut args = ServerArgs::default();
    args.opts.outbound_buffer = outbound;
    args.opts.close_timeout = Duration::from_secs(1);
    let mut srv = ServerProc::start(EXE, &args);
    let good = GoodClients::echo(srv.port, 2, Duration::from_millis(20));

    let readers: Vec<_> = (0..2).map(|_| member(srv.port)).collect();
    let stalled = raw_upgrade(srv.port, "/room/stall", Duration::from_secs(5)).unwrap();
    // Fixed, so that the kernel does not take tens of megabytes for it (tcp_rmem allows 32
    // MiB); not below two loopback segments (64 KiB), or TCP itself stalls.
    hardening::set_recv_buffer(&stalled, 128 * 1024).unwrap();
    let mut sender = member(srv.port);
    assert!(wait_until(Duration::from_secs(5), || srv
        .stats()
        .members("stall")
        == 4));
    let before = srv.proc_stats();
    let mon = RssMonitor::start(srv.pid(), Duration::from_millis(5));

    let t0 = Instant::now();
    let handles: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(r, mut ws)| {
            std::thread::spawn(move || -> Result<Duration, String> {
                let mut max_lat = Duration::ZERO;
                for i in 0..n {
                    let t = loop {
                        match ws.read() {
                            Ok(Message::Text(t)) => break t,
                            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                            Ok(m) => return Err(format!("reader {r}: unexpected {m:?}")),
                            Err(e) => return Err(format!("reader {r}: message {i}: {e}")),
                        }
                    };
                    let mut parts = t.as_str().splitn(3, ' ');
                    let seq: u64 = parts
                        .next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(u64::MAX);
                    let at: u64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                    if seq != i {
                        return Err(format!(
                            "reader {r}: expected #{i}, got #{seq} (lost or out of order)"
                        ));
                    }
                    let lat = t0.elapsed().saturating_sub(Duration::from_micros(at));
                    max_lat = max_lat.max(lat);
                }
                let _ = ws.close(None);
                Ok(max_lat)
            })
        })
        .collect();

    // 400 bytes: 8 MB in the short run, well past what the server's socket buffer (up to
    // tcp_wmem's 4 MiB) and the stalled member's (256 KiB) can hold besides the queue.
    let pad = "x".repeat(380);
    for i in 0..n {
        let at = t0.elapsed().as_micros();
        sender
            .send(Message::text(format!("{i} {at} {pad}")))
            .unwrap_or_else(|e| panic!("sender: message {i}: {e}"));
    }
    let send_time = t0.elapsed();
    let mut lats = Vec::new();
    for h in handles {
        lats.push(h.join().unwrap().unwrap_or_else(|e| panic!("{e}")));
    }
    let all_time = t0.elapsed();
    let peak = mon.finish();
    let s = srv.stats();
    println!(
        "stalled reader: {n} broadcasts; sent in {send_time:?}, all received by the two readers \
         in {all_time:?}; slowest delivery {:?}; stalled member closed with 1008: {}; room now \
         {} members; server RSS {} KiB before, {peak} KiB at peak (+{} KiB) with a {} KiB \
         outbound buffer",
        lats.iter().max().unwrap(),
        s.code(1008),
        s.members("stall"),
        before.rss_kb,
        peak.saturating_sub(before.rss_kb),
        outbound / 1024
    );
    assert!(
        wait_until(Duration::from_secs(5), || srv.stats().code(1008) == 1),
        "the stalled member was not closed by the outbound rule: {:?}",
        srv.stats()
    );
    // The two readers closed; the sender is the one left.
    assert!(wait_until(Duration::from_secs(5), || srv
        .stats()
        .members("stall")
        == 1));
    drop(stalled);
    let _ = sender.close(None);
    let report = good.finish();
    println!("stalled reader: good clients {report:?}");
    report.assert_ok(RTT_BOUND, 2);
    assert!(wait_until(Duration::from_secs(5), || srv.stats().rooms == 0));
    assert_eq!(srv.stats().dup_closes, 0);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}
