//! A small blocking client for `ws://` and `wss://` (the VM's `WsClient` module and tests).
//!
//! Owns its socket and its [`Connection`]; one thread uses it at a time (`&mut self`).
//! Timeouts: [`Client::recv`] takes a deadline and maps `io::ErrorKind::{WouldBlock, TimedOut}`
//! to [`Recv::Timeout`]; a frame interrupted by the timeout resumes on the next call, because
//! the `Connection` keeps partial frames and the client keeps unconsumed bytes.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::connection::{Connection, Event};
use crate::error::Error;
use crate::frame::{Opcode, Role};
use crate::handshake::{client_request, generate_key, parse_response};
use crate::stream::WsStream;

/// Read buffer size of the client.
const READ_CHUNK: usize = 64 * 1024;

/// Options of [`connect`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Protocol limits and timings (the handshake deadline is `ws.handshake_timeout`).
    pub ws: Config,
    /// TLS settings for `wss://` (e.g. [`crate::load_client_config`] or
    /// [`crate::insecure_client_config`]); `wss://` without it fails with `InvalidUrl`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// TCP connect timeout per address. Default 10 s.
    pub connect_timeout: Duration,
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            ws: Config::default(),
            tls: None,
            connect_timeout: Duration::from_secs(10),
            protocols: Vec::new(),
            headers: Vec::new(),
        }
    }
}

/// What [`Client::recv`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recv {
    Text(String),
    Binary(Vec<u8>),
    /// A ping from the server (already answered).
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The connection is closed: the server's code and reason (1005: empty close; 1006: the TCP
    /// connection ended without a close frame).
    Closed {
        code: u16,
        reason: String,
    },
    /// The deadline passed; call again to go on where it stopped.
    Timeout,
}

/// A connected client. See the module doc.
#[derive(Debug)]
pub struct Client {
    stream: WsStream,
    conn: Connection,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    protocol: Option<String>,
    closed: Option<(u16, String)>,
}

struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// Host as sent in the `Host` header (with the port when not the default).
    host_header: String,
    path: String,
}

fn parse_url(url: &str) -> Result<Target, Error> {
    let bad = |reason| Error::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let (tls, rest) = if let Some(r) = url.strip_prefix("ws://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("wss://") {
        (true, r)
    } else {
        return Err(bad("scheme must be ws:// or wss://"));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path
    };
    let path = path.split('#').next().unwrap_or("/").to_owned();
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("missing host (or userinfo, which is not supported)"));
    }
    let default_port = if tls { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None if after.is_empty() => default_port,
            None => return Err(bad("junk after ]")),
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("bad port"))?),
            None => (authority.to_owned(), default_port),
        }
    };
    if host.is_empty() || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("empty host or bad path"));
    }
    Ok(Target {
        tls,
        host,
        port,
        host_header: authority.to_owned(),
        path,
    })
}

/// Connects, performs the TLS (for `wss://`) and WebSocket handshakes within
/// `config.ws.handshake_timeout`, and returns the client.
pub fn connect(url: &str, config: ClientConfig) -> Result<Client, Error> {
    config.ws.validate()?;
    let target = parse_url(url)?;
    let tls = match (target.tls, &config.tls) {
        (false, _) => None,
        (true, Some(t)) => Some(t.clone()),
        (true, None) => {
            return Err(Error::InvalidUrl {
                url: url.to_owned(),
                reason: "wss:// needs ClientConfig::tls",
            })
        }
    };
    let deadline = Instant::now() + config.ws.handshake_timeout;
    let mut last_err = None;
    let mut sock = None;
    for addr in (target.host.as_str(), target.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, config.connect_timeout) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let sock = match sock {
        Some(s) => s,
        None => {
            return Err(last_err
                .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
                .into())
        }
    };
    sock.set_nodelay(true)?;
    let stream = match tls {
        Some(tls) => WsStream::tls_client(sock, tls, &target.host)?,
        None => WsStream::plain(sock),
    };
    let remaining = |d: Instant| {
        let left = d.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Error::Io(io::ErrorKind::TimedOut.into()))
        } else {
            Ok(left)
        }
    };
    stream.set_read_timeout(Some(remaining(deadline)?))?;
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.complete_handshake()?;

    let key = generate_key();
    (&stream).write_all(&client_request(
        &target.host_header,
        &target.path,
        &key,
        &config.protocols,
        &config.headers,
    ))?;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut end = 0;
    let accept = loop {
        if end == buf.len() {
            return Err(Error::BadResponse {
                reason: "response head too large",
            });
        }
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        let n = match (&stream).read(&mut buf[end..]) {
            Ok(0) => {
                return Err(Error::BadResponse {
                    reason: "connection closed during the handshake",
                })
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        end += n;
        if let Some(a) = parse_response(&buf[..end], &key, config.ws.max_header_bytes)? {
            break a;
        }
    };
    // RFC 6455 §4.1: a subprotocol the client did not offer fails the connection.
    if let Some(p) = &accept.protocol {
        if !config.protocols.iter().any(|o| o == p) {
            return Err(Error::BadResponse {
                reason: "server chose a subprotocol we did not offer",
            });
        }
    }
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(None)?;
    Ok(Client {
        stream,
        conn: Connection::new(Role::Client, &config.ws),
        buf,
        start: accept.head_len,
        end,
        protocol: accept.protocol,
        closed: None,
    })
}

impl Client {
    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The transport, for tests that need the raw socket.
    pub fn stream(&self) -> &WsStream {
        &self.stream
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        let bytes = self.conn.encode_message(Opcode::Text, text.as_bytes())?;
        self.write_raw(&bytes)
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        let bytes = self.conn.encode_message(Opcode::Binary, data)?;
        self.write_raw(&bytes)
    }

    /// Sends a ping (payload ≤ 125 bytes).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        let bytes = self.conn.encode_ping(payload)?;
        self.write_raw(&bytes)
    }

    /// Writes hand-made bytes as they are (tests of the server's rejections).
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        (&self.stream).write_all(bytes)?;
        (&self.stream).flush()?;
        Ok(())
    }

    /// Waits for the next message until `deadline` (`None`: forever). Pings are answered
    /// before they are returned. After `Closed`, every call returns `Closed` again.
    pub fn recv(&mut self, deadline: Option<Instant>) -> Result<Recv, Error> {
        loop {
            if let Some((code, reason)) = &self.closed {
                return Ok(Recv::Closed {
                    code: *code,
                    reason: reason.clone(),
                });
            }
            while self.start < self.end {
                let fed = self.conn.feed(&self.buf[self.start..self.end]);
                self.flush_output()?;
                let p = match fed {
                    Ok(p) => p,
                    Err(e) => {
                        self.closed = Some((e.close_code().unwrap_or(1006), e.to_string()));
                        let _ = self.stream.shutdown(Shutdown::Both);
                        return Err(e);
                    }
                };
                self.start += p.consumed;
                match p.event {
                    None => {}
                    Some(Event::Text(s)) => return Ok(Recv::Text(s)),
                    Some(Event::Binary(b)) => return Ok(Recv::Binary(b)),
                    Some(Event::Ping(p)) => return Ok(Recv::Ping(p)),
                    Some(Event::Pong(p)) => return Ok(Recv::Pong(p)),
                    Some(Event::Close { code, reason }) => {
                        self.closed = Some((code, reason.clone()));
                        // RFC 6455 §7.1.1: the server closes TCP first; we may close too.
                        let _ = self.stream.shutdown(Shutdown::Both);
                        return Ok(Recv::Closed { code, reason });
                    }
                }
            }
            self.start = 0;
            self.end = 0;
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(Recv::Timeout);
                    }
                    Some(left)
                }
            };
            self.stream.set_read_timeout(timeout)?;
            match (&self.stream).read(&mut self.buf) {
                Ok(0) => {
                    self.closed = Some((1006, String::new()));
                }
                Ok(n) => self.end = n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(Recv::Timeout)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.closed = Some((1006, String::new()))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Starts the closing handshake and waits (at most `Config::close_timeout`) for the
    /// server's close, dropping any message that arrives meanwhile. Returns the server's code.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<u16, Error> {
        if let Some((c, _)) = &self.closed {
            return Ok(*c);
        }
        let now = Instant::now();
        let frame = self.conn.close(Some(code), reason, now)?;
        self.write_raw(&frame)?;
        let deadline = match self.conn.close_state() {
            crate::CloseState::CloseSent { deadline } => deadline,
            _ => now,
        };
        loop {
            match self.recv(Some(deadline))? {
                Recv::Closed { code, .. } => return Ok(code),
                Recv::Timeout => {
                    let _ = self.stream.shutdown(Shutdown::Both);
                    self.closed = Some((1006, String::new()));
                    return Err(Error::CloseTimeout);
                }
                _ => {}
            }
        }
    }

    fn flush_output(&mut self) -> Result<(), Error> {
        if let Some(out) = self.conn.take_output() {
            (&self.stream).write_all(&out)?;
            (&self.stream).flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("ws://localhost:8080/chat?x=1").unwrap();
        assert!(!t.tls);
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("localhost", 8080, "/chat?x=1")
        );
        let t = parse_url("wss://[::1]/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.host_header.as_str()),
            ("::1", 443, "[::1]")
        );
        let t = parse_url("ws://h?q").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/?q"));
        assert!(parse_url("http://h/").is_err());
        assert!(parse_url("ws:///x").is_err());
        assert!(parse_url("ws://h:99999/").is_err());
        assert!(parse_url("ws://u@h/").is_err());
        assert!(parse_url("ws://h/a b").is_err());
    }
}
