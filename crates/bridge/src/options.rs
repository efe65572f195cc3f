//! [`Options`]: every limit and timeout of a server, in one place, with its default.
//!
//! Validated once, by [`Options::validate`], when a server starts; nothing downstream
//! re-checks them.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::error::Error;

/// Limits and timeouts of one server. Every field has a documented default
/// ([`Options::default`]); set only what you need:
///
/// ```
/// let opts = bridge::Options { max_connections: 100, ..Default::default() };
/// assert!(opts.validate().is_ok());
/// ```
///
/// Not `#[non_exhaustive]` on purpose: `Options { field: x, ..Default::default() }` is the
/// way to set fields, and new fields always come with a default.
#[derive(Debug, Clone)]
pub struct Options {
    /// Address to bind. Default `0.0.0.0` (every IPv4 interface), as most servers expect;
    /// use `127.0.0.1` for a local-only server.
    pub bind_addr: IpAddr,
    /// Open connections (including those still in their handshake) above which a new
    /// client is answered `503 Service Unavailable` before the upgrade. Default 10,000: each
    /// connection holds one I/O thread (64 KiB of reserved stack, a few KiB touched) and two
    /// descriptors; raise `ulimit -n` above `2 × max_connections`.
    pub max_connections: usize,
    /// Plain sockets over `max_connections` that the accept thread keeps at once after
    /// writing their `503`, draining the client's request so that the answer is not lost to
    /// a reset (`busy_linger` at most each). Default 256: past it a socket over the limit is
    /// closed right after its `503` (the client may then see a reset instead), so a flood
    /// costs the accept thread a bounded amount of work.
    pub max_busy_answers: usize,
    /// TLS sockets over `max_connections` answered at once, at most. Default 16. Each answer
    /// needs a TLS handshake before its `503`, so it runs on a short-lived thread; past the
    /// bound a socket over the limit is closed without an answer, so a flood of the TLS port
    /// costs at most this many threads.
    pub max_busy_tls_answers: usize,
    /// Longest one of those TLS answers may take (handshake, `503`, close_notify), or
    /// `handshake_timeout` if that is smaller. Default 2 s, so that slow clients cannot hold
    /// the `max_busy_tls_answers` slots long.
    pub busy_tls_timeout: Duration,
    /// How long a socket answered `503` (over `max_connections`, plain or TLS) is still read
    /// and its input discarded after the answer, until the client closes: a request still
    /// arriving would otherwise turn the close into a reset, and a reset can make the
    /// client's kernel discard the `503` before the client reads it. Default 500 ms; zero
    /// closes right after the answer.
    pub busy_linger: Duration,
    /// Time a client has, from the accept, to send a complete upgrade request (and finish
    /// the TLS handshake), and for the connection actor to accept or reject it. Default 10 s.
    /// A client that trips it is disconnected (slow-loris defence).
    pub handshake_timeout: Duration,
    /// How long the kernel may hold a new connection back from `accept(2)` until its first
    /// bytes arrive (Linux `TCP_DEFER_ACCEPT`). Default 1 s. A WebSocket client speaks first,
    /// so the I/O thread then finds the upgrade request on its first read instead of waking
    /// once more for it, and a connect that sends nothing takes no thread meanwhile. A client
    /// still silent after it is accepted anyway (the kernel rounds up to its next SYN-ACK
    /// retransmission, a few seconds at most) and then has `handshake_timeout`. Zero turns it
    /// off.
    pub defer_accept: Duration,
    /// Largest request head (request line plus headers) accepted. Default 16 KiB; over it: 431.
    pub max_request_bytes: usize,
    /// Largest single frame payload accepted. Default 16 MiB; over it: close 1009.
    pub max_frame_size: usize,
    /// Largest reassembled message accepted. Default 16 MiB; over it: close 1009.
    pub max_message_size: usize,
    /// Encoded bytes that may wait in one connection's outbound queue. Default 4 MiB. A
    /// connection whose peer does not read fast enough to stay under it is closed with
    /// **1008** (policy violation: "outbound buffer full") and its pending output dropped;
    /// nobody else waits for it. A single message larger than this is still sent when the
    /// queue is empty.
    pub outbound_buffer: usize,
    /// Inbound flow control: the I/O thread stops reading the socket while the connection
    /// actor has more than this many bytes of delivered but unprocessed messages. Default
    /// 1 MiB. TCP then slows the client down.
    pub inbound_queue_bytes: usize,
    /// Same, counted in messages. Default 1,000.
    pub inbound_queue_messages: usize,
    /// Idle time after which the server pings the peer. Default 30 s. `None` turns the
    /// heartbeat off (a silent dead peer is then only noticed by TCP).
    pub heartbeat_interval: Option<Duration>,
    /// Time the peer has to answer a ping before the connection is closed with 1011 and
    /// reported to `on_close` as 1006. Default 10 s. Only a pong that echoes the ping's payload
    /// answers it (RFC 6455 §5.5.3); other traffic postpones the next ping but does not answer
    /// one already sent, so a peer that sends but never reads is still dropped.
    pub heartbeat_timeout: Duration,
    /// Time the peer has to answer our close frame before the socket is dropped. Default 5 s.
    pub close_timeout: Duration,
    /// How long a finished connection's socket is still read, and its input discarded, after
    /// our last frame, until the peer's FIN (or `close_timeout` if that is smaller): a peer
    /// still sending (a message over the limit, frames after a protocol error) would
    /// otherwise get a reset that can discard our close frame before the peer reads it. The
    /// connection keeps its `max_connections` slot meanwhile. Default 2 s.
    pub close_linger: Duration,
    /// Longest `Server::stop` waits for the connections to finish their close handshakes
    /// before dropping them. Default 5 s.
    pub stop_timeout: Duration,
    /// Reserved stack of each connection's I/O thread. Default 256 KiB: only touched pages
    /// cost memory (an idle connection touches a few), so the reservation is address space,
    /// not RAM; it leaves room for the TLS handshake and, with `run_actor_on_io_thread`, for
    /// handler code (a VM step) that runs on this stack. Raise it for handlers that recurse
    /// deeply in native code.
    pub io_thread_stack: usize,
    /// When an event (the connect, a message, the close) arrives for an idle connection
    /// actor, run the actor's step at once on the connection's I/O thread instead of waking a
    /// scheduler worker (the scheduler's `send_inline`; the actor semantics are unchanged:
    /// one step at a time, same budget). Saves a thread hand-off per event. Default true.
    /// Turn it off for handlers that block or need a deep stack.
    pub run_actor_on_io_thread: bool,
    /// I/O threads that, once their connection is finished, wait for the next accepted
    /// socket instead of exiting, at most. Default 64: under connection churn a thread is
    /// reused instead of created and ended per connection (each one still serves one socket
    /// at a time). A waiting thread holds its few touched stack pages. 0 turns reuse off.
    pub spare_io_threads: usize,
    /// How long a spare I/O thread waits for a socket before it exits. Default 10 s.
    pub spare_io_thread_timeout: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            bind_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            max_connections: 10_000,
            max_busy_answers: 256,
            max_busy_tls_answers: 16,
            busy_tls_timeout: Duration::from_secs(2),
            busy_linger: Duration::from_millis(500),
            handshake_timeout: Duration::from_secs(10),
            defer_accept: Duration::from_secs(1),
            max_request_bytes: 16 * 1024,
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
            outbound_buffer: 4 << 20,
            inbound_queue_bytes: 1 << 20,
            inbound_queue_messages: 1_000,
            heartbeat_interval: Some(Duration::from_secs(30)),
            heartbeat_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            close_linger: Duration::from_secs(2),
            stop_timeout: Duration::from_secs(5),
            io_thread_stack: 256 * 1024,
            run_actor_on_io_thread: true,
            spare_io_threads: 64,
            spare_io_thread_timeout: Duration::from_secs(10),
        }
    }
}

impl Options {
    /// Checks every field once; the server refuses to start on an error, which names the
    /// field.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &'static str, why: &'static str| Err(Error::InvalidOption { field, why });
        if self.max_connections == 0 {
            return bad("max_connections", "must be at least 1");
        }
        if self.busy_tls_timeout.is_zero() {
            return bad("busy_tls_timeout", "must be positive");
        }
        if self.handshake_timeout.is_zero() {
            return bad("handshake_timeout", "must be positive");
        }
        if self.max_request_bytes < 256 {
            return bad("max_request_bytes", "must be at least 256");
        }
        if self.max_frame_size == 0 || self.max_message_size == 0 {
            return bad(
                "max_frame_size",
                "frame and message limits must be positive",
            );
        }
        if self.outbound_buffer < 1024 {
            return bad("outbound_buffer", "must be at least 1 KiB");
        }
        if self.inbound_queue_bytes == 0 || self.inbound_queue_messages == 0 {
            return bad("inbound_queue_bytes", "inbound bounds must be positive");
        }
        if matches!(self.heartbeat_interval, Some(d) if d.is_zero())
            || self.heartbeat_timeout.is_zero()
        {
            return bad(
                "heartbeat_interval",
                "heartbeat times must be positive (None disables)",
            );
        }
        if self.io_thread_stack < 32 * 1024 {
            return bad("io_thread_stack", "must be at least 32 KiB");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_limits_are_not() {
        assert!(Options::default().validate().is_ok());
        let o = Options {
            max_connections: 0,
            ..Default::default()
        };
        assert!(matches!(
            o.validate(),
            Err(Error::InvalidOption {
                field: "max_connections",
                ..
            })
        ));
        let o = Options {
            heartbeat_interval: Some(Duration::ZERO),
            ..Default::default()
        };
        assert!(o.validate().is_err());
    }
}
