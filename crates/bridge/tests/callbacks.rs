//! Every callback of a native handler, end to end over loopback.

mod common;
use common::*;

use bridge::Data;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

#[test]
fn connect_message_info_and_close_with_the_real_code() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let conns = h.conns.clone();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    assert_ne!(server.port(), 0);

    let mut c = connect(server.port(), "/chat?x=1");
    let Rec::Connect { path, .. } = next(&rx) else {
        panic!()
    };
    assert_eq!(path, "/chat");
    let conn = conns.lock().unwrap()[0].clone();
    assert_eq!(conn.query(), Some("x=1"));
    assert_eq!(
        conn.header("host"),
        Some(&*format!("127.0.0.1:{}", server.port()))
    );
    assert!(conn.peer_addr().ip().is_loopback());
    assert_eq!(server.connection_count(), 1);

    c.send(Message::text("hello")).unwrap();
    assert_eq!(next(&rx), Rec::Message(Data::Text("hello".into())));
    assert_eq!(recv(&mut c), Message::text("hello"));

    c.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    assert_eq!(next(&rx), Rec::Message(Data::Binary(vec![0, 1, 2, 255])));
    assert_eq!(recv(&mut c), Message::binary(vec![0u8, 1, 2, 255]));

    // An ordinary actor message to the connection's pid reaches on_info.
    rt.send(conn.pid().unwrap(), "pushed".to_string());
    assert_eq!(next(&rx), Rec::Info("pushed".into()));
    assert_eq!(recv(&mut c), Message::text("pushed"));

    // A send from a plain thread works too.
    conn.send("from a thread").unwrap();
    assert_eq!(recv(&mut c), Message::text("from a thread"));

    c.close(Some(CloseFrame {
        code: CloseCode::from(4000),
        reason: "bye".into(),
    }))
    .unwrap();
    assert_eq!(
        next(&rx),
        Rec::Close {
            code: 4000,
            reason: "bye".into()
        }
    );
    assert!(eventually(|| server.connection_count() == 0));
    assert!(
        conn.send("late").is_err(),
        "sending on a closed connection is an error"
    );
    server.stop();
    rt.shutdown();
}

#[test]
fn server_side_close_reports_our_code() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let conns = h.conns.clone();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let mut c = connect(server.port(), "/");
    next(&rx);
    let conn = conns.lock().unwrap()[0].clone();
    assert!(matches!(
        conn.close(1005, ""),
        Err(bridge::Error::InvalidCloseCode { code: 1005 })
    ));
    conn.close(4001, "go away").unwrap();
    assert_eq!(recv_close(&mut c), Some(4001));
    assert_eq!(
        next(&rx),
        Rec::Close {
            code: 4001,
            reason: "go away".into()
        }
    );
    server.stop();
    rt.shutdown();
}

#[test]
fn abrupt_disconnect_reports_1006_once() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let c = connect(server.port(), "/");
    next(&rx);
    drop(c); // TCP close without a close frame
    assert_eq!(
        next(&rx),
        Rec::Close {
            code: 1006,
            reason: String::new()
        }
    );
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(200))
            .is_err(),
        "on_close runs once"
    );
    server.stop();
    rt.shutdown();
}

#[test]
fn the_handler_selects_a_subprotocol() {
    use tungstenite::client::IntoClientRequest;
    #[derive(Clone)]
    struct Pick;
    impl bridge::Handler for Pick {
        fn on_connect(&mut self, conn: &bridge::Conn) -> bridge::Decision {
            let p = conn
                .requested_protocols()
                .iter()
                .find(|p| *p == "superchat")
                .cloned();
            bridge::Decision::Accept { protocol: p }
        }
        fn on_message(&mut self, conn: &bridge::Conn, _msg: Data) {
            let _ = conn.send(conn.subprotocol().unwrap_or("none"));
        }
    }
    let rt = rt();
    let server = bridge::serve(&rt, Pick, 0, opts()).unwrap();
    let mut req = format!("ws://127.0.0.1:{}/", server.port())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "chat, superchat".parse().unwrap());
    let s = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let (mut c, resp) = tungstenite::client(req, s).unwrap();
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "superchat"
    );
    c.send(Message::text("which?")).unwrap();
    assert_eq!(recv(&mut c), Message::text("superchat"));
    server.stop();
    rt.shutdown();
}

#[test]
fn on_open_can_send_a_welcome_before_anything_else() {
    #[derive(Clone)]
    struct Welcome;
    impl bridge::Handler for Welcome {
        fn on_open(&mut self, conn: &bridge::Conn) {
            conn.send("welcome").unwrap();
            conn.send_binary(&[1, 2]).unwrap();
        }
    }
    let rt = rt();
    let server = bridge::serve(&rt, Welcome, 0, opts()).unwrap();
    let mut c = connect(server.port(), "/");
    assert_eq!(recv(&mut c), Message::text("welcome"));
    assert_eq!(recv(&mut c), Message::binary(vec![1u8, 2]));
    server.stop();
    rt.shutdown();
}

#[test]
fn messages_sent_from_on_connect_follow_the_upgrade() {
    #[derive(Clone)]
    struct Early;
    impl bridge::Handler for Early {
        fn on_connect(&mut self, conn: &bridge::Conn) -> bridge::Decision {
            conn.send("sent from on_connect").unwrap();
            conn.join("early");
            conn.server_rooms().broadcast("early", "room news");
            bridge::Decision::ACCEPT
        }
    }
    let rt = rt();
    let server = bridge::serve(&rt, Early, 0, opts()).unwrap();
    let mut c = connect(server.port(), "/");
    assert_eq!(recv(&mut c), Message::text("sent from on_connect"));
    assert_eq!(recv(&mut c), Message::text("room news"));
    server.stop();
    rt.shutdown();
}

#[test]
fn an_accept_that_comes_too_late_still_gets_on_close() {
    #[derive(Clone)]
    struct Slow(std::sync::mpsc::Sender<(u16, String)>);
    impl bridge::Handler for Slow {
        fn on_connect(&mut self, _conn: &bridge::Conn) -> bridge::Decision {
            std::thread::sleep(std::time::Duration::from_millis(400)); // past the deadline
            bridge::Decision::ACCEPT
        }
        fn on_close(&mut self, _conn: &bridge::Conn, code: u16, reason: &str) {
            let _ = self.0.send((code, reason.to_string()));
        }
    }
    let rt = rt();
    let (tx, rx) = std::sync::mpsc::channel();
    let o = bridge::Options {
        handshake_timeout: std::time::Duration::from_millis(150),
        run_actor_on_io_thread: false,
        ..opts()
    };
    let server = bridge::serve(&rt, Slow(tx), 0, o).unwrap();
    match try_connect(server.port(), "/") {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 503),
        Err(e) => panic!("expected 503, got {e}"),
        Ok(_) => panic!("upgraded after the deadline"),
    }
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        (1006, "handshake not completed".to_string())
    );
    assert!(rx
        .recv_timeout(std::time::Duration::from_millis(200))
        .is_err());
    server.stop();
    rt.shutdown();
}

/// With `run_actor_on_io_thread` (the default) the native spawner's actor is idle when its
/// `Connect` is posted, so `on_connect` runs on the connection's I/O thread and the 101 goes
/// out without a hand-off to a scheduler worker and back; so does `on_close` once the
/// connection is finished. With the option off, both run on a worker. Both answer the
/// upgrade.
#[test]
fn callbacks_run_on_the_io_thread_unless_told_otherwise() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone)]
    struct Names(Arc<Mutex<Vec<String>>>);
    impl bridge::Handler for Names {
        fn on_connect(&mut self, _: &bridge::Conn) -> bridge::Decision {
            let t = std::thread::current();
            self.0
                .lock()
                .unwrap()
                .push(t.name().unwrap_or("?").to_string());
            bridge::Decision::ACCEPT
        }
        fn on_close(&mut self, _: &bridge::Conn, _: u16, _: &str) {
            let t = std::thread::current();
            self.0
                .lock()
                .unwrap()
                .push(t.name().unwrap_or("?").to_string());
        }
    }
    for (inline, want) in [(true, "tern-ws-io"), (false, "tern-worker")] {
        let rt = rt();
        let names = Names(Default::default());
        let o = bridge::Options {
            run_actor_on_io_thread: inline,
            ..opts()
        };
        let server = bridge::serve(&rt, names.clone(), 0, o).unwrap();
        for _ in 0..5 {
            let mut c = connect(server.port(), "/");
            c.close(None).unwrap();
            let _ = recv_close(&mut c);
        }
        // Each on_close has run once its five names are in (on_connect, on_close per client).
        assert!(eventually(|| names.0.lock().unwrap().len() == 10));
        server.stop();
        rt.shutdown();
        let names = names.0.lock().unwrap().clone();
        assert_eq!(names.len(), 10, "{names:?}");
        assert!(
            names.iter().all(|n| n.starts_with(want)),
            "inline {inline}: on_connect and on_close ran on {names:?}"
        );
    }
}

/// After a close the client began, the server drops the socket at once (it closes TCP first,
/// RFC 6455 §7.1.1, without waiting for the client's FIN): bytes the client sends afterwards
/// meet a closed socket and the connection is reset. After a close the server began, it
/// lingers, reading and discarding until the client's FIN (the client may still have data in
/// flight, and a reset would make the client's kernel drop our close frame unread): late bytes
/// are swallowed.
#[test]
fn the_server_drops_the_socket_at_once_only_after_a_close_the_client_began() {
    use std::io::{Read, Write};
    use std::time::Duration;

    let rt = rt();
    let (h, rx) = Recorder::new();
    let conns = h.conns.clone();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    // Exchange closes, let the server finish, send late bytes, then more: a reset answers
    // the first late bytes if the socket is gone, and the next write fails.
    let after_close = |mut c: Raw, client_first: bool| -> std::io::Result<()> {
        if client_first {
            c.frame(true, 0x8, &1000u16.to_be_bytes());
            assert_eq!(c.read_frame().1, 0x8);
        } else {
            assert_eq!(c.read_frame().1, 0x8);
            c.frame(true, 0x8, &1000u16.to_be_bytes());
        }
        let mut b = [0u8; 16];
        assert_eq!(c.s.read(&mut b).unwrap(), 0, "the server's FIN");
        std::thread::sleep(Duration::from_millis(200));
        let _ = c.s.write_all(b"late bytes");
        std::thread::sleep(Duration::from_millis(200));
        c.s.write_all(b"more late bytes")
    };

    let c = Raw::connect(server.port(), "/");
    next(&rx);
    let got = after_close(c, true);
    assert!(
        matches!(&got, Err(e) if matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset)),
        "client began: expected a reset, got {got:?}"
    );
    until(&rx, |r| matches!(r, Rec::Close { .. }));

    let c = Raw::connect(server.port(), "/");
    next(&rx);
    conns
        .lock()
        .unwrap()
        .pop()
        .unwrap()
        .close(1000, "bye")
        .unwrap();
    let got = after_close(c, false);
    assert!(
        got.is_ok(),
        "server began: the late bytes should be swallowed, got {got:?}"
    );
    until(&rx, |r| matches!(r, Rec::Close { .. }));
    server.stop();
    rt.shutdown();
}

/// After a close the server began, the socket lingers (late input swallowed) for
/// `Options::close_linger`, then is dropped even though the client never sends its FIN.
#[test]
fn the_linger_after_a_server_close_lasts_close_linger() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    let rt = rt();
    let (h, rx) = Recorder::new();
    let conns = h.conns.clone();
    let opts = bridge::Options {
        close_linger: Duration::from_millis(600),
        ..opts()
    };
    let server = bridge::serve(&rt, h, 0, opts).unwrap();
    let mut c = Raw::connect(server.port(), "/");
    next(&rx);
    conns
        .lock()
        .unwrap()
        .pop()
        .unwrap()
        .close(1000, "bye")
        .unwrap();
    assert_eq!(c.read_frame().1, 0x8);
    c.frame(true, 0x8, &1000u16.to_be_bytes());
    assert_eq!(c.s.read(&mut [0u8; 16]).unwrap(), 0, "the server's FIN");
    let fin = Instant::now();
    // Writes every few milliseconds; the first that fails shows the socket is gone.
    let mut gone_at = None;
    while fin.elapsed() < Duration::from_secs(5) {
        if c.s.write_all(b"late").is_err() {
            gone_at = Some(fin.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let gone_at = gone_at.expect("the socket was never dropped");
    assert!(
        gone_at >= Duration::from_millis(300),
        "dropped after {gone_at:?}: no linger"
    );
    assert!(
        gone_at < Duration::from_millis(1500),
        "dropped after {gone_at:?}: close_linger (600 ms) not applied"
    );
    until(&rx, |r| matches!(r, Rec::Close { .. }));
    server.stop();
    rt.shutdown();
}
