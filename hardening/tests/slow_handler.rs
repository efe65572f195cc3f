//! A slow handler behind a fast client: the server stops reading the socket while the
//! handler is behind (inbound flow control), so it cannot see the client's pongs either. A
//! healthy client must not be dropped by the heartbeat for that, and every message must be
//! answered.
//! Short run: 4 messages of 4 KiB and 800 ms of work each (the server does not read for
//! 800 ms at a time) against a 300 + 300 ms heartbeat. Soak: 12 messages.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use hardening::{size, wait_until, ServerArgs, ServerProc};
use tungstenite::Message;

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");

#[test]
fn a_client_of_a_slow_handler_is_not_dropped_by_the_heartbeat() {
    let n = size(4u64, 12);
    let mut args = ServerArgs {
        workers: 4,
        ..Default::default()
    };
    args.opts.heartbeat_interval = Some(Duration::from_millis(300));
    args.opts.heartbeat_timeout = Duration::from_millis(300);
    args.opts.inbound_queue_messages = 4;
    args.opts.inbound_queue_bytes = 16 * 1024;
    let mut srv = ServerProc::start(EXE, &args);
    let s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (mut ws, _) =
        tungstenite::client(format!("ws://127.0.0.1:{}/echo?slow_ms=800", srv.port), s).unwrap();
    let t0 = Instant::now();
    // The client sends everything at once, then reads (and answers pings) as any client does.
    // 4 KiB each: far more than the server reads before it pauses.
    let pad = "w".repeat(4096);
    for i in 0..n {
        ws.send(Message::text(format!("slow {i} {pad}"))).unwrap();
    }
    let mut got = 0;
    let mut pings = 0;
    let end = loop {
        if got == n {
            break None;
        }
        match ws.read() {
            Ok(Message::Text(t)) => {
                assert!(
                    t.as_str().starts_with(&format!("slow {got} ")),
                    "out of order"
                );
                got += 1;
            }
            Ok(Message::Ping(_)) => pings += 1,
            Ok(m) => break Some(format!("{m:?}")),
            Err(e) => break Some(e.to_string()),
        }
    };
    let s = srv.stats();
    println!(
        "slow handler: {n} messages of 4 KiB × 800 ms behind a 300 + 300 ms heartbeat: {got} answered in \
         {:?}, {pings} pings seen, end {end:?}; on_close codes {:?}",
        t0.elapsed(),
        s.codes
    );
    assert_eq!(
        got, n,
        "the client was dropped after {got} answers: {end:?}, {s:?}"
    );
    let _ = ws.close(None);
    assert!(wait_until(Duration::from_secs(5), || srv.stats().live == 0));
    srv.stop(Duration::from_secs(10));
}
