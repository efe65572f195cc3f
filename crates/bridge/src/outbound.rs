//! The bounded outbound queue of one connection: encoded frames waiting for the socket.
//!
//! Invariants:
//! - The queue lives inside the connection's `out` mutex (see `conn.rs`); every method here
//!   runs under that lock and never blocks: writes go to a NON-BLOCKING socket and stop at
//!   `WouldBlock`.
//! - `queued` is the exact number of unwritten bytes (`sum(len) - head_off`) and never exceeds
//!   `max`, except by the close frame pushed by [`Outbound::close`], or when one frame larger
//!   than `max` was pushed into an empty queue (so the backlog is bounded by
//!   `max(max, largest frame)`).
//! - Frames are written whole and in order; a partly written head frame is always finished
//!   before anything else (the close frame included), so the peer never sees a torn frame.
//! - Once [`Outbound::close`] ran, no data frame is accepted; the close frame is the last one.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::ops::Deref;
use std::sync::Arc;

/// One encoded frame: owned by one connection, or shared by every member of a broadcast.
#[derive(Debug, Clone)]
pub(crate) enum Chunk {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Shared(a) => a,
        }
    }
}

/// What a push did.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Pushed {
    /// Everything went to the socket at once.
    Written,
    /// Part or all of it waits in the queue, which was empty before: the caller must wake
    /// the I/O thread so that it waits for POLLOUT.
    QueuedWake,
    /// Queued behind other frames; the I/O thread already knows.
    Queued,
    /// The queue would exceed its bound: nothing was queued; the caller closes the
    /// connection with 1008.
    Overflow { queued: usize },
    /// The connection is closing or closed: nothing was queued.
    Closed,
}

/// How many frames one `writev` may carry (Linux's `UIO_MAXIOV`). A burst of broadcasts
/// that one batch queued for a member then goes out in one call.
const MAX_IOV: usize = 1024;
/// Up to this many frames, the `writev` list lives on the stack (1 KiB); longer lists are
/// allocated, so an I/O thread's stack never touches more pages for them.
const STACK_IOV: usize = 64;

#[derive(Debug)]
pub(crate) struct Outbound {
    queue: VecDeque<Chunk>,
    head_off: usize,
    queued: usize,
    max: usize,
    closed: bool,
}

impl Outbound {
    pub(crate) fn new(max: usize) -> Outbound {
        Outbound {
            queue: VecDeque::new(),
            head_off: 0,
            queued: 0,
            max,
            closed: false,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Appends one frame. With `sink` (a non-blocking socket) and an empty queue, writes at
    /// once and queues only what the socket did not take.
    pub(crate) fn push<W: Write>(&mut self, chunk: Chunk, sink: Option<&mut W>) -> Pushed {
        if self.closed {
            return Pushed::Closed;
        }
        let len = chunk.len();
        // The bound is on the backlog: one frame larger than the whole buffer is still
        // accepted into an empty queue (else a message over `max` could never be sent).
        if !self.queue.is_empty() && self.queued.saturating_add(len) > self.max {
            return Pushed::Overflow {
                queued: self.queued,
            };
        }
        let was_empty = self.queue.is_empty();
        let mut off = 0;
        if was_empty {
            if let Some(w) = sink {
                off = write_some(w, &chunk);
                if off == len {
                    return Pushed::Written;
                }
            }
        }
        self.queued += len - off;
        if was_empty {
            self.head_off = off;
        }
        self.queue.push_back(chunk);
        if was_empty {
            Pushed::QueuedWake
        } else {
            Pushed::Queued
        }
    }

    /// Puts `chunk` before everything queued (the 101 in front of frames sent during the
    /// handshake). Only valid while nothing has been written (`head_off == 0`).
    pub(crate) fn push_front(&mut self, chunk: Chunk) {
        debug_assert_eq!(self.head_off, 0);
        self.queued += chunk.len();
        self.queue.push_front(chunk);
    }

    /// Queues the close frame as the last frame. With `drop_pending`, frames not yet started
    /// are discarded first (used when the peer is not reading: overflow, or a dead peer).
    /// Returns false if a close frame was already queued.
    pub(crate) fn close(&mut self, frame: Chunk, drop_pending: bool) -> bool {
        if self.closed {
            return false;
        }
        self.closed = true;
        if drop_pending && !self.queue.is_empty() {
            let keep = usize::from(self.head_off > 0);
            while self.queue.len() > keep {
                self.queue.pop_back();
            }
            self.queued = self.queue.front().map_or(0, |h| h.len() - self.head_off);
            if keep == 0 {
                self.head_off = 0;
            }
        }
        self.queued += frame.len();
        self.queue.push_back(frame);
        true
    }

    /// Discards everything (the socket is gone).
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.head_off = 0;
        self.queued = 0;
        self.closed = true;
    }

    /// Writes queued frames until the socket would block or the queue is empty.
    /// Returns Ok(true) when the queue is empty.
    pub(crate) fn flush<W: Write>(&mut self, w: &mut W) -> io::Result<bool> {
        while !self.queue.is_empty() {
            let n = {
                let k = self.queue.len().min(MAX_IOV);
                let mut on_stack = [IoSlice::new(&[]); STACK_IOV];
                let mut on_heap;
                let iov = if k <= STACK_IOV {
                    &mut on_stack[..k]
                } else {
                    on_heap = vec![IoSlice::new(&[]); k];
                    &mut on_heap[..]
                };
                for (i, (slot, c)) in iov.iter_mut().zip(&self.queue).enumerate() {
                    *slot = IoSlice::new(if i == 0 { &c[self.head_off..] } else { c });
                }
                match w.write_vectored(iov) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.advance(n);
        }
        Ok(true)
    }

    fn advance(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let head_left = self.queue[0].len() - self.head_off;
            if n >= head_left {
                n -= head_left;
                self.queue.pop_front();
                self.head_off = 0;
            } else {
                self.head_off += n;
                n = 0;
            }
        }
        if self.queue.is_empty() {
            // Give back a queue that grew during a burst; an idle connection keeps none.
            if self.queue.capacity() > 16 {
                self.queue = VecDeque::new();
            }
        }
    }
}

/// Writes as much of `buf` as the non-blocking `w` takes; any error other than `WouldBlock`
/// is left for the I/O thread to meet on its next write.
fn write_some<W: Write>(w: &mut W, buf: &[u8]) -> usize {
    let mut off = 0;
    while off < buf.len() {
        match w.write(&buf[off..]) {
            Ok(0) => break,
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    off
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes at most `room` bytes, then says WouldBlock.
    struct Tight {
        got: Vec<u8>,
        room: usize,
    }
    impl Write for Tight {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = b.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn owned(b: &[u8]) -> Chunk {
        Chunk::Owned(b.to_vec())
    }

    /// A sink that takes everything and records how many slices each `writev` carried.
    #[derive(Default)]
    struct Vectored {
        got: Vec<u8>,
        calls: Vec<usize>,
    }
    impl Write for Vectored {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(b)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls.push(bufs.len());
            let before = self.got.len();
            for b in bufs {
                self.got.extend_from_slice(b);
            }
            Ok(self.got.len() - before)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_long_queue_goes_out_in_few_writes() {
        for (frames, calls) in [(3, vec![3]), (300, vec![300]), (1500, vec![1024, 476])] {
            let mut q = Outbound::new(1 << 20);
            let mut want = Vec::new();
            for i in 0..frames {
                let f = format!("{i},");
                want.extend_from_slice(f.as_bytes());
                let _ = q.push(owned(f.as_bytes()), None::<&mut Vectored>);
            }
            let mut s = Vectored::default();
            assert!(q.flush(&mut s).unwrap());
            assert_eq!(s.calls, calls, "{frames} frames");
            assert_eq!(s.got, want);
        }
    }

    #[test]
    fn writes_at_once_when_the_socket_takes_it() {
        let mut q = Outbound::new(100);
        let mut s = Tight {
            got: vec![],
            room: 100,
        };
        assert_eq!(q.push(owned(b"abc"), Some(&mut s)), Pushed::Written);
        assert!(q.is_empty());
        assert_eq!(s.got, b"abc");
    }

    #[test]
    fn queues_the_rest_and_flushes_in_order() {
        let mut q = Outbound::new(100);
        let mut s = Tight {
            got: vec![],
            room: 2,
        };
        assert_eq!(q.push(owned(b"abcd"), Some(&mut s)), Pushed::QueuedWake);
        assert_eq!(q.push(owned(b"ef"), Some(&mut s)), Pushed::Queued);
        assert_eq!(q.queued(), 4);
        s.room = 3;
        assert!(!q.flush(&mut s).unwrap());
        assert_eq!(q.queued(), 1);
        s.room = 10;
        assert!(q.flush(&mut s).unwrap());
        assert_eq!(s.got, b"abcdef");
        assert_eq!(q.queued(), 0);
    }

    #[test]
    fn overflow_queues_nothing() {
        let mut q = Outbound::new(5);
        let mut s = Tight {
            got: vec![],
            room: 0,
        };
        assert_eq!(q.push(owned(b"abcd"), Some(&mut s)), Pushed::QueuedWake);
        assert_eq!(
            q.push(owned(b"ef"), Some(&mut s)),
            Pushed::Overflow { queued: 4 }
        );
        assert_eq!(q.queued(), 4);
    }

    #[test]
    fn one_frame_larger_than_the_buffer_fits_an_empty_queue() {
        let mut q = Outbound::new(4);
        assert_eq!(
            q.push(owned(b"abcdefgh"), None::<&mut Tight>),
            Pushed::QueuedWake
        );
        assert_eq!(
            q.push(owned(b"i"), None::<&mut Tight>),
            Pushed::Overflow { queued: 8 }
        );
    }

    #[test]
    fn close_keeps_a_torn_head_drops_the_rest_and_refuses_data() {
        let mut q = Outbound::new(100);
        let mut s = Tight {
            got: vec![],
            room: 1,
        };
        assert_eq!(q.push(owned(b"abc"), Some(&mut s)), Pushed::QueuedWake);
        assert_eq!(q.push(owned(b"def"), None::<&mut Tight>), Pushed::Queued);
        assert!(q.close(owned(b"X"), true));
        assert!(!q.close(owned(b"Y"), true));
        assert_eq!(q.push(owned(b"g"), None::<&mut Tight>), Pushed::Closed);
        s.room = 100;
        assert!(q.flush(&mut s).unwrap());
        assert_eq!(s.got, b"abcX");
    }

    #[test]
    fn graceful_close_keeps_pending_frames() {
        let mut q = Outbound::new(100);
        assert_eq!(q.push(owned(b"ab"), None::<&mut Tight>), Pushed::QueuedWake);
        assert!(q.close(Chunk::Shared(Arc::from(&b"Z"[..])), false));
        let mut s = Tight {
            got: vec![],
            room: 100,
        };
        assert!(q.flush(&mut s).unwrap());
        assert_eq!(s.got, b"abZ");
    }
}
