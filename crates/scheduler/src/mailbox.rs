//! [`Mailbox`]: a pid for a thread that is not an actor.

use std::time::{Duration, Instant};

use crate::message::Message;
use crate::pid::{MonitorRef, Pid};

/// The receiving end of a pid owned by an ordinary thread (see `Runtime::mailbox`).
/// It always traps exits: exit signals arrive as `Message::Exit`, since a thread cannot be
/// killed. Dropping it ends the pid with reason `Normal` (links and monitors fire).
pub struct Mailbox {}

impl Mailbox {
    /// This mailbox's pid.
    pub fn pid(&self) -> Pid {
        todo!()
    }

    /// Blocks until a message arrives or `deadline` passes (`None`: wait forever).
    pub fn recv(&self, deadline: Option<Instant>) -> Option<Message> {
        let _ = deadline;
        todo!()
    }

    /// `recv` with a deadline `timeout` from now.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Message> {
        self.recv(Some(Instant::now() + timeout))
    }

    /// Takes a message if one is there, without blocking.
    pub fn try_recv(&self) -> Option<Message> {
        self.recv(Some(Instant::now()))
    }

    /// Blocks until a message matching `pred` arrives (the others stay, in order) or
    /// `deadline` passes.
    pub fn recv_matching(
        &self,
        pred: impl FnMut(&Message) -> bool,
        deadline: Option<Instant>,
    ) -> Option<Message> {
        let _ = (pred, deadline);
        todo!()
    }

    /// Links this pid and `pid`.
    pub fn link(&self, pid: Pid) {
        let _ = pid;
        todo!()
    }

    /// Removes a link.
    pub fn unlink(&self, pid: Pid) {
        let _ = pid;
        todo!()
    }

    /// Monitors `pid`.
    pub fn monitor(&self, pid: Pid) -> MonitorRef {
        let _ = pid;
        todo!()
    }

    /// Removes a monitor.
    pub fn demonitor(&self, m: MonitorRef) {
        let _ = m;
        todo!()
    }
}
