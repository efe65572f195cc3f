//! wss: a certificate generated at test time, a tungstenite client over rustls; and TLS
//! setup errors that say which file.

mod common;
use common::*;

use std::net::TcpStream;
use std::sync::Arc;

use bridge::Data;
use tungstenite::Message;

#[test]
fn wss_echo_and_close() {
    let dir = temp_dir("echo");
    let (cert, key, cert_pem) = cert_files(&dir);
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve_tls(&rt, h, 0, &cert, &key, opts()).unwrap();

    let client_cfg: Arc<rustls::ClientConfig> = ws::client_config_from_pem(&cert_pem).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = rustls::StreamOwned::new(
        rustls::ClientConnection::new(client_cfg, name).unwrap(),
        tcp,
    );
    let (mut c, _) =
        tungstenite::client(format!("wss://localhost:{}/secure", server.port()), tls).unwrap();
    assert!(matches!(next(&rx), Rec::Connect { path, .. } if path == "/secure"));

    c.send(Message::text("over tls")).unwrap();
    assert_eq!(next(&rx), Rec::Message(Data::Text("over tls".into())));
    assert_eq!(c.read().unwrap(), Message::text("over tls"));
    let big = vec![9u8; 300_000];
    c.send(Message::binary(big.clone())).unwrap();
    assert_eq!(next(&rx), Rec::Message(Data::Binary(big.clone())));
    assert_eq!(c.read().unwrap(), Message::binary(big));

    c.close(None).unwrap();
    assert_eq!(
        next(&rx),
        Rec::Close {
            code: 1005,
            reason: String::new()
        }
    );
    server.stop();
    rt.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tls_errors_name_the_file() {
    let dir = temp_dir("errors");
    let (cert, _key, _) = cert_files(&dir);
    let rt = rt();
    let (h, _rx) = Recorder::new();
    let missing = dir.join("nope.pem");
    match bridge::serve_tls(&rt, h.clone(), 0, &cert, &missing, opts()) {
        Err(bridge::Error::Tls { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    // A certificate file given as the key.
    let e = bridge::serve_tls(&rt, h, 0, &cert, &cert, opts()).unwrap_err();
    assert!(matches!(e, bridge::Error::Tls { .. }), "{e}");
    rt.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn garbage_on_the_tls_port_is_dropped_cleanly() {
    use std::io::{Read, Write};
    let dir = temp_dir("garbage");
    let (cert, key, _) = cert_files(&dir);
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve_tls(&rt, h, 0, &cert, &key, opts()).unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf); // an alert, then EOF; never a hang
    assert!(eventually(|| server.connection_count() == 0));
    assert!(rx.try_recv().is_err());
    server.stop();
    rt.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

/// A wss client of `server` trusting `cert_pem`.
fn wss_client(
    port: u16,
    cert_pem: &[u8],
) -> tungstenite::WebSocket<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let client_cfg: Arc<rustls::ClientConfig> = ws::client_config_from_pem(cert_pem).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = rustls::StreamOwned::new(
        rustls::ClientConnection::new(client_cfg, name).unwrap(),
        tcp,
    );
    tungstenite::client(format!("wss://localhost:{port}/"), tls)
        .unwrap()
        .0
}

/// Senders on other threads write TLS themselves (`Conn::send`, a room broadcast): more than
/// the sockets hold, so ciphertext waits in the stream and the I/O threads finish it on
/// POLLOUT. Every frame arrives whole and in order, direct sends and broadcasts interleaved.
#[test]
fn tls_sends_from_other_threads_arrive_whole_and_in_order() {
    const N: usize = 48;
    const SIZE: usize = 64 * 1024;
    let dir = temp_dir("senders");
    let (cert, key, cert_pem) = cert_files(&dir);
    let rt = rt();
    let (mut h, rx) = Recorder::new();
    h.echo = false;
    let conns = h.conns.clone();
    let server = bridge::serve_tls(&rt, h, 0, &cert, &key, opts()).unwrap();
    let mut clients: Vec<_> = (0..2)
        .map(|_| {
            let c = wss_client(server.port(), &cert_pem);
            assert!(matches!(next(&rx), Rec::Connect { .. }));
            c
        })
        .collect();
    let cs = conns.lock().unwrap().clone();
    assert_eq!(cs.len(), 2);
    for c in &cs {
        assert!(c.is_tls());
        assert!(c.join("room"));
    }
    let rooms = server.rooms().clone();
    // Nobody reads yet: the sockets fill up.
    for i in 0..N {
        let mut msg = vec![i as u8; SIZE];
        if i % 3 == 0 {
            msg[0] = b'B';
            assert_eq!(rooms.broadcast("room", &msg[..]), 2);
        } else {
            msg[0] = b'D';
            for c in &cs {
                c.send_binary(&msg).unwrap();
            }
        }
    }
    for c in clients.iter_mut() {
        for i in 0..N {
            let Message::Binary(got) = c.read().unwrap() else {
                panic!("not binary")
            };
            assert_eq!(got.len(), SIZE);
            assert_eq!(got[0], if i % 3 == 0 { b'B' } else { b'D' }, "frame {i}");
            assert!(got[1..].iter().all(|&b| b == i as u8), "frame {i} torn");
        }
    }
    for c in &cs {
        assert_eq!(c.queued_bytes(), 0);
    }
    for mut c in clients {
        c.close(None).unwrap();
        assert!(matches!(
            until(&rx, |r| matches!(r, Rec::Close { .. })),
            Rec::Close { code: 1005, .. }
        ));
    }
    server.stop();
    rt.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}
