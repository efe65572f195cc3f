//! rustls (ring provider) configurations for the wss echo case.
//!
//! The server side loads a PEM certificate chain and key. The load generator's client side
//! checks the server's handshake signature but not its chain: the benchmark runs on
//! loopback against a certificate `gencert` just made, and chain checks happen only once
//! per connection anyway.

use rustls::{ClientConfig, ServerConfig};
use std::sync::Arc;

/// A server configuration from PEM files: the ws crate's loader, whose error names the file
/// and the cause.
pub fn server_config(cert_path: &str, key_path: &str) -> Result<Arc<ServerConfig>, String> {
    ws::load_server_config(cert_path, key_path).map_err(|e| e.to_string())
}

/// A client configuration that checks the server's handshake signature but not its chain:
/// the ws crate's `insecure_client_config`.
pub fn client_config() -> Arc<ClientConfig> {
    ws::insecure_client_config()
}

/// Writes a fresh self-signed certificate for `localhost` and 127.0.0.1, and its key.
pub fn write_self_signed(cert_path: &str, key_path: &str) -> Result<(), String> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(|e| format!("rcgen: {e}"))?;
    std::fs::write(cert_path, ck.cert.pem()).map_err(|e| format!("{cert_path}: {e}"))?;
    std::fs::write(key_path, ck.signing_key.serialize_pem())
        .map_err(|e| format!("{key_path}: {e}"))?;
    Ok(())
}
