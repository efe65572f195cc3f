//! The run-state word of a process: one `AtomicU32` with documented bits.
//!
//! | bit | name | meaning |
//! |---|---|---|
//! | 0 | `NOTIFIED` | the process is in a run queue, or will be put in one when its current run ends |
//! | 1 | `RUNNING` | a thread is inside `resume` (or the exit path) and owns the process's data |
//! | 2 | `EXITED` | the process has exited; it is never scheduled again |
//! | 3 | `REGISTERED` | the process has a name in the registry (the exit path must free it) |
//!
//! States and transitions (the other bits are preserved by every transition):
//! - idle (`0`): waiting for a message. [`RunState::notify`] sets `NOTIFIED` and, since
//!   the word was idle, tells its caller to push the process on a run queue. Exactly one
//!   notifier sees the idle word, so the process is queued exactly once.
//! - queued (`NOTIFIED`): further notifies see `NOTIFIED` and do nothing.
//! - running (`RUNNING`): a worker popped it and called [`RunState::start_run`], which
//!   clears `NOTIFIED` and sets `RUNNING` in one step. A message that arrives now sets
//!   `NOTIFIED` and does nothing else (the notifier sees `RUNNING`).
//! - after `resume` returns `Wait`, [`RunState::finish_wait`] clears `RUNNING`; if
//!   `NOTIFIED` was set meanwhile the word is left queued and the worker requeues the
//!   process (rescheduled exactly once); otherwise the word is idle and the next notify
//!   queues it. A message pushed before the worker's `fetch_and` is seen by it; one pushed
//!   after sees the idle word: no wake-up is lost.
//! - `Yield`: [`RunState::finish_yield`] sets `NOTIFIED` while `RUNNING` is still set (so no
//!   notifier queues it), then clears `RUNNING`; the worker requeues it.
//! - exit: [`RunState::mark_exited`] sets `EXITED` while `RUNNING` is set; notifiers seeing
//!   `EXITED` do nothing, ever after.
//!
//! Senders always push to the inbox (under its lock) *before* calling `notify`, and a
//! running process drains the inbox after `start_run`; the `AcqRel` operations on this
//! word order the two. A running process that finds the inbox's `nonempty` flag clear
//! skips the lock; that flag is written and read `SeqCst`, like the fast-path load in
//! `notify`, so a push whose `notify` saw the process queued is never missed (see
//! `Cell::nonempty`).

use std::sync::atomic::{AtomicU32, Ordering};

pub(crate) const NOTIFIED: u32 = 1;
pub(crate) const RUNNING: u32 = 1 << 1;
pub(crate) const EXITED: u32 = 1 << 2;
pub(crate) const REGISTERED: u32 = 1 << 3;

/// The run state of one process (see the module docs).
pub(crate) struct RunState(AtomicU32);

impl RunState {
    /// A new process starts queued: the spawner pushes it on a run queue.
    pub(crate) fn new_queued() -> RunState {
        RunState(AtomicU32::new(NOTIFIED))
    }

    /// A process spawned waiting (`Runtime::spawn_waiting`): idle until its first message.
    pub(crate) fn new_idle() -> RunState {
        RunState(AtomicU32::new(0))
    }

    /// Something for the process arrived. `true`: the caller must schedule it (it was idle).
    #[must_use]
    pub(crate) fn notify(&self) -> bool {
        // Fast path for a hot receiver: already queued (or gone), nothing to do, and no
        // write to a cache line the running worker also writes. Safe because the sender
        // pushed under the inbox lock before this load: if the worker's `start_run` (which
        // clears `NOTIFIED`) came before that push's lock in the lock's order, this load
        // sees its effect; if after, the worker's drain sees the push.
        if self.0.load(Ordering::SeqCst) & (NOTIFIED | EXITED) != 0 {
            return false;
        }
        let prev = self.0.fetch_or(NOTIFIED, Ordering::AcqRel);
        prev & (NOTIFIED | RUNNING | EXITED) == 0
    }

    /// A worker took the process off a run queue: queued → running.
    pub(crate) fn start_run(&self) {
        let prev = self.0.fetch_xor(NOTIFIED | RUNNING, Ordering::SeqCst);
        debug_assert_eq!(
            prev & (NOTIFIED | RUNNING),
            NOTIFIED,
            "start_run on {prev:#b}"
        );
    }

    /// The process waits. `true`: something arrived while it ran; it stays queued and the
    /// caller must requeue it.
    #[must_use]
    pub(crate) fn finish_wait(&self) -> bool {
        let prev = self.0.fetch_and(!RUNNING, Ordering::AcqRel);
        debug_assert!(prev & RUNNING != 0);
        prev & NOTIFIED != 0
    }

    /// The process yields: running → queued. The caller must requeue it.
    pub(crate) fn finish_yield(&self) {
        self.0.fetch_or(NOTIFIED, Ordering::AcqRel);
        self.0.fetch_and(!RUNNING, Ordering::AcqRel);
    }

    /// The process exits. Returns the previous word (the caller checks `REGISTERED`).
    pub(crate) fn mark_exited(&self) -> u32 {
        self.0.fetch_or(EXITED, Ordering::AcqRel)
    }

    /// Sets `REGISTERED` unless the process exited; `false` if it had exited.
    pub(crate) fn set_registered(&self) -> bool {
        let prev = self.0.fetch_or(REGISTERED, Ordering::AcqRel);
        prev & EXITED == 0
    }

    pub(crate) fn is_exited(&self) -> bool {
        self.0.load(Ordering::Acquire) & EXITED != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notify_schedules_per_idle_period() {
        let s = RunState::new_queued();
        assert!(!s.notify(), "already queued");
        s.start_run();
        assert!(!s.notify(), "running: no schedule");
        assert!(s.finish_wait(), "notified while running: requeue");
        s.start_run();
        assert!(!s.finish_wait(), "nothing arrived: idle");
        assert!(s.notify(), "idle: this notify schedules");
        assert!(!s.notify(), "second notify does not");
    }

    #[test]
    fn yield_requeues_and_exit_is_final() {
        let s = RunState::new_queued();
        s.start_run();
        s.finish_yield();
        assert!(!s.notify());
        s.start_run();
        assert!(s.set_registered());
        assert!(s.mark_exited() & REGISTERED != 0);
        assert!(!s.notify());
        assert!(s.is_exited());
        assert!(!s.set_registered());
    }
}
