//! A small WebSocket client (RFC 6455) for the load generator.
//!
//! Two layers, as in the product's `ws` crate: a sans-IO codec (`handshake_request`,
//! `parse_handshake_response`, `encode_frame`, `decode_header`) that touches no socket, and
//! [`Client`], which owns one stream (plain TCP or TLS) and is driven by one task. The client
//! keeps one read buffer and one write buffer per connection and returns received payloads
//! as slices of its read buffer, so a round trip allocates nothing once warm.
//!
//! Limits: a handshake response is at most [`MAX_HANDSHAKE`] bytes; a message is at most
//! [`MAX_MESSAGE`] bytes (checked against the header before the buffer grows).

use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest handshake response we accept.
pub const MAX_HANDSHAKE: usize = 16 * 1024;
/// Largest message we accept (the benchmark sends at most 16 KiB).
pub const MAX_MESSAGE: usize = 1 << 20;

/// Opcodes (RFC 6455 §5.2).
pub mod op {
    pub const CONT: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// Any sample key works: the client does not check `Sec-WebSocket-Accept`.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The upgrade request for `path` on `host`.
pub fn handshake_request(host: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Looks for a complete response head in `buf`. `Ok(Some(n))`: status 101 and the head is
/// `n` bytes long (bytes after it are frames). `Ok(None)`: need more bytes.
pub fn parse_handshake_response(buf: &[u8]) -> io::Result<Option<usize>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HANDSHAKE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "handshake response too long",
            ));
        }
        return Ok(None);
    };
    let status_line = buf[..end].split(|&b| b == b'\n').next().unwrap_or(b"");
    let mut words = status_line.split(|&b| b == b' ');
    let _version = words.next();
    if words.next() != Some(b"101") {
        let line = String::from_utf8_lossy(status_line).trim_end().to_string();
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("upgrade refused: {line}"),
        ));
    }
    Ok(Some(end + 4))
}

/// Appends one client frame (FIN set, masked with `mask`) to `out`.
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | (opcode & 0x0F));
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// XORs `data` with the repeating 4-byte `mask` (RFC 6455 §5.3), a word at a time.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let m8 = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ m8;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    /// Header length in bytes.
    pub header_len: usize,
    /// Payload length in bytes (already checked against [`MAX_MESSAGE`]).
    pub payload_len: usize,
}

/// Decodes the header at the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn decode_header(buf: &[u8]) -> io::Result<Option<Header>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut pos) = match buf[1] & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (n as u64, 2),
    };
    if len > MAX_MESSAGE as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes over the {MAX_MESSAGE}-byte limit"),
        ));
    }
    let mask = if masked {
        if buf.len() < pos + 4 {
            return Ok(None);
        }
        let m = [buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]];
        pos += 4;
        Some(m)
    } else {
        None
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask,
        header_len: pos,
        payload_len: len as usize,
    }))
}

/// What [`Client::recv`] returns.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A complete data message: opcode (text or binary) and payload.
    Message(u8, &'a [u8]),
    /// The server's close frame (its code, 1005 when absent).
    Close(u16),
}

/// One client connection over `S` (a `TcpStream` or a TLS stream).
pub struct Client<S> {
    stream: S,
    rbuf: Vec<u8>,
    /// Unconsumed bytes are `rbuf[rpos..rlen]`.
    rpos: usize,
    rlen: usize,
    /// Bytes of the message returned last, consumed at the next `recv`.
    pending_consume: usize,
    /// Fragments of a message in progress (rarely used: servers do not fragment echoes).
    frag: Vec<u8>,
    frag_opcode: Option<u8>,
    wbuf: Vec<u8>,
    rng: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Runs the opening handshake for `path` on an connected stream.
    pub async fn handshake(mut stream: S, host: &str, path: &str, seed: u64) -> io::Result<Self> {
        stream.write_all(&handshake_request(host, path)).await?;
        let mut rbuf = vec![0u8; 32 * 1024];
        let mut rlen = 0;
        let head = loop {
            if let Some(n) = parse_handshake_response(&rbuf[..rlen])? {
                break n;
            }
            if rlen == rbuf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "handshake response too long",
                ));
            }
            let n = stream.read(&mut rbuf[rlen..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            rlen += n;
        };
        Ok(Client {
            stream,
            rbuf,
            rpos: head,
            rlen,
            pending_consume: 0,
            frag: Vec::new(),
            frag_opcode: None,
            wbuf: Vec::with_capacity(256),
            rng: seed | 1,
        })
    }

    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift64: masks need not be secret here, only varying.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng as u32).to_ne_bytes()
    }

    /// Sends one frame with `opcode` and `payload` (one write).
    pub async fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let mask = self.next_mask();
        self.wbuf.clear();
        encode_frame(&mut self.wbuf, opcode, payload, mask);
        self.stream.write_all(&self.wbuf).await
    }

    /// Sends a close frame with `code`.
    pub async fn send_close(&mut self, code: u16) -> io::Result<()> {
        self.send(op::CLOSE, &code.to_be_bytes()).await
    }

    /// Reads more bytes into the read buffer, making room for at least `need` unconsumed
    /// bytes. EOF is an `UnexpectedEof` error.
    async fn fill(&mut self, need: usize) -> io::Result<()> {
        if self.rpos == self.rlen {
            self.rpos = 0;
            self.rlen = 0;
        }
        if self.rpos + need > self.rbuf.len() {
            self.rbuf.copy_within(self.rpos..self.rlen, 0);
            self.rlen -= self.rpos;
            self.rpos = 0;
            if need > self.rbuf.len() {
                self.rbuf.resize(need, 0);
            }
        }
        let n = self.stream.read(&mut self.rbuf[self.rlen..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.rlen += n;
        Ok(())
    }

    /// Receives the next data message or the server's close. Pings are answered, pongs
    /// skipped, fragments reassembled. The returned slice lives until the next call.
    pub async fn recv(&mut self) -> io::Result<Incoming<'_>> {
        self.rpos += std::mem::take(&mut self.pending_consume);
        loop {
            let avail = &self.rbuf[self.rpos..self.rlen];
            let Some(h) = decode_header(avail)? else {
                self.fill(14).await?;
                continue;
            };
            let total = h.header_len + h.payload_len;
            if avail.len() < total {
                self.fill(total).await?;
                continue;
            }
            let start = self.rpos + h.header_len;
            let end = self.rpos + total;
            if let Some(m) = h.mask {
                apply_mask(&mut self.rbuf[start..end], m);
            }
            match h.opcode {
                op::PING => {
                    let payload = self.rbuf[start..end].to_vec();
                    self.rpos = end;
                    self.send(op::PONG, &payload).await?;
                }
                op::PONG => self.rpos = end,
                op::CLOSE => {
                    let p = &self.rbuf[start..end];
                    let code = if p.len() >= 2 {
                        u16::from_be_bytes([p[0], p[1]])
                    } else {
                        1005
                    };
                    self.rpos = end;
                    return Ok(Incoming::Close(code));
                }
                op::TEXT | op::BINARY if h.fin && self.frag_opcode.is_none() => {
                    self.pending_consume = total;
                    return Ok(Incoming::Message(h.opcode, &self.rbuf[start..end]));
                }
                op::TEXT | op::BINARY | op::CONT => {
                    if h.opcode != op::CONT {
                        if self.frag_opcode.is_some() {
                            return Err(bad_frame("new message inside a fragmented one"));
                        }
                        self.frag_opcode = Some(h.opcode);
                        self.frag.clear();
                    } else if self.frag_opcode.is_none() {
                        return Err(bad_frame("continuation without a start"));
                    }
                    if self.frag.len() + h.payload_len > MAX_MESSAGE {
                        return Err(bad_frame("fragmented message over the limit"));
                    }
                    self.frag.extend_from_slice(&self.rbuf[start..end]);
                    self.rpos = end;
                    if h.fin {
                        let opcode = self.frag_opcode.take().unwrap_or(op::BINARY);
                        return Ok(Incoming::Message(opcode, &self.frag));
                    }
                }
                other => return Err(bad_frame(&format!("reserved opcode {other:#x}"))),
            }
        }
    }

    /// Runs the closing handshake: sends 1000 and reads until the server's close or EOF.
    /// The caller bounds it in time.
    pub async fn close(mut self) -> io::Result<()> {
        self.send_close(1000).await?;
        loop {
            match self.recv().await {
                Ok(Incoming::Close(_)) => break,
                Ok(Incoming::Message(..)) => continue,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
        }
        self.stream.shutdown().await.ok();
        Ok(())
    }
}

fn bad_frame(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_parsing() {
        assert_eq!(parse_handshake_response(b"HTTP/1.1 101 Sw").unwrap(), None);
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00";
        assert_eq!(parse_handshake_response(ok).unwrap(), Some(ok.len() - 2));
        let e = parse_handshake_response(b"HTTP/1.1 503 Busy\r\n\r\n").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert!(parse_handshake_response(&[b'a'; MAX_HANDSHAKE + 1]).is_err());
    }

    #[test]
    fn encode_then_decode_roundtrip() {
        for n in [0usize, 5, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_frame(&mut out, op::BINARY, &payload, [1, 2, 3, 4]);
            let h = decode_header(&out).unwrap().unwrap();
            assert!(h.fin);
            assert_eq!(h.opcode, op::BINARY);
            assert_eq!(h.mask, Some([1, 2, 3, 4]));
            assert_eq!(h.payload_len, n);
            let body = &mut out[h.header_len..];
            apply_mask(body, [1, 2, 3, 4]);
            assert_eq!(body, &payload[..]);
            // A truncated header asks for more bytes.
            assert_eq!(decode_header(&out[..h.header_len - 1]).unwrap(), None);
        }
    }

    #[test]
    fn literal_server_frame() {
        // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
        let f = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let h = decode_header(&f).unwrap().unwrap();
        assert_eq!(
            (h.fin, h.opcode, h.mask, h.header_len, h.payload_len),
            (true, 1, None, 2, 5)
        );
    }

    #[test]
    fn oversized_frame_rejected_before_allocating() {
        let mut f = vec![0x82, 127];
        f.extend_from_slice(&(u64::MAX).to_be_bytes());
        assert!(decode_header(&f).is_err());
    }

    #[test]
    fn mask_matches_bytewise() {
        let data: Vec<u8> = (0..37).collect();
        let mut a = data.clone();
        apply_mask(&mut a, [9, 8, 7, 6]);
        let b: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, x)| x ^ [9, 8, 7, 6][i % 4])
            .collect();
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn client_over_a_duplex_pipe() {
        let (a, mut server) = tokio::io::duplex(4096);
        let srv = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut got = 0;
            while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                got += server.read(&mut buf[got..]).await.unwrap();
            }
            // 101, then a ping, a fragmented text "ab"+"c", and a close 1001.
            let mut out = b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec();
            out.extend_from_slice(&[0x89, 0x01, b'p']);
            out.extend_from_slice(&[0x01, 0x02, b'a', b'b', 0x80, 0x01, b'c']);
            out.extend_from_slice(&[0x88, 0x02, 0x03, 0xE9]);
            server.write_all(&out).await.unwrap();
            // The client's pong arrives, masked.
            let mut pong = [0u8; 7];
            server.read_exact(&mut pong).await.unwrap();
            assert_eq!(pong[0], 0x8A);
            assert_eq!(pong[1], 0x81);
            server
        });
        let mut c = Client::handshake(a, "x", "/", 7).await.unwrap();
        assert_eq!(c.recv().await.unwrap(), Incoming::Message(op::TEXT, b"abc"));
        assert_eq!(c.recv().await.unwrap(), Incoming::Close(1001));
        drop(srv.await.unwrap());
    }
}
