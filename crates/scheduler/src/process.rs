//! The process abstraction shared by native actors and VM processes.

use std::time::Instant;

use crate::context::Context;
use crate::message::{ExitReason, Message};

/// A green process. A worker calls `resume`; the process runs until it returns a [`Step`].
///
/// `resume` must not block the thread (no blocking I/O, no locks held for long, no sleeps):
/// to wait, return `Step::Wait`. A panic in `resume` ends only this process, with
/// `ExitReason::Crashed(panic message)`.
pub trait Process: Send + 'static {
    /// Runs the process until it waits, yields or exits.
    fn resume(&mut self, cx: &mut Context<'_>) -> Step;
}

/// What a process asks for when `resume` returns.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub enum Step {
    /// Park until a new message (or signal) arrives or `deadline` passes (then the next resume
    /// sees `cx.timed_out() == true`). `None` waits forever.
    Wait { deadline: Option<Instant> },
    /// The budget is used up (or the process wants to let others run): go to the back of the
    /// run queue and resume soon.
    Yield,
    /// End the process with this reason.
    Exit(ExitReason),
}

impl Step {
    /// `Step::Wait { deadline: None }`.
    pub const WAIT: Step = Step::Wait { deadline: None };
}

/// What a message handler (see [`Runtime::spawn_fn`](crate::Runtime::spawn_fn)) returns.
#[derive(Clone, Debug)]
pub enum Control {
    /// Keep going: handle the next message.
    Continue,
    /// End the actor with this reason.
    Stop(ExitReason),
}

/// A message-handler actor: calls `f` once per message.
pub(crate) struct HandlerFn<F>(pub(crate) F);

impl<F> Process for HandlerFn<F>
where
    F: FnMut(&mut Context<'_>, Message) -> Control + Send + 'static,
{
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        while let Some(msg) = cx.recv() {
            if let Control::Stop(reason) = (self.0)(cx, msg) {
                return Step::Exit(reason);
            }
            if !cx.consume(1) {
                return Step::Yield;
            }
        }
        Step::WAIT
    }
}
