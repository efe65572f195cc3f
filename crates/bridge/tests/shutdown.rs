//! stop(): no more accepts, 1001 to every socket, on_close(1001), everything released, and
//! the port can be bound again.

mod common;
use common::*;

use std::time::{Duration, Instant};

#[test]
fn stop_sends_1001_and_releases_everything() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let conns = h.conns.clone();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let port = server.port();
    let mut clients: Vec<Client> = (0..5).map(|_| connect(port, "/")).collect();
    for _ in 0..5 {
        next(&rx);
    }
    conns.lock().unwrap()[0].join("r");
    // Clients answer the close from their own threads, like real ones.
    let readers: Vec<_> = clients
        .drain(..)
        .map(|mut c| std::thread::spawn(move || recv_close(&mut c)))
        .collect();
    let t0 = Instant::now();
    server.stop();
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t0.elapsed()
    );
    for r in readers {
        assert_eq!(r.join().unwrap(), Some(1001));
    }
    for _ in 0..5 {
        assert_eq!(
            until(&rx, |r| matches!(r, Rec::Close { .. })),
            Rec::Close {
                code: 1001,
                reason: "server shutting down".into()
            }
        );
    }
    assert_eq!(server.connection_count(), 0);
    assert_eq!(server.rooms().room_count(), 0);
    assert!(server.connections().is_empty());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    );
    server.stop(); // idempotent
    rt.shutdown();
}

#[test]
fn stop_does_not_wait_forever_for_clients_that_never_answer() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let _silent = connect(server.port(), "/");
    next(&rx);
    let _half = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap(); // never sends a request
    assert!(eventually(|| server.connection_count() == 2));
    let t0 = Instant::now();
    server.stop();
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t0.elapsed()
    );
    assert_eq!(server.connection_count(), 0);
    assert!(matches!(
        until(&rx, |r| matches!(r, Rec::Close { .. })),
        Rec::Close { code: 1001, .. }
    ));
    rt.shutdown();
}

#[test]
fn bind_errors_say_where() {
    let rt = rt();
    let (h, _rx) = Recorder::new();
    let first = bridge::serve(&rt, h.clone(), 0, opts()).unwrap();
    match bridge::serve(&rt, h, first.port(), opts()) {
        Err(bridge::Error::Bind { addr, .. }) => assert_eq!(addr.port(), first.port()),
        other => panic!("expected a bind error, got {other:?}"),
    }
    first.stop();
    rt.shutdown();
}

#[test]
fn stop_under_load_gives_every_client_1001() {
    use tungstenite::Message;
    let rt = rt();
    let (h, _rx) = Recorder::new();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let port = server.port();
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let mut c = connect(port, "/");
            std::thread::spawn(move || loop {
                if c.send(Message::text(format!("client {i}"))).is_err() {
                    // Our side is closing: read what is left to find the server's close.
                    return recv_close(&mut c);
                }
                match c.read() {
                    Ok(Message::Close(f)) => return f.map(|f| u16::from(f.code)),
                    Ok(_) => {}
                    Err(e) => panic!("client {i}: {e}"),
                }
            })
        })
        .collect();
    assert!(eventually(|| server.connection_count() == 20));
    let t0 = Instant::now();
    server.stop();
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t0.elapsed()
    );
    for c in clients {
        assert_eq!(c.join().unwrap(), Some(1001));
    }
    assert_eq!(server.connection_count(), 0);
    rt.shutdown();
}
