//! [`Context`]: what a process sees while it runs.

use std::any::Any;
use std::sync::Arc;

use crate::message::{ExitReason, Message};
use crate::owned::Owned;
use crate::pid::{MonitorRef, Pid};
use crate::process::Process;
use crate::runtime::Runtime;
use crate::signal::Signal;
use crate::table::Cell;

/// The view a process has of itself and the runtime during one `resume`.
pub struct Context<'a> {
    pub(crate) rt: &'a Runtime,
    pub(crate) cell: &'a Arc<Cell>,
    pub(crate) own: &'a mut Owned,
    pub(crate) budget: u32,
    pub(crate) timed_out: bool,
}

impl Context<'_> {
    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.own.pid
    }

    /// The runtime this process runs on.
    pub fn runtime(&self) -> &Runtime {
        self.rt
    }

    /// Takes the message at the head of the mailbox (`None` when it is empty, or when an
    /// exit signal is ending this process).
    #[inline]
    pub fn recv(&mut self) -> Option<Message> {
        self.own.take_head(self.cell)
    }

    /// Selective receive: takes the first message for which `pred` is true and leaves the
    /// others in order. When nothing matches it remembers how far it scanned; the next call
    /// (after the process waits and is woken) continues from there, so a skipped message
    /// is not rescanned. The position resets when a message is taken, when the wait timed
    /// out, or with [`Context::rescan`] (call it when a different receive starts).
    pub fn recv_matching(&mut self, pred: impl FnMut(&Message) -> bool) -> Option<Message> {
        self.own.take_matching(self.cell, pred)
    }

    /// Forgets the saved scan position, so the next `recv_matching` starts at the head.
    pub fn rescan(&mut self) {
        self.own.scan = 0;
    }

    /// Messages already in this process's mailbox (a lower bound: more may be arriving).
    pub fn mailbox_len(&mut self) -> usize {
        self.own.pull(self.cell);
        self.own.queue.len()
    }

    /// `true` when this resume happened because the deadline of the last `Step::Wait`
    /// passed.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// Spends `reductions` of this resume's budget; `false` once the budget is used up (or
    /// an exit signal is ending this process): the process should return `Step::Yield`.
    #[inline]
    pub fn consume(&mut self, reductions: u32) -> bool {
        self.budget = self.budget.saturating_sub(reductions);
        self.budget > 0 && self.own.pending_exit.is_none()
    }

    /// Posts a user message (never blocks; a dead pid is a no-op).
    pub fn send(&mut self, to: Pid, msg: impl Any + Send) {
        self.send_message(to, Message::User(Box::new(msg)));
    }

    /// Posts a message as is.
    #[inline]
    pub fn send_message(&mut self, to: Pid, msg: Message) {
        let _ = self.rt.shared.deliver(to, Signal::Msg(msg));
    }

    /// Sends an exit signal to `pid` with this process as `from` (`Killed` cannot be
    /// trapped). Sent to itself, it applies at once.
    pub fn exit(&mut self, pid: Pid, reason: ExitReason) {
        let sig = Signal::Exit {
            from: self.own.pid,
            reason,
        };
        if pid == self.own.pid {
            self.own.absorb(sig);
        } else {
            let _ = self.rt.shared.deliver(pid, sig);
        }
    }

    /// Spawns a process.
    pub fn spawn(&mut self, p: impl Process) -> Pid {
        self.rt.shared.spawn_boxed(Box::new(p), |_| {})
    }

    /// Spawns a message-handler actor (see [`Runtime::spawn_fn`]).
    pub fn spawn_fn(
        &mut self,
        f: impl FnMut(&mut Context<'_>, Message) -> crate::Control + Send + 'static,
    ) -> Pid {
        self.rt.spawn_fn(f)
    }

    /// Spawns a process linked to this one (atomically: the link exists before it runs).
    pub fn spawn_link(&mut self, p: impl Process) -> Pid {
        let me = self.own.pid;
        let pid = self.rt.shared.spawn_boxed(Box::new(p), |child| {
            child.rel().links.insert(me);
        });
        self.own.rel().links.insert(pid);
        // Ask the runtime, not the table: a child that already ran and exited on another
        // worker is gone from the table too, and its real exit signal is on its way.
        if self.rt.shared.is_shut_down() {
            // Runtime shut down: the child never existed.
            self.own.absorb(Signal::LinkExit {
                from: pid,
                reason: ExitReason::NoProc,
            });
        }
        pid
    }

    /// Spawns a process monitored by this one (atomically).
    pub fn spawn_monitor(&mut self, p: impl Process) -> (Pid, MonitorRef) {
        let me = self.own.pid;
        let mref = self.rt.shared.next_ref();
        let pid = self.rt.shared.spawn_boxed(Box::new(p), |child| {
            child.rel().watchers.insert(mref, me);
        });
        self.own.rel().monitors.insert(mref, pid);
        if self.rt.shared.is_shut_down() {
            // Runtime shut down: the child never existed (see spawn_link).
            self.own.absorb(Signal::Down {
                mref,
                pid,
                reason: ExitReason::NoProc,
            });
        }
        (pid, mref)
    }

    /// Links this process and `pid` (both ways). If `pid` is dead, an exit signal with
    /// reason `NoProc` arrives at once (which ends this process unless it traps exits).
    pub fn link(&mut self, pid: Pid) {
        self.own.link(&self.rt.shared, pid);
    }

    /// Removes the link; exit signals from `pid` that are already on their way are dropped.
    pub fn unlink(&mut self, pid: Pid) {
        self.own.unlink(&self.rt.shared, pid);
    }

    /// Monitors `pid`: one `Message::Down` arrives when it exits (reason `NoProc` at once if
    /// it is already dead).
    pub fn monitor(&mut self, pid: Pid) -> MonitorRef {
        self.own.monitor(&self.rt.shared, pid)
    }

    /// Removes a monitor; its `Down` message is not delivered afterwards (one already in
    /// the mailbox is removed).
    pub fn demonitor(&mut self, m: MonitorRef) {
        self.own.demonitor(&self.rt.shared, m);
    }

    /// When on, exit signals from linked processes arrive as `Message::Exit` instead of
    /// ending this process (except `Killed` sent with `exit`).
    pub fn trap_exit(&mut self, on: bool) {
        self.own.trap_exit = on;
    }

    /// Whether this process traps exits.
    pub fn traps_exits(&self) -> bool {
        self.own.trap_exit
    }

    /// Registers this process under `name` (see [`Runtime::register`]).
    pub fn register(&mut self, name: &str) -> Result<(), crate::Error> {
        self.rt.register(name, self.own.pid)
    }
}
