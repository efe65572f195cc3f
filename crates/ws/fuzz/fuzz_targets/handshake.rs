//! Server handshake parser (`ServerHandshake::feed`) on hostile bytes, fed in arbitrary pieces.
//! Invariants: no panic; every error maps to an HTTP status and a refusal; a parsed request
//! yields a 101 response; bytes after the request are kept, never lost or invented.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws::{Config, HandshakeStatus, Response, ServerHandshake};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(ctl) + 1;
    let config = Config {
        max_header_bytes: 2048,
        max_headers: 16,
        ..Config::default()
    };
    let mut hs = ServerHandshake::new(&config, None);
    let mut fed = 0;
    for piece in rest.chunks(chunk) {
        fed += piece.len();
        match hs.feed(piece) {
            Ok(HandshakeStatus::NeedMore) => {}
            Ok(HandshakeStatus::Done(req)) => {
                assert!(req.rest().len() <= fed);
                assert_eq!(req.rest(), &rest[fed - req.rest().len()..fed]);
                assert_eq!(req.method(), "GET");
                let bytes = Response::accept(&req).to_bytes();
                assert!(bytes.starts_with(b"HTTP/1.1 101 "));
                return;
            }
            Ok(_) => return,
            Err(e) => {
                let resp = Response::from_error(&e).expect("handshake errors map to a status");
                assert!(matches!(resp.status(), 400 | 426 | 431), "{e}");
                return;
            }
        }
    }
});
