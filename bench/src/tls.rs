//! rustls (ring provider) configurations for the wss echo case.
//!
//! The server side loads a PEM certificate chain and key. The load generator's client side
//! checks the server's handshake signature but not its chain: the benchmark runs on
//! loopback against a certificate `gencert` just made, and chain checks happen only once
//! per connection anyway.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use std::sync::Arc;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration from PEM files; the error names the file and the cause.
pub fn server_config(cert_path: &str, key_path: &str) -> Result<Arc<ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("certificate {cert_path}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| format!("key {key_path}: {e}"))?;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls versions: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate/key {cert_path}/{key_path}: {e}"))?;
    Ok(Arc::new(cfg))
}

/// A client configuration that accepts the server's certificate without a chain check.
pub fn client_config() -> Arc<ClientConfig> {
    let p = provider();
    let cfg = ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoChainCheck(p)))
        .with_no_client_auth();
    Arc::new(cfg)
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

#[derive(Debug)]
struct NoChainCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoChainCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificate_loads() {
        let dir = std::env::temp_dir().join(format!("tern-bench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = dir.join("cert.pem").to_string_lossy().into_owned();
        let key = dir.join("key.pem").to_string_lossy().into_owned();
        write_self_signed(&cert, &key).unwrap();
        assert!(server_config(&cert, &key).is_ok());
        let err = server_config(&key, &key).unwrap_err();
        assert!(err.contains("certificate"), "{err}");
        let _ = client_config();
        std::fs::remove_dir_all(&dir).ok();
    }
}
