//! Shared test helpers: certificates made at test time with rcgen, temp files, a tiny
//! thread-per-connection echo server built from the crate's own parts.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use ws::{
    Config, Connection, Event, HandshakeStatus, Opcode, Response, Role, ServerHandshake, WsStream,
};

pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// A CA and a leaf for `localhost` / `127.0.0.1` signed by it (PKCS#8 key).
pub fn pki() -> TestPki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    TestPki {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

/// A fresh file under the temp dir with `contents`.
pub fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ws-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// What the echo server does with each connection.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Echo text and binary messages; answer the close.
    Echo,
    /// Send one text message split in two writes, the second after the client's first
    /// message arrives (to test a client read interrupted mid-frame).
    SplitFrame,
    /// Close with 4000 "bye" right after the handshake.
    CloseFirst,
}

/// Starts a server on 127.0.0.1:0 that serves `conns` connections, one thread each.
pub fn echo_server(
    tls: Option<Arc<ws::rustls::ServerConfig>>,
    mode: Mode,
    conns: usize,
) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut threads = Vec::new();
        for _ in 0..conns {
            let (sock, peer) = listener.accept().unwrap();
            let tls = tls.clone();
            threads.push(std::thread::spawn(move || {
                let stream = match tls {
                    Some(cfg) => WsStream::tls_server(sock, cfg).unwrap(),
                    None => WsStream::plain(sock),
                };
                serve(&stream, peer, mode);
            }));
        }
        for t in threads {
            t.join().unwrap();
        }
    });
    (port, h)
}

fn serve(stream: &WsStream, peer: std::net::SocketAddr, mode: Mode) {
    let config = Config::default();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut hs = ServerHandshake::new(&config, Some(peer));
    let mut buf = vec![0u8; 16 * 1024];
    let mut req = loop {
        let n = match (&*stream).read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match hs.feed(&buf[..n]) {
            Ok(HandshakeStatus::NeedMore) => {}
            Ok(HandshakeStatus::Done(r)) => break r,
            Ok(_) => return,
            Err(e) => {
                let _ = (&*stream).write_all(&Response::from_error(&e).unwrap().to_bytes());
                return;
            }
        }
    };
    let mut resp = Response::accept(&req);
    if let Some(p) = req.protocols().first() {
        resp = resp.protocol(&p.clone());
    }
    let mut w = stream;
    w.write_all(&resp.to_bytes()).unwrap();
    let mut conn = Connection::new(Role::Server, &config);
    let mut pending = req.take_rest();
    match mode {
        Mode::CloseFirst => {
            w.write_all(
                &conn
                    .close(Some(4000), "bye", std::time::Instant::now())
                    .unwrap(),
            )
            .unwrap();
        }
        Mode::SplitFrame => {
            let frame = ws::encode(Role::Server, Opcode::Text, b"split-frame-payload");
            w.write_all(&frame[..5]).unwrap();
        }
        Mode::Echo => {}
    }
    let mut split_sent = false;
    loop {
        let mut input = &pending[..];
        while !input.is_empty() {
            let p = match conn.feed(input) {
                Ok(p) => p,
                Err(_) => {
                    if let Some(out) = conn.take_output() {
                        let _ = w.write_all(&out);
                    }
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
            };
            input = &input[p.consumed..];
            if let Some(out) = conn.take_output() {
                w.write_all(&out).unwrap();
            }
            match p.event {
                Some(Event::Text(t)) => {
                    if mode == Mode::SplitFrame && !split_sent {
                        let frame = ws::encode(Role::Server, Opcode::Text, b"split-frame-payload");
                        w.write_all(&frame[5..]).unwrap();
                        split_sent = true;
                    } else if let Ok(f) = conn.encode_message(Opcode::Text, t.as_bytes()) {
                        w.write_all(&f).unwrap();
                    }
                }
                Some(Event::Binary(b)) => {
                    if let Ok(f) = conn.encode_message(Opcode::Binary, &b) {
                        w.write_all(&f).unwrap();
                    }
                }
                Some(Event::Close { .. }) => {
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
                _ => {}
            }
        }
        let n = match (&*stream).read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending = buf[..n].to_vec();
    }
}
