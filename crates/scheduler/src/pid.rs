//! Process identifiers and the references handed out by monitors and timers.

use std::fmt;

/// A process identifier. Ids grow monotonically from 1 and are never reused within a run,
/// so a stale pid never reaches a newer process. `<0.0>` ([`Pid::NONE`]) names no process:
/// it is the sender of exit signals that come from outside any process.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Pid(pub(crate) u64);

impl Pid {
    /// The pid of no process (`<0.0>`): the `from` of signals sent from outside any process.
    pub const NONE: Pid = Pid(0);

    /// The numeric id (the `N` in `<0.N>`).
    pub fn id(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<0.{}>", self.0)
    }
}

/// Names one monitor (returned by `Context::monitor`, carried by `Message::Down`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct MonitorRef(pub(crate) u64);

impl fmt::Display for MonitorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Ref<0.{}>", self.0)
    }
}

/// Names one pending `send_after` timer, for `cancel_timer`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TimerRef(pub(crate) u64);
