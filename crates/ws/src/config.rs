//! The one `Config` of the crate: every limit and timing, each with its default and why.
//!
//! Invariant: a `Config` handed to [`crate::Connection`], [`crate::ServerHandshake`] or
//! [`crate::HeartbeatState`] has passed [`Config::validate`] (their constructors call it
//! through `debug_assert!` only; owners that take a user's config call `validate` once).

use std::time::Duration;

use crate::error::Error;

/// Limits and timings for one WebSocket endpoint. Public fields; start from `Config::default()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest HTTP header block of the upgrade request (request line + headers + blank line).
    /// Default 8 KiB: browsers send well under 2 KiB; more is abuse. Over the limit → 431.
    pub max_header_bytes: usize,
    /// Most header lines in the upgrade request. Default 64 (more → 431).
    pub max_headers: usize,
    /// The whole opening handshake must finish within this (applied by the socket's owner).
    /// Default 10 s: enough for a slow mobile link, short enough to shed idle sockets.
    pub handshake_timeout: Duration,
    /// Largest single frame payload accepted, decided from the frame header before any payload
    /// is read (→ close 1009). Default 16 MiB (equal to the message limit).
    pub max_frame_size: usize,
    /// Largest reassembled message (sum of its fragments) → close 1009 beyond it.
    /// Default 16 MiB: the figure; large enough for files, small enough to bound memory.
    pub max_message_size: usize,
    /// Largest payload in one outgoing data frame; larger messages are sent fragmented by the
    /// client's `send_*`. Default 16 MiB (no fragmentation in practice).
    pub max_send_frame_size: usize,
    /// How long a connection may be idle before we send a ping. Default 30 s (below most NAT
    /// and proxy idle timeouts of 60 s).
    pub ping_interval: Duration,
    /// How long we wait for the pong that answers our ping before giving up on the peer.
    /// Default 10 s.
    pub pong_timeout: Duration,
    /// After sending our close frame, how long we wait for the peer's close before dropping
    /// the TCP connection. Default 5 s (RFC 6455 §7.1.1 leaves the bound to us).
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_header_bytes: 8 * 1024,
            max_headers: 64,
            handshake_timeout: Duration::from_secs(10),
            max_frame_size: 16 * 1024 * 1024,
            max_message_size: 16 * 1024 * 1024,
            max_send_frame_size: 16 * 1024 * 1024,
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// Checks the values once; returns `Error::InvalidConfig` naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        let bad =
            |field: &'static str, reason: &'static str| Err(Error::InvalidConfig { field, reason });
        if self.max_header_bytes < 64 {
            return bad("max_header_bytes", "must be at least 64");
        }
        if self.max_headers == 0 {
            return bad("max_headers", "must be at least 1");
        }
        if self.max_frame_size == 0 || self.max_message_size == 0 || self.max_send_frame_size == 0 {
            return bad(
                "max_frame_size",
                "frame and message limits must be non-zero",
            );
        }
        if self.handshake_timeout.is_zero() {
            return bad("handshake_timeout", "must be non-zero");
        }
        if self.ping_interval.is_zero() || self.pong_timeout.is_zero() {
            return bad(
                "ping_interval",
                "ping interval and pong timeout must be non-zero",
            );
        }
        if self.close_timeout.is_zero() {
            return bad("close_timeout", "must be non-zero");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_documented_values() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.max_header_bytes, 8192);
        assert_eq!(c.max_message_size, 16 << 20);
        assert_eq!(c.ping_interval, Duration::from_secs(30));
        assert_eq!(c.pong_timeout, Duration::from_secs(10));
        assert_eq!(c.handshake_timeout, Duration::from_secs(10));
    }

    #[test]
    fn zero_limits_rejected() {
        let c = Config {
            max_message_size: 0,
            ..Config::default()
        };
        assert!(matches!(c.validate(), Err(Error::InvalidConfig { .. })));
        let c = Config {
            pong_timeout: Duration::ZERO,
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }
}
