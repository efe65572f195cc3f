//! Loading a TLS server configuration (delegated to the `ws` crate's loader, rustls with the
//! `ring` provider), with errors mapped to ours.

use std::path::Path;
use std::sync::Arc;

use crate::error::Error;

/// Reads a PEM certificate chain and a PEM private key and builds the server configuration.
/// Errors name the file and the problem.
pub fn load_server_config(
    cert_path: &Path,
    key_path: &Path,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    ws::load_server_config(cert_path, key_path).map_err(|e| match e {
        ws::Error::TlsConfig { path, problem } => Error::Tls { path, why: problem },
        other => Error::Tls {
            path: cert_path.to_path_buf(),
            why: other.to_string(),
        },
    })
}
