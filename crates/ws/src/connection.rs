//! `Connection`: the sans-IO protocol state of one side of one WebSocket connection.
//!
//! Ownership: the socket's owner (the bridge's reader, or the blocking [`crate::Client`]) owns
//! the `Connection` and is the only one who touches it; it never blocks and never does I/O.
//! The owner feeds received bytes with [`Connection::feed`], which stops after each event and
//! says how many bytes it consumed, so the owner loops until its buffer is used up. Input may be
//! split anywhere (one byte at a time is fine): a partial header is kept in a 14-byte array and
//! a partial payload goes straight into the message being assembled, so memory grows only with
//! bytes received, and a frame is never parsed from the middle of a payload.
//!
//! Bytes the protocol itself must send (pong for a ping, the echo of the peer's close, the close
//! that fails a connection) are queued; the owner takes them with
//! [`Connection::take_output`] after each `feed` and writes them.
//!
//! Close handshake (RFC 6455 §7): `Open` → we send close → `CloseSent { deadline }` → the peer's
//! close arrives → `Closed`. Or `Open` → the peer's close arrives → we queue its echo →
//! `Closed`. A protocol error queues a close with the error's code and goes to `Closed`. In
//! `Closed` the owner writes what is queued and shuts the TCP connection down (the server first,
//! RFC 6455 §7.1.1); input after the close is ignored.

use std::time::Instant;

use crate::close::parse_close_payload;
use crate::config::Config;
use crate::error::Error;
use crate::fragment::FragmentState;
use crate::frame::{self, encode_into, FrameHeader, Opcode, Role, MAX_HEADER_LEN};

/// What the peer sent, one event per `feed` call at most.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A complete text message (UTF-8 validated).
    Text(String),
    /// A complete binary message.
    Binary(Vec<u8>),
    /// A ping; its pong is already queued in the output (while the connection is open).
    Ping(Vec<u8>),
    /// A pong (answer to our ping, or unsolicited: hand it to `HeartbeatState::on_pong`).
    Pong(Vec<u8>),
    /// The peer's close: code (1005 when the frame had no payload) and reason. If we had not
    /// sent a close yet, its echo is queued in the output.
    Close { code: u16, reason: String },
}

/// The result of one [`Connection::feed`] call.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "feed again with the unconsumed bytes, and handle the event"]
pub struct Progress {
    /// Bytes of the input used; feed the rest (`&data[consumed..]`) next.
    pub consumed: usize,
    /// The event completed by those bytes, if any.
    pub event: Option<Event>,
}

/// Where the closing handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseState {
    /// Messages flow both ways.
    Open,
    /// We sent our close; waiting for the peer's until `deadline` (`Config::close_timeout`).
    CloseSent { deadline: Instant },
    /// Both closes exchanged, or the connection failed: write the output, then shut down.
    Closed,
}

#[derive(Debug)]
enum ReadState {
    /// Collecting a frame header (`have` bytes of it so far).
    Header {
        buf: [u8; MAX_HEADER_LEN],
        have: usize,
    },
    /// Reading a control frame's payload (≤ 125 bytes, kept inline).
    Control {
        opcode: Opcode,
        mask: Option<[u8; 4]>,
        buf: [u8; 125],
        len: usize,
        have: usize,
    },
    /// Streaming a data frame's payload into the `FragmentState`.
    Data {
        mask: Option<[u8; 4]>,
        left: u64,
        done: u64,
    },
}

/// The protocol state of one side of one connection. See the module doc.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    max_frame_size: usize,
    close_timeout: std::time::Duration,
    max_send_frame_size: usize,
    read: ReadState,
    fragments: FragmentState,
    close: CloseState,
    out: Vec<u8>,
}

impl Connection {
    /// A new open connection for `role`, with the limits from `config`.
    pub fn new(role: Role, config: &Config) -> Self {
        debug_assert!(config.validate().is_ok());
        Connection {
            role,
            max_frame_size: config.max_frame_size,
            close_timeout: config.close_timeout,
            max_send_frame_size: config.max_send_frame_size.max(1),
            read: ReadState::Header {
                buf: [0; MAX_HEADER_LEN],
                have: 0,
            },
            fragments: FragmentState::new(config.max_message_size),
            close: CloseState::Open,
            out: Vec::new(),
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the closing handshake stands.
    pub fn close_state(&self) -> CloseState {
        self.close
    }

    /// True once nothing more will be exchanged (write the output, then shut down).
    pub fn is_closed(&self) -> bool {
        self.close == CloseState::Closed
    }

    /// Bytes the protocol needs written (pong, close echo, failing close), in order, as one
    /// buffer; `None` when there is nothing to write.
    pub fn take_output(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// True when `take_output` has bytes.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Encodes a message from us (text or binary; split into frames of at most
    /// `Config::max_send_frame_size`). Fails with `Error::Closed` once we or the peer closed.
    pub fn encode_message(&self, opcode: Opcode, payload: &[u8]) -> Result<Vec<u8>, Error> {
        if self.close != CloseState::Open {
            return Err(Error::Closed);
        }
        let mut out = Vec::new();
        let mut chunks = payload.chunks(self.max_send_frame_size).peekable();
        let mut op = opcode;
        if chunks.peek().is_none() {
            encode_into(self.role, opcode, true, &[], &mut out);
        }
        while let Some(c) = chunks.next() {
            let fin = chunks.peek().is_none();
            encode_into(self.role, op, fin, c, &mut out);
            op = Opcode::Continuation;
        }
        Ok(out)
    }

    /// Encodes a ping (payload ≤ 125 bytes, else `Error::Protocol`).
    pub fn encode_ping(&self, payload: &[u8]) -> Result<Vec<u8>, Error> {
        if self.close != CloseState::Open {
            return Err(Error::Closed);
        }
        if payload.len() > 125 {
            return Err(Error::Protocol {
                reason: "ping payload over 125 bytes",
            });
        }
        Ok(frame::encode(self.role, Opcode::Ping, payload))
    }

    /// Starts the closing handshake: returns our close frame and waits for the peer's until
    /// `now + Config::close_timeout`. `code: None` sends an empty close; otherwise the code must
    /// be one that may be sent (else `Error::InvalidCloseCode`).
    pub fn close(
        &mut self,
        code: Option<u16>,
        reason: &str,
        now: Instant,
    ) -> Result<Vec<u8>, Error> {
        if self.close != CloseState::Open {
            return Err(Error::Closed);
        }
        if let Some(c) = code {
            if !crate::close::is_valid_close_code(c) {
                return Err(Error::InvalidCloseCode { code: c });
            }
        }
        self.close = CloseState::CloseSent {
            deadline: now + self.close_timeout,
        };
        Ok(frame::encode_close(self.role, code, reason))
    }

    /// After our close: `Err(Error::CloseTimeout)` once the deadline passed without the peer's
    /// close (the owner then drops the TCP connection). `Ok` otherwise.
    pub fn check_close_timeout(&mut self, now: Instant) -> Result<(), Error> {
        if let CloseState::CloseSent { deadline } = self.close {
            if now >= deadline {
                self.close = CloseState::Closed;
                return Err(Error::CloseTimeout);
            }
        }
        Ok(())
    }

    /// Feeds received bytes. Stops after the first complete event (or when the input is used
    /// up). On a protocol error the failing close frame is queued, the state becomes `Closed`,
    /// and the error (see [`Error::close_code`]) is returned; later input is ignored.
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, Error> {
        if self.close == CloseState::Closed {
            return Ok(Progress {
                consumed: data.len(),
                event: None,
            });
        }
        let mut pos = 0;
        loop {
            match self.step(data, &mut pos) {
                Ok(Some(event)) => {
                    return Ok(Progress {
                        consumed: pos,
                        event: Some(event),
                    })
                }
                Ok(None) if pos == data.len() => {
                    return Ok(Progress {
                        consumed: pos,
                        event: None,
                    })
                }
                Ok(None) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        log::debug!("websocket protocol failure: {e}");
        if self.close == CloseState::Open {
            if let Some(code) = e.close_code() {
                self.out
                    .extend_from_slice(&frame::encode_close(self.role, Some(code), ""));
            }
        }
        self.close = CloseState::Closed;
        e
    }

    /// One state-machine step over `data[*pos..]`.
    fn step(&mut self, data: &[u8], pos: &mut usize) -> Result<Option<Event>, Error> {
        let input = &data[*pos..];
        match &mut self.read {
            ReadState::Header { buf, have } => {
                let need = if *have < 2 {
                    2
                } else {
                    frame::header_len([buf[0], buf[1]])
                };
                let take = (need - *have).min(input.len());
                buf[*have..*have + take].copy_from_slice(&input[..take]);
                *have += take;
                *pos += take;
                if *have < need || need == 2 && frame::header_len([buf[0], buf[1]]) > 2 {
                    return Ok(None);
                }
                let header = frame::parse_header(&buf[..need])?;
                self.begin_frame(header)
            }
            ReadState::Control {
                opcode,
                mask,
                buf,
                len,
                have,
            } => {
                let take = (*len - *have).min(input.len());
                buf[*have..*have + take].copy_from_slice(&input[..take]);
                if let Some(key) = mask {
                    frame::apply_mask(&mut buf[*have..*have + take], *key, *have);
                }
                *have += take;
                *pos += take;
                if *have < *len {
                    return Ok(None);
                }
                let (opcode, payload) = (*opcode, buf[..*len].to_vec());
                self.read = ReadState::Header {
                    buf: [0; MAX_HEADER_LEN],
                    have: 0,
                };
                self.control(opcode, payload)
            }
            ReadState::Data { mask, left, done } => {
                let take = (*left).min(input.len() as u64) as usize;
                match mask {
                    Some(key) => {
                        self.fragments
                            .push_masked(&input[..take], *key, (*done & 3) as usize)?
                    }
                    None => self.fragments.push(&input[..take])?,
                }
                *left -= take as u64;
                *done += take as u64;
                *pos += take;
                if *left > 0 {
                    return Ok(None);
                }
                self.read = ReadState::Header {
                    buf: [0; MAX_HEADER_LEN],
                    have: 0,
                };
                self.fragments.end_frame()
            }
        }
    }

    /// Checks a complete header against every rule that does not need the payload.
    fn begin_frame(&mut self, h: FrameHeader) -> Result<Option<Event>, Error> {
        // RFC 6455 §5.2: RSV1-3 MUST be 0 unless an extension defining them was negotiated.
        if h.rsv != 0 {
            return Err(Error::Protocol {
                reason: "reserved bits set without an extension",
            });
        }
        // RFC 6455 §5.2: unknown opcodes fail the connection.
        let opcode = Opcode::from_u8(h.opcode).ok_or(Error::Protocol {
            reason: "reserved opcode",
        })?;
        // RFC 6455 §5.1: a server MUST close on an unmasked client frame; a client MUST close
        // on a masked server frame.
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => {
                return Err(Error::Protocol {
                    reason: "unmasked frame from a client",
                })
            }
            (Role::Client, true) => {
                return Err(Error::Protocol {
                    reason: "masked frame from a server",
                })
            }
            _ => {}
        }
        if opcode.is_control() {
            // RFC 6455 §5.5: control frames have a payload of at most 125 bytes and MUST NOT
            // be fragmented.
            if h.len > 125 {
                return Err(Error::Protocol {
                    reason: "control frame over 125 bytes",
                });
            }
            if !h.fin {
                return Err(Error::Protocol {
                    reason: "fragmented control frame",
                });
            }
            let len = h.len as usize;
            if len == 0 {
                self.read = ReadState::Header {
                    buf: [0; MAX_HEADER_LEN],
                    have: 0,
                };
                return self.control(opcode, Vec::new());
            }
            self.read = ReadState::Control {
                opcode,
                mask: h.mask,
                buf: [0; 125],
                len,
                have: 0,
            };
            return Ok(None);
        }
        // The frame limit is decided from the header, before any payload is read.
        if h.len > self.max_frame_size as u64 {
            return Err(Error::FrameTooLarge {
                size: h.len,
                max: self.max_frame_size,
            });
        }
        self.fragments.begin_frame(opcode, h.fin, h.len)?;
        if h.len == 0 {
            self.read = ReadState::Header {
                buf: [0; MAX_HEADER_LEN],
                have: 0,
            };
            return self.fragments.end_frame();
        }
        self.read = ReadState::Data {
            mask: h.mask,
            left: h.len,
            done: 0,
        };
        Ok(None)
    }

    fn control(&mut self, opcode: Opcode, payload: Vec<u8>) -> Result<Option<Event>, Error> {
        match opcode {
            Opcode::Ping => {
                // RFC 6455 §5.5.2: answer with a pong carrying the same payload (not after our
                // close: nothing follows a close frame).
                if self.close == CloseState::Open {
                    encode_into(self.role, Opcode::Pong, true, &payload, &mut self.out);
                }
                Ok(Some(Event::Ping(payload)))
            }
            Opcode::Pong => Ok(Some(Event::Pong(payload))),
            Opcode::Close => {
                let (code, reason) = parse_close_payload(&payload)?;
                if self.close == CloseState::Open {
                    // RFC 6455 §5.5.1: echo the status code; an empty close is echoed empty
                    // (1005 is never sent).
                    let echo = if payload.is_empty() { None } else { Some(code) };
                    self.out
                        .extend_from_slice(&frame::encode_close(self.role, echo, ""));
                }
                self.close = CloseState::Closed;
                Ok(Some(Event::Close { code, reason }))
            }
            _ => Err(Error::Protocol {
                reason: "not a control opcode",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Connection {
        fn fragments_capacity(&self) -> usize {
            self.fragments.capacity()
        }
    }

    fn server() -> Connection {
        Connection::new(Role::Server, &Config::default())
    }

    /// Feeds everything, collecting events; stops at the first error.
    fn feed_all(c: &mut Connection, mut data: &[u8]) -> Result<Vec<Event>, Error> {
        let mut events = Vec::new();
        while !data.is_empty() {
            let p = c.feed(data)?;
            data = &data[p.consumed..];
            events.extend(p.event);
        }
        Ok(events)
    }

    fn masked(op: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![if fin { 0x80 } else { 0 } | op];
        let key = [0x37, 0xfa, 0x21, 0x3d];
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
        v.extend_from_slice(&key);
        let start = v.len();
        v.extend_from_slice(payload);
        frame::apply_mask(&mut v[start..], key, 0);
        v
    }

    #[test]
    fn rfc_masked_hello_one_byte_at_a_time() {
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut c = server();
        let mut events = Vec::new();
        for b in frame {
            let p = c.feed(&[b]).unwrap();
            assert_eq!(p.consumed, 1);
            events.extend(p.event);
        }
        assert_eq!(events, [Event::Text("Hello".into())]);
    }

    #[test]
    fn rfc_fragmented_hello_and_ping_interleaved() {
        // RFC 6455 §5.7 fragments, with a ping between them.
        let mut data = masked(0x1, false, b"Hel");
        data.extend(masked(0x9, true, b"Hello"));
        data.extend(masked(0x0, true, b"lo"));
        let mut c = server();
        let ev = feed_all(&mut c, &data).unwrap();
        assert_eq!(
            ev,
            [Event::Ping(b"Hello".to_vec()), Event::Text("Hello".into())]
        );
        // The pong echoes the payload, unmasked (server role): RFC §5.7's pong example shape.
        assert_eq!(
            c.take_output().unwrap(),
            [0x8a, 0x05, b'H', b'e', b'l', b'l', b'o']
        );
    }

    #[test]
    fn client_role_reads_rfc_unmasked_hello_and_rejects_masked() {
        let mut c = Connection::new(Role::Client, &Config::default());
        let ev = feed_all(&mut c, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]).unwrap();
        assert_eq!(ev, [Event::Text("Hello".into())]);
        let e = feed_all(&mut c, &masked(0x1, true, b"x")).unwrap_err();
        assert_eq!(e.close_code(), Some(1002));
        // The failing close frame from a client is masked.
        let out = c.take_output().unwrap();
        assert_eq!(out[0], 0x88);
        assert_eq!(out[1] & 0x80, 0x80);
    }

    fn expect_close(data: &[u8], code: u16) {
        let mut c = server();
        let e = feed_all(&mut c, data).unwrap_err();
        assert_eq!(e.close_code(), Some(code), "{e}");
        let out = c.take_output().unwrap();
        assert_eq!(out, frame::encode_close(Role::Server, Some(code), ""));
        assert!(c.is_closed());
    }

    #[test]
    fn rejections_with_1002() {
        let mut rsv = masked(0x1, true, b"x");
        rsv[0] |= 0x40;
        expect_close(&rsv, 1002);
        expect_close(&masked(0x3, true, b""), 1002); // reserved data opcode
        expect_close(&masked(0xB, true, b""), 1002); // reserved control opcode
        expect_close(&masked(0x9, true, &[0; 126]), 1002); // control over 125
        expect_close(&masked(0x9, false, b"x"), 1002); // fragmented control
        expect_close(&[0x81, 0x01, b'x'], 1002); // unmasked from a client
        expect_close(&masked(0x0, true, b"x"), 1002); // nothing to continue
        let mut two = masked(0x1, false, b"a");
        two.extend(masked(0x1, true, b"b"));
        expect_close(&two, 1002); // new data frame inside a message
        expect_close(&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4], 1002); // top bit
        expect_close(&masked(0x8, true, &[3]), 1002); // 1-byte close
        expect_close(&masked(0x8, true, &[0x03, 0xED]), 1002); // close code 1005
        expect_close(&masked(0x8, true, &[0x03, 0xE8, 0xff]), 1002); // reason not UTF-8
    }

    #[test]
    fn invalid_utf8_is_1007() {
        expect_close(&masked(0x1, true, &[0xce, 0xba, 0xff]), 1007);
        // Autobahn 6.4.x: the first fragment is already invalid, the message is not finished,
        // and the connection fails at once.
        expect_close(&masked(0x1, false, &[0xce, 0xba, 0xff]), 1007);
        // Even in the middle of one frame's payload: the first bad chunk fails it.
        let mut c = server();
        let f = masked(0x1, true, &[b'a', 0xff, b'b', b'c']);
        assert!(feed_all(&mut c, &f[..7]).unwrap().is_empty());
        assert!(matches!(
            feed_all(&mut c, &f[7..8]),
            Err(Error::InvalidUtf8)
        ));
    }

    #[test]
    fn oversized_frame_is_1009_from_the_header_alone() {
        let config = Config {
            max_frame_size: 1000,
            ..Config::default()
        };
        let mut c = Connection::new(Role::Server, &config);
        // Header claims 1 MiB; no payload follows.
        let mut h = vec![0x82, 0x80 | 127];
        h.extend_from_slice(&(1u64 << 20).to_be_bytes());
        h.extend_from_slice(&[1, 2, 3, 4]);
        let e = feed_all(&mut c, &h).unwrap_err();
        assert!(matches!(
            e,
            Error::FrameTooLarge {
                size: 1048576,
                max: 1000
            }
        ));
        assert_eq!(e.close_code(), Some(1009));
    }

    #[test]
    fn huge_header_allocates_nothing_up_front() {
        // A 16 MiB frame header followed by 10 bytes: the message buffer holds 10 bytes.
        let mut c = server();
        let mut h = vec![0x82, 0x80 | 127];
        h.extend_from_slice(&(16u64 << 20).to_be_bytes());
        h.extend_from_slice(&[1, 2, 3, 4]);
        h.extend_from_slice(&[0; 10]);
        assert!(feed_all(&mut c, &h).unwrap().is_empty());
        assert!(c.fragments_capacity() < 1024);
    }

    #[test]
    fn message_limit_is_1009() {
        let config = Config {
            max_message_size: 4,
            ..Config::default()
        };
        let mut c = Connection::new(Role::Server, &config);
        let mut d = masked(0x2, false, b"abc");
        d.extend(masked(0x0, true, b"de"));
        assert_eq!(feed_all(&mut c, &d).unwrap_err().close_code(), Some(1009));
    }

    #[test]
    fn peer_close_is_echoed_and_empty_close_echoed_empty() {
        let mut c = server();
        let ev = feed_all(&mut c, &masked(0x8, true, b"\x03\xe8bye")).unwrap();
        assert_eq!(
            ev,
            [Event::Close {
                code: 1000,
                reason: "bye".into()
            }]
        );
        assert_eq!(c.take_output().unwrap(), [0x88, 0x02, 0x03, 0xe8]);
        assert!(c.is_closed());
        // Input after the close is ignored.
        assert!(feed_all(&mut c, &masked(0x1, true, b"late"))
            .unwrap()
            .is_empty());

        let mut c = server();
        let ev = feed_all(&mut c, &masked(0x8, true, b"")).unwrap();
        assert_eq!(
            ev,
            [Event::Close {
                code: 1005,
                reason: String::new()
            }]
        );
        assert_eq!(c.take_output().unwrap(), [0x88, 0x00]);
    }

    #[test]
    fn our_close_then_theirs_and_timeout() {
        let now = Instant::now();
        let mut c = server();
        let f = c.close(Some(1000), "done", now).unwrap();
        assert_eq!(&f[..4], [0x88, 6, 0x03, 0xe8]);
        assert!(matches!(c.close_state(), CloseState::CloseSent { .. }));
        assert!(matches!(
            c.encode_message(Opcode::Text, b"x"),
            Err(Error::Closed)
        ));
        // A ping after our close is reported but not answered.
        assert_eq!(
            feed_all(&mut c, &masked(0x9, true, b"p")).unwrap(),
            [Event::Ping(b"p".to_vec())]
        );
        assert!(c.take_output().is_none());
        let ev = feed_all(&mut c, &masked(0x8, true, b"\x03\xe8")).unwrap();
        assert_eq!(
            ev,
            [Event::Close {
                code: 1000,
                reason: String::new()
            }]
        );
        assert!(c.take_output().is_none(), "no echo after our own close");
        assert!(c.is_closed());

        let mut c = server();
        let _ = c.close(None, "", now).unwrap();
        assert!(c.check_close_timeout(now).is_ok());
        let late = now + Config::default().close_timeout;
        assert!(matches!(
            c.check_close_timeout(late),
            Err(Error::CloseTimeout)
        ));
        assert!(c.is_closed());
    }

    #[test]
    fn sending_invalid_close_code_refused() {
        let mut c = server();
        // RFC 6455 §7.4.1: 1005, 1006 and 1015 are never sent; 1004 is reserved.
        for code in [1004, 1005, 1006, 1015, 999, 5000] {
            assert!(matches!(
                c.close(Some(code), "", Instant::now()),
                Err(Error::InvalidCloseCode { code: c }) if c == code
            ));
        }
        assert_eq!(c.close_state(), CloseState::Open);
    }

    #[test]
    fn encode_message_fragments_by_send_limit() {
        let config = Config {
            max_send_frame_size: 2,
            ..Config::default()
        };
        let c = Connection::new(Role::Server, &config);
        let f = c.encode_message(Opcode::Text, b"abcde").unwrap();
        assert_eq!(f, [0x01, 2, b'a', b'b', 0x00, 2, b'c', b'd', 0x80, 1, b'e']);
        let mut client = Connection::new(Role::Client, &Config::default());
        assert_eq!(
            feed_all(&mut client, &f).unwrap(),
            [Event::Text("abcde".into())]
        );
        assert_eq!(c.encode_message(Opcode::Binary, b"").unwrap(), [0x82, 0]);
    }
}
