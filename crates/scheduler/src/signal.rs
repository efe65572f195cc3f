//! What travels through an inbox: user messages and the system signals behind links,
//! monitors and exits. Signals are applied by the process itself, in arrival order, when
//! it drains its inbox (see `owned`), as the BEAM does; so a process's links and monitors
//! are only ever touched by the thread running it.

use crate::message::{ExitReason, Message};
use crate::pid::{MonitorRef, Pid};

pub(crate) enum Signal {
    /// A message for the mailbox.
    Msg(Message),
    /// `from` linked itself to the receiver.
    Link(Pid),
    /// `from` removed its link to the receiver.
    Unlink(Pid),
    /// `by` monitors the receiver under `mref`.
    Monitor { by: Pid, mref: MonitorRef },
    /// The monitor `mref` on the receiver was removed by its owner.
    Demonitor(MonitorRef),
    /// A linked process exited (dropped unless `from` is still in the link set).
    LinkExit { from: Pid, reason: ExitReason },
    /// An explicit `exit(pid, reason)`; `Killed` cannot be trapped.
    Exit { from: Pid, reason: ExitReason },
    /// A process the receiver monitors exited (dropped unless `mref` is still active).
    Down {
        mref: MonitorRef,
        pid: Pid,
        reason: ExitReason,
    },
    /// Run this when the receiver exits (`Runtime::on_exit`). Delivered without waking
    /// the receiver: it matters only on the exit path, which drains the inbox.
    OnExit(ExitHook),
}

/// A function run once with a process's pid and exit reason (see `Runtime::on_exit`).
pub(crate) type ExitHook = Box<dyn FnOnce(Pid, &ExitReason) + Send>;
