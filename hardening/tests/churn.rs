//! Churn soak: clients connect, join a room (or echo), send, and leave (cleanly, or by just
//! dropping the socket) over and over while a room conversation and echo clients go on.
//! Afterwards the server's open descriptors, threads, connections and rooms are back at
//! their baseline and its RSS within a small margin of it (the figures are printed).
//! Short run: 12 s with 4 churning threads. Soak: 10 minutes.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use hardening::{size, wait_until, GoodClients, RoomTalk, ServerArgs, ServerProc, RTT_BOUND};
use tungstenite::Message;

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");
const WORKERS: usize = 4;
/// Live connections of the good clients (3 echo + 3 room members).
const GOOD_LIVE: usize = 6;

/// One churn iteration; `Err` is a failure a good server must never cause.
fn once(port: u16, w: usize, i: u64) -> Result<(), String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let room = i % 3 != 0;
    let path = if room {
        format!("/room/churn{}", w % 2)
    } else {
        "/echo".into()
    };
    let (mut ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), s)
        .map_err(|e| format!("{path}: handshake: {e}"))?;
    let text = format!("churn {w} {i}");
    ws.send(Message::text(text.clone()))
        .map_err(|e| format!("{path}: send: {e}"))?;
    if !room {
        loop {
            match ws.read() {
                Ok(Message::Text(t)) if t.as_str() == text => break,
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                other => return Err(format!("echo: {other:?}")),
            }
        }
    }
    if i % 4 == 3 {
        return Ok(()); // vanish: the socket is dropped without a close
    }
    ws.close(None).map_err(|e| format!("{path}: close: {e}"))?;
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(format!("{path}: after close: {e}")),
        }
    }
}

/// Churns from `WORKERS` threads for `dur` (each stops at the deadline, or after 10
/// errors); returns iterations and errors.
fn churn(port: u16, dur: Duration) -> (u64, Vec<String>) {
    let end = Instant::now() + dur;
    let hs: Vec<_> = (0..WORKERS)
        .map(|w| {
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut errors = Vec::new();
                while Instant::now() < end && n < 10_000_000 && errors.len() < 10 {
                    if let Err(e) = once(port, w, n) {
                        errors.push(format!("worker {w} iteration {n}: {e}"));
                    }
                    n += 1;
                }
                (n, errors)
            })
        })
        .collect();
    hs.into_iter().fold((0, Vec::new()), |(n, mut e), h| {
        let (k, more) = h.join().unwrap();
        e.extend(more);
        (n + k, e)
    })
}

#[test]
fn churn_returns_to_the_baseline() {
    let dur = Duration::from_secs(size(12, 600));
    let mut srv = ServerProc::start(EXE, &ServerArgs::default());
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let talk = RoomTalk::start(srv.port, "calm", 3, Duration::from_millis(50));

    // Warm up (allocator arenas, thread stacks, the scheduler's tables), then the baseline.
    let (warm, errs) = churn(srv.port, Duration::from_millis(1500));
    assert!(errs.is_empty(), "{errs:?}");
    assert!(wait_until(Duration::from_secs(10), || {
        let s = srv.stats();
        s.live == GOOD_LIVE && s.rooms == 1
    }));
    let base = srv.proc_stats();
    let base_stats = srv.stats();

    let t0 = Instant::now();
    let (n, errs) = churn(srv.port, dur);
    let took = t0.elapsed();
    let settled = wait_until(Duration::from_secs(10), || {
        let s = srv.stats();
        let p = srv.proc_stats();
        s.live == GOOD_LIVE && s.rooms == 1 && p.fds <= base.fds && p.threads <= base.threads
    });
    let after = srv.proc_stats();
    let s = srv.stats();
    println!(
        "churn: {n} connect/join/send/close cycles in {took:?} ({:.0}/s) after {warm} warm-up \
         cycles; baseline {base}; after {after}; live {} -> {}, rooms {} -> {}; on_close codes {:?}",
        n as f64 / took.as_secs_f64(),
        base_stats.live,
        s.live,
        base_stats.rooms,
        s.rooms,
        s.codes
    );
    assert!(errs.is_empty(), "churn errors: {errs:?}");
    assert!(
        settled,
        "not back to the baseline: {after} (baseline {base}), {s:?}"
    );
    assert_eq!(s.dup_closes, 0);
    assert_eq!(
        s.accepted - s.closed,
        GOOD_LIVE as u64,
        "every churned connection got its on_close: {s:?}"
    );
    let margin = 8 * 1024 + base.rss_kb / 10;
    assert!(
        after.rss_kb <= base.rss_kb + margin,
        "RSS {} KiB after churn, baseline {} KiB (margin {margin} KiB)",
        after.rss_kb,
        base.rss_kb
    );
    let r = talk.finish();
    println!("churn: room conversation {r:?}");
    r.assert_ok(RTT_BOUND, 10);
    let g = good.finish();
    println!("churn: good clients {g:?}");
    g.assert_ok(RTT_BOUND, 10);
    srv.assert_quiet(50);
    srv.stop(Duration::from_secs(10));
}
