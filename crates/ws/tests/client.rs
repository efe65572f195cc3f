//! The blocking client against a small echo server built from the crate's parts, over plain TCP
//! and TLS: messages, subprotocols, timeouts that resume mid-frame, both close directions.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{echo_server, pki, Mode};
use ws::{connect, ClientConfig, Recv};

fn deadline() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(10))
}

fn tls_pair() -> (Arc<ws::rustls::ServerConfig>, Arc<ws::rustls::ClientConfig>) {
    let p = pki();
    (
        ws::server_config_from_pem(p.cert_pem.as_bytes(), p.key_pem.as_bytes()).unwrap(),
        ws::client_config_from_pem(p.ca_pem.as_bytes()).unwrap(),
    )
}

fn echo_round_trip(url: &str, config: ClientConfig) {
    let mut c = connect(url, config).unwrap();
    assert_eq!(c.protocol(), Some("chat"));
    c.send_text("héllo").unwrap();
    assert_eq!(c.recv(deadline()).unwrap(), Recv::Text("héllo".into()));
    let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    c.send_binary(&big).unwrap();
    assert_eq!(c.recv(deadline()).unwrap(), Recv::Binary(big));
    c.send_ping(b"p").unwrap();
    assert_eq!(c.recv(deadline()).unwrap(), Recv::Pong(b"p".to_vec()));
    assert_eq!(c.close(1000, "done").unwrap(), 1000);
    // After the close every recv says Closed, and sending fails.
    assert!(matches!(c.recv(deadline()).unwrap(), Recv::Closed { .. }));
    assert!(c.send_text("late").is_err());
}

#[test]
fn plain_echo() {
    let (port, server) = echo_server(None, Mode::Echo, 1);
    let config = ClientConfig {
        protocols: vec!["chat".into()],
        ..ClientConfig::default()
    };
    echo_round_trip(&format!("ws://127.0.0.1:{port}/echo?x=1"), config);
    server.join().unwrap();
}

#[test]
fn tls_echo() {
    let (server_cfg, client_cfg) = tls_pair();
    let (port, server) = echo_server(Some(server_cfg), Mode::Echo, 2);
    let config = ClientConfig {
        protocols: vec!["chat".into()],
        tls: Some(client_cfg),
        ..ClientConfig::default()
    };
    echo_round_trip(&format!("wss://localhost:{port}/"), config);
    // The insecure option for local tests.
    let config = ClientConfig {
        protocols: vec!["chat".into()],
        tls: Some(ws::insecure_client_config()),
        ..ClientConfig::default()
    };
    echo_round_trip(&format!("wss://127.0.0.1:{port}/"), config);
    server.join().unwrap();
}

#[test]
fn tls_with_untrusted_certificate_fails() {
    let (server_cfg, _) = tls_pair();
    let (_, other_client) = tls_pair(); // trusts a different CA
    let (port, server) = echo_server(Some(server_cfg), Mode::Echo, 1);
    let config = ClientConfig {
        tls: Some(other_client),
        ..ClientConfig::default()
    };
    let e = connect(&format!("wss://localhost:{port}/"), config).unwrap_err();
    assert!(matches!(e, ws::Error::Io(_)), "{e}");
    server.join().unwrap();
}

#[test]
fn wss_without_tls_config_is_refused() {
    let e = connect("wss://127.0.0.1:1/", ClientConfig::default()).unwrap_err();
    assert!(matches!(e, ws::Error::InvalidUrl { .. }), "{e}");
}

#[test]
fn timeout_mid_frame_resumes() {
    for tls in [false, true] {
        let (server_cfg, client_cfg) = tls_pair();
        let (port, server) = echo_server(tls.then_some(server_cfg), Mode::SplitFrame, 1);
        let scheme = if tls { "wss" } else { "ws" };
        let config = ClientConfig {
            tls: Some(client_cfg),
            ..ClientConfig::default()
        };
        let mut c = connect(&format!("{scheme}://localhost:{port}/"), config).unwrap();
        // The server has sent only the first 5 bytes of a frame: the read times out mid-frame.
        let start = Instant::now();
        assert_eq!(
            c.recv(Some(Instant::now() + Duration::from_millis(200)))
                .unwrap(),
            Recv::Timeout
        );
        assert!(start.elapsed() >= Duration::from_millis(150));
        // Our message makes the server send the rest; the frame completes where it stopped.
        c.send_text("go").unwrap();
        assert_eq!(
            c.recv(deadline()).unwrap(),
            Recv::Text("split-frame-payload".into())
        );
        c.close(1000, "").unwrap();
        server.join().unwrap();
    }
}

#[test]
fn server_initiated_close_is_reported_with_its_code() {
    let (port, server) = echo_server(None, Mode::CloseFirst, 1);
    let mut c = connect(&format!("ws://127.0.0.1:{port}/"), ClientConfig::default()).unwrap();
    assert_eq!(
        c.recv(deadline()).unwrap(),
        Recv::Closed {
            code: 4000,
            reason: "bye".into()
        }
    );
    server.join().unwrap();
}

#[test]
fn raw_frames_reach_the_server_and_its_rejection_comes_back() {
    let (port, server) = echo_server(None, Mode::Echo, 1);
    let mut c = connect(&format!("ws://127.0.0.1:{port}/"), ClientConfig::default()).unwrap();
    // An unmasked frame from a client: the server fails the connection with 1002.
    c.write_raw(&[0x81, 0x02, b'h', b'i']).unwrap();
    match c.recv(deadline()).unwrap() {
        Recv::Closed { code, .. } => assert_eq!(code, 1002),
        other => panic!("expected a close, got {other:?}"),
    }
    server.join().unwrap();
}

#[test]
fn refused_upgrade_reports_status() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        s.write_all(&ws::Response::reject(403, "Forbidden").to_bytes())
            .unwrap();
    });
    let e = connect(&format!("ws://127.0.0.1:{port}/"), ClientConfig::default()).unwrap_err();
    assert!(
        matches!(e, ws::Error::HandshakeRejected { status: 403, .. }),
        "{e}"
    );
    h.join().unwrap();
}

#[test]
fn tls12_and_tls13_both_negotiate() {
    use ws::rustls;
    let p = pki();
    let server_cfg =
        ws::server_config_from_pem(p.cert_pem.as_bytes(), p.key_pem.as_bytes()).unwrap();
    let (port, server) = echo_server(Some(server_cfg), Mode::Echo, 2);
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(ws::rustls::pki_types::CertificateDer::from(pem_der(
                &p.ca_pem,
            )))
            .unwrap();
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let config = ClientConfig {
            tls: Some(Arc::new(cfg)),
            ..ClientConfig::default()
        };
        let mut c = connect(&format!("wss://localhost:{port}/"), config).unwrap();
        c.send_text("v").unwrap();
        assert_eq!(c.recv(deadline()).unwrap(), Recv::Text("v".into()));
        c.close(1000, "").unwrap();
    }
    server.join().unwrap();
}

/// The DER bytes of the first certificate in a PEM string.
fn pem_der(pem: &str) -> Vec<u8> {
    use ws::rustls::pki_types::pem::PemObject;
    ws::rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[test]
fn unoffered_subprotocol_in_the_answer_fails() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut hs = ws::ServerHandshake::new(&ws::Config::default(), None);
        let mut buf = [0u8; 4096];
        let req = loop {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "client went away");
            if let ws::HandshakeStatus::Done(r) = hs.feed(&buf[..n]).unwrap() {
                break r;
            }
        };
        s.write_all(
            &ws::Response::accept(&req)
                .protocol("not-offered")
                .to_bytes(),
        )
        .unwrap();
    });
    let config = ClientConfig {
        protocols: vec!["chat".into()],
        ..ClientConfig::default()
    };
    let e = connect(&format!("ws://127.0.0.1:{port}/"), config).unwrap_err();
    assert!(matches!(e, ws::Error::BadResponse { .. }), "{e}");
    h.join().unwrap();
}
