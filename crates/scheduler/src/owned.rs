//! The state a process owns: its private message queue, selective-receive position, links,
//! monitors and exit flags. Only the thread that runs the process (the worker holding
//! `RUNNING`, or a [`Mailbox`](crate::Mailbox)'s owner) touches it; other processes change it
//! only by sending signals, which the owner applies in arrival order in [`Owned::absorb`].
//!
//! Link and monitor protocol (as in the BEAM):
//! - `link(B)` by A: A records B, then sends `Link(A)` to B. If B's inbox is closed (B
//!   exited) or B never existed, A applies `LinkExit { from: B, reason: NoProc }` to itself
//!   at once. When B exits it sends `LinkExit` to every linked pid, including those whose
//!   `Link` is still unread in its inbox. A `LinkExit` from a pid that is not in the link
//!   set (an unlink crossed it) is dropped, and an applied one removes the link: each link
//!   fires at most once.
//! - `monitor(B)` by A: A records `mref → B`, sends `Monitor { by: A, mref }`; a dead B
//!   yields `Down { NoProc }` at once. `Down` is delivered only while `mref` is recorded.
//! - `on_exit(B, f)` (from any thread): `OnExit(f)` goes into B's inbox without waking B
//!   (it matters only when B exits, and B's exit path drains its inbox, so it is never
//!   missed); B keeps it with its relations and, on exit, runs every hook after its links
//!   and monitors fired. A dead B: `f` runs at once on the caller's thread with `NoProc`.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::message::{ExitReason, Message};
use crate::pid::{MonitorRef, Pid};
use crate::runtime::Shared;
use crate::signal::{ExitHook, Signal};
use crate::table::{lock, Cell, IdBuild, IdMap, Inbox};

/// Links and monitors, allocated on first use so an actor that has none stays small.
#[derive(Default)]
pub(crate) struct Relations {
    pub(crate) links: HashSet<Pid, IdBuild>,
    /// Monitors this process holds: ref → monitored pid.
    pub(crate) monitors: IdMap<MonitorRef, Pid>,
    /// Monitors on this process: ref → watching pid.
    pub(crate) watchers: IdMap<MonitorRef, Pid>,
    /// Functions to run when this process exits (`Runtime::on_exit`), in arrival order.
    pub(crate) exit_hooks: Vec<ExitHook>,
}

/// `repr(C)`: the fields every run touches come first, so they share cache lines.
#[repr(C)]
pub(crate) struct Owned {
    /// The deadline of the last `Step::Wait` (for `timed_out`).
    pub(crate) wait_deadline: Option<Instant>,
    /// Set when an exit signal ends this process; the runner ends it after `resume`.
    pub(crate) pending_exit: Option<ExitReason>,
    /// Messages already taken from the inbox, in arrival order.
    pub(crate) queue: VecDeque<Message>,
    /// Selective receive: messages before this index were scanned and did not match.
    pub(crate) scan: usize,
    pub(crate) pid: Pid,
    /// The receive-timeout timer currently armed: (deadline, timer id).
    pub(crate) armed: Option<(Instant, u64)>,
    pub(crate) rel: Option<Box<Relations>>,
    pub(crate) trap_exit: bool,
    /// A thread's mailbox: exit signals always become messages.
    pub(crate) is_thread: bool,
}

impl Owned {
    pub(crate) fn new(pid: Pid, is_thread: bool) -> Owned {
        Owned {
            pid,
            queue: VecDeque::new(),
            scan: 0,
            trap_exit: is_thread,
            is_thread,
            rel: None,
            pending_exit: None,
            wait_deadline: None,
            armed: None,
        }
    }

    pub(crate) fn rel(&mut self) -> &mut Relations {
        self.rel.get_or_insert_with(Default::default)
    }

    /// Moves everything in the inbox into this state. `false` when the inbox was empty.
    pub(crate) fn pull(&mut self, cell: &Cell) -> bool {
        if !cell.nonempty.load(Ordering::SeqCst) {
            return false; // see `Cell::nonempty`
        }
        let mut inbox = lock(&cell.inbox);
        cell.has_signal.store(false, Ordering::Relaxed); // under the lock: all drained now
        cell.nonempty.store(false, Ordering::Relaxed);
        if inbox.is_empty() {
            return false;
        }
        while let Some(sig) = inbox.pop() {
            self.absorb_inline(sig);
        }
        true
    }

    /// `take_head`'s fast path: with nothing already taken, the first message in the inbox
    /// is returned directly (signals before it are applied), without moving it. Whatever
    /// follows it is moved to the private queue under the same lock, so a busy receiver
    /// takes the inbox lock once per batch, not once per message.
    fn pop_inbox(&mut self, cell: &Cell) -> Option<Message> {
        if !cell.nonempty.load(Ordering::SeqCst) {
            return None; // see `Cell::nonempty`
        }
        let mut inbox = lock(&cell.inbox);
        let m = self.pop_locked(cell, &mut inbox);
        cell.nonempty.store(!inbox.is_empty(), Ordering::Relaxed);
        m
    }

    /// `pop_inbox` under the inbox lock.
    fn pop_locked(&mut self, cell: &Cell, inbox: &mut Inbox) -> Option<Message> {
        while let Some(sig) = inbox.pop() {
            match sig {
                Signal::Msg(m) => {
                    if !inbox.is_empty() {
                        cell.has_signal.store(false, Ordering::Relaxed); // all drained below
                        while let Some(sig) = inbox.pop() {
                            self.absorb_inline(sig);
                        }
                    }
                    return Some(m);
                }
                other => {
                    self.absorb(other);
                    if !self.queue.is_empty() || self.pending_exit.is_some() {
                        return None; // a signal became a message (or an exit): go the slow way
                    }
                }
            }
        }
        None
    }

    /// `absorb` with its common case, a message, inlined into the drain loops.
    #[inline]
    fn absorb_inline(&mut self, sig: Signal) {
        match sig {
            Signal::Msg(m) => self.queue.push_back(m),
            other => self.absorb(other),
        }
    }

    /// Applies one signal (see the module docs).
    pub(crate) fn absorb(&mut self, sig: Signal) {
        match sig {
            Signal::Msg(m) => self.queue.push_back(m),
            Signal::Link(from) => {
                if from != self.pid {
                    self.rel().links.insert(from);
                }
            }
            Signal::Unlink(from) => {
                if let Some(rel) = &mut self.rel {
                    rel.links.remove(&from);
                }
            }
            Signal::Monitor { by, mref } => {
                self.rel().watchers.insert(mref, by);
            }
            Signal::Demonitor(mref) => {
                if let Some(rel) = &mut self.rel {
                    rel.watchers.remove(&mref);
                }
            }
            Signal::LinkExit { from, reason } => {
                let linked = self.rel.as_mut().is_some_and(|r| r.links.remove(&from));
                if linked {
                    self.exit_signal(from, reason);
                }
            }
            Signal::Exit { from, reason } => {
                if matches!(reason, ExitReason::Killed) && !self.is_thread {
                    self.kill(ExitReason::Killed);
                } else {
                    self.exit_signal(from, reason);
                }
            }
            Signal::Down { mref, pid, reason } => {
                let active = self
                    .rel
                    .as_mut()
                    .is_some_and(|r| r.monitors.remove(&mref).is_some());
                if active {
                    self.queue.push_back(Message::Down {
                        monitor: mref,
                        pid,
                        reason,
                    });
                }
            }
            Signal::OnExit(hook) => self.rel().exit_hooks.push(hook),
        }
    }

    /// A trappable exit signal.
    fn exit_signal(&mut self, from: Pid, reason: ExitReason) {
        if self.trap_exit {
            self.queue.push_back(Message::Exit { from, reason });
        } else if !reason.is_normal() {
            self.kill(reason);
        }
    }

    fn kill(&mut self, reason: ExitReason) {
        if self.pending_exit.is_none() {
            self.pending_exit = Some(reason);
        }
    }

    /// Takes the head message. Inlined: a busy receiver's next message is usually already
    /// in its private queue, and an idle one's inbox is usually known to be empty.
    #[inline]
    pub(crate) fn take_head(&mut self, cell: &Cell) -> Option<Message> {
        if let Some(m) = self.queue.pop_front() {
            self.scan = 0;
            return Some(m);
        }
        if self.pending_exit.is_some() || !cell.nonempty.load(Ordering::SeqCst) {
            return None; // ending, or nothing in the inbox (see `Cell::nonempty`)
        }
        self.take_head_inbox(cell)
    }

    /// `take_head` when its private queue is empty and the inbox may hold something.
    #[inline(never)]
    fn take_head_inbox(&mut self, cell: &Cell) -> Option<Message> {
        if let Some(m) = self.pop_inbox(cell) {
            self.scan = 0;
            return Some(m);
        }
        // The inbox was empty or held only signals, now applied: one may have become a
        // message (a trapped exit, a down).
        let m = self.queue.pop_front();
        if m.is_some() {
            self.scan = 0;
        }
        m
    }

    /// Takes the first message matching `pred`, resuming the scan where the last call
    /// stopped.
    pub(crate) fn take_matching(
        &mut self,
        cell: &Cell,
        mut pred: impl FnMut(&Message) -> bool,
    ) -> Option<Message> {
        loop {
            while self.scan < self.queue.len() {
                if pred(&self.queue[self.scan]) {
                    let m = self.queue.remove(self.scan);
                    self.scan = 0;
                    return m;
                }
                self.scan += 1;
            }
            if self.pending_exit.is_some() || !self.pull(cell) {
                return None;
            }
        }
    }

    pub(crate) fn link(&mut self, shared: &Shared, pid: Pid) {
        if pid == self.pid {
            return;
        }
        if !self.rel().links.insert(pid) {
            return; // already linked
        }
        if shared.deliver(pid, Signal::Link(self.pid)).is_err() {
            self.absorb(Signal::LinkExit {
                from: pid,
                reason: ExitReason::NoProc,
            });
        }
    }

    pub(crate) fn unlink(&mut self, shared: &Shared, pid: Pid) {
        let was = self.rel.as_mut().is_some_and(|r| r.links.remove(&pid));
        if was {
            let _ = shared.deliver(pid, Signal::Unlink(self.pid));
        }
    }

    pub(crate) fn monitor(&mut self, shared: &Shared, pid: Pid) -> MonitorRef {
        let mref = shared.next_ref();
        self.rel().monitors.insert(mref, pid);
        let sig = Signal::Monitor { by: self.pid, mref };
        if shared.deliver(pid, sig).is_err() {
            self.absorb(Signal::Down {
                mref,
                pid,
                reason: ExitReason::NoProc,
            });
        }
        mref
    }

    pub(crate) fn demonitor(&mut self, shared: &Shared, mref: MonitorRef) {
        let target = self.rel.as_mut().and_then(|r| r.monitors.remove(&mref));
        if let Some(pid) = target {
            let _ = shared.deliver(pid, Signal::Demonitor(mref));
        }
        // A Down already taken from the inbox is flushed too: none arrives after demonitor.
        let before = self.queue.len();
        self.queue
            .retain(|m| !matches!(m, Message::Down { monitor, .. } if *monitor == mref));
        if self.queue.len() != before {
            self.scan = 0;
        }
    }

    /// The exit path's signal work: close the inbox, answer what is in it, notify links
    /// and monitors. Runs once, on the thread that owns this state.
    pub(crate) fn notify_exit(&mut self, shared: &Shared, cell: &Cell, reason: &ExitReason) {
        let rest = {
            let mut inbox = lock(&cell.inbox);
            inbox.closed = true;
            cell.nonempty.store(false, Ordering::Relaxed);
            inbox.take_all().collect::<Vec<_>>()
        };
        let me = self.pid;
        let mut dead: Vec<Message> = Vec::new();
        for sig in rest {
            match sig {
                Signal::Link(from) => {
                    if from != me {
                        self.rel().links.insert(from);
                    }
                }
                Signal::Unlink(from) => {
                    if let Some(rel) = &mut self.rel {
                        rel.links.remove(&from);
                    }
                }
                Signal::Monitor { by, mref } => {
                    self.rel().watchers.insert(mref, by);
                }
                Signal::Demonitor(mref) => {
                    if let Some(rel) = &mut self.rel {
                        rel.watchers.remove(&mref);
                    }
                }
                Signal::LinkExit { from, .. } => {
                    if let Some(rel) = &mut self.rel {
                        rel.links.remove(&from);
                    }
                }
                Signal::OnExit(hook) => self.rel().exit_hooks.push(hook),
                // Messages, exits and downs for a dead process go nowhere.
                Signal::Msg(m) => dead.push(m),
                Signal::Exit { .. } | Signal::Down { .. } => {}
            }
        }
        dead.extend(self.queue.drain(..));
        // Outside the inbox lock, and a panicking Drop (user code) is contained: the links
        // and monitors below must still fire.
        drop_quietly(dead);
        if let Some(rel) = self.rel.take() {
            for pid in rel.links {
                let sig = Signal::LinkExit {
                    from: me,
                    reason: reason.clone(),
                };
                let _ = shared.deliver(pid, sig);
            }
            for (mref, by) in rel.watchers {
                let sig = Signal::Down {
                    mref,
                    pid: me,
                    reason: reason.clone(),
                };
                let _ = shared.deliver(by, sig);
            }
            for (mref, pid) in rel.monitors {
                let _ = shared.deliver(pid, Signal::Demonitor(mref));
            }
            for hook in rel.exit_hooks {
                run_exit_hook(hook, me, reason);
            }
        }
    }
}

/// Runs an exit hook (user code), containing a panic there: the exit path goes on.
pub(crate) fn run_exit_hook(hook: ExitHook, pid: Pid, reason: &ExitReason) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || hook(pid, reason)));
}

/// Drops a value whose `Drop` may be user code, containing a panic there.
pub(crate) fn drop_quietly<T>(value: T) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(value)));
}
