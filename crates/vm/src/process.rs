//! VM processes as scheduler actors, and the hosts a VM runs on.
//!
//! - [`VmProcess`] implements `scheduler::Process`: each resume runs the dispatch loop until
//!   the process waits, yields or ends. Its state is a [`Vm`] (data), so 100,000 waiting
//!   processes cost only their stacks.
//! - [`Env`] is what all processes of one program share (read-only): the runtime, the output
//!   sink, `System.argv()`, the crash reporter.
//! - `ContextHost` adapts the scheduler's `Context` (inside an actor); `MailboxHost` adapts a
//!   thread's `Mailbox` (the REPL and tests), where waiting blocks the thread.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use scheduler::{Context, ExitReason, Mailbox, Message, MonitorRef, Pid, Process, Runtime, Step};

use crate::compiler::Program;
use crate::error::Error;
use crate::value::Value;
use crate::vm::{value_reason, Host, Limits, Outcome, Vm};

/// Where `IO.println` writes.
pub type OutputFn = Arc<dyn Fn(&str) + Send + Sync>;
/// Called when a process ends with a runtime error (its pid and the error with its trace).
pub type CrashFn = Arc<dyn Fn(Pid, &Error) + Send + Sync>;

/// What every process of a program shares.
pub struct Env {
    /// The scheduler the processes run on.
    pub runtime: Runtime,
    /// Output of `IO.print`/`IO.println`/`IO.inspect`.
    pub out: OutputFn,
    /// `System.argv()`.
    pub argv: Vec<String>,
    /// Crash reporter.
    pub on_crash: CrashFn,
    /// Per-process limits.
    pub limits: Limits,
    /// Live `Ws` servers (for `:servers`, `:rooms` and shutdown).
    #[allow(dead_code)] // read by the Ws module
    pub(crate) servers: crate::ws_natives::Servers,
}

impl Env {
    /// An environment printing to stdout and reporting crashes to the log.
    pub fn new(runtime: Runtime) -> Env {
        Env {
            runtime,
            out: Arc::new(|s: &str| {
                use std::io::Write;
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(s.as_bytes());
                let _ = o.flush();
            }),
            argv: Vec::new(),
            on_crash: Arc::new(|pid, e| log::error!("process {pid} crashed: {e}")),
            limits: Limits::default(),
            servers: Default::default(),
        }
    }
}

/// A tern process: an actor of the scheduler running a [`Vm`].
pub struct VmProcess {
    vm: Vm,
    env: Arc<Env>,
    /// Set when the first call could not be set up (bad function or arity).
    start_error: Option<Error>,
    /// Told how the process ended (`tern run`'s main thread).
    report_to: Option<Pid>,
}

impl VmProcess {
    /// A process that will call `f(args)` (`f` a function value).
    pub fn new(env: Arc<Env>, prog: Arc<Program>, f: Value, args: Vec<Value>) -> VmProcess {
        let mut vm = Vm::new(prog, env.limits);
        let start_error = vm.start_call(f, args).err();
        VmProcess {
            vm,
            env,
            start_error,
            report_to: None,
        }
    }

    /// Sends the process's end (`Ok` or its error) to `pid` as a `MainExit` message.
    pub(crate) fn report_to(&mut self, pid: Pid) {
        self.report_to = Some(pid);
    }

    fn finish(&mut self, cx: &mut Context<'_>, r: Result<(), Error>) {
        if let Err(e) = &r {
            (self.env.on_crash)(cx.pid(), e);
        }
        if let Some(to) = self.report_to.take() {
            cx.send(to, crate::runner::MainExit(r));
        }
    }

    /// A process that calls the top-level function `name` with `args`.
    pub fn call(env: Arc<Env>, prog: Arc<Program>, name: &str, args: Vec<Value>) -> VmProcess {
        let f = Value::Fun(Arc::new(crate::value::Fun::Named(Arc::from(name))));
        VmProcess::new(env, prog, f, args)
    }
}

impl Process for VmProcess {
    fn resume(&mut self, cx: &mut Context<'_>) -> Step {
        if let Some(e) = self.start_error.take() {
            let reason = ExitReason::crashed(crash_text(&e));
            self.finish(cx, Err(e));
            return Step::Exit(reason);
        }
        let env = self.env.clone();
        let outcome = self.vm.run(&mut ContextHost { cx }, &env);
        match outcome {
            Outcome::Return(_) => {
                self.finish(cx, Ok(()));
                Step::Exit(ExitReason::Normal)
            }
            Outcome::Wait(deadline) => Step::Wait { deadline },
            Outcome::Yield => Step::Yield,
            Outcome::Exit(v) => {
                let reason = value_reason(&v);
                let r = if reason.is_normal() {
                    Ok(())
                } else {
                    Err(Error::Runtime {
                        reason: format!("exit({})", v.inspect()),
                        trace: vec![],
                    })
                };
                if let Some(to) = self.report_to.take() {
                    cx.send(to, crate::runner::MainExit(r));
                }
                Step::Exit(reason)
            }
            Outcome::Error(e) => {
                let reason = ExitReason::crashed(crash_text(&e));
                self.finish(cx, Err(e));
                Step::Exit(reason)
            }
        }
    }
}

/// The reason text of a crash (without the trace).
pub(crate) fn crash_text(e: &Error) -> String {
    match e {
        Error::Runtime { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

struct ContextHost<'a, 'b> {
    cx: &'a mut Context<'b>,
}

impl Host for ContextHost<'_, '_> {
    fn pid(&self) -> Pid {
        self.cx.pid()
    }
    fn consume(&mut self, n: u32) -> bool {
        self.cx.consume(n)
    }
    fn recv_matching(&mut self, pred: &mut dyn FnMut(&Message) -> bool) -> Option<Message> {
        self.cx.recv_matching(pred)
    }
    fn send(&mut self, to: Pid, v: Value) {
        self.cx.send(to, v)
    }
    fn spawn(&mut self, p: VmProcess, link: bool) -> Pid {
        if link {
            self.cx.spawn_link(p)
        } else {
            self.cx.spawn(p)
        }
    }
    fn link(&mut self, pid: Pid) {
        self.cx.link(pid)
    }
    fn unlink(&mut self, pid: Pid) {
        self.cx.unlink(pid)
    }
    fn monitor(&mut self, pid: Pid) -> MonitorRef {
        self.cx.monitor(pid)
    }
    fn demonitor(&mut self, m: MonitorRef) {
        self.cx.demonitor(m)
    }
    fn trap_exit(&mut self, on: bool) {
        self.cx.trap_exit(on)
    }
    fn exit(&mut self, pid: Pid, reason: ExitReason) {
        self.cx.exit(pid, reason)
    }
}

/// A host for a thread that is not an actor: messages are moved from the mailbox into a
/// local queue, where the selective scan happens; waiting blocks the thread.
pub(crate) struct MailboxHost<'a> {
    pub rt: Runtime,
    pub mb: &'a Mailbox,
    pub queue: &'a mut VecDeque<Message>,
}

impl MailboxHost<'_> {
    /// Blocks until a message arrives (queued locally) or the deadline passes.
    pub(crate) fn wait(&mut self, deadline: Option<Instant>) {
        if let Some(m) = self.mb.recv(deadline) {
            self.queue.push_back(m);
        }
    }
}

impl Host for MailboxHost<'_> {
    fn pid(&self) -> Pid {
        self.mb.pid()
    }
    fn consume(&mut self, _n: u32) -> bool {
        true
    }
    fn recv_matching(&mut self, pred: &mut dyn FnMut(&Message) -> bool) -> Option<Message> {
        while let Some(m) = self.mb.try_recv() {
            self.queue.push_back(m);
        }
        let i = self.queue.iter().position(pred)?;
        self.queue.remove(i)
    }
    fn send(&mut self, to: Pid, v: Value) {
        self.rt.send(to, v)
    }
    fn spawn(&mut self, p: VmProcess, link: bool) -> Pid {
        let pid = self.rt.spawn(p);
        if link {
            self.mb.link(pid);
        }
        pid
    }
    fn link(&mut self, pid: Pid) {
        self.mb.link(pid)
    }
    fn unlink(&mut self, pid: Pid) {
        self.mb.unlink(pid)
    }
    fn monitor(&mut self, pid: Pid) -> MonitorRef {
        self.mb.monitor(pid)
    }
    fn demonitor(&mut self, m: MonitorRef) {
        self.mb.demonitor(m)
    }
    fn trap_exit(&mut self, _on: bool) {
        // a mailbox always receives exit signals as messages
    }
    fn exit(&mut self, pid: Pid, reason: ExitReason) {
        self.rt.exit(pid, reason)
    }
}

/// Runs `vm` to completion on the calling thread (the REPL, `Runtime`-less tests excluded):
/// waits block on the mailbox.
pub(crate) fn run_on_thread(
    vm: &mut Vm,
    env: &Arc<Env>,
    mb: &Mailbox,
    queue: &mut VecDeque<Message>,
) -> Result<Value, Error> {
    let mut host = MailboxHost {
        rt: env.runtime.clone(),
        mb,
        queue,
    };
    loop {
        match vm.run(&mut host, env) {
            Outcome::Return(v) => return Ok(v),
            Outcome::Wait(deadline) => host.wait(deadline),
            Outcome::Yield => {}
            Outcome::Exit(v) => {
                return Err(Error::Runtime {
                    reason: format!("exit({})", v.inspect()),
                    trace: vec![],
                })
            }
            Outcome::Error(e) => return Err(e),
        }
    }
}
