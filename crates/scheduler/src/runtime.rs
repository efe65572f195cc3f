//! The runtime handle and the state every thread shares.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::context::Context;
use crate::error::Error;
use crate::mailbox::Mailbox;
use crate::message::{ExitReason, Message};
use crate::pid::{Pid, TimerRef};
use crate::process::{Control, Process};

pub(crate) struct Shared {}

/// A cheap, cloneable handle to a running set of workers. `Send + Sync`.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) shared: Arc<Shared>,
}

impl Runtime {
    /// Starts the workers and the timer thread. Panics on an invalid `Config`
    /// (see [`Runtime::try_new`]).
    pub fn new(config: Config) -> Runtime {
        Runtime::try_new(config).expect("invalid scheduler Config")
    }

    /// Starts the workers and the timer thread, or says which `Config` field is wrong.
    pub fn try_new(config: Config) -> Result<Runtime, Error> {
        let _ = config;
        todo!()
    }

    /// Stops every worker and the timer thread and joins them; drops every process left.
    /// Idempotent. Called from inside a process, it stops the others and does not join the
    /// calling worker.
    pub fn shutdown(&self) {
        todo!()
    }

    /// Spawns a process; it is resumed soon on some worker.
    pub fn spawn(&self, p: impl Process) -> Pid {
        let _ = p;
        todo!()
    }

    /// Spawns a message-handler actor: `f` runs once per message, in order.
    pub fn spawn_fn(
        &self,
        f: impl FnMut(&mut Context<'_>, Message) -> Control + Send + 'static,
    ) -> Pid {
        self.spawn(crate::process::HandlerFn(f))
    }

    /// Posts a user message. Never blocks; to a dead pid it is a silent no-op.
    pub fn send(&self, to: Pid, msg: impl Any + Send) {
        self.send_message(to, Message::User(Box::new(msg)))
    }

    /// Posts a message as is (a user message, or a forged `Exit`/`Down` message).
    pub fn send_message(&self, to: Pid, msg: Message) {
        let _ = (to, msg);
        todo!()
    }

    /// `true` while the process has not exited.
    pub fn is_alive(&self, pid: Pid) -> bool {
        let _ = pid;
        todo!()
    }

    /// Sends an exit signal from outside any process (`from` is [`Pid::NONE`]).
    /// `Killed` cannot be trapped; `Normal` is ignored by processes that do not trap exits.
    pub fn exit(&self, pid: Pid, reason: ExitReason) {
        let _ = (pid, reason);
        todo!()
    }

    /// Delivers `msg` to `to` after `delay`, from the timer thread.
    pub fn send_after(&self, delay: Duration, to: Pid, msg: impl Any + Send) -> TimerRef {
        let _ = (delay, to, msg);
        todo!()
    }

    /// Cancels a `send_after`; `true` when the timer was still pending (the message will not
    /// be sent).
    pub fn cancel_timer(&self, t: TimerRef) -> bool {
        let _ = t;
        todo!()
    }

    /// Names a live process. A process has at most one name; a name at most one process.
    /// The name is freed when the process exits.
    pub fn register(&self, name: &str, pid: Pid) -> Result<(), Error> {
        let _ = (name, pid);
        todo!()
    }

    /// The process registered under `name`.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        let _ = name;
        todo!()
    }

    /// Frees a name; `true` when it was registered.
    pub fn unregister(&self, name: &str) -> bool {
        let _ = name;
        todo!()
    }

    /// A pid for a thread that is not an actor (main, tests, a REPL, a reader thread).
    /// Messages, exit signals and down messages arrive in the [`Mailbox`]; the pid exits
    /// (reason `Normal`) when the `Mailbox` is dropped.
    pub fn mailbox(&self) -> (Pid, Mailbox) {
        todo!()
    }

    /// Live processes (and mailboxes).
    pub fn process_count(&self) -> usize {
        todo!()
    }

    /// The pids of the live processes (and mailboxes), sorted.
    pub fn processes(&self) -> Vec<Pid> {
        todo!()
    }
}
