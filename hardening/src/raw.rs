//! Hand-made bytes for the attacks: upgrade requests, masked client frames, a frame reader
//! that believes nothing it reads, and a small deterministic PRNG (so a failing seed can be
//! replayed).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A well-formed upgrade request for `path`.
pub fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A masked client frame (fixed mask key; the server must unmask it whatever it is).
pub fn masked_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 14);
    v.push(if fin { 0x80 } else { 0 } | opcode);
    match payload.len() {
        n if n < 126 => v.push(0x80 | n as u8),
        n if n <= 0xffff => {
            v.push(0x80 | 126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            v.push(0x80 | 127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = [0x37u8, 0xfa, 0x21, 0x3d];
    v.extend_from_slice(&key);
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    v
}

/// Reads an HTTP response head (up to the blank line, at most 64 KiB) before `deadline`.
/// Returns what arrived if the peer closes first.
pub fn read_http_head(s: &mut TcpStream, deadline: Instant) -> io::Result<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(_) => head.push(b[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                if head.is_empty() {
                    return Err(e);
                }
                break;
            }
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Connects to `port`, upgrades on `path` by hand and returns the socket (read timeout
/// `timeout`). Errors if the answer is not 101.
pub fn raw_upgrade(port: u16, path: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.write_all(upgrade_request(path).as_bytes())?;
    let head = read_http_head(&mut s, Instant::now() + timeout)?;
    if !head.starts_with("HTTP/1.1 101") {
        return Err(io::Error::other(format!("upgrade refused: {head:?}")));
    }
    s.set_read_timeout(Some(timeout))?;
    Ok(s)
}

/// Caps the kernel's receive buffer of `s` (`SO_RCVBUF`; Linux doubles the value and stops
/// autotuning it). An attacker that never reads uses this so that the server's outbound
/// rule, not the kernel's buffers (up to `tcp_rmem`'s 32 MiB here), takes its data.
pub fn set_recv_buffer(s: &TcpStream, bytes: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let v: libc::c_int = bytes.try_into().unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is owned by `s` and open for the duration of the call; the option
    // value points to a live `c_int` whose exact size is passed.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One server frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Reads one server frame; refuses masked frames and payloads over `max` (the server is
/// checked too).
pub fn read_frame(s: &mut TcpStream, max: usize) -> io::Result<Frame> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h)?;
    if h[1] & 0x80 != 0 {
        return Err(io::Error::other("the server sent a masked frame"));
    }
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    if len > max as u64 {
        return Err(io::Error::other(format!("server frame of {len} bytes")));
    }
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload)?;
    Ok(Frame {
        fin: h[0] & 0x80 != 0,
        opcode: h[0] & 0x0f,
        payload,
    })
}

/// The code of a close frame's payload (`None` when it has none).
pub fn close_code(payload: &[u8]) -> Option<u16> {
    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
}

/// xorshift64*: deterministic bytes from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator; seed 0 is replaced by a fixed non-zero value.
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        v.truncate(n);
        v
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_masked_and_sized() {
        let f = masked_frame(true, 1, b"hi");
        assert_eq!(f[0], 0x81);
        assert_eq!(f[1], 0x82);
        assert_eq!(f.len(), 2 + 4 + 2);
        let f = masked_frame(false, 0, &[0u8; 1024]);
        assert_eq!((f[0], f[1]), (0x00, 0x80 | 126));
        assert_eq!(u16::from_be_bytes([f[2], f[3]]), 1024);
        assert_eq!(close_code(&[0x03, 0xf1]), Some(1009));
        assert_eq!(close_code(&[]), None);
    }

    #[test]
    fn the_rng_is_deterministic() {
        assert_eq!(Rng::new(7).bytes(33), Rng::new(7).bytes(33));
        assert_ne!(Rng::new(7).bytes(33), Rng::new(8).bytes(33));
    }
}
