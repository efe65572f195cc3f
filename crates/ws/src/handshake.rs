//! The opening handshake (RFC 6455 §4), sans-IO.
//!
//! Server side: [`ServerHandshake`] takes bytes as they arrive (one at a time is fine) and
//! returns `NeedMore`, a parsed [`Request`], or an [`Error`] whose [`Error::http_status`] is the
//! answer (400, 426, 431); [`Response::from_error`] builds that answer. The caller then builds a
//! [`Response`]: [`Response::accept`] (101, optionally with a chosen subprotocol and extra
//! headers) or [`Response::reject`] with any status. The socket's owner applies the deadline
//! (`Config::handshake_timeout`) and writes the bytes.
//!
//! Memory: the parser keeps at most `Config::max_header_bytes` plus one fed chunk. Bytes that
//! follow the request in the same chunk (an early first frame) are kept in
//! [`Request::rest`] and must be fed to the [`crate::Connection`] before anything else.
//!
//! Client side (crate-internal, used by [`crate::Client`]): the request with a random key, and
//! the check of the server's 101 (status, `Upgrade`, `Connection`, accept value).

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::config::Config;
use crate::error::Error;

/// RFC 6455 §1.3: the GUID appended to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(sha1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    BASE64.encode(h.finalize())
}

/// Progress of a [`ServerHandshake`].
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeStatus {
    /// The header block is incomplete: feed more bytes.
    NeedMore,
    /// A valid upgrade request.
    Done(Request),
}

/// Incremental parser of one upgrade request. See the module doc.
#[derive(Debug)]
pub struct ServerHandshake {
    buf: Vec<u8>,
    max_header_bytes: usize,
    max_headers: usize,
    peer: Option<SocketAddr>,
    finished: bool,
}

impl ServerHandshake {
    /// A parser with the limits of `config`; `peer` is reported by [`Request::peer_addr`].
    pub fn new(config: &Config, peer: Option<SocketAddr>) -> Self {
        ServerHandshake {
            buf: Vec::new(),
            max_header_bytes: config.max_header_bytes,
            max_headers: config.max_headers.max(1),
            peer,
            finished: false,
        }
    }

    /// Feeds received bytes. After `Done` or an error the parser is finished: further calls
    /// return `Error::BadRequest`.
    pub fn feed(&mut self, data: &[u8]) -> Result<HandshakeStatus, Error> {
        if self.finished {
            return Err(Error::BadRequest {
                reason: "handshake already finished",
            });
        }
        let scan_from = self.buf.len();
        self.buf.extend_from_slice(data);
        // Parse only when a line ended in this chunk; the request is complete only then.
        let line_ended = self.buf[scan_from..].contains(&b'\n');
        let result = if line_ended {
            self.try_parse()
        } else {
            Ok(None)
        };
        match result {
            Ok(Some(req)) => {
                self.finished = true;
                self.buf = Vec::new();
                Ok(HandshakeStatus::Done(req))
            }
            Ok(None) if self.buf.len() > self.max_header_bytes => {
                self.finished = true;
                Err(Error::HeaderTooLarge {
                    size: self.buf.len(),
                    max: self.max_header_bytes,
                })
            }
            Ok(None) => Ok(HandshakeStatus::NeedMore),
            Err(e) => {
                self.finished = true;
                Err(e)
            }
        }
    }

    fn try_parse(&mut self) -> Result<Option<Request>, Error> {
        // The header slots live on the stack up to the default bound: a 2 KiB heap block per
        // parse is large enough to make glibc consolidate its free lists on every request.
        const ON_STACK: usize = 64;
        let mut stack = [httparse::EMPTY_HEADER; ON_STACK];
        let mut heap = Vec::new();
        let headers = if self.max_headers <= ON_STACK {
            &mut stack[..self.max_headers]
        } else {
            heap.resize(self.max_headers, httparse::EMPTY_HEADER);
            &mut heap[..]
        };
        let mut req = httparse::Request::new(headers);
        let len = match req.parse(&self.buf) {
            Ok(httparse::Status::Partial) => return Ok(None),
            Ok(httparse::Status::Complete(n)) => n,
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Error::HeaderTooLarge {
                    size: self.max_headers + 1,
                    max: self.max_headers,
                })
            }
            Err(_) => {
                return Err(Error::BadRequest {
                    reason: "malformed HTTP request",
                })
            }
        };
        if len > self.max_header_bytes {
            return Err(Error::HeaderTooLarge {
                size: len,
                max: self.max_header_bytes,
            });
        }
        let method = req.method.unwrap_or_default();
        // RFC 6455 §4.2.1: "An HTTP/1.1 or higher GET request".
        if method != "GET" {
            return Err(Error::BadRequest {
                reason: "method must be GET",
            });
        }
        if req.version != Some(1) {
            return Err(Error::BadRequest {
                reason: "HTTP/1.1 required",
            });
        }
        let target = req.path.unwrap_or_default();
        if !target.starts_with('/') {
            return Err(Error::BadRequest {
                reason: "request target must be an absolute path",
            });
        }
        let headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).trim().to_owned(),
                )
            })
            .collect();
        let find_all = |name: &'static str| {
            headers
                .iter()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let one = |name: &'static str| -> Result<Option<&str>, Error> {
            let mut it = find_all(name);
            let first = it.next();
            if it.next().is_some() {
                return Err(Error::BadRequest {
                    reason: "repeated handshake header",
                });
            }
            Ok(first)
        };
        // RFC 6455 §4.2.1 items 2-6.
        if one("Host")?.map_or(true, str::is_empty) {
            return Err(Error::BadRequest {
                reason: "missing Host",
            });
        }
        if !find_all("Upgrade").any(|v| has_token(v, "websocket")) {
            return Err(Error::BadRequest {
                reason: "missing Upgrade: websocket",
            });
        }
        if !find_all("Connection").any(|v| has_token(v, "upgrade")) {
            return Err(Error::BadRequest {
                reason: "Connection lacks the Upgrade token",
            });
        }
        if one("Sec-WebSocket-Version")? != Some("13") {
            return Err(Error::UnsupportedVersion);
        }
        let key = one("Sec-WebSocket-Key")?.ok_or(Error::BadRequest {
            reason: "missing Sec-WebSocket-Key",
        })?;
        // RFC 6455 §4.2.1 item 5: the key base64-decodes to 16 bytes.
        match BASE64.decode(key) {
            Ok(k) if k.len() == 16 => {}
            _ => {
                return Err(Error::BadRequest {
                    reason: "Sec-WebSocket-Key is not 16 base64 bytes",
                })
            }
        }
        let protocols: Vec<String> = find_all("Sec-WebSocket-Protocol")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (target.to_owned(), None),
        };
        let key = key.to_owned();
        Ok(Some(Request {
            method: method.to_owned(),
            path,
            query,
            protocols,
            key,
            peer: self.peer,
            rest: self.buf[len..].to_vec(),
            headers,
        }))
    }
}

/// True when the comma-separated header value contains `token` (ASCII case-insensitive).
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A valid upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    protocols: Vec<String>,
    key: String,
    peer: Option<SocketAddr>,
    rest: Vec<u8>,
}

impl Request {
    /// Always `GET` (anything else is refused), kept for logging.
    pub fn method(&self) -> &str {
        &self.method
    }
    /// The path part of the request target (`/chat` in `/chat?room=1`).
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The query part without the `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Every header in arrival order (names as sent).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
    /// Offered subprotocols, in the client's order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }
    /// The `Sec-WebSocket-Key`.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The peer given to [`ServerHandshake::new`].
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }
    /// Bytes received after the request (an early first frame): feed them to the
    /// `Connection` first.
    pub fn rest(&self) -> &[u8] {
        &self.rest
    }
    /// Takes the bytes after the request, leaving none.
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.rest)
    }
}

/// An HTTP response to an upgrade request: the 101 or a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    /// 101 Switching Protocols for `req`, with `Sec-WebSocket-Accept`.
    pub fn accept(req: &Request) -> Response {
        Response {
            status: 101,
            reason: "Switching Protocols".into(),
            headers: vec![
                ("Upgrade".into(), "websocket".into()),
                ("Connection".into(), "Upgrade".into()),
                ("Sec-WebSocket-Accept".into(), accept_key(&req.key)),
            ],
            body: String::new(),
        }
    }

    /// A refusal with any status and a short plain-text reason (also sent as the body).
    /// Adds `Connection: close`; a 426 also gets `Sec-WebSocket-Version: 13`.
    pub fn reject(status: u16, reason: &str) -> Response {
        let reason = sanitize(reason);
        let mut headers = vec![("Connection".to_owned(), "close".to_owned())];
        if status == 426 {
            headers.push(("Sec-WebSocket-Version".into(), "13".into()));
        }
        headers.push(("Content-Type".into(), "text/plain; charset=utf-8".into()));
        Response {
            status,
            reason: reason.clone(),
            headers,
            body: reason,
        }
    }

    /// The refusal for a handshake error (`None` if the error has no HTTP status).
    pub fn from_error(err: &Error) -> Option<Response> {
        let status = err.http_status()?;
        let reason = match err {
            Error::BadRequest { reason } => (*reason).to_owned(),
            Error::UnsupportedVersion => "Upgrade Required".to_owned(),
            Error::HeaderTooLarge { .. } => "Request Header Fields Too Large".to_owned(),
            Error::HandshakeTimeout => "Request Timeout".to_owned(),
            other => other.to_string(),
        };
        Some(Response::reject(status, &reason))
    }

    /// Names the chosen subprotocol (pick one of [`Request::protocols`]).
    pub fn protocol(self, name: &str) -> Response {
        self.header("Sec-WebSocket-Protocol", name)
    }

    /// Adds a header. CR and LF are removed from name and value (no header injection).
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((sanitize(name), sanitize(value)));
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The response as bytes to write.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason);
        for (n, v) in &self.headers {
            s.push_str(n);
            s.push_str(": ");
            s.push_str(v);
            s.push_str("\r\n");
        }
        if self.status != 101 {
            s.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        s.push_str("\r\n");
        s.push_str(&self.body);
        s.into_bytes()
    }
}

fn sanitize(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

// ---- client side ------------------------------------------------------------------------------

/// A fresh random `Sec-WebSocket-Key` (16 random bytes, base64).
pub(crate) fn generate_key() -> String {
    let mut k = [0u8; 16];
    if getrandom::fill(&mut k).is_err() {
        log::warn!("getrandom failed; using a time-derived handshake key");
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        k = t.to_le_bytes();
    }
    BASE64.encode(k)
}

/// The client's upgrade request.
pub(crate) fn client_request(
    host: &str,
    target: &str,
    key: &str,
    protocols: &[String],
    extra: &[(String, String)],
) -> Vec<u8> {
    let mut s = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if !protocols.is_empty() {
        s.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            sanitize(&protocols.join(", "))
        ));
    }
    for (n, v) in extra {
        s.push_str(&format!("{}: {}\r\n", sanitize(n), sanitize(v)));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// What the client learns from a valid 101.
#[derive(Debug)]
pub(crate) struct ServerAccept {
    /// Length of the response head; bytes after it are the first frames.
    pub head_len: usize,
    pub protocol: Option<String>,
}

/// Checks the server's response. `Ok(None)`: incomplete.
pub(crate) fn parse_response(
    buf: &[u8],
    key: &str,
    max_header_bytes: usize,
) -> Result<Option<ServerAccept>, Error> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > max_header_bytes => {
            return Err(Error::BadResponse {
                reason: "response head too large",
            })
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => {
            return Err(Error::BadResponse {
                reason: "malformed HTTP response",
            })
        }
    };
    let status = resp.code.unwrap_or(0);
    if status != 101 {
        return Err(Error::HandshakeRejected {
            status,
            reason: resp.reason.unwrap_or("").to_owned(),
        });
    }
    let get = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
    };
    // RFC 6455 §4.1: the client checks Upgrade, Connection and the accept value.
    if !get("Upgrade").is_some_and(|v| has_token(&v, "websocket")) {
        return Err(Error::BadResponse {
            reason: "missing Upgrade: websocket",
        });
    }
    if !get("Connection").is_some_and(|v| has_token(&v, "upgrade")) {
        return Err(Error::BadResponse {
            reason: "Connection lacks the Upgrade token",
        });
    }
    if get("Sec-WebSocket-Accept").as_deref() != Some(accept_key(key).as_str()) {
        return Err(Error::BadResponse {
            reason: "wrong Sec-WebSocket-Accept",
        });
    }
    Ok(Some(ServerAccept {
        head_len,
        protocol: get("Sec-WebSocket-Protocol"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_REQUEST: &str = "GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn parse(req: &str) -> Result<Request, Error> {
        let mut h = ServerHandshake::new(&Config::default(), None);
        match h.feed(req.as_bytes())? {
            HandshakeStatus::Done(r) => Ok(r),
            HandshakeStatus::NeedMore => panic!("incomplete"),
        }
    }

    #[test]
    fn rfc_sample_key_and_accept() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rfc_request_one_byte_at_a_time_keeps_early_frame() {
        let mut h = ServerHandshake::new(&Config::default(), Some("127.0.0.1:9".parse().unwrap()));
        let mut bytes = RFC_REQUEST.as_bytes().to_vec();
        bytes.extend_from_slice(&[0x81, 0x85, 0x37]); // start of an early frame
        let mut done = None;
        for (i, b) in bytes.iter().enumerate() {
            match h.feed(&[*b]).unwrap() {
                HandshakeStatus::NeedMore => {}
                HandshakeStatus::Done(r) => {
                    done = Some((i, r));
                    break;
                }
            }
        }
        let (i, mut r) = done.unwrap();
        assert_eq!(i, RFC_REQUEST.len() - 1);
        assert!(r.rest().is_empty());
        assert_eq!(r.path(), "/chat");
        assert_eq!(r.query(), Some("room=1"));
        assert_eq!(r.header("origin"), Some("http://example.com"));
        assert_eq!(r.protocols(), ["chat", "superchat"]);
        assert_eq!(r.peer_addr(), Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(r.take_rest(), Vec::<u8>::new());

        // In one chunk, the early frame bytes are kept.
        let r = parse(&format!("{RFC_REQUEST}\u{1}\u{2}")).unwrap();
        assert_eq!(r.rest(), [1, 2]);
    }

    #[test]
    fn accept_response_bytes() {
        let r = parse(RFC_REQUEST).unwrap();
        let resp = Response::accept(&r)
            .protocol("chat")
            .header("X-A", "b\r\nInjected: 1");
        let text = String::from_utf8(resp.to_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
        assert!(text.contains("X-A: bInjected: 1\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        // The client side accepts it.
        let a = parse_response(text.as_bytes(), "dGhlIHNhbXBsZSBub25jZQ==", 8192)
            .unwrap()
            .unwrap();
        assert_eq!(a.head_len, text.len());
        assert_eq!(a.protocol.as_deref(), Some("chat"));
    }

    /// `max_headers` bounds the header lines, below and above the slots kept on the stack.
    #[test]
    fn the_header_count_is_bounded_by_max_headers() {
        let with_extra = |n: usize| {
            let extra: String = (0..n).map(|i| format!("X-H{i}: v\r\n")).collect();
            RFC_REQUEST.replace("Origin:", &format!("{extra}Origin:"))
        };
        // RFC_REQUEST has 7 header lines.
        for max in [10, 64, 100] {
            let cfg = Config {
                max_headers: max,
                ..Config::default()
            };
            let feed = |req: &str| ServerHandshake::new(&cfg, None).feed(req.as_bytes());
            let fits = feed(&with_extra(max - 7)).unwrap();
            assert!(matches!(fits, HandshakeStatus::Done(_)), "max {max}");
            let err = feed(&with_extra(max - 6)).unwrap_err();
            assert_eq!(err.http_status(), Some(431), "max {max}: {err}");
        }
    }

    fn status_of(req: &str) -> u16 {
        parse(req).unwrap_err().http_status().unwrap()
    }

    #[test]
    fn rejections() {
        let r = RFC_REQUEST;
        assert_eq!(status_of(&r.replace("GET", "POST")), 400);
        assert_eq!(status_of(&r.replace("HTTP/1.1", "HTTP/1.0")), 400);
        assert_eq!(
            status_of(&r.replace("Host: server.example.com\r\n", "")),
            400
        );
        assert_eq!(
            status_of(&r.replace("Upgrade: websocket", "Upgrade: h2c")),
            400
        );
        assert_eq!(
            status_of(&r.replace("Connection: Upgrade", "Connection: keep-alive")),
            400
        );
        assert_eq!(
            status_of(&r.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8")),
            426
        );
        assert_eq!(
            status_of(&r.replace("Sec-WebSocket-Version: 13\r\n", "")),
            426
        );
        assert_eq!(
            status_of(&r.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=")),
            400
        );
        assert_eq!(
            status_of(&r.replace("dGhlIHNhbXBsZSBub25jZQ==", "!!!")),
            400
        );
        assert_eq!(
            status_of(&r.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")),
            400
        );
        assert_eq!(status_of("GARBAGE\0\r\n\r\n"), 400);
        // Case-insensitive names and tokens; Connection is a list.
        let ok = r
            .replace("Upgrade: websocket", "upgrade: WebSocket")
            .replace("Connection: Upgrade", "connection: keep-alive, UPGRADE");
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn header_block_limit_is_431() {
        let big = RFC_REQUEST.replace(
            "Origin:",
            &format!("X-Pad: {}\r\nOrigin:", "a".repeat(9000)),
        );
        assert_eq!(status_of(&big), 431);
        // Without a terminator, the limit trips as soon as it is exceeded.
        let mut h = ServerHandshake::new(&Config::default(), None);
        assert!(matches!(
            h.feed(b"GET / HTTP/1.1\r\n"),
            Ok(HandshakeStatus::NeedMore)
        ));
        let e = h.feed(&[b'a'; 9000]).unwrap_err();
        assert_eq!(e.http_status(), Some(431));
        let many: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status_of(&RFC_REQUEST.replace("Origin:", &format!("{many}Origin:"))),
            431
        );
    }

    #[test]
    fn refusal_bytes() {
        let text = String::from_utf8(
            Response::from_error(&Error::UnsupportedVersion)
                .unwrap()
                .to_bytes(),
        )
        .unwrap();
        assert!(text.starts_with("HTTP/1.1 426 "));
        assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
        let text = String::from_utf8(
            Response::from_error(&Error::HandshakeTimeout)
                .unwrap()
                .to_bytes(),
        )
        .unwrap();
        assert!(text.starts_with("HTTP/1.1 408 "));
        assert!(Response::from_error(&Error::InvalidUtf8).is_none());
        let text = String::from_utf8(Response::reject(403, "go away").to_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 403 go away\r\n"));
        assert!(text.ends_with("Content-Length: 7\r\n\r\ngo away"));
    }

    #[test]
    fn client_response_checks() {
        let key = generate_key();
        assert_eq!(BASE64.decode(&key).unwrap().len(), 16);
        let good = format!("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n", accept_key(&key));
        assert!(parse_response(good.as_bytes(), &key, 8192)
            .unwrap()
            .is_some());
        assert!(parse_response(&good.as_bytes()[..20], &key, 8192)
            .unwrap()
            .is_none());
        assert!(matches!(
            parse_response(good.as_bytes(), "other", 8192),
            Err(Error::BadResponse { .. })
        ));
        let bad = good.replace("Upgrade: websocket", "Upgrade: nope");
        assert!(matches!(
            parse_response(bad.as_bytes(), &key, 8192),
            Err(Error::BadResponse { .. })
        ));
        let bad = good.replace("Connection: Upgrade", "Connection: close");
        assert!(matches!(
            parse_response(bad.as_bytes(), &key, 8192),
            Err(Error::BadResponse { .. })
        ));
        let refused = b"HTTP/1.1 403 Forbidden\r\n\r\n";
        assert!(matches!(
            parse_response(refused, &key, 8192),
            Err(Error::HandshakeRejected { status: 403, .. })
        ));
        let req =
            String::from_utf8(client_request("h:1", "/p?q", &key, &["a".into()], &[])).unwrap();
        let r = parse(&req).unwrap();
        assert_eq!(r.protocols(), ["a"]);
        assert_eq!(r.query(), Some("q"));
    }
}
