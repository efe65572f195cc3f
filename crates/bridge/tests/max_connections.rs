//! Over max_connections: HTTP 503 before the upgrade; room again once clients leave.

mod common;
use common::*;

use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn the_connection_over_the_limit_gets_503_and_recovery_follows() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve(
        &rt,
        h,
        0,
        bridge::Options {
            max_connections: 2,
            ..opts()
        },
    )
    .unwrap();
    let a = connect(server.port(), "/");
    let _b = connect(server.port(), "/");
    next(&rx);
    next(&rx);
    match try_connect(server.port(), "/") {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
        Err(e) => panic!("expected 503, got {e}"),
        Ok(_) => panic!("expected 503, got a connection"),
    }
    assert_eq!(server.connection_count(), 2);
    drop(a);
    assert!(eventually(|| server.connection_count() == 1));
    let _c = connect(server.port(), "/");
    server.stop();
    rt.shutdown();
}

/// Past `max_busy_answers`, a socket over the limit gets its 503 and is closed at once,
/// while the ones within the bound are still drained for `busy_linger` (0.5 s). The server
/// shuts its side down after the 503 either way, so the client tells them apart by writing:
/// to a drained socket its bytes are read and discarded, to a closed one they draw a reset.
#[test]
fn past_max_busy_answers_the_503_is_followed_by_an_immediate_close() {
    use std::io::Read;
    let (rt, server, _held) = full(bridge::Options {
        max_busy_answers: 1,
        ..opts()
    });
    let addr = ("127.0.0.1", server.port());
    // A machine stalled for most of the linger makes one attempt inconclusive; three such
    // attempts in a row fail the test.
    for attempt in 1..=3 {
        let mut kept = TcpStream::connect(addr).unwrap();
        assert!(read_head(&mut kept).starts_with("HTTP/1.1 503"));
        let answered = Instant::now();
        let mut over = TcpStream::connect(addr).unwrap();
        over.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut all = Vec::new();
        over.read_to_end(&mut all).expect("the 503, then EOF");
        assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 503"));
        let over_reset = reset_within(&over, Duration::from_millis(100));
        let kept_reset = reset_within(&kept, Duration::from_millis(100));
        if answered.elapsed() < Duration::from_millis(400) {
            assert!(over_reset, "the socket past the bound was still drained");
            assert!(
                !kept_reset,
                "the socket within the bound was closed at once"
            );
            // The kept one is closed too, once its linger is over.
            assert!(reset_within(&kept, Duration::from_secs(5)));
            server.stop();
            rt.shutdown();
            return;
        }
        eprintln!(
            "attempt {attempt}: took {:?}, inconclusive",
            answered.elapsed()
        );
        std::thread::sleep(Duration::from_millis(600));
    }
    panic!("three attempts in a row took longer than 400 ms");
}

/// With `busy_linger` zero, a socket over the limit is closed right after its 503 even
/// within `max_busy_answers`.
#[test]
fn busy_linger_zero_closes_right_after_the_503() {
    let (rt, server, _held) = full(bridge::Options {
        busy_linger: Duration::ZERO,
        ..opts()
    });
    let mut over = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    assert!(read_head(&mut over).starts_with("HTTP/1.1 503"));
    assert!(
        reset_within(&over, Duration::from_millis(250)),
        "the 503 socket was drained despite busy_linger 0"
    );
    server.stop();
    rt.shutdown();
}

/// A server with `o`, but `max_connections` 1 and that one connection held (returned), and
/// `defer_accept` off so that silent sockets reach `accept`.
fn full(o: bridge::Options) -> (scheduler::Runtime, bridge::Server, Client) {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let o = bridge::Options {
        max_connections: 1,
        defer_accept: Duration::ZERO,
        ..o
    };
    let server = bridge::serve(&rt, h, 0, o).unwrap();
    let held = connect(server.port(), "/");
    next(&rx);
    (rt, server, held)
}

/// Writes a byte every few milliseconds for up to `limit`; true once a write fails (the
/// peer has closed its socket and answered with a reset).
fn reset_within(mut s: &TcpStream, limit: Duration) -> bool {
    use std::io::Write;
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if s.write_all(b"x").is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}
