//! Abrupt disconnects: clients that vanish without a close handshake, by a TCP reset or by
//! going silent (with the heartbeat shortened). `on_close` runs exactly once for each, with
//! 1006, and their rooms are cleaned, while the good clients go on.
//! Short run: 30 clients of each kind. Soak: 500.

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hardening::{
    close_code, masked_frame, raw_upgrade, read_frame, size, wait_until, GoodClients, RoomTalk,
    ServerArgs, ServerProc, RTT_BOUND,
};

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");
/// Live connections of the good clients (3 echo + 3 room members).
const GOOD_LIVE: usize = 6;

#[test]
fn reset_connections_get_one_on_close_with_1006_and_leave_their_rooms() {
    let k = size(30usize, 500);
    let mut srv = ServerProc::start(EXE, &ServerArgs::default());
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let talk = RoomTalk::start(srv.port, "calm", 3, Duration::from_millis(20));
    let mut socks: Vec<TcpStream> = (0..k)
        .map(|_| raw_upgrade(srv.port, "/room/abrupt", Duration::from_secs(5)).unwrap())
        .collect();
    assert!(wait_until(Duration::from_secs(5), || srv
        .stats()
        .members("abrupt")
        == k));
    // Each says something; every member then has unread input, so closing the socket makes
    // the kernel send a reset instead of a FIN.
    for s in &mut socks {
        s.write_all(&masked_frame(true, 1, b"about to vanish"))
            .unwrap();
    }
    let mut b = [0u8; 1];
    for s in &socks {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(s.peek(&mut b).expect("a broadcast arrives"), 1);
    }
    let before = srv.stats();
    drop(socks);
    assert!(
        wait_until(Duration::from_secs(10), || srv.stats().code(1006)
            == before.code(1006) + k as u64),
        "not every reset reached on_close with 1006: {:?}",
        srv.stats()
    );
    let s = srv.stats();
    println!(
        "abrupt (reset): {k} members reset; on_close codes {:?}; rooms {:?}; live {}",
        s.codes, s.roomlist, s.live
    );
    assert_eq!(s.closed, k as u64, "exactly one on_close each");
    assert_eq!(s.dup_closes, 0);
    assert_eq!(s.members("abrupt"), 0);
    assert_eq!(s.rooms, 1);
    assert!(wait_until(Duration::from_secs(5), || srv.stats().live == GOOD_LIVE));
    talk.finish().assert_ok(RTT_BOUND, 3);
    good.finish().assert_ok(RTT_BOUND, 3);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}

#[test]
fn silent_connections_are_dropped_by_the_heartbeat() {
    let k = size(30usize, 500);
    let interval = Duration::from_millis(400);
    let timeout = Duration::from_millis(400);
    let mut args = ServerArgs::default();
    args.opts.heartbeat_interval = Some(interval);
    args.opts.heartbeat_timeout = timeout;
    args.opts.close_timeout = Duration::from_millis(500);
    let mut srv = ServerProc::start(EXE, &args);
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let talk = RoomTalk::start(srv.port, "calm", 3, Duration::from_millis(20));
    // The negative control: idle clients that answer the pings (tungstenite does, on its
    // next read) must outlive the silent ones.
    let (stop_idle, idle_rx) = std::sync::mpsc::channel::<()>();
    let idle_rx = std::sync::Arc::new(std::sync::Mutex::new(idle_rx));
    let idle: Vec<_> = (0..3)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let (mut ws, _) =
                tungstenite::client(format!("ws://127.0.0.1:{}/room/alive", srv.port), s).unwrap();
            let rx = idle_rx.clone();
            std::thread::spawn(move || -> Result<u32, String> {
                let mut pings = 0;
                loop {
                    match ws.read() {
                        Ok(tungstenite::Message::Ping(_)) => pings += 1,
                        Ok(m) => return Err(format!("idle client: unexpected {m:?}")),
                        Err(tungstenite::Error::Io(e))
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(e) => return Err(format!("idle client: {e}")),
                    }
                    let stop = rx.lock().unwrap().try_recv();
                    if !matches!(stop, Err(std::sync::mpsc::TryRecvError::Empty)) {
                        let _ = ws.close(None);
                        return Ok(pings);
                    }
                }
            })
        })
        .collect();
    let t0 = Instant::now();
    let socks: Vec<TcpStream> = (0..k)
        .map(|_| raw_upgrade(srv.port, "/room/silent", Duration::from_secs(5)).unwrap())
        .collect();
    // They read (that sends nothing) but never answer the pings.
    let hs: Vec<_> = socks
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let (mut pings, mut code) = (0, None);
                loop {
                    match read_frame(&mut s, 1 << 20) {
                        Ok(f) if f.opcode == 9 => pings += 1,
                        Ok(f) if f.opcode == 8 => code = close_code(&f.payload),
                        Ok(_) => {}
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                        {
                            return Err("still open 10 s on".to_string())
                        }
                        Err(_) => return Ok((t0.elapsed(), pings, code)),
                    }
                }
            })
        })
        .collect();
    let ends: Vec<(Duration, u32, Option<u16>)> = hs
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("silent client: {e}"))
        })
        .collect();
    let first = ends.iter().map(|e| e.0).min().unwrap();
    let last = ends.iter().map(|e| e.0).max().unwrap();
    let codes: std::collections::BTreeSet<Option<u16>> = ends.iter().map(|e| e.2).collect();
    assert!(wait_until(Duration::from_secs(5), || srv
        .stats()
        .code(1006)
        == k as u64));
    let s = srv.stats();
    println!(
        "abrupt (silent): {k} silent clients, heartbeat {interval:?} + {timeout:?}: dropped \
         between {first:?} and {last:?}; pings seen {}..{}; close frames seen {codes:?}; \
         on_close codes {:?}; rooms {:?}",
        ends.iter().map(|e| e.1).min().unwrap(),
        ends.iter().map(|e| e.1).max().unwrap(),
        s.codes,
        s.roomlist
    );
    assert!(
        first >= interval + timeout - Duration::from_millis(100),
        "dropped early"
    );
    assert!(
        last <= interval + timeout + Duration::from_secs(3),
        "dropped late"
    );
    assert!(
        ends.iter().all(|e| e.1 >= 1),
        "a silent client was never pinged"
    );
    assert_eq!(s.closed, k as u64);
    assert_eq!(s.dup_closes, 0);
    assert_eq!(s.members("silent"), 0);
    assert_eq!(
        s.members("alive"),
        3,
        "an idle client that answers pings was dropped"
    );
    assert_eq!(s.rooms, 2);
    drop(stop_idle);
    let idle_pings: Vec<u32> = idle
        .into_iter()
        .map(|h| h.join().unwrap().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    println!("abrupt (silent): the idle, answering clients saw {idle_pings:?} pings and stayed");
    assert!(
        idle_pings.iter().all(|&p| p >= 1),
        "the idle clients were never pinged"
    );
    assert!(wait_until(Duration::from_secs(5), || srv.stats().live == GOOD_LIVE));
    talk.finish().assert_ok(RTT_BOUND, 3);
    good.finish().assert_ok(RTT_BOUND, 3);
    srv.assert_quiet(20 + 2 * k);
    srv.stop(Duration::from_secs(10));
}

/// A peer that does not answer the ping gets a 1011 close frame before it is dropped, as
/// `Options::heartbeat_timeout` documents (and `on_close` reports 1006). Regression test for
/// finding 2 of docs/hardening.md (no close frame was sent; fixed in the bridge).
#[test]
fn a_heartbeat_timeout_sends_1011_before_dropping_the_peer() {
    let mut args = ServerArgs::default();
    args.opts.heartbeat_interval = Some(Duration::from_millis(200));
    args.opts.heartbeat_timeout = Duration::from_millis(200);
    let mut srv = ServerProc::start(EXE, &args);
    let mut s = raw_upgrade(srv.port, "/echo", Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut close = None;
    // Read (never answer) until the end of the stream.
    while let Ok(f) = read_frame(&mut s, 1 << 20) {
        if f.opcode == 8 {
            close = close_code(&f.payload);
        }
    }
    assert!(wait_until(Duration::from_secs(5), || srv
        .stats()
        .code(1006)
        == 1));
    assert_eq!(close, Some(1011), "the silent peer got no 1011 close frame");
    srv.stop(Duration::from_secs(10));
}

/// Silent wss clients (they never read, so they never answer a ping) are dropped by the
/// heartbeat too, with 1006, once each.
#[test]
fn silent_wss_clients_are_dropped_by_the_heartbeat() {
    let k = size(10usize, 200);
    let tc = hardening::TestCert::new();
    let mut args = ServerArgs {
        tls: tc.files(),
        ..Default::default()
    };
    args.opts.heartbeat_interval = Some(Duration::from_millis(400));
    args.opts.heartbeat_timeout = Duration::from_millis(400);
    let mut srv = ServerProc::start(EXE, &args);
    let cfg = tc.client_config();
    let t0 = Instant::now();
    let held: Vec<_> = (0..k)
        .map(|_| {
            tc.connect(&cfg, srv.tls_port.unwrap(), "/echo", Duration::from_secs(5))
                .unwrap()
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || srv.stats().code(1006)
            == k as u64),
        "{:?}",
        srv.stats()
    );
    let took = t0.elapsed();
    let s = srv.stats();
    println!(
        "abrupt (silent wss): {k} silent wss clients dropped within {took:?}; on_close codes {:?}",
        s.codes
    );
    assert!(
        took >= Duration::from_millis(700),
        "dropped early: {took:?}"
    );
    assert_eq!(s.closed, k as u64);
    assert_eq!(s.dup_closes, 0);
    assert!(wait_until(Duration::from_secs(5), || srv.stats().tls_live == 0));
    drop(held);
    srv.assert_quiet(20 + 2 * k);
    srv.stop(Duration::from_secs(10));
}
