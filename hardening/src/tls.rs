//! [`TestCert`]: a self-signed certificate for `localhost`, written to a temporary directory
//! for `harden-server`'s wss port, and the matching client side.

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A wss client connection.
pub type WssClient =
    tungstenite::WebSocket<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

/// A certificate and key in PEM files; the directory is removed on drop.
pub struct TestCert {
    /// The certificate chain file (PEM).
    pub cert: PathBuf,
    /// The private key file (PEM).
    pub key: PathBuf,
    /// The certificate, PEM text (the client's root).
    pub pem: String,
    dir: PathBuf,
}

impl TestCert {
    /// Generates a certificate for `localhost` and writes both files.
    pub fn new() -> TestCert {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tern-harden-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ck =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let pem = ck.cert.pem();
        std::fs::write(&cert, &pem).expect("write cert");
        std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write key");
        TestCert {
            cert,
            key,
            pem,
            dir,
        }
    }

    /// The files, as `ServerArgs::tls` wants them.
    pub fn files(&self) -> Option<(PathBuf, PathBuf)> {
        Some((self.cert.clone(), self.key.clone()))
    }

    /// A client configuration that trusts this certificate.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        ws::client_config_from_pem(self.pem.as_bytes()).expect("client config")
    }

    /// A fresh TLS client session for `localhost`.
    pub fn session(&self, cfg: &Arc<rustls::ClientConfig>) -> rustls::ClientConnection {
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        rustls::ClientConnection::new(cfg.clone(), name).expect("client session")
    }

    /// A wss connection to `path` on `port` (read timeout `timeout`).
    pub fn connect(
        &self,
        cfg: &Arc<rustls::ClientConfig>,
        port: u16,
        path: &str,
        timeout: Duration,
    ) -> Result<WssClient, String> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let tls = rustls::StreamOwned::new(self.session(cfg), tcp);
        tungstenite::client(format!("wss://localhost:{port}{path}"), tls)
            .map(|(ws, _)| ws)
            .map_err(|e| format!("wss handshake on {path}: {e}"))
    }
}

impl Default for TestCert {
    fn default() -> TestCert {
        TestCert::new()
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
