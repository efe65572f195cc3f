//! Frame layout (RFC 6455 §5.2), masking, and encoding.
//!
//! Encoding produces one contiguous buffer (header + payload) so a single `write` sends a whole
//! frame, and the buffer can be shared (`Arc<[u8]>`) by a broadcast that writes the same bytes to
//! many sockets. Server frames are unmasked; client frames are masked with a fresh random key
//! (RFC 6455 §5.3). Nothing here allocates more than the frame it encodes.
//!
//! A server that sends one frame to one socket can skip that copy: [`OutFrame`] keeps the header
//! on the stack and writes header and payload with one vectored write.

use std::io::{self, IoSlice, Write};

/// Which side of the connection we are: decides masking in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// We accepted the connection: we send unmasked frames and require masked ones.
    Server,
    /// We opened the connection: we send masked frames and require unmasked ones.
    Client,
}

/// Frame opcodes (RFC 6455 §5.2). Unknown opcodes never reach this type: they fail with 1002.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    /// The 4-bit wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Parses the 4-bit wire value; `None` for reserved opcodes (3-7, B-F).
    pub fn from_u8(v: u8) -> Option<Opcode> {
        Some(match v {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// Close, ping and pong (RFC 6455 §5.5: opcodes with the high bit set).
    pub fn is_control(self) -> bool {
        self.to_u8() & 0x8 != 0
    }
}

/// Longest possible frame header: 2 + 8 (64-bit length) + 4 (mask key).
pub(crate) const MAX_HEADER_LEN: usize = 14;

/// A parsed frame header. `len` is the payload length as declared (checked against limits by
/// the caller before any payload is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub fin: bool,
    /// RSV1..3 as the low three bits.
    pub rsv: u8,
    /// Raw 4-bit opcode (validated by the caller so the error can name it).
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
}

/// How many header bytes a frame needs, given at least its first two bytes.
pub(crate) fn header_len(first_two: [u8; 2]) -> usize {
    let masked = first_two[1] & 0x80 != 0;
    let ext = match first_two[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if masked { 4 } else { 0 }
}

/// Parses a complete header (`buf.len() == header_len(..)`). Only the 64-bit top bit is checked
/// here; every other rule is the caller's, so the error can depend on role and state.
pub(crate) fn parse_header(buf: &[u8]) -> Result<FrameHeader, crate::Error> {
    let b0 = buf[0];
    let b1 = buf[1];
    let (len, mut at) = match b1 & 0x7F {
        126 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 => {
            let mut w = [0u8; 8];
            w.copy_from_slice(&buf[2..10]);
            let len = u64::from_be_bytes(w);
            // RFC 6455 §5.2: "the most significant bit MUST be 0" for the 64-bit length.
            if len >> 63 != 0 {
                return Err(crate::Error::Protocol {
                    reason: "64-bit length with the top bit set",
                });
            }
            (len, 10)
        }
        n => (u64::from(n), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let k = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        Some(k)
    } else {
        None
    };
    debug_assert_eq!(at, buf.len());
    Ok(FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x7,
        opcode: b0 & 0x0F,
        mask,
        len,
    })
}

/// The key rotated to start at byte `phase` and repeated over 64 bytes: byte `i` of a block
/// that starts at a multiple of 4 from the phase point is XORed with `pattern[i]`.
fn mask_pattern(key: [u8; 4], phase: usize) -> [u8; 64] {
    let mut p = [0u8; 64];
    for (i, b) in p.iter_mut().enumerate() {
        *b = key[(phase + i) & 3];
    }
    p
}

/// XORs `buf` with the mask `key`, starting at byte `phase` of the key (so a payload that arrives
/// in pieces is unmasked correctly piece by piece). Works on 64-byte blocks that the compiler
/// vectorises; with AVX2 (detected at run time) 32 bytes per instruction.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let pattern = mask_pattern(key, phase);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above; that is the only requirement of
        // a `#[target_feature(enable = "avx2")]` function.
        unsafe { mask_in_place_avx2(buf, &pattern) };
        return;
    }
    mask_in_place(buf, &pattern);
}

#[inline(always)]
fn mask_in_place(buf: &mut [u8], pattern: &[u8; 64]) {
    let mut blocks = buf.chunks_exact_mut(64);
    for block in &mut blocks {
        for (b, m) in block.iter_mut().zip(pattern) {
            *b ^= m;
        }
    }
    // The remainder starts at a multiple of 64 (hence of 4): the pattern is still in phase.
    for (b, m) in blocks.into_remainder().iter_mut().zip(pattern) {
        *b ^= m;
    }
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn mask_in_place_avx2(buf: &mut [u8], pattern: &[u8; 64]) {
    mask_in_place(buf, pattern)
}

/// Appends `src` XOR the mask to `dst` in one pass (copy and unmask fused), starting at byte
/// `phase` of the key.
pub(crate) fn extend_unmasked(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4], phase: usize) {
    let pattern = mask_pattern(key, phase);
    dst.reserve(src.len());
    let start = dst.len();
    let spare = &mut dst.spare_capacity_mut()[..src.len()];
    #[cfg(target_arch = "x86_64")]
    let done = if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { mask_copy_avx2(spare, src, &pattern) };
        true
    } else {
        false
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = false;
    if !done {
        mask_copy(spare, src, &pattern);
    }
    // SAFETY: `spare` has exactly `src.len()` elements (reserved above) and `mask_copy` writes
    // every element of its destination (see there), so `start + src.len()` elements are
    // initialised and within capacity.
    unsafe { dst.set_len(start + src.len()) };
}

/// Writes `src[i] ^ pattern[i % 64]` to every `dst[i]` (`dst.len() == src.len()`).
#[inline(always)]
fn mask_copy(dst: &mut [std::mem::MaybeUninit<u8>], src: &[u8], pattern: &[u8; 64]) {
    debug_assert_eq!(dst.len(), src.len());
    let mut d = dst.chunks_exact_mut(64);
    let mut s = src.chunks_exact(64);
    for (dc, sc) in (&mut d).zip(&mut s) {
        let mut tmp = [0u8; 64];
        for ((t, x), m) in tmp.iter_mut().zip(sc).zip(pattern) {
            *t = x ^ m;
        }
        for (o, t) in dc.iter_mut().zip(tmp) {
            o.write(t);
        }
    }
    for ((o, x), m) in d
        .into_remainder()
        .iter_mut()
        .zip(s.remainder())
        .zip(pattern)
    {
        o.write(x ^ m);
    }
}

/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn mask_copy_avx2(dst: &mut [std::mem::MaybeUninit<u8>], src: &[u8], pattern: &[u8; 64]) {
    mask_copy(dst, src, pattern)
}

/// Writes a frame header (RFC 6455 §5.2) into `buf` and returns its length (2 to 14 bytes).
fn write_header(
    buf: &mut [u8; MAX_HEADER_LEN],
    opcode: Opcode,
    fin: bool,
    len: usize,
    mask: Option<[u8; 4]>,
) -> usize {
    buf[0] = if fin { 0x80 } else { 0 } | opcode.to_u8();
    let mbit = if mask.is_some() { 0x80 } else { 0 };
    // RFC 6455 §5.2: 7-bit length up to 125, 126 + 16-bit length, 127 + 64-bit length.
    let mut at = if len < 126 {
        buf[1] = mbit | len as u8;
        2
    } else if len <= 0xFFFF {
        buf[1] = mbit | 126;
        buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        buf[1] = mbit | 127;
        buf[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(key) = mask {
        buf[at..at + 4].copy_from_slice(&key);
        at += 4;
    }
    at
}

/// Appends one frame to `out`: header and payload in one buffer. Client frames are masked with a
/// fresh random key. Control-frame rules (≤ 125 bytes, FIN set) are the caller's; the crate's
/// own callers never break them.
pub fn encode_into(role: Role, opcode: Opcode, fin: bool, payload: &[u8], out: &mut Vec<u8>) {
    // RFC 6455 §5.3: a client masks every frame with a fresh key; a server never masks.
    let key = (role == Role::Client).then(random_mask);
    let mut header = [0u8; MAX_HEADER_LEN];
    let header_len = write_header(&mut header, opcode, fin, payload.len(), key);
    out.reserve(header_len + payload.len());
    out.extend_from_slice(&header[..header_len]);
    match key {
        // Masking is an XOR, so the fused copy+unmask also masks.
        Some(key) => extend_unmasked(out, payload, key, 0),
        None => out.extend_from_slice(payload),
    }
}

/// One unmasked frame (the server role) to be written without copying its payload in user
/// space: the header (2 to 10 bytes) is encoded on the stack, and [`OutFrame::write_to`] hands
/// header and payload to the writer together as a vectored write (`writev(2)` on a
/// `TcpStream`), so they go out in one system call in the common case. The payload is any
/// `AsRef<[u8]>`: a borrowed slice, an owned `Vec<u8>`, or an `Arc<[u8]>` shared by every
/// member of a broadcast (each member gets its own 2-10 header bytes and its own progress).
///
/// Writes are resumable: a partial write or an error such as `WouldBlock` keeps what was
/// written, and the next `write_to` continues from there. Client frames must be masked, which
/// needs a copy anyway: use [`encode_into`] for them. Control-frame rules (≤ 125 bytes, FIN set)
/// are the caller's, as for [`encode_into`].
///
/// With a writer that does not implement `write_vectored` (its default writes only the first
/// slice), header and payload go out in two writes; `TcpStream` and rustls' `Writer` implement
/// it.
#[derive(Debug, Clone)]
pub struct OutFrame<P> {
    header: [u8; MAX_HEADER_LEN],
    header_len: u8,
    payload: P,
    /// Bytes of header + payload already written.
    written: usize,
}

impl<P: AsRef<[u8]>> OutFrame<P> {
    /// An unmasked frame carrying `payload`: `OutFrame::new(Opcode::Binary, true, &data[..])`.
    pub fn new(opcode: Opcode, fin: bool, payload: P) -> Self {
        let mut header = [0u8; MAX_HEADER_LEN];
        let header_len = write_header(&mut header, opcode, fin, payload.as_ref().len(), None);
        OutFrame {
            header,
            header_len: header_len as u8,
            payload,
            written: 0,
        }
    }

    /// The encoded header (what goes on the wire before the payload).
    pub fn header(&self) -> &[u8] {
        &self.header[..usize::from(self.header_len)]
    }

    /// Bytes of the frame (header and payload) not written yet; 0 once it is all out.
    pub fn remaining(&self) -> usize {
        usize::from(self.header_len) + self.payload.as_ref().len() - self.written
    }

    /// Writes the rest of the frame, with one `write_vectored` call per partial write, until
    /// it is all written (`Ok`) or the writer fails. `Interrupted` is retried; any other error
    /// (`WouldBlock` on a non-blocking socket) is returned with the progress kept, so calling
    /// again continues where this call stopped. A writer that accepts 0 bytes gives
    /// `WriteZero`.
    pub fn write_to<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<()> {
        let header_len = usize::from(self.header_len);
        loop {
            let payload = self.payload.as_ref();
            let result = if self.written < header_len {
                let header = &self.header[self.written..header_len];
                w.write_vectored(&[IoSlice::new(header), IoSlice::new(payload)])
            } else if self.written - header_len < payload.len() {
                w.write_vectored(&[IoSlice::new(&payload[self.written - header_len..])])
            } else {
                return Ok(());
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The payload back (e.g. to reuse its buffer once the frame is written).
    pub fn into_payload(self) -> P {
        self.payload
    }
}

/// One complete (FIN) frame in a fresh buffer: `encode(Role::Server, Opcode::Text, b"hi")`.
/// Turn it into `Arc<[u8]>` to share it across a broadcast.
pub fn encode(role: Role, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(role, opcode, true, payload, &mut out);
    out
}

/// A close frame. `code: None` sends an empty close (never 1005, RFC 6455 §7.4.1). The reason is
/// cut at a character boundary so the payload stays within 125 bytes (§5.5).
pub fn encode_close(role: Role, code: Option<u16>, reason: &str) -> Vec<u8> {
    let mut payload = Vec::with_capacity(125);
    if let Some(code) = code {
        payload.extend_from_slice(&code.to_be_bytes());
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        payload.extend_from_slice(&reason.as_bytes()[..end]);
    }
    encode(role, Opcode::Close, &payload)
}

/// Random mask keys come from a small per-thread pool filled by the OS RNG, so masking a
/// small frame does not cost a system call (one `getrandom` per 64 keys).
fn random_mask() -> [u8; 4] {
    use std::cell::RefCell;
    const POOL: usize = 256;
    thread_local! {
        static KEYS: RefCell<([u8; POOL], usize)> = const { RefCell::new(([0; POOL], POOL)) };
    }
    KEYS.with(|k| {
        let mut k = k.borrow_mut();
        let (pool, used) = &mut *k;
        if *used + 4 > POOL {
            if getrandom::fill(pool).is_err() {
                // The OS RNG failing is not recoverable in a meaningful way; mix the clock in
                // so keys still vary (masking protects proxies, not confidentiality).
                log::warn!("getrandom failed; deriving mask keys from the clock");
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                for (i, b) in pool.iter_mut().enumerate() {
                    *b ^= (t >> ((i % 16) * 8)) as u8 ^ i as u8;
                }
            }
            *used = 0;
        }
        let key = [
            pool[*used],
            pool[*used + 1],
            pool[*used + 2],
            pool[*used + 3],
        ];
        *used += 4;
        key
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_unmasked_hello() {
        // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
        assert_eq!(
            encode(Role::Server, Opcode::Text, b"Hello"),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
    }

    #[test]
    fn rfc6455_masked_hello_unmasks() {
        // RFC 6455 §5.7: masked "Hello" with key 37 fa 21 3d.
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let h = parse_header(&frame[..header_len([frame[0], frame[1]])]).unwrap();
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        let mut p = frame[6..].to_vec();
        apply_mask(&mut p, h.mask.unwrap(), 0);
        assert_eq!(p, b"Hello");
    }

    #[test]
    fn length_encodings() {
        assert_eq!(
            &encode(Role::Server, Opcode::Binary, &[0; 125])[..2],
            [0x82, 125]
        );
        assert_eq!(
            &encode(Role::Server, Opcode::Binary, &[0; 126])[..4],
            [0x82, 126, 0, 126]
        );
        assert_eq!(
            &encode(Role::Server, Opcode::Binary, &[0; 65535])[..4],
            [0x82, 126, 0xff, 0xff]
        );
        assert_eq!(
            &encode(Role::Server, Opcode::Binary, &[0; 65536])[..10],
            [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn top_bit_of_64_bit_length_rejected() {
        let h = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1];
        assert!(matches!(
            parse_header(&h),
            Err(crate::Error::Protocol { .. })
        ));
    }

    #[test]
    fn mask_matches_bytewise_at_every_phase_and_length() {
        let key = [1, 2, 3, 0xF0];
        for phase in 0..4 {
            for len in 0..80 {
                let data: Vec<u8> = (0..len as u8).collect();
                let mut fast = data.clone();
                apply_mask(&mut fast, key, phase);
                let slow: Vec<u8> = data
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[(i + phase) % 4])
                    .collect();
                assert_eq!(fast, slow, "phase {phase} len {len}");
            }
        }
    }

    #[test]
    fn fused_unmask_matches_in_place_unmask() {
        let key = [9, 0x80, 0xff, 1];
        for phase in 0..4 {
            for len in 0..70 {
                let data: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
                let mut want = data.clone();
                apply_mask(&mut want, key, phase);
                let mut got = vec![0xAA];
                extend_unmasked(&mut got, &data, key, phase);
                assert_eq!(got[0], 0xAA);
                assert_eq!(&got[1..], &want[..], "phase {phase} len {len}");
            }
        }
    }

    #[test]
    fn client_frames_are_masked_with_fresh_keys() {
        let a = encode(Role::Client, Opcode::Text, b"Hello");
        let b = encode(Role::Client, Opcode::Text, b"Hello");
        assert_eq!(a[1], 0x85);
        let mut p = a[6..].to_vec();
        apply_mask(&mut p, [a[2], a[3], a[4], a[5]], 0);
        assert_eq!(p, b"Hello");
        // Two 32-bit random keys collide with probability 2^-32.
        assert_ne!(a[2..6], b[2..6]);
    }

    #[test]
    fn close_reason_cut_at_char_boundary() {
        let reason = "é".repeat(100); // 200 bytes
        let f = encode_close(Role::Server, Some(1000), &reason);
        assert!(f[1] as usize <= 125);
        assert!(std::str::from_utf8(&f[4..]).is_ok());
        assert_eq!(encode_close(Role::Server, None, "ignored"), [0x88, 0x00]);
    }

    /// A writer that takes at most `max` bytes per call (over all slices), fails with
    /// `WouldBlock` every `block_every`-th call and with `Interrupted` right after each one.
    struct Trickle {
        out: Vec<u8>,
        max: usize,
        calls: usize,
        block_every: usize,
        vectored_calls: usize,
    }

    impl Trickle {
        fn new(max: usize, block_every: usize) -> Self {
            Trickle {
                out: Vec::new(),
                max,
                calls: 0,
                block_every,
                vectored_calls: 0,
            }
        }
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.block_every > 0 && self.calls % self.block_every == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if self.block_every > 0 && self.calls % self.block_every == 1 && self.calls > 1 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            self.vectored_calls += 1;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.max - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn out_frame_is_the_rfc_unmasked_hello_in_one_vectored_write() {
        let mut f = OutFrame::new(Opcode::Text, true, b"Hello");
        assert_eq!(f.header(), [0x81, 0x05]);
        assert_eq!(f.remaining(), 7);
        let mut w = Trickle::new(usize::MAX, 0);
        f.write_to(&mut w).unwrap();
        assert_eq!(w.out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(w.vectored_calls, 1, "header and payload in one write");
        assert_eq!(f.remaining(), 0);
        // Written already: nothing more goes out.
        f.write_to(&mut w).unwrap();
        assert_eq!(w.out.len(), 7);
        assert_eq!(f.into_payload(), b"Hello");
    }

    #[test]
    fn out_frame_matches_encode_at_every_length_encoding() {
        for len in [0, 1, 125, 126, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut f = OutFrame::new(Opcode::Binary, false, &payload[..]);
            let mut w = Trickle::new(usize::MAX, 0);
            f.write_to(&mut w).unwrap();
            let mut want = Vec::new();
            encode_into(Role::Server, Opcode::Binary, false, &payload, &mut want);
            assert_eq!(w.out, want, "len {len}");
            assert_eq!(f.header(), &want[..f.header().len()]);
        }
    }

    #[test]
    fn out_frame_resumes_after_partial_writes_would_block_and_interrupts() {
        let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let want = encode(Role::Server, Opcode::Binary, &payload);
        for max in [1, 2, 3, 5, 64, 299] {
            let mut f = OutFrame::new(Opcode::Binary, true, payload.clone());
            let mut w = Trickle::new(max, 3);
            let mut would_block = 0;
            loop {
                match f.write_to(&mut w) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => would_block += 1,
                    Err(e) => panic!("{e}"),
                }
                assert!(would_block < 10_000);
            }
            assert_eq!(w.out, want, "max {max}");
            assert_eq!(f.remaining(), 0);
        }
    }

    #[test]
    fn out_frame_to_a_writer_that_takes_nothing_is_write_zero() {
        let mut f = OutFrame::new(Opcode::Binary, true, [1u8, 2, 3]);
        let mut w = Trickle::new(0, 0);
        let e = f.write_to(&mut w).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WriteZero);
        assert_eq!(f.remaining(), 5);
    }
}
