//! A client that sends its upgrade request too slowly (or not at all) is dropped at the
//! handshake deadline, without disturbing a good client.

mod common;
use common::*;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use tungstenite::Message;

#[test]
fn slow_handshakes_are_dropped_at_the_deadline() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let o = bridge::Options {
        handshake_timeout: Duration::from_millis(300),
        ..opts()
    };
    let server = bridge::serve(&rt, h, 0, o).unwrap();
    let t0 = Instant::now();
    let mut slow: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap(); // never finished
            s
        })
        .collect();
    let mut good = connect(server.port(), "/");
    next(&rx);
    good.send(Message::text("ok")).unwrap();
    assert_eq!(recv(&mut good), Message::text("ok"));
    for s in slow.iter_mut() {
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf); // 408, then EOF
        assert!(
            buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&buf)
        );
    }
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(eventually(|| server.connection_count() == 1));
    // The good client is still served.
    good.send(Message::text("still")).unwrap();
    assert_eq!(recv(&mut good), Message::text("still"));
    server.stop();
    rt.shutdown();
}

/// `defer_accept`: a connect that has not spoken yet stays with the kernel and takes no
/// connection slot (and no thread); its first bytes bring it to `accept`. With the option off
/// the same connect is accepted at once.
#[test]
fn a_silent_connect_is_accepted_only_once_it_speaks() {
    let rt = rt();
    for defer in [Duration::from_secs(3), Duration::ZERO] {
        let (h, _rx) = Recorder::new();
        let o = bridge::Options {
            defer_accept: defer,
            ..opts()
        };
        let server = bridge::serve(&rt, h, 0, o).unwrap();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        if defer.is_zero() {
            assert!(eventually(|| server.connection_count() == 1));
        } else {
            // Watched for a bounded moment: nothing may reach accept meanwhile.
            let until = Instant::now() + Duration::from_millis(300);
            while Instant::now() < until {
                assert_eq!(server.connection_count(), 0, "accepted before it spoke");
                std::thread::sleep(Duration::from_millis(10));
            }
            s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            assert!(eventually(|| server.connection_count() == 1));
        }
        server.stop();
    }
    rt.shutdown();
}

/// A connect that never speaks is still handled: the kernel hands it over once
/// `defer_accept` has run out, and the handshake deadline then answers `408`.
#[test]
fn a_silent_connect_still_meets_the_handshake_deadline() {
    let rt = rt();
    let (h, _rx) = Recorder::new();
    let o = bridge::Options {
        defer_accept: Duration::from_secs(1),
        handshake_timeout: Duration::from_millis(300),
        ..opts()
    };
    let server = bridge::serve(&rt, h, 0, o).unwrap();
    let t0 = Instant::now();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let took = t0.elapsed();
    assert!(
        buf.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    // Not before the deferral ran out; after it, the kernel's next SYN-ACK retransmission
    // decides when (within a few seconds), then the deadline.
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "{took:?}"
    );
    server.stop();
    rt.shutdown();
}
