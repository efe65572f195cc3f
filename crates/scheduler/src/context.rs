//! [`Context`]: what a process sees while it runs.

use std::any::Any;

use crate::message::{ExitReason, Message};
use crate::pid::{MonitorRef, Pid};
use crate::process::Process;
use crate::runtime::Runtime;

/// The view a process has of itself and the runtime during one `resume`.
pub struct Context<'a> {
    pub(crate) rt: &'a Runtime,
}

impl<'a> Context<'a> {
    /// This process's pid.
    pub fn pid(&self) -> Pid {
        todo!()
    }

    /// The runtime this process runs on.
    pub fn runtime(&self) -> &Runtime {
        self.rt
    }

    /// Takes the message at the head of the mailbox.
    pub fn recv(&mut self) -> Option<Message> {
        todo!()
    }

    /// Selective receive: takes the first message for which `pred` is true and leaves the
    /// others in order. When nothing matches it remembers how far it scanned; the next call
    /// (after the process waits and is woken) continues from there. The position resets
    /// when a message is taken, when the wait timed out, or with [`Context::rescan`].
    pub fn recv_matching(&mut self, pred: impl FnMut(&Message) -> bool) -> Option<Message> {
        let _ = pred;
        todo!()
    }

    /// Forgets the saved scan position, so the next `recv_matching` starts at the head.
    pub fn rescan(&mut self) {
        todo!()
    }

    /// `true` when this resume happened because the deadline of the last `Step::Wait`
    /// passed.
    pub fn timed_out(&self) -> bool {
        todo!()
    }

    /// Spends `reductions` of this resume's budget; `false` once the budget is used up: the
    /// process should return `Step::Yield`.
    pub fn consume(&mut self, reductions: u32) -> bool {
        let _ = reductions;
        todo!()
    }

    /// Posts a user message (never blocks; a dead pid is a no-op).
    pub fn send(&mut self, to: Pid, msg: impl Any + Send) {
        let _ = (to, msg);
        todo!()
    }

    /// Sends an exit signal to `pid` with this process as `from`.
    pub fn exit(&mut self, pid: Pid, reason: ExitReason) {
        let _ = (pid, reason);
        todo!()
    }

    /// Spawns a process.
    pub fn spawn(&mut self, p: impl Process) -> Pid {
        let _ = p;
        todo!()
    }

    /// Spawns a process linked to this one (atomically: the link exists before it runs).
    pub fn spawn_link(&mut self, p: impl Process) -> Pid {
        let _ = p;
        todo!()
    }

    /// Spawns a process monitored by this one (atomically).
    pub fn spawn_monitor(&mut self, p: impl Process) -> (Pid, MonitorRef) {
        let _ = p;
        todo!()
    }

    /// Links this process and `pid` (both ways). If `pid` is dead, an exit signal with
    /// reason `NoProc` arrives at once.
    pub fn link(&mut self, pid: Pid) {
        let _ = pid;
        todo!()
    }

    /// Removes the link; exit signals from `pid` that are already on their way are dropped.
    pub fn unlink(&mut self, pid: Pid) {
        let _ = pid;
        todo!()
    }

    /// Monitors `pid`: one `Message::Down` arrives when it exits (reason `NoProc` at once if
    /// it is already dead).
    pub fn monitor(&mut self, pid: Pid) -> MonitorRef {
        let _ = pid;
        todo!()
    }

    /// Removes a monitor; its `Down` message is not delivered afterwards.
    pub fn demonitor(&mut self, m: MonitorRef) {
        let _ = m;
        todo!()
    }

    /// When on, exit signals from linked processes arrive as `Message::Exit` instead of
    /// ending this process (except `Killed` sent with `exit`).
    pub fn trap_exit(&mut self, on: bool) {
        let _ = on;
        todo!()
    }
}
