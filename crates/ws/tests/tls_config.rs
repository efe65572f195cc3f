//! TLS configuration from PEM: every key format, and errors that name the file and the problem.

mod common;

use common::{fixture, pki, temp_file};
use ws::Error;

fn problem(r: Result<impl Sized, Error>) -> (std::path::PathBuf, String) {
    match r {
        Err(Error::TlsConfig { path, problem }) => (path, problem),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn loads_pkcs8_pkcs1_and_sec1_keys() {
    let p = pki();
    let cert = temp_file("cert.pem", p.cert_pem.as_bytes());
    let key = temp_file("key.pem", p.key_pem.as_bytes());
    assert!(
        p.key_pem.contains("BEGIN PRIVATE KEY"),
        "rcgen writes PKCS#8"
    );
    ws::load_server_config(&cert, &key).unwrap();
    ws::load_server_config(fixture("rsa.crt"), fixture("rsa_pkcs1.key")).unwrap();
    ws::load_server_config(fixture("ec.crt"), fixture("ec_sec1.key")).unwrap();
    ws::load_client_config(temp_file("ca.pem", p.ca_pem.as_bytes())).unwrap();
}

#[test]
fn missing_file_is_named() {
    let (path, why) = problem(ws::load_server_config(
        "/nonexistent/cert.pem",
        fixture("ec_sec1.key"),
    ));
    assert_eq!(path, std::path::PathBuf::from("/nonexistent/cert.pem"));
    assert!(why.contains("cannot read"), "{why}");
    let (path, _) = problem(ws::load_client_config("/nonexistent/ca.pem"));
    assert!(path.ends_with("ca.pem"));
}

#[test]
fn file_without_certificate() {
    let key = fixture("ec_sec1.key");
    let (path, why) = problem(ws::load_server_config(&key, &key));
    assert_eq!(path, key);
    assert!(why.contains("no certificate"), "{why}");
    let empty = temp_file("empty.pem", b"");
    let (_, why) = problem(ws::load_client_config(&empty));
    assert!(why.contains("no certificate"), "{why}");
}

#[test]
fn file_without_key() {
    let cert = fixture("ec.crt");
    let (path, why) = problem(ws::load_server_config(&cert, &cert));
    assert_eq!(path, cert);
    assert!(why.contains("no private key"), "{why}");
}

#[test]
fn key_that_does_not_match_the_certificate() {
    let (path, why) = problem(ws::load_server_config(
        fixture("rsa.crt"),
        fixture("ec_sec1.key"),
    ));
    assert_eq!(path, fixture("ec_sec1.key"));
    assert!(why.contains("does not match"), "{why}");
    let other = pki();
    let (_, why) = problem(ws::server_config_from_pem(
        pki().cert_pem.as_bytes(),
        other.key_pem.as_bytes(),
    ));
    assert!(why.contains("does not match"), "{why}");
}

#[test]
fn error_message_names_file_and_problem() {
    let e = ws::load_server_config("/nonexistent/c.pem", "/nonexistent/k.pem").unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("/nonexistent/c.pem: cannot read file"),
        "{text}"
    );
}
