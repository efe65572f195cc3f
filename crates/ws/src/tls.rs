//! TLS configuration from PEM files (certificate chain and private key), with errors that name
//! the file and the problem.
//!
//! PEM is parsed with `rustls_pki_types::pem::PemObject` (the maintained home of the former
//! `rustls-pemfile` code). Keys may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC). The crypto provider is
//! `ring`: it builds from C/asm with `cc` in a fraction of the time `aws-lc-rs` needs on two
//! cores and needs no cmake. TLS 1.3 and 1.2 are both enabled.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms,
};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::error::Error;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::TlsConfig {
        path: path.to_owned(),
        problem: format!("cannot read file: {e}"),
    })
}

fn pem_problem(e: pem::Error) -> String {
    match e {
        pem::Error::NoItemsFound => "no PEM item of the expected kind".to_owned(),
        other => format!("invalid PEM: {other:?}"),
    }
}

fn parse_certs(pem_bytes: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::TlsConfig {
            path: path.to_owned(),
            problem: pem_problem(e),
        })?;
    if certs.is_empty() {
        return Err(Error::TlsConfig {
            path: path.to_owned(),
            problem: "no certificate found".to_owned(),
        });
    }
    Ok(certs)
}

fn parse_key(pem_bytes: &[u8], path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem_bytes).map_err(|e| {
        let problem = match e {
            pem::Error::NoItemsFound => "no private key found (PKCS#8, PKCS#1 or SEC1)".to_owned(),
            other => pem_problem(other),
        };
        Error::TlsConfig {
            path: path.to_owned(),
            problem,
        }
    })
}

fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    key_path: &Path,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            let problem = match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    "private key does not match the certificate".to_owned()
                }
                other => format!("unusable private key: {other}"),
            };
            Error::TlsConfig {
                path: key_path.to_owned(),
                problem,
            }
        })?;
    Ok(Arc::new(cfg))
}

/// A server config from a PEM certificate chain file and a PEM private key file.
pub fn load_server_config(
    cert_path: impl AsRef<Path>,
    key_path: impl AsRef<Path>,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
    let certs = parse_certs(&read_file(cert_path)?, cert_path)?;
    let key = parse_key(&read_file(key_path)?, key_path)?;
    server_config(certs, key, key_path)
}

/// A server config from PEM text in memory (errors name `<memory>`).
pub fn server_config_from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let mem = PathBuf::from("<memory>");
    server_config(
        parse_certs(cert_pem, &mem)?,
        parse_key(key_pem, &mem)?,
        &mem,
    )
}

/// A client config that trusts the certificates in a PEM CA file.
pub fn load_client_config(ca_path: impl AsRef<Path>) -> Result<Arc<rustls::ClientConfig>, Error> {
    let ca_path = ca_path.as_ref();
    client_config_with_roots(&read_file(ca_path)?, ca_path)
}

/// A client config that trusts the certificates in PEM text (errors name `<memory>`).
pub fn client_config_from_pem(ca_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, Error> {
    client_config_with_roots(ca_pem, Path::new("<memory>"))
}

fn client_config_with_roots(
    pem_bytes: &[u8],
    path: &Path,
) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in parse_certs(pem_bytes, path)? {
        roots.add(cert).map_err(|e| Error::TlsConfig {
            path: path.to_owned(),
            problem: format!("unusable CA certificate: {e}"),
        })?;
    }
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// A client config that accepts ANY server certificate (signatures are still checked, so the
/// handshake is real, but the peer is not authenticated). For local tests only.
pub fn insecure_client_config() -> Arc<rustls::ClientConfig> {
    let p = provider();
    let algs = p.signature_verification_algorithms;
    let cfg = rustls::ClientConfig::builder_with_provider(p)
        .with_protocol_versions(VERSIONS)
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(algs)))
        .with_no_client_auth();
    Arc::new(cfg)
}

#[derive(Debug)]
struct NoVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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
        verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
