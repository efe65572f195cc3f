//! Read buffers lent to I/O threads only while they read, so an idle connection holds none
//! (its thread's stack stays a few pages deep).
//!
//! Invariants: at most [`MAX_POOLED`] buffers are kept; a buffer is owned by exactly one
//! thread between [`take`] and the drop of its [`Lease`]; the pool lock is held for a push or
//! a pop only.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Size of one read buffer: one `read(2)` takes at most this much. 16 KiB and room for the
/// largest frame header (14 bytes), so that a 16 KiB message comes in one read, not two.
/// Larger reads slow decoding down: the buffer and the message being written no longer fit
/// in L1 together (a 32 KiB row tried in `crates/ws/benches/codec.rs` decoded 1 MiB messages
/// 9-19 % slower than 16 KiB reads, in four runs).
pub(crate) const BUF_SIZE: usize = 16 * 1024 + 16;
/// Buffers kept for reuse at most (more exist only while that many threads read at once).
const MAX_POOLED: usize = 64;

static POOL: Mutex<Vec<Box<[u8]>>> = Mutex::new(Vec::new());

/// A buffer on loan; it goes back to the pool when dropped.
pub(crate) struct Lease(Option<Box<[u8]>>);

pub(crate) fn take() -> Lease {
    let b = POOL.lock().unwrap_or_else(|e| e.into_inner()).pop();
    Lease(Some(
        b.unwrap_or_else(|| vec![0u8; BUF_SIZE].into_boxed_slice()),
    ))
}

impl Deref for Lease {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().unwrap_or(&mut [])
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < MAX_POOLED {
                pool.push(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn buffers_are_reused() {
        let a = super::take();
        let p = a.as_ptr();
        assert_eq!(a.len(), super::BUF_SIZE);
        drop(a);
        // Another test may take it in between; at least the size holds.
        let b = super::take();
        assert_eq!(b.len(), super::BUF_SIZE);
        let _ = p;
    }
}
