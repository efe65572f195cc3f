//! [`Error`]: the one error type of the crate, with structured fields, and
//! [`Error::close_code`], the one place that maps an error to a WebSocket close code.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// What went wrong. Each variant says what and where.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An [`Options`](crate::Options) field is out of range.
    InvalidOption {
        field: &'static str,
        why: &'static str,
    },
    /// The listening socket could not be bound.
    Bind { addr: SocketAddr, source: io::Error },
    /// A certificate or key file could not be read or used.
    Tls { path: PathBuf, why: String },
    /// A system resource (thread, descriptor) could not be created.
    Resource {
        what: &'static str,
        source: io::Error,
    },
    /// The connection is closed (or closing, or not yet accepted): nothing can be sent on it.
    /// (Sends borrow their payload, so the caller still has it.)
    Closed,
    /// The connection's outbound buffer is full: it has been closed with 1008.
    OutboundFull { queued: usize, max: usize },
    /// A close code that may not be sent (RFC 6455 §7.4).
    InvalidCloseCode { code: u16 },
    /// The connection was already accepted or rejected, or its handshake is over (it timed
    /// out, the client left or the server stopped).
    AlreadyDecided,
}

impl Error {
    /// The close code a connection is closed with when this error ends it.
    pub fn close_code(&self) -> u16 {
        match self {
            Error::OutboundFull { .. } => crate::CLOSE_OUTBOUND_FULL,
            _ => 1011,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidOption { field, why } => write!(f, "invalid option {field}: {why}"),
            Error::Bind { addr, source } => write!(f, "cannot bind {addr}: {source}"),
            Error::Tls { path, why } => write!(f, "TLS setup failed for {}: {why}", path.display()),
            Error::Resource { what, source } => write!(f, "cannot create {what}: {source}"),
            Error::Closed => write!(f, "connection is closed"),
            Error::OutboundFull { queued, max } => {
                write!(
                    f,
                    "outbound buffer full ({queued} bytes queued, limit {max}); connection closed"
                )
            }
            Error::InvalidCloseCode { code } => write!(f, "close code {code} may not be sent"),
            Error::AlreadyDecided => write!(
                f,
                "connection already accepted or rejected, or its handshake is over"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } | Error::Resource { source, .. } => Some(source),
            _ => None,
        }
    }
}
