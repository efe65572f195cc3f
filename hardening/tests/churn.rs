//! Churn soak: clients connect (ws, and wss from one thread), join a room (or echo), send,
//! and leave (cleanly, or by just dropping the socket) over and over while a room conversation and echo clients go on.
//! Afterwards the server's open descriptors, threads, connections and rooms are back at
//! their baseline and its RSS within a small margin of it (the figures are printed).
//! Short run: 12 s with 4 churning threads. Soak: 10 minutes.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use std::sync::Arc;

use hardening::{
    size, wait_until, GoodClients, RoomTalk, ServerArgs, ServerProc, TestCert, RTT_BOUND,
};
use tungstenite::Message;

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");
const WORKERS: usize = 4;
/// Live connections of the good clients (3 echo + 3 room members).
const GOOD_LIVE: usize = 6;

/// One wss churn iteration: connect, echo one message, close (or vanish).
fn once_tls(
    tc: &TestCert,
    cfg: &Arc<rustls::ClientConfig>,
    port: u16,
    i: u64,
) -> Result<(), String> {
    let mut ws = tc.connect(cfg, port, "/echo", Duration::from_secs(5))?;
    let text = format!("churn tls {i}");
    ws.send(Message::text(text.clone()))
        .map_err(|e| format!("wss send: {e}"))?;
    loop {
        match ws.read() {
            Ok(Message::Text(t)) if t.as_str() == text => break,
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            other => return Err(format!("wss echo: {other:?}")),
        }
    }
    if i % 4 == 3 {
        return Ok(());
    }
    ws.close(None).map_err(|e| format!("wss close: {e}"))?;
    loop {
        match ws.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
            Err(e) => return Err(format!("wss after close: {e}")),
        }
    }
}

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

/// Churns from `WORKERS` threads on ws and one on wss for `dur` (each stops at the
/// deadline, or after 10 errors); returns ws iterations, wss iterations and errors.
fn churn(tc: &Arc<TestCert>, port: u16, tls_port: u16, dur: Duration) -> (u64, u64, Vec<String>) {
    let end = Instant::now() + dur;
    let cfg = tc.client_config();
    let hs: Vec<_> = (0..=WORKERS)
        .map(|w| {
            let (tc, cfg) = (tc.clone(), cfg.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut errors = Vec::new();
                while Instant::now() < end && n < 10_000_000 && errors.len() < 10 {
                    let r = if w == WORKERS {
                        once_tls(&tc, &cfg, tls_port, n)
                    } else {
                        once(port, w, n)
                    };
                    if let Err(e) = r {
                        errors.push(format!("worker {w} iteration {n}: {e}"));
                    }
                    n += 1;
                }
                (w == WORKERS, n, errors)
            })
        })
        .collect();
    hs.into_iter().fold((0, 0, Vec::new()), |(n, t, mut e), h| {
        let (tls, k, more) = h.join().unwrap();
        e.extend(more);
        if tls {
            (n, t + k, e)
        } else {
            (n + k, t, e)
        }
    })
}

#[test]
fn churn_returns_to_the_baseline() {
    let dur = Duration::from_secs(size(12, 600));
    let tc = Arc::new(TestCert::new());
    let mut srv = ServerProc::start(
        EXE,
        &ServerArgs {
            tls: tc.files(),
            ..Default::default()
        },
    );
    let tls_port = srv.tls_port.expect("wss port");
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let talk = RoomTalk::start(srv.port, "calm", 3, Duration::from_millis(50));

    // Warm up (allocator arenas, thread stacks, the scheduler's tables), then the baseline.
    let (warm, warm_tls, errs) = churn(&tc, srv.port, tls_port, Duration::from_millis(1500));
    assert!(errs.is_empty(), "{errs:?}");
    assert!(wait_until(Duration::from_secs(10), || {
        let s = srv.stats();
        s.live == GOOD_LIVE && s.tls_live == 0 && s.rooms == 1
    }));
    let base = srv.proc_stats();
    let base_stats = srv.stats();

    let t0 = Instant::now();
    let (n, n_tls, errs) = churn(&tc, srv.port, tls_port, dur);
    let took = t0.elapsed();
    let settled = wait_until(Duration::from_secs(10), || {
        let s = srv.stats();
        let p = srv.proc_stats();
        s.live == GOOD_LIVE
            && s.tls_live == 0
            && s.rooms == 1
            && s.accepted - s.closed == GOOD_LIVE as u64
            && p.fds <= base.fds
            && p.threads <= base.threads
    });
    let after = srv.proc_stats();
    let s = srv.stats();
    println!(
        "churn: {n} ws + {n_tls} wss connect/join/send/close cycles in {took:?} ({:.0}/s) after \
         {warm} + {warm_tls} warm-up cycles; baseline {base}; after {after}; live {} -> {}, rooms {} -> {}; on_close codes {:?}",
        (n + n_tls) as f64 / took.as_secs_f64(),
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
