//! `FragmentState`: reassembles a message from its data and continuation frames (RFC 6455 §5.4)
//! and validates text as UTF-8 while the fragments arrive, so a bad fragment fails the message
//! at once (Autobahn 6.4.x), not only once the message is complete.
//!
//! Invariants: the buffer holds only payload bytes actually pushed (never a size taken from a
//! header); `begin_frame` refuses a frame whose declared length would take the message past
//! `max_message_size` before a byte of it is stored; `validated <= buf.len()` and
//! `buf[..validated]` is valid UTF-8 for a text message.

use crate::error::Error;
use crate::frame::Opcode;
use crate::Event;

/// Buffer growth factor relative to the bytes held (see `reserve_for`).
const GROWTH: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
}

/// Reassembly state for one connection's incoming data messages. Control frames never pass
/// through it (they may interleave between fragments, RFC 6455 §5.4).
#[derive(Debug)]
pub struct FragmentState {
    max_message_size: usize,
    /// The message being assembled (`None` between messages).
    kind: Option<Kind>,
    buf: Vec<u8>,
    /// Prefix of `buf` known to be valid UTF-8 (text only).
    validated: usize,
    /// The current frame: its FIN bit and how many payload bytes it still expects.
    frame_fin: bool,
    frame_left: u64,
    in_frame: bool,
}

impl FragmentState {
    /// An empty state that refuses messages larger than `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> Self {
        FragmentState {
            max_message_size,
            kind: None,
            buf: Vec::new(),
            validated: 0,
            frame_fin: false,
            frame_left: 0,
            in_frame: false,
        }
    }

    /// True while a fragmented message is incomplete.
    pub fn in_message(&self) -> bool {
        self.kind.is_some()
    }

    /// Starts a data or continuation frame of `len` payload bytes. Checks the fragmentation
    /// rules and the message limit from the header alone.
    pub fn begin_frame(&mut self, opcode: Opcode, fin: bool, len: u64) -> Result<(), Error> {
        if self.in_frame {
            return Err(Error::Protocol {
                reason: "frame started before the previous one ended",
            });
        }
        match (opcode, self.kind) {
            // RFC 6455 §5.4: a continuation frame continues a fragmented message...
            (Opcode::Continuation, None) => {
                return Err(Error::Protocol {
                    reason: "continuation frame with nothing to continue",
                })
            }
            (Opcode::Continuation, Some(_)) => {}
            // ...and the fragments of one message are not interleaved with another message.
            (Opcode::Text | Opcode::Binary, Some(_)) => {
                return Err(Error::Protocol {
                    reason: "new data frame inside a fragmented message",
                })
            }
            (Opcode::Text, None) => self.kind = Some(Kind::Text),
            (Opcode::Binary, None) => self.kind = Some(Kind::Binary),
            _ => {
                return Err(Error::Protocol {
                    reason: "control frame given to FragmentState",
                })
            }
        }
        let size = (self.buf.len() as u64).saturating_add(len);
        if size > self.max_message_size as u64 {
            return Err(Error::MessageTooLarge {
                size,
                max: self.max_message_size,
            });
        }
        self.frame_fin = fin;
        self.frame_left = len;
        self.in_frame = true;
        Ok(())
    }

    /// Adds payload bytes (already unmasked) of the current frame.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let start = self.buf.len();
        self.reserve_for(chunk.len())?;
        self.buf.extend_from_slice(chunk);
        self.after_push(start)
    }

    /// Adds masked payload bytes, unmasking them as they are stored (`phase`: offset of the
    /// first byte within the frame's payload).
    pub(crate) fn push_masked(
        &mut self,
        chunk: &[u8],
        key: [u8; 4],
        phase: usize,
    ) -> Result<(), Error> {
        let start = self.buf.len();
        self.reserve_for(chunk.len())?;
        crate::frame::extend_unmasked(&mut self.buf, chunk, key, phase);
        self.after_push(start)
    }

    fn reserve_for(&mut self, n: usize) -> Result<(), Error> {
        if !self.in_frame || n as u64 > self.frame_left {
            return Err(Error::Protocol {
                reason: "payload bytes beyond the frame's length",
            });
        }
        // Growth: when the buffer is full, grow its capacity to GROWTH × the bytes it will
        // hold after this chunk, capped by the end of the message as far as it is known: the
        // end of this frame if it is the final one, else the message limit. So capacity stays
        // within GROWTH × the bytes actually received, whatever a header claims; growth is
        // geometric (amortised linear copying even for a message of many tiny fragments); and
        // a large frame arriving in 128 KiB reads is reallocated only a few times.
        let len = self.buf.len();
        if self.buf.capacity() - len < n {
            let end = if self.frame_fin {
                len.saturating_add(usize::try_from(self.frame_left).unwrap_or(usize::MAX))
            } else {
                self.max_message_size.max(len + n)
            };
            let target = (len + n).saturating_mul(GROWTH).min(end);
            self.buf.reserve_exact(target - len);
        }
        self.frame_left -= n as u64;
        Ok(())
    }

    fn after_push(&mut self, _start: usize) -> Result<(), Error> {
        if self.kind == Some(Kind::Text) {
            self.validate(false)?;
        }
        Ok(())
    }

    /// Incremental UTF-8 check of `buf[validated..]`. A sequence cut at the end of the data may
    /// still be completed by the next bytes unless `complete` (end of message).
    fn validate(&mut self, complete: bool) -> Result<(), Error> {
        match std::str::from_utf8(&self.buf[self.validated..]) {
            Ok(_) => self.validated = self.buf.len(),
            Err(e) => {
                // `error_len() == None`: the data ends inside a sequence that is valid so far.
                if e.error_len().is_some() || complete {
                    return Err(Error::InvalidUtf8);
                }
                self.validated += e.valid_up_to();
            }
        }
        Ok(())
    }

    /// Ends the current frame. Returns the message once its final fragment has ended.
    pub fn end_frame(&mut self) -> Result<Option<Event>, Error> {
        if !self.in_frame || self.frame_left != 0 {
            return Err(Error::Protocol {
                reason: "frame ended before its payload",
            });
        }
        self.in_frame = false;
        if !self.frame_fin {
            return Ok(None);
        }
        let kind = self.kind.take();
        let buf = std::mem::take(&mut self.buf);
        let validated = std::mem::replace(&mut self.validated, 0);
        match kind {
            Some(Kind::Binary) => Ok(Some(Event::Binary(buf))),
            Some(Kind::Text) => {
                if validated != buf.len() {
                    return Err(Error::InvalidUtf8);
                }
                // Already validated incrementally; this second check is linear and cheap
                // compared to the copy that brought the bytes here, and keeps the crate free
                // of `unsafe`.
                String::from_utf8(buf)
                    .map(|s| Some(Event::Text(s)))
                    .map_err(|_| Error::InvalidUtf8)
            }
            None => Err(Error::Protocol {
                reason: "no message in progress",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl FragmentState {
        pub(crate) fn capacity(&self) -> usize {
            self.buf.capacity()
        }
    }

    fn frame(
        f: &mut FragmentState,
        op: Opcode,
        fin: bool,
        data: &[u8],
    ) -> Result<Option<Event>, Error> {
        f.begin_frame(op, fin, data.len() as u64)?;
        f.push(data)?;
        f.end_frame()
    }

    #[test]
    fn reassembles_text() {
        let mut f = FragmentState::new(100);
        assert!(frame(&mut f, Opcode::Text, false, b"Hel")
            .unwrap()
            .is_none());
        assert!(f.in_message());
        assert_eq!(
            frame(&mut f, Opcode::Continuation, true, b"lo").unwrap(),
            Some(Event::Text("Hello".into()))
        );
        assert!(!f.in_message());
    }

    #[test]
    fn continuation_without_start_is_1002() {
        let mut f = FragmentState::new(100);
        let e = frame(&mut f, Opcode::Continuation, true, b"x").unwrap_err();
        assert_eq!(e.close_code(), Some(1002));
    }

    #[test]
    fn new_data_frame_inside_message_is_1002() {
        let mut f = FragmentState::new(100);
        frame(&mut f, Opcode::Binary, false, b"a").unwrap();
        assert_eq!(
            frame(&mut f, Opcode::Text, true, b"b")
                .unwrap_err()
                .close_code(),
            Some(1002)
        );
    }

    #[test]
    fn message_limit_from_header_is_1009() {
        let mut f = FragmentState::new(10);
        frame(&mut f, Opcode::Binary, false, b"12345678").unwrap();
        let e = f.begin_frame(Opcode::Continuation, true, 3).unwrap_err();
        assert!(matches!(e, Error::MessageTooLarge { size: 11, max: 10 }));
        assert_eq!(e.close_code(), Some(1009));
    }

    #[test]
    fn utf8_fails_on_first_bad_fragment() {
        let mut f = FragmentState::new(100);
        // "κόσμε" then an invalid byte in the second fragment (Autobahn 6.4.1 style).
        frame(&mut f, Opcode::Text, false, "κόσμε".as_bytes()).unwrap();
        f.begin_frame(Opcode::Continuation, false, 4).unwrap();
        assert!(matches!(
            f.push(&[0xf4, 0x90, 0x80, 0x80]),
            Err(Error::InvalidUtf8)
        ));
    }

    #[test]
    fn utf8_sequence_split_across_fragments_is_fine() {
        let mut f = FragmentState::new(100);
        let s = "€".as_bytes(); // e2 82 ac
        frame(&mut f, Opcode::Text, false, &s[..1]).unwrap();
        frame(&mut f, Opcode::Continuation, false, &s[1..2]).unwrap();
        assert_eq!(
            frame(&mut f, Opcode::Continuation, true, &s[2..]).unwrap(),
            Some(Event::Text("€".into()))
        );
    }

    #[test]
    fn truncated_utf8_at_end_of_message_is_1007() {
        let mut f = FragmentState::new(100);
        assert!(matches!(
            frame(&mut f, Opcode::Text, true, &[0xe2, 0x82]),
            Err(Error::InvalidUtf8)
        ));
    }

    #[test]
    fn many_tiny_fragments_grow_geometrically() {
        let mut f = FragmentState::new(1 << 20);
        let mut reallocs = 0;
        let mut cap = f.capacity();
        for _ in 0..100_000 {
            let op = if f.in_message() {
                Opcode::Continuation
            } else {
                Opcode::Binary
            };
            frame(&mut f, op, false, b"x").unwrap();
            if f.capacity() != cap {
                reallocs += 1;
                cap = f.capacity();
            }
            assert!(f.capacity() <= GROWTH * f.buf.len());
        }
        assert!(
            reallocs < 20,
            "{reallocs} reallocations for 100000 fragments"
        );
        assert_eq!(
            frame(&mut f, Opcode::Continuation, true, b"").unwrap(),
            Some(Event::Binary(vec![b'x'; 100_000]))
        );
    }

    #[test]
    fn pushing_past_declared_length_is_refused() {
        let mut f = FragmentState::new(100);
        f.begin_frame(Opcode::Binary, true, 2).unwrap();
        assert!(f.push(b"abc").is_err());
    }
}
