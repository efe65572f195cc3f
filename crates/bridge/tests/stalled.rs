//! A member that never reads is closed with 1008 once its outbound buffer is full; the
//! broadcaster never waits and the other members get every message, in order.

mod common;
use common::*;

use std::time::{Duration, Instant};

use tungstenite::Message;

#[test]
fn a_stalled_member_is_closed_and_the_others_get_everything() {
    let rt = rt();
    let (mut h, rx) = Recorder::new();
    h.echo = false;
    let conns = h.conns.clone();
    let o = bridge::Options {
        outbound_buffer: 64 * 1024,
        ..opts()
    };
    let server = bridge::serve(&rt, h, 0, o).unwrap();
    let mut good = connect(server.port(), "/");
    next(&rx);
    let stalled = connect(server.port(), "/"); // never read
    next(&rx);
    let cs = conns.lock().unwrap().clone();
    for c in &cs {
        c.join("room");
    }
    let rooms = server.rooms().clone();
    // 30 MB in all: more than loopback's socket buffers can absorb for the stalled peer.
    let n = 3000;
    let payload = "x".repeat(10_000);
    let reader = std::thread::spawn(move || {
        for i in 0..n {
            match recv(&mut good) {
                Message::Text(t) => assert!(
                    t.starts_with(&format!("{i}:")),
                    "message {i} out of order: {}",
                    &t[..10]
                ),
                m => panic!("{m:?}"),
            }
        }
        good
    });
    // The test paces itself on the good member's queue (a real good client reads as fast as
    // we send; a debug-build tungstenite does not). Each broadcast call must return at once.
    let mut slowest = Duration::ZERO;
    for i in 0..n {
        while cs[0].queued_bytes() > 32 * 1024 {
            std::thread::yield_now();
        }
        let t0 = Instant::now();
        rooms.broadcast("room", &*format!("{i}:{payload}"));
        slowest = slowest.max(t0.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a broadcast call waited: {slowest:?}"
    );
    let _good = reader.join().unwrap();
    assert_eq!(
        until(&rx, |r| matches!(r, Rec::Close { .. })),
        Rec::Close {
            code: 1008,
            reason: "outbound buffer full".into()
        }
    );
    assert!(eventually(|| rooms.member_count("room") == 1));
    assert!(cs[1].send("more").is_err());
    drop(stalled);
    server.stop();
    rt.shutdown();
}
