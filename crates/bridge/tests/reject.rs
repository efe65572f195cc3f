//! on_connect rejects: the client gets the HTTP status instead of the upgrade, and on_close
//! never runs.

mod common;
use common::*;

fn status_of(e: tungstenite::Error) -> u16 {
    match e {
        tungstenite::Error::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[test]
fn rejects_with_403_or_the_given_status() {
    let rt = rt();
    for status in [403u16, 401, 429] {
        let (mut h, rx) = Recorder::new();
        h.reject = Some(status);
        let server = bridge::serve(&rt, h, 0, opts()).unwrap();
        let e = try_connect(server.port(), "/").unwrap_err();
        assert_eq!(status_of(e), status);
        assert!(matches!(next(&rx), Rec::Connect { .. }));
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(100))
                .is_err(),
            "no on_close for a rejected connection"
        );
        assert!(eventually(|| server.connection_count() == 0));
        server.stop();
    }
    rt.shutdown();
}

#[test]
fn a_panicking_on_connect_answers_500() {
    #[derive(Clone)]
    struct Boom;
    impl bridge::Handler for Boom {
        fn on_connect(&mut self, _conn: &bridge::Conn) -> bridge::Decision {
            panic!("no");
        }
    }
    let rt = rt();
    let server = bridge::serve(&rt, Boom, 0, opts()).unwrap();
    assert_eq!(status_of(try_connect(server.port(), "/").unwrap_err()), 500);
    // The server goes on.
    assert_eq!(status_of(try_connect(server.port(), "/").unwrap_err()), 500);
    server.stop();
    rt.shutdown();
}

#[test]
fn a_bad_request_gets_400_and_a_wrong_version_426() {
    use std::io::Write;
    let rt = rt();
    let (h, _rx) = Recorder::new();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 400"));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n").unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 426"));
    server.stop();
    rt.shutdown();
}
