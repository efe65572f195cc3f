//! The same attacks over wss, where the I/O thread encrypts every byte it sends: a ping flood
//! that never reads (the outbound rule must still hold, with rustls's buffers bounded too), a
//! frame bomb, and raw garbage injected under the TLS layer after the upgrade.
//! Short run: up to 300,000 pings, 60 garbage seeds. Soak: 1,000,000 and 500.

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use hardening::{
    masked_frame, size, wait_until, GoodClients, Rng, RssMonitor, ServerArgs, ServerProc, TestCert,
    RTT_BOUND,
};

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");

fn server(tc: &TestCert, outbound: usize) -> ServerProc {
    let mut args = ServerArgs {
        tls: tc.files(),
        ..Default::default()
    };
    args.opts.outbound_buffer = outbound;
    args.opts.close_timeout = Duration::from_secs(1);
    ServerProc::start(EXE, &args)
}

#[test]
fn a_ping_flood_over_wss_is_closed_by_the_outbound_rule() {
    let pings = size(300_000usize, 1_000_000);
    let outbound = size(64 * 1024, 4 << 20);
    let tc = TestCert::new();
    let mut srv = server(&tc, outbound);
    let tls_port = srv.tls_port.unwrap();
    let good = GoodClients::echo(srv.port, 2, Duration::from_millis(20));
    let before = srv.proc_stats();
    let mon = RssMonitor::start(srv.pid(), Duration::from_millis(5));
    let cfg = tc.client_config();
    let mut ws = tc
        .connect(&cfg, tls_port, "/echo", Duration::from_secs(5))
        .unwrap();
    // Write ping frames straight into the TLS stream; never read.
    let tls = ws.get_mut();
    tls.sock
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let batch = masked_frame(true, 9, &[b'p'; 125]).repeat(1000);
    let mut sent = 0;
    let mut stopped_by = None;
    while sent < pings {
        match tls.write_all(&batch) {
            Ok(()) => sent += 1000,
            Err(e) => {
                stopped_by = Some(e.kind());
                break;
            }
        }
    }
    let closed = wait_until(Duration::from_secs(10), || srv.stats().code(1008) == 1);
    let peak = mon.finish();
    println!(
        "wss ping flood: {sent} pings (stopped by {stopped_by:?}); closed by the outbound rule: \
         {closed}; server RSS {} KiB before, {peak} KiB at peak (+{} KiB) with a {} KiB \
         outbound buffer",
        before.rss_kb,
        peak.saturating_sub(before.rss_kb),
        outbound / 1024
    );
    assert!(closed, "not closed by the outbound rule: {:?}", srv.stats());
    assert!(
        peak <= before.rss_kb + (outbound / 1024) as u64 + 8 * 1024,
        "RSS grew by {} KiB",
        peak - before.rss_kb
    );
    drop(ws);
    good.finish().assert_ok(RTT_BOUND, 2);
    assert!(wait_until(Duration::from_secs(5), || srv.stats().tls_live == 0));
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}

#[test]
fn a_frame_bomb_over_wss_is_closed_with_1009() {
    let tc = TestCert::new();
    let mut srv = server(&tc, 4 << 20);
    let cfg = tc.client_config();
    let mut ws = tc
        .connect(&cfg, srv.tls_port.unwrap(), "/echo", Duration::from_secs(5))
        .unwrap();
    let mut bomb = vec![0x82, 0x80 | 127];
    bomb.extend_from_slice(&(1u64 << 62).to_be_bytes());
    bomb.extend_from_slice(&[1, 2, 3, 4, 0, 0, 0, 0]);
    ws.get_mut().write_all(&bomb).unwrap();
    let code = loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(f)) => break f.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(e) => panic!("no close frame: {e}"),
        }
    };
    println!("wss 2^62 header: closed with {code:?}");
    assert_eq!(code, Some(1009));
    assert!(wait_until(Duration::from_secs(5), || srv
        .stats()
        .code(1009)
        == 1));
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}

#[test]
fn garbage_under_the_tls_layer_after_the_upgrade_ends_the_connection() {
    let seeds = size(60u64, 500);
    let tc = TestCert::new();
    let mut srv = server(&tc, 4 << 20);
    let good = GoodClients::echo(srv.port, 2, Duration::from_millis(20));
    let cfg = tc.client_config();
    let mut ends = std::collections::BTreeMap::<String, usize>::new();
    for seed in 1..=seeds {
        let mut rng = Rng::new(seed);
        let mut ws = tc
            .connect(&cfg, srv.tls_port.unwrap(), "/echo", Duration::from_secs(5))
            .unwrap();
        let sock = &mut ws.get_mut().sock;
        let len = 1 + rng.below(4096) as usize;
        let _ = sock.write_all(&rng.bytes(len));
        // The server answers with an alert (or nothing) and closes: read the raw socket to
        // its end.
        let mut b = [0u8; 4096];
        let mut first = None;
        let end = loop {
            match sock.read(&mut b) {
                Ok(0) => break "EOF".to_string(),
                Ok(n) => {
                    first.get_or_insert(b[0]);
                    let _ = n;
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("seed {seed}: still open 5 s after the garbage")
                }
                Err(e) => break format!("{:?}", e.kind()),
            }
        };
        let what = match first {
            Some(0x15) => "alert, then ",
            Some(_) => "records, then ",
            None => "",
        };
        *ends.entry(format!("{what}{end}")).or_default() += 1;
    }
    assert!(wait_until(Duration::from_secs(10), || srv.stats().closed == seeds));
    let s = srv.stats();
    println!(
        "wss garbage under TLS: {seeds} seeds: client saw {ends:?}; on_close codes {:?}",
        s.codes
    );
    assert_eq!(s.dup_closes, 0);
    assert!(wait_until(Duration::from_secs(5), || srv.stats().tls_live == 0));
    good.finish().assert_ok(RTT_BOUND, 2);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}
