//! [`Mailbox`]: a pid for a thread that is not an actor.
//!
//! The mailbox's cell has a `Parker` instead of a process: a sender pushes to the inbox
//! and then unparks it, so the owner, who pulls the inbox before parking, never misses a
//! message (the parker keeps one token). The owned state sits behind a mutex so that the
//! `Mailbox` can be shared by reference; only one thread should receive at a time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::message::{ExitReason, Message};
use crate::owned::Owned;
use crate::pid::{MonitorRef, Pid};
use crate::process::Process;
use crate::runtime::Runtime;
use crate::signal::Signal;
use crate::table::{lock, Body, Cell};

/// The receiving end of a pid owned by an ordinary thread (see `Runtime::mailbox`).
/// It always traps exits: exit signals (even `Killed`) arrive as `Message::Exit`, since a
/// thread cannot be killed. Dropping it ends the pid with reason `Normal` (links and
/// monitors fire).
pub struct Mailbox {
    rt: Runtime,
    cell: Arc<Cell>,
    own: Mutex<Owned>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("pid", &self.cell.pid)
            .finish()
    }
}

impl Mailbox {
    pub(crate) fn new(rt: Runtime, cell: Arc<Cell>, own: Owned) -> Mailbox {
        Mailbox {
            rt,
            cell,
            own: Mutex::new(own),
        }
    }

    /// This mailbox's pid.
    pub fn pid(&self) -> Pid {
        self.cell.pid
    }

    /// The runtime this mailbox belongs to.
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Blocks until a message arrives or `deadline` passes (`None`: wait forever, or until
    /// the runtime shuts down).
    pub fn recv(&self, deadline: Option<Instant>) -> Option<Message> {
        self.wait_for(deadline, |own, cell| own.take_head(cell))
    }

    /// `recv` with a deadline `timeout` from now.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Message> {
        self.recv(Instant::now().checked_add(timeout))
    }

    /// Takes a message if one is there, without blocking.
    pub fn try_recv(&self) -> Option<Message> {
        lock(&self.own).take_head(&self.cell)
    }

    /// Blocks until a message matching `pred` arrives (the others stay, in order) or
    /// `deadline` passes. Each call scans from the head once, then only new messages.
    pub fn recv_matching(
        &self,
        mut pred: impl FnMut(&Message) -> bool,
        deadline: Option<Instant>,
    ) -> Option<Message> {
        lock(&self.own).scan = 0;
        self.wait_for(deadline, |own, cell| own.take_matching(cell, &mut pred))
    }

    fn wait_for(
        &self,
        deadline: Option<Instant>,
        mut take: impl FnMut(&mut Owned, &Cell) -> Option<Message>,
    ) -> Option<Message> {
        let Body::Thread(parker) = &self.cell.body else {
            return None;
        };
        loop {
            if let Some(m) = take(&mut lock(&self.own), &self.cell) {
                return Some(m);
            }
            if self.rt.shared.is_shut_down() {
                return None;
            }
            if !parker.park(deadline) {
                return take(&mut lock(&self.own), &self.cell);
            }
        }
    }

    /// Spawns a process linked to this pid, atomically: the link exists before the child
    /// runs, so a child that exits at once still sends its real reason (as a
    /// `Message::Exit`; a mailbox traps exits). If the runtime is shut down, the child never
    /// existed and `Message::Exit { reason: NoProc }` arrives at once.
    pub fn spawn_link(&self, p: impl Process) -> Pid {
        let me = self.cell.pid;
        // Hold the owned state across the spawn: the child's exit signal can reach the
        // inbox before the link is recorded here, but it is applied only when the inbox is
        // pulled, which takes this lock.
        let mut own = lock(&self.own);
        let pid = self.rt.shared.spawn_boxed(Box::new(p), |child| {
            child.rel().links.insert(me);
        });
        own.rel().links.insert(pid);
        // As in `Context::spawn_link`: ask the runtime, not the table (a child that already
        // exited is gone from the table too, and its real exit signal is on its way).
        if self.rt.shared.is_shut_down() {
            own.absorb(Signal::LinkExit {
                from: pid,
                reason: ExitReason::NoProc,
            });
        }
        pid
    }

    /// Spawns a process monitored by this pid, atomically: the monitor exists before the
    /// child runs, so a child that exits at once still sends its real reason in its
    /// `Message::Down`. If the runtime is shut down, the child never existed and the `Down`
    /// (reason `NoProc`) arrives at once.
    pub fn spawn_monitor(&self, p: impl Process) -> (Pid, MonitorRef) {
        let me = self.cell.pid;
        let mref = self.rt.shared.next_ref();
        let mut own = lock(&self.own); // see spawn_link
        let pid = self.rt.shared.spawn_boxed(Box::new(p), |child| {
            child.rel().watchers.insert(mref, me);
        });
        own.rel().monitors.insert(mref, pid);
        if self.rt.shared.is_shut_down() {
            own.absorb(Signal::Down {
                mref,
                pid,
                reason: ExitReason::NoProc,
            });
        }
        (pid, mref)
    }

    /// Links this pid and `pid` (a dead `pid` yields `Message::Exit { reason: NoProc }`).
    pub fn link(&self, pid: Pid) {
        lock(&self.own).link(&self.rt.shared, pid);
    }

    /// Removes a link.
    pub fn unlink(&self, pid: Pid) {
        lock(&self.own).unlink(&self.rt.shared, pid);
    }

    /// Monitors `pid`: a `Message::Down` arrives when it exits.
    pub fn monitor(&self, pid: Pid) -> MonitorRef {
        lock(&self.own).monitor(&self.rt.shared, pid)
    }

    /// Removes a monitor; its `Down` message is not delivered afterwards.
    pub fn demonitor(&self, m: MonitorRef) {
        lock(&self.own).demonitor(&self.rt.shared, m);
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let own = self.own.get_mut().unwrap_or_else(|e| e.into_inner());
        self.rt
            .shared
            .exit_process(&self.cell, own, ExitReason::Normal);
    }
}
