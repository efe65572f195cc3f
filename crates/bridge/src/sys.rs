//! The two system calls std does not wrap: `eventfd(2)` and `poll(2)`.
//!
//! Invariants:
//! - Every `unsafe` block of the crate that talks to the kernel lives here, each with its
//!   `// SAFETY:` note; the rest of the crate uses the safe wrappers below.
//! - [`EventFd`] owns its descriptor (an [`OwnedFd`]); it is closed exactly once, on drop.
//! - [`poll`] never blocks longer than the deadline it is given, and `EINTR` is retried with
//!   the remaining time, so callers see either readiness or a timeout.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// A wake-up counter (`eventfd(2)`, non-blocking, close-on-exec). Any thread may
/// [`signal`](EventFd::signal) it; the owner waits for it in [`poll`] and [`drain`](EventFd::drain)s it.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; a non-negative return is a fresh descriptor that
        // nothing else owns.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a valid descriptor returned just above and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    /// Adds one to the counter, making the descriptor readable. Never blocks (the counter
    /// cannot reach its 2^64-2 limit: every wake-up is drained by the owner).
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local u64 to a descriptor we own.
        let r = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        if r < 0 {
            log::debug!("eventfd signal failed: {}", io::Error::last_os_error());
        }
    }

    /// Resets the counter to zero (reading it); returns whether it was signalled.
    pub(crate) fn drain(&self) -> bool {
        let mut v: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live local u64 from a descriptor we own.
        let r = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut v as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        r == 8 && v > 0
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Readiness bits a caller asks for / gets back.
pub(crate) const POLLIN: i16 = libc::POLLIN;
pub(crate) const POLLOUT: i16 = libc::POLLOUT;
/// Error / hang-up bits, always reported whatever was asked.
pub(crate) const POLLERR_HUP: i16 = libc::POLLERR | libc::POLLHUP | libc::POLLNVAL;

/// One entry of a [`poll`] set.
#[derive(Debug, Clone, Copy)]
#[repr(transparent)]
pub(crate) struct PollFd(libc::pollfd);

impl PollFd {
    pub(crate) fn new(fd: RawFd, events: i16) -> PollFd {
        PollFd(libc::pollfd {
            fd,
            events,
            revents: 0,
        })
    }
    /// The bits that fired in the last [`poll`].
    pub(crate) fn revents(&self) -> i16 {
        self.0.revents
    }
}

/// Waits until one of `fds` is ready or `deadline` passes (`None`: no deadline).
/// Returns the number of ready entries (0 on timeout).
pub(crate) fn poll(fds: &mut [PollFd], deadline: Option<Instant>) -> io::Result<usize> {
    loop {
        let timeout_ms: libc::c_int = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so we never wake a hair before the deadline and spin.
                let ms = left.as_micros().div_ceil(1000);
                ms.min(libc::c_int::MAX as u128) as libc::c_int
            }
        };
        // SAFETY: `PollFd` is `repr(transparent)` over `libc::pollfd`, the slice is live and exclusively borrowed for the
        // call, and its length is passed alongside.
        let r = unsafe {
            libc::poll(
                fds.as_mut_ptr().cast::<libc::pollfd>(),
                fds.len() as libc::nfds_t,
                timeout_ms,
            )
        };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn eventfd_wakes_poll_and_drains() {
        let e = EventFd::new().unwrap();
        let mut fds = [PollFd::new(e.raw(), POLLIN)];
        let n = poll(&mut fds, Some(Instant::now() + Duration::from_millis(10))).unwrap();
        assert_eq!(n, 0, "nothing signalled yet");
        e.signal();
        e.signal();
        let n = poll(&mut fds, Some(Instant::now() + Duration::from_secs(5))).unwrap();
        assert_eq!(n, 1);
        assert!(fds[0].revents() & POLLIN != 0);
        assert!(e.drain());
        assert!(!e.drain(), "a drained eventfd reads nothing");
    }

    #[test]
    fn poll_honours_the_deadline() {
        let e = EventFd::new().unwrap();
        let mut fds = [PollFd::new(e.raw(), POLLIN)];
        let start = Instant::now();
        poll(&mut fds, Some(start + Duration::from_millis(30))).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
