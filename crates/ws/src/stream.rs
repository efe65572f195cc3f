//! `WsStream`: one byte stream over plain TCP or TLS (rustls, server or client side), shared by
//! one reader and any number of writers through `&WsStream`.
//!
//! # Design
//!
//! `Read` and `Write` are implemented once, for `&WsStream`, so the reader thread and writer
//! threads of the bridge share one `Arc<WsStream>` without wrapping it in a lock.
//!
//! * **Plain**: `&TcpStream` is already `Read + Write`; the kernel serialises the calls.
//! * **TLS**: two locks, always taken in this order when both are needed: `out` (ciphertext
//!   waiting to be written, and the right to write to the socket) then `tls` (the rustls state).
//!   - *Reader*: takes `tls` only briefly, to hand out decrypted bytes or to feed ciphertext.
//!     The socket read itself happens with **no lock held**, into a local buffer; only then is
//!     `tls` locked to feed rustls. So a reader blocked in `read(2)` never holds anything a
//!     writer needs. Ciphertext rustls cannot take yet (its plaintext buffer is full) waits in
//!     `pending_in` and is fed before the socket is read again.
//!   - *Writer*: takes `out`, then `tls` briefly to encrypt into `out`, releases `tls`, and
//!     writes `out` to the socket. Holding `out` across the socket write keeps TLS records in
//!     sequence order (they must reach the peer in the order rustls numbered them); it only ever
//!     makes *writers* wait for each other, never for the reader. On a non-blocking socket the
//!     write stops at `WouldBlock` and the rest stays in `out`: [`WsStream::wants_write`] is then
//!     true, the owner waits for `POLLOUT` and calls [`WsStream::flush_pending`]. A new write
//!     with ciphertext still pending first tries to flush it and returns `WouldBlock` if it
//!     cannot, so at most one write's worth of ciphertext is ever buffered.
//!   - rustls may need to send while reading (handshake messages, alerts, key updates): the
//!     reader flushes them after releasing `tls` (taking `out` then `tls`, like a writer).
//!   - The TLS handshake is driven by reads (so it works on non-blocking sockets under the
//!     owner's deadline: the poll loop's reads complete it, and a write before that returns
//!     `WouldBlock` once rustls' early-data buffer is full). Only one thread may read at a
//!     time (ciphertext must be fed in the order it arrived), so a writer never reads to drive
//!     the handshake. **Contract for blocking sockets:** call
//!     [`WsStream::complete_handshake`] before sharing the stream between threads (the
//!     [`crate::Client`] does).
//!
//! Timeouts surface as `io::ErrorKind::{WouldBlock, TimedOut}` and lose no data: ciphertext
//! already read stays in rustls, so the next read resumes where this one stopped.
//!
//! # Bounds (what a connection keeps)
//!
//! * One write hands rustls at most `TLS_WRITE_BATCH` (64 KiB) of plaintext (a vectored write
//!   of many frames included), so `out` holds at most one batch's ciphertext, and rustls'
//!   own buffers stay small whatever the caller has queued.
//! * `out` gives its allocation back once written out, so an idle connection keeps no
//!   ciphertext buffer. The reader reads ciphertext into the caller's buffer when that holds at
//!   least `DIRECT_READ_MIN` (4 KiB; rustls copies it before the plaintext is written there),
//!   else into a local on its stack (`TLS_READ_CHUNK`, 18 KiB): a thread that reads TLS with
//!   small buffers needs that much stack more.
//!
//! # EOF
//!
//! The peer's `close_notify` reads as `Ok(0)`. A TLS peer that closes TCP without it reads as
//! `Err(UnexpectedEof)` (a truncation rustls cannot rule out); a caller that treats both as
//! the end of the stream may map one to the other.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls_pki_types::ServerName;

use crate::error::Error;

/// Size of the reader's local ciphertext buffer (on its stack), used when the caller's buffer
/// is smaller than [`DIRECT_READ_MIN`]: one full TLS record plus overhead.
const TLS_READ_CHUNK: usize = 16 * 1024 + 2048;
/// A read buffer at least this large also takes the ciphertext read from the socket.
const DIRECT_READ_MIN: usize = 4 * 1024;
/// Plaintext handed to rustls per write at most (the rest of the caller's buffers is left for
/// its next write), so one write buffers at most this much ciphertext (plus record overhead).
const TLS_WRITE_BATCH: usize = 64 * 1024;

/// A WebSocket transport: plain TCP or TLS. Use it through `&WsStream` (`Read + Write`).
#[derive(Debug)]
#[non_exhaustive]
pub enum WsStream {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    Tls(TlsStream),
}

/// The TLS half of [`WsStream`]: a socket and the rustls state. See the module doc.
pub struct TlsStream {
    sock: TcpStream,
    /// Lock order: `out` before `tls`.
    out: Mutex<Vec<u8>>,
    /// Boxed: rustls' state is large and `WsStream::Plain` should stay small.
    tls: Mutex<Box<TlsState>>,
}

struct TlsState {
    conn: rustls::Connection,
    /// Ciphertext read from the socket that rustls could not take yet.
    pending_in: Vec<u8>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves rustls' state as consistent as rustls left it;
    // the next operation reports any error, so poisoning is not propagated.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl WsStream {
    /// A plain TCP stream.
    pub fn plain(sock: TcpStream) -> WsStream {
        WsStream::Plain(sock)
    }

    /// The server side of TLS on an accepted socket (handshake driven by the first reads).
    pub fn tls_server(
        sock: TcpStream,
        config: Arc<rustls::ServerConfig>,
    ) -> Result<WsStream, Error> {
        let conn = rustls::ServerConnection::new(config)?;
        Ok(WsStream::Tls(TlsStream::new(sock, conn.into())))
    }

    /// The client side of TLS; `server_name` is checked against the certificate (a DNS name or
    /// an IP address).
    pub fn tls_client(
        sock: TcpStream,
        config: Arc<rustls::ClientConfig>,
        server_name: &str,
    ) -> Result<WsStream, Error> {
        let name = ServerName::try_from(server_name.to_owned()).map_err(|_| Error::InvalidUrl {
            url: server_name.to_owned(),
            reason: "not a valid TLS server name",
        })?;
        let conn = rustls::ClientConnection::new(config, name)?;
        Ok(WsStream::Tls(TlsStream::new(sock, conn.into())))
    }

    /// The underlying socket.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            WsStream::Plain(s) => s,
            WsStream::Tls(t) => &t.sock,
        }
    }

    /// Switches the socket to non-blocking mode (the bridge's `poll(2)` loop).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.tcp().set_nonblocking(on)
    }

    /// Read timeout of a blocking socket (`None`: wait forever).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(t)
    }

    /// Write timeout of a blocking socket (`None`: wait forever).
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(t)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// Our address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    /// True when TLS ciphertext waits to be written (add `POLLOUT` interest and call
    /// [`WsStream::flush_pending`]). Always false for plain TCP.
    pub fn wants_write(&self) -> bool {
        match self {
            WsStream::Plain(_) => false,
            WsStream::Tls(t) => t.wants_write(),
        }
    }

    /// Writes pending TLS ciphertext; `WouldBlock` if the socket cannot take all of it yet.
    /// A no-op for plain TCP.
    pub fn flush_pending(&self) -> io::Result<()> {
        match self {
            WsStream::Plain(_) => Ok(()),
            WsStream::Tls(t) => t.flush_pending(),
        }
    }

    /// [`Read::read`], also saying whether this read drained the socket: the kernel had fewer
    /// bytes than asked for and (TLS) rustls holds no more plaintext nor ciphertext not yet
    /// fed. Then a next read would only say `WouldBlock`, and a non-blocking owner can wait in
    /// `poll(2)` at once (level-triggered: anything that arrived since is reported). `false`
    /// when unsure. Errors and EOF as [`Read::read`].
    pub fn read_drained(&self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        match self {
            WsStream::Plain(s) => {
                let n = (&*s).read(buf)?;
                Ok((n, n < buf.len()))
            }
            WsStream::Tls(t) => t.read_drained(buf),
        }
    }

    /// True while the TLS handshake is in progress (always false for plain TCP).
    pub fn is_handshaking(&self) -> bool {
        match self {
            WsStream::Plain(_) => false,
            WsStream::Tls(t) => lock(&t.tls).conn.is_handshaking(),
        }
    }

    /// Drives the TLS handshake to its end on a blocking socket (its timeouts apply).
    pub fn complete_handshake(&self) -> io::Result<()> {
        match self {
            WsStream::Plain(_) => Ok(()),
            WsStream::Tls(t) => t.complete_handshake(),
        }
    }

    /// Shuts the socket down; for TLS with `Write`/`Both`, first sends `close_notify`
    /// (best effort: a full non-blocking socket does not delay the shutdown).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if let WsStream::Tls(t) = self {
            if how != Shutdown::Read {
                lock(&t.tls).conn.send_close_notify();
                if let Err(e) = t.flush_pending() {
                    log::debug!("close_notify not flushed: {e}");
                }
            }
        }
        match self.tcp().shutdown(how) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }
}

impl AsRawFd for WsStream {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp().as_raw_fd()
    }
}

impl Read for &WsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match *self {
            WsStream::Plain(s) => (&*s).read(buf),
            WsStream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for &WsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match *self {
            WsStream::Plain(s) => (&*s).write(buf),
            WsStream::Tls(t) => t.write_vectored(&[IoSlice::new(buf)]),
        }
    }

    /// Plain: one `writev(2)`. TLS: up to 64 KiB (`TLS_WRITE_BATCH`) of the buffers are
    /// encrypted (one record per buffer at least) and written like [`Write::write`].
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match *self {
            WsStream::Plain(s) => (&*s).write_vectored(bufs),
            WsStream::Tls(t) => t.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match *self {
            WsStream::Plain(s) => (&*s).flush(),
            WsStream::Tls(t) => t.flush_pending(),
        }
    }
}

impl Read for WsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for WsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl TlsState {
    /// Feeds ciphertext to rustls and processes it; keeps what rustls cannot take yet.
    fn feed(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match self.conn.read_tls(&mut data) {
                // close_notify already received: nothing more is read.
                Ok(0) => break,
                Ok(_) => {}
                // Only "plaintext buffer full" can fail a read from a slice: keep the rest.
                Err(_) => {
                    self.pending_in.extend_from_slice(data);
                    break;
                }
            }
            self.conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        Ok(())
    }
}

impl TlsStream {
    fn new(sock: TcpStream, conn: rustls::Connection) -> TlsStream {
        TlsStream {
            sock,
            out: Mutex::new(Vec::new()),
            tls: Mutex::new(Box::new(TlsState {
                conn,
                pending_in: Vec::new(),
            })),
        }
    }

    fn wants_write(&self) -> bool {
        if !lock(&self.out).is_empty() {
            return true;
        }
        lock(&self.tls).conn.wants_write()
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_drained(buf).map(|(n, _)| n)
    }

    fn read_drained(&self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        if buf.is_empty() {
            return Ok((0, false));
        }
        let mut seen_eof = false;
        // Whether this call's last socket read came back short (the kernel had no more).
        let mut sock_short = false;
        loop {
            let must_flush = {
                let mut st = lock(&self.tls);
                match st.conn.reader().read(buf) {
                    // 0: the peer sent close_notify (clean EOF). `wants_read`: rustls holds
                    // no decrypted bytes.
                    Ok(n) => {
                        let drained =
                            sock_short && st.pending_in.is_empty() && st.conn.wants_read();
                        return Ok((n, drained));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                if !st.pending_in.is_empty() {
                    let pending = std::mem::take(&mut st.pending_in);
                    let fed = st.feed(&pending);
                    let flush = st.conn.wants_write();
                    drop(st);
                    if flush {
                        self.flush_best_effort()?;
                    }
                    fed?;
                    continue;
                }
                if seen_eof {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                st.conn.wants_write()
            };
            if must_flush {
                self.flush_best_effort()?;
            }
            // The socket read: no lock held. A large enough `buf` takes the ciphertext itself
            // (rustls copies it, then `buf` is free for the plaintext): no other buffer.
            let (n, short, fed) = if buf.len() >= DIRECT_READ_MIN {
                self.read_and_feed(buf)?
            } else {
                self.read_and_feed_local()?
            };
            sock_short = short;
            seen_eof = n == 0;
            if let Err(e) = fed {
                // Let rustls' alert reach the peer before reporting the error.
                let _ = self.flush_pending();
                return Err(e);
            }
        }
    }

    /// One socket read into `into` (no lock held), then the ciphertext is fed to rustls.
    /// Returns the bytes read, whether that was fewer than asked, and the feeding's result.
    fn read_and_feed(&self, into: &mut [u8]) -> io::Result<(usize, bool, io::Result<()>)> {
        let n = loop {
            match (&self.sock).read(into) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        let mut st = lock(&self.tls);
        let fed = if n == 0 {
            st.conn.read_tls(&mut io::empty()).map(|_| ())
        } else {
            st.feed(&into[..n])
        };
        Ok((n, n < into.len(), fed))
    }

    /// [`TlsStream::read_and_feed`] through a local buffer, for callers with a small `buf`.
    /// Its own frame, so that only such reads put `TLS_READ_CHUNK` on the stack.
    #[inline(never)]
    fn read_and_feed_local(&self) -> io::Result<(usize, bool, io::Result<()>)> {
        let mut local = [0u8; TLS_READ_CHUNK];
        self.read_and_feed(&mut local)
    }

    /// Flushes what rustls wants to send; `WouldBlock` just leaves it pending.
    fn flush_best_effort(&self) -> io::Result<()> {
        match self.flush_pending() {
            Err(e) if is_retry(&e) => Ok(()),
            r => r,
        }
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // At most `TLS_WRITE_BATCH` bytes of plaintext per write.
        let mut batch: [IoSlice<'_>; MAX_SLICES] = [IoSlice::new(&[]); MAX_SLICES];
        let (mut k, mut total) = (0, 0);
        for b in bufs.iter().filter(|b| !b.is_empty()) {
            if k == MAX_SLICES || total == TLS_WRITE_BATCH {
                break;
            }
            let take = b.len().min(TLS_WRITE_BATCH - total);
            batch[k] = IoSlice::new(&b[..take]);
            k += 1;
            total += take;
        }
        let batch = &batch[..k];
        let mut out = lock(&self.out);
        // Back-pressure: ciphertext from an earlier write goes first.
        self.write_out(&mut out)?;
        let n = {
            let mut st = lock(&self.tls);
            let n = st.conn.writer().write_vectored(batch)?;
            drain(&mut st.conn, &mut out)?;
            n
        };
        if n == 0 && total > 0 {
            // rustls' buffer is full (handshake not finished yet): retry later.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.write_out(&mut out) {
            // The plaintext was accepted; its ciphertext waits in `out` (see `wants_write`).
            Err(e) if is_retry(&e) => Ok(n),
            Err(e) => Err(e),
            Ok(()) => Ok(n),
        }
    }

    fn flush_pending(&self) -> io::Result<()> {
        let mut out = lock(&self.out);
        drain(&mut lock(&self.tls).conn, &mut out)?;
        self.write_out(&mut out)
    }

    /// Writes `out` to the socket until it is empty or the socket refuses (`out` keeps the rest).
    fn write_out(&self, out: &mut Vec<u8>) -> io::Result<()> {
        let mut written = 0;
        let result = loop {
            if written == out.len() {
                break Ok(());
            }
            match (&self.sock).write(&out[written..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => written += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        out.drain(..written);
        if out.is_empty() && out.capacity() > 0 {
            // An idle connection keeps no ciphertext buffer (the allocator's per-thread cache
            // makes the next write's allocation cheap).
            *out = Vec::new();
        }
        result
    }

    fn complete_handshake(&self) -> io::Result<()> {
        loop {
            self.flush_pending()?;
            if !lock(&self.tls).conn.is_handshaking() {
                return Ok(());
            }
            let mut local = [0u8; TLS_READ_CHUNK];
            let n = match (&self.sock).read(&mut local) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r?,
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed during the TLS handshake",
                ));
            }
            let fed = lock(&self.tls).feed(&local[..n]);
            if let Err(e) = fed {
                let _ = self.flush_pending();
                return Err(e);
            }
        }
    }
}

/// Buffers one write hands rustls at most (each becomes one record at least).
const MAX_SLICES: usize = 64;

fn drain(conn: &mut rustls::Connection, out: &mut Vec<u8>) -> io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(out)?;
    }
    Ok(())
}
