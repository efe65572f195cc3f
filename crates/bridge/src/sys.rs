//! The system calls std does not wrap: `eventfd(2)`, `poll(2)`, `madvise(2)` to trim a
//! thread's stack, and `setsockopt(2)` for `TCP_DEFER_ACCEPT`.
//!
//! Invariants:
//! - Every `unsafe` block of the crate that talks to the kernel lives here, each with its
//!   `// SAFETY:` note; the rest of the crate uses the safe wrappers below.
//! - [`EventFd`] owns its descriptor (an [`OwnedFd`]); it is closed exactly once, on drop.
//! - [`poll`] never blocks longer than the deadline it is given, and `EINTR` is retried with
//!   the remaining time, so callers see either readiness or a timeout.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

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

/// Asks the kernel to hand a connection to `accept(2)` only once its first bytes have arrived
/// (`TCP_DEFER_ACCEPT`), waiting at most `wait` for them (whole seconds, rounded up); after
/// that the connection is accepted anyway, so a silent client still meets the handshake
/// deadline.
pub(crate) fn defer_accept(listener: &impl AsRawFd, wait: Duration) -> io::Result<()> {
    // A float-to-int `as` saturates: an absurd `wait` becomes `c_int::MAX` seconds.
    let secs = wait.as_secs_f64().ceil() as libc::c_int;
    // SAFETY: passes a pointer to a live local c_int and its exact size; the kernel only
    // reads it during the call.
    let r = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&secs as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the kernel back the pages of the calling thread's stack below the current stack
/// pointer, which deeper calls touched earlier: an idle connection's thread then holds only
/// the pages its wait needs. The pages read as zeros when touched again. A no-op where the
/// stack bounds or the stack pointer are unknown. Inlined, so that the stack pointer it
/// reads is its caller's.
#[inline(always)]
pub(crate) fn trim_stack() {
    const PAGE: usize = 4096;
    /// Kept below the stack pointer: the return address of the `madvise` call (libc's
    /// wrapper is a bare system call stub) and the x86-64 red zone (128 bytes).
    const MARGIN: usize = 256;
    thread_local! {
        /// Lowest address of this thread's stack; 0 until known, 1 if it cannot be.
        static LOW: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }
    let low = LOW.with(|l| {
        if l.get() == 0 {
            l.set(stack_low().unwrap_or(1));
        }
        l.get()
    });
    let Some(sp) = stack_pointer() else {
        return;
    };
    let start = low.next_multiple_of(PAGE);
    let end = sp.saturating_sub(MARGIN) & !(PAGE - 1);
    if low <= 1 || end <= start {
        return;
    }
    // SAFETY: [start, end) lies inside this thread's own stack mapping (at or above its lowest
    // address, `stack_low`) and more than MARGIN below the stack pointer read just above in
    // this same frame: the stack grows down, so no live frame is there (every frame that used
    // those pages has returned) and only the `madvise` call's return address goes below the
    // stack pointer before the call returns. MADV_DONTNEED on private anonymous memory only
    // drops the pages (they read as zeros afterwards); it cannot unmap anything.
    let r = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    if r != 0 {
        log::debug!("madvise(stack): {}", io::Error::last_os_error());
    }
}

/// The current stack pointer, where it can be read.
#[inline(always)]
fn stack_pointer() -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: copies the stack pointer into a register; touches no memory, flags or stack.
        unsafe {
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        Some(sp)
    }
    #[cfg(target_arch = "aarch64")]
    {
        let sp: usize;
        // SAFETY: copies the stack pointer into a register; touches no memory, flags or stack.
        unsafe {
            std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        Some(sp)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        None
    }
}

/// The lowest address of the calling thread's stack (`pthread_getattr_np`).
fn stack_low() -> Option<usize> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: pthread_getattr_np initialises `attr` for the calling thread when it returns 0;
    // only then is it read, and it is destroyed exactly once.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let r = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        (r == 0 && !addr.is_null()).then_some(addr as usize)
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

    /// Resident pages of this thread's stack, from /proc/self/smaps.
    fn stack_rss_kib(low: usize) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((a, b)) = range.split_once('-') {
                    if let (Ok(a), Ok(b)) =
                        (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                    {
                        inside = a <= low && low < b;
                        continue;
                    }
                }
            }
            if inside {
                if let Some(v) = line.strip_prefix("Rss:") {
                    return v.trim().trim_end_matches(" kB").trim().parse().unwrap();
                }
            }
        }
        panic!("no mapping holds {low:#x}");
    }

    #[inline(never)]
    fn touch_deep(n: usize) -> u8 {
        let mut buf = [0u8; 64 * 1024];
        for (i, b) in buf.iter_mut().enumerate().step_by(512) {
            *b = (i + n) as u8;
        }
        std::hint::black_box(&mut buf);
        buf[0]
    }

    #[test]
    fn trim_stack_returns_pages_deeper_calls_touched() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let low = stack_low().expect("stack bounds");
                std::hint::black_box(touch_deep(3));
                let before = stack_rss_kib(low);
                trim_stack();
                let after = stack_rss_kib(low);
                assert!(
                    before >= 64,
                    "the deep call touched 64 KiB ({before} KiB resident)"
                );
                assert!(
                    after + 48 <= before,
                    "{before} KiB before the trim, {after} KiB after"
                );
                // The stack still works below the trimmed point.
                assert_eq!(touch_deep(5), 5);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
