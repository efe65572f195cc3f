//! Log lines that an attacker can trigger at will (descriptor or thread exhaustion) go
//! through a [`RateLimit`]: at most one line per interval, with the count of the lines left
//! out since the last one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One log site's budget. `const`-constructible, for a `static` per site.
pub(crate) struct RateLimit {
    /// Milliseconds since the process's first use of any limiter, at the last line logged
    /// (0: never).
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

const INTERVAL: Duration = Duration::from_secs(5);

fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

impl RateLimit {
    pub(crate) const fn new() -> RateLimit {
        RateLimit {
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)`: log now, mentioning `n` lines left out since the last one; `None`: skip.
    pub(crate) fn check(&self) -> Option<u64> {
        let now = now_ms();
        let last = self.last_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < INTERVAL.as_millis() as u64 {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self
            .last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_per_interval_then_the_count() {
        let r = super::RateLimit::new();
        assert_eq!(r.check(), Some(0));
        assert_eq!(r.check(), None);
        assert_eq!(r.check(), None);
        assert_eq!(r.suppressed.load(std::sync::atomic::Ordering::Relaxed), 2);
    }
}
