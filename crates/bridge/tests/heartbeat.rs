//! Heartbeat with short intervals: a client that stops answering pings is dropped on time;
//! one that answers is kept.

mod common;
use common::*;

use std::time::{Duration, Instant};

fn hb_opts() -> bridge::Options {
    bridge::Options {
        heartbeat_interval: Some(Duration::from_millis(150)),
        heartbeat_timeout: Duration::from_millis(150),
        ..opts()
    }
}

#[test]
fn a_silent_client_is_dropped_on_time() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve(&rt, h, 0, hb_opts()).unwrap();
    let mut c = connect(server.port(), "/"); // never reads, so never answers a ping
    next(&rx);
    let t0 = Instant::now();
    let r = until(&rx, |r| matches!(r, Rec::Close { .. }));
    let took = t0.elapsed();
    assert_eq!(
        r,
        Rec::Close {
            code: 1006,
            reason: "heartbeat timeout".into()
        }
    );
    assert!(
        took >= Duration::from_millis(250),
        "dropped too early: {took:?}"
    );
    assert!(took < Duration::from_secs(2), "dropped too late: {took:?}");
    // A peer that reads late still finds the ping, then our 1011, then the end.
    let mut close = None;
    while let Ok(m) = c.read() {
        if let tungstenite::Message::Close(f) = m {
            close = f.map(|f| u16::from(f.code));
        }
    }
    assert_eq!(close, Some(1011));
    server.stop();
    rt.shutdown();
}

#[test]
fn a_client_that_answers_pings_is_kept() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve(&rt, h, 0, hb_opts()).unwrap();
    let mut c = connect(server.port(), "/");
    next(&rx);
    c.get_mut()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut pings = 0;
    let end = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < end {
        match c.read() {
            Ok(tungstenite::Message::Ping(_)) => pings += 1,
            Ok(m) => panic!("unexpected {m:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("connection dropped: {e}"),
        }
        let _ = c.flush(); // sends the pong tungstenite queued
    }
    assert!(pings >= 3, "expected regular pings, got {pings}");
    assert!(rx.try_recv().is_err(), "no close while the client answers");
    assert_eq!(server.connection_count(), 1);
    server.stop();
    rt.shutdown();
}
