//! [`Transport`]: plain TCP or TLS over one NON-BLOCKING socket, dispatched in one place.
//!
//! Invariants:
//! - Only the connection's I/O thread holds the `Transport`; for TLS it is the only one that
//!   encrypts or decrypts. (Plain sockets are also written by senders, directly on the
//!   socket, under the connection's `out` lock: see `conn.rs`.)
//! - Every call returns `WouldBlock` instead of waiting; the caller waits in `poll(2)`.
//! - TLS plaintext handed to rustls is bounded by [`TLS_BATCH`] per flush round, and no new
//!   plaintext is handed over while encrypted records are still waiting for the socket, so
//!   rustls's buffers stay small whatever the queue holds.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use crate::outbound::Outbound;

/// Plaintext moved into rustls per flush round at most.
const TLS_BATCH: usize = 64 * 1024;

pub(crate) enum Transport {
    Plain,
    Tls(Box<rustls::ServerConnection>),
}

impl Transport {
    /// Reads application bytes. `Ok(0)`: the peer closed; `WouldBlock`: nothing yet. For TLS
    /// this also drives the TLS handshake (its records are written by [`Transport::write_pending`]).
    pub(crate) fn read(&mut self, sock: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        self.read_drained(sock, buf).map(|(n, _)| n)
    }

    /// [`Transport::read`], also saying whether this read drained the socket: the kernel had
    /// fewer bytes than asked for, and (TLS) no decrypted bytes are left over. Then the next
    /// read would only say `WouldBlock`, and the caller can wait in `poll(2)` at once
    /// (level-triggered: anything that arrived since is reported). `false` when unsure.
    pub(crate) fn read_drained(
        &mut self,
        sock: &TcpStream,
        buf: &mut [u8],
    ) -> io::Result<(usize, bool)> {
        match self {
            Transport::Plain => {
                let mut s = sock;
                let n = s.read(buf)?;
                Ok((n, n < buf.len()))
            }
            Transport::Tls(t) => {
                let mut eof = false;
                // Whether this call's socket read came back short (the socket is drained).
                let mut sock_drained = false;
                loop {
                    match t.reader().read(buf) {
                        // `wants_read`: no decrypted bytes left in rustls.
                        Ok(n) => return Ok((n, sock_drained && t.wants_read())),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((0, true)),
                        Err(e) => return Err(e),
                    }
                    if eof {
                        return Ok((0, true));
                    }
                    let mut s = ShortRead { sock, short: false };
                    let got = t.read_tls(&mut s);
                    sock_drained = s.short;
                    let mut s = sock;
                    match got {
                        Ok(0) => eof = true,
                        Ok(_) => {}
                        Err(e) => return Err(e),
                    }
                    if let Err(e) = t.process_new_packets() {
                        // Send the alert rustls queued, best effort, then fail.
                        let _ = t.write_tls(&mut s);
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                }
            }
        }
    }

    /// Whether encrypted records wait for the socket.
    pub(crate) fn wants_write(&self) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(t) => t.wants_write(),
        }
    }

    /// Whether the TLS handshake is still going on.
    pub(crate) fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(t) => t.is_handshaking(),
        }
    }

    /// Writes waiting TLS records until the socket would block.
    pub(crate) fn write_pending(&mut self, sock: &TcpStream) -> io::Result<()> {
        if let Transport::Tls(t) = self {
            let mut s = sock;
            while t.wants_write() {
                match t.write_tls(&mut s) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Moves the outbound queue to the socket until it would block. Returns true when the
    /// queue and the TLS records are all written.
    pub(crate) fn flush(&mut self, sock: &TcpStream, q: &mut Outbound) -> io::Result<bool> {
        match self {
            Transport::Plain => {
                let mut s = sock;
                q.flush(&mut s)
            }
            Transport::Tls(_) => loop {
                self.write_pending(sock)?;
                if self.wants_write() {
                    return Ok(false);
                }
                if q.is_empty() {
                    return Ok(true);
                }
                let Transport::Tls(t) = self else {
                    unreachable!()
                };
                let before = q.queued();
                let mut sink = TlsSink {
                    t,
                    budget: TLS_BATCH,
                };
                q.flush(&mut sink)?;
                if q.queued() == before && !self.wants_write() {
                    // rustls took nothing and has nothing to send (cannot happen after the
                    // handshake); wait rather than spin.
                    return Ok(false);
                }
            },
        }
    }

    /// Sends TLS close_notify (best effort; plain: nothing).
    pub(crate) fn send_close_notify(&mut self, sock: &TcpStream) {
        if let Transport::Tls(t) = self {
            t.send_close_notify();
            let _ = self.write_pending(sock);
        }
    }
}

/// Plaintext into rustls, at most `budget` bytes, then `WouldBlock`.
struct TlsSink<'a> {
    t: &'a mut rustls::ServerConnection,
    budget: usize,
}

impl Write for TlsSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.budget);
        let n = self.t.writer().write(&buf[..n])?;
        if n == 0 {
            // rustls's own buffer is full: wait for the socket.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.budget -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The socket as rustls reads it, noting whether the kernel gave fewer bytes than asked for.
struct ShortRead<'a> {
    sock: &'a TcpStream,
    short: bool,
}

impl Read for ShortRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&*self.sock).read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}
