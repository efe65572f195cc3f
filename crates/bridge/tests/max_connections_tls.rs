//! Over max_connections on a TLS server: the TLS handshake completes and the client reads
//! `503 Service Unavailable` then close_notify; past the bound of busy TLS sockets
//! (`max_busy_tls_answers`) a socket is closed without an answer, and answers come back once
//! the slow ones leave.

mod common;
use common::*;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// TLS sockets over the limit the server of the bound test answers at once.
const BUSY: usize = 4;
/// More sockets than that.
const HOGS: usize = 6;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

struct Certs {
    dir: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    client: Arc<rustls::ClientConfig>,
}

fn certs(name: &str) -> Certs {
    let dir = temp_dir(&format!("503-{name}"));
    let (cert, key, cert_pem) = cert_files(&dir);
    let client = ws::client_config_from_pem(&cert_pem).unwrap();
    Certs {
        dir,
        cert,
        key,
        client,
    }
}

/// A TLS client that sends an upgrade request and reads everything up to close_notify
/// (rustls reports a TCP end without close_notify as an error).
fn tls_request(port: u16, client: &Arc<rustls::ClientConfig>) -> io::Result<String> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(WAIT))?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client.clone(), name).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(REQUEST)?;
    let mut buf = Vec::new();
    tls.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn is_busy_answer(resp: &str) -> bool {
    resp.starts_with("HTTP/1.1 503 Service Unavailable\r\n") && resp.contains("Retry-After: 1\r\n")
}

#[test]
fn a_tls_client_over_the_limit_reads_503_through_tls() {
    let c = certs("answer");
    let rt = rt();
    let (h, rx) = Recorder::new();
    let opts = bridge::Options {
        max_connections: 1,
        ..opts()
    };
    let server = bridge::serve_tls(&rt, h, 0, &c.cert, &c.key, opts).unwrap();

    // The one connection the limit allows: a wss client, open.
    let tcp = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = rustls::StreamOwned::new(
        rustls::ClientConnection::new(c.client.clone(), name).unwrap(),
        tcp,
    );
    let (_open, _) =
        tungstenite::client(format!("wss://localhost:{}/", server.port()), tls).unwrap();
    assert!(matches!(next(&rx), Rec::Connect { .. }));

    let resp = tls_request(server.port(), &c.client).expect("a 503 ended by close_notify");
    assert!(is_busy_answer(&resp), "got {resp:?}");
    assert_eq!(server.connection_count(), 1);
    assert!(
        rx.try_recv().is_err(),
        "the rejected client reached the handler"
    );

    server.stop();
    rt.shutdown();
    let _ = std::fs::remove_dir_all(c.dir);
}

#[test]
fn past_the_busy_bound_a_tls_socket_is_closed_without_an_answer() {
    let c = certs("bound");
    let rt = rt();
    let (h, _rx) = Recorder::new();
    let opts = bridge::Options {
        max_connections: 1,
        max_busy_tls_answers: BUSY,
        // The silent sockets below must reach `accept` without speaking.
        defer_accept: Duration::ZERO,
        ..opts()
    };
    let server = bridge::serve_tls(&rt, h, 0, &c.cert, &c.key, opts).unwrap();

    // The connection slot: a socket in its handshake (it holds the slot for 10 s).
    let _slot = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    assert!(eventually(|| server.connection_count() == 1));
    // Slow clients that never start TLS: each holds a busy slot for up to 2 s, in accept
    // order, so the bound is full before the next client is accepted.
    let hogs: Vec<TcpStream> = (0..HOGS)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port())).unwrap())
        .collect();
    let got = tls_request(server.port(), &c.client);
    assert!(
        got.is_err(),
        "past the bound the socket must be closed, got {got:?}"
    );

    // Once the slow clients leave, their slots come back.
    drop(hogs);
    assert!(eventually(
        || tls_request(server.port(), &c.client).is_ok_and(|r| is_busy_answer(&r))
    ));
    assert_eq!(server.connection_count(), 1);

    server.stop();
    rt.shutdown();
    let _ = std::fs::remove_dir_all(c.dir);
}
