//! The one error enum of the crate, and the one place that maps an error to what the peer is
//! told: a close code ([`Error::close_code`]) or an HTTP status ([`Error::http_status`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong, with structured fields.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    // --- opening handshake (server side): answered with an HTTP status -------------------
    /// The upgrade request is malformed or not a WebSocket upgrade (→ 400).
    BadRequest { reason: &'static str },
    /// `Sec-WebSocket-Version` is missing or not 13 (→ 426 with `Sec-WebSocket-Version: 13`).
    UnsupportedVersion,
    /// The header block exceeds `Config::max_header_bytes` or `max_headers` (→ 431).
    HeaderTooLarge { size: usize, max: usize },
    /// The handshake did not finish within `Config::handshake_timeout` (→ 408).
    HandshakeTimeout,

    // --- opening handshake (client side) ---------------------------------------------------
    /// The server answered something other than a valid 101.
    HandshakeRejected { status: u16, reason: String },
    /// The server's 101 response is malformed or its accept value is wrong.
    BadResponse { reason: &'static str },
    /// A `ws://` / `wss://` URL that cannot be used.
    InvalidUrl { url: String, reason: &'static str },

    // --- frames: answered with a close code --------------------------------------------------
    /// RFC 6455 framing violation (→ 1002): RSV bits, unknown opcode, control frame too long or
    /// fragmented, wrong masking for the role, 64-bit length with the top bit set, bad
    /// continuation, invalid close payload.
    Protocol { reason: &'static str },
    /// A close frame carried a code that may not be sent (→ 1002).
    InvalidCloseCode { code: u16 },
    /// A text message (or a fragment of it) is not UTF-8 (→ 1007).
    InvalidUtf8,
    /// One frame's payload length (from its header) exceeds `Config::max_frame_size` (→ 1009).
    FrameTooLarge { size: u64, max: usize },
    /// A reassembled message would exceed `Config::max_message_size` (→ 1009).
    MessageTooLarge { size: u64, max: usize },
    /// Our ping was not answered within `Config::pong_timeout` (→ 1011 is not sent: the peer is
    /// presumed gone; the owner drops the TCP connection).
    PongTimeout,
    /// The peer did not answer our close within `Config::close_timeout`.
    CloseTimeout,
    /// The connection is closed (or closing) and cannot carry this operation.
    Closed,

    // --- setup -------------------------------------------------------------------------------
    /// A `Config` field has an unusable value.
    InvalidConfig {
        field: &'static str,
        reason: &'static str,
    },
    /// A certificate / key / CA file could not be used; names the file and the problem.
    TlsConfig { path: PathBuf, problem: String },

    // --- transport -----------------------------------------------------------------------------
    /// The socket failed (timeouts are `io::ErrorKind::{WouldBlock, TimedOut}`).
    Io(io::Error),
    /// rustls rejected the peer (bad certificate, alert, ...).
    Tls(rustls::Error),
}

impl Error {
    /// The close code to send when this error fails a connection (RFC 6455 §7.4.1), or `None`
    /// when no close frame should be sent (handshake and transport errors).
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Error::Protocol { .. } | Error::InvalidCloseCode { .. } => Some(1002),
            Error::InvalidUtf8 => Some(1007),
            Error::FrameTooLarge { .. } | Error::MessageTooLarge { .. } => Some(1009),
            _ => None,
        }
    }

    /// The HTTP status to answer a failed opening handshake with, or `None` when the error is
    /// not an opening-handshake error.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::BadRequest { .. } => Some(400),
            Error::UnsupportedVersion => Some(426),
            Error::HeaderTooLarge { .. } => Some(431),
            Error::HandshakeTimeout => Some(408),
            _ => None,
        }
    }

    /// True for `io::ErrorKind::{WouldBlock, TimedOut}`: the operation may be retried and the
    /// protocol state is intact.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadRequest { reason } => write!(f, "bad upgrade request: {reason}"),
            Error::UnsupportedVersion => write!(f, "unsupported Sec-WebSocket-Version (need 13)"),
            Error::HeaderTooLarge { size, max } => {
                write!(f, "request header block too large ({size} > {max})")
            }
            Error::HandshakeTimeout => write!(f, "opening handshake timed out"),
            Error::HandshakeRejected { status, reason } => {
                write!(f, "server refused the upgrade: {status} {reason}")
            }
            Error::BadResponse { reason } => write!(f, "bad upgrade response: {reason}"),
            Error::InvalidUrl { url, reason } => write!(f, "invalid URL {url:?}: {reason}"),
            Error::Protocol { reason } => write!(f, "protocol error: {reason}"),
            Error::InvalidCloseCode { code } => write!(f, "invalid close code {code}"),
            Error::InvalidUtf8 => write!(f, "text message is not valid UTF-8"),
            Error::FrameTooLarge { size, max } => write!(f, "frame too large ({size} > {max})"),
            Error::MessageTooLarge { size, max } => {
                write!(f, "message too large ({size} > {max})")
            }
            Error::PongTimeout => write!(f, "no pong within the pong timeout"),
            Error::CloseTimeout => write!(f, "peer did not answer our close in time"),
            Error::Closed => write!(f, "connection closed"),
            Error::InvalidConfig { field, reason } => write!(f, "invalid config {field}: {reason}"),
            Error::TlsConfig { path, problem } => write!(f, "{}: {problem}", path.display()),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Tls(e) => write!(f, "TLS error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Tls(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Error::Tls(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mapping_to_codes_and_statuses() {
        assert_eq!(Error::Protocol { reason: "x" }.close_code(), Some(1002));
        assert_eq!(Error::InvalidCloseCode { code: 5 }.close_code(), Some(1002));
        assert_eq!(Error::InvalidUtf8.close_code(), Some(1007));
        assert_eq!(
            Error::FrameTooLarge { size: 9, max: 1 }.close_code(),
            Some(1009)
        );
        assert_eq!(
            Error::MessageTooLarge { size: 9, max: 1 }.close_code(),
            Some(1009)
        );
        assert_eq!(Error::BadRequest { reason: "x" }.http_status(), Some(400));
        assert_eq!(Error::UnsupportedVersion.http_status(), Some(426));
        assert_eq!(
            Error::HeaderTooLarge { size: 9, max: 1 }.http_status(),
            Some(431)
        );
        assert_eq!(Error::InvalidUtf8.http_status(), None);
        assert!(Error::Io(io::ErrorKind::WouldBlock.into()).is_timeout());
        assert!(Error::Io(io::ErrorKind::TimedOut.into()).is_timeout());
        assert!(!Error::Io(io::ErrorKind::BrokenPipe.into()).is_timeout());
    }
}
