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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scheduler::{Context, ExitReason, Mailbox, Message, MonitorRef, Pid, Process, Runtime, Step};

use crate::compiler::Program;
use crate::error::Error;
use crate::value::{Atom, Value};
use crate::vm::{value_reason, Host, Limits, Outcome, Spawn, Vm};
use crate::ws_natives::{conn_value, request_value, Handlers};

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

/// A tern process: an actor of the scheduler running the interpreter (its stack is data).
pub struct VmProcess {
    vm: Vm,
    env: Arc<Env>,
    /// Set when the first call could not be set up (bad function or arity).
    start_error: Option<Error>,
    /// Told how the process ended (`tern run`'s main thread).
    report_to: Option<Pid>,
    /// Set for a WebSocket connection's process: it runs callbacks per event.
    driver: Option<Box<ConnDriver>>,
}

/// The event loop of a connection process.
struct ConnDriver {
    conn: bridge::Conn,
    conn_value: Value,
    handlers: Handlers,
    running: Callback,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Callback {
    None,
    Connect,
    Other,
    Close,
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
            driver: None,
        }
    }

    /// The process of one WebSocket connection: it runs `handlers` for its events.
    pub(crate) fn for_conn(
        env: Arc<Env>,
        prog: Arc<Program>,
        handlers: Handlers,
        conn: bridge::Conn,
    ) -> VmProcess {
        let vm = Vm::new(prog, env.limits);
        VmProcess {
            vm,
            env,
            start_error: None,
            report_to: None,
            driver: Some(Box::new(ConnDriver {
                conn_value: conn_value(conn.clone()),
                conn,
                handlers,
                running: Callback::None,
            })),
        }
    }

    /// A connection process between callbacks: takes the next event and starts its
    /// callback. `Err` is the step to return.
    fn next_event(&mut self, cx: &mut Context<'_>) -> Result<(), Step> {
        let d = self.driver.as_mut().expect("a connection process");
        let Some(msg) = cx.recv() else {
            return Err(Step::WAIT);
        };
        let (f, args, kind) = match bridge::Event::from_message(msg) {
            Ok(ev) => {
                let (_, kind) = ev.into_parts();
                match kind {
                    bridge::EventKind::Connect => match &d.handlers.on_connect {
                        Some(f) => (
                            f.clone(),
                            vec![d.conn_value.clone(), request_value(&d.conn)],
                            Callback::Connect,
                        ),
                        None => {
                            let _ = d.conn.accept();
                            return Ok(());
                        }
                    },
                    bridge::EventKind::Message(data) => {
                        let Some(f) = &d.handlers.on_message else {
                            return Ok(());
                        };
                        let msg = match data {
                            bridge::Data::Text(s) => {
                                Value::tuple(vec![Value::Atom(Atom::TEXT), Value::str(s)])
                            }
                            bridge::Data::Binary(b) => {
                                Value::tuple(vec![Value::Atom(Atom::BINARY), Value::Bin(b.into())])
                            }
                            _ => return Ok(()),
                        };
                        (f.clone(), vec![d.conn_value.clone(), msg], Callback::Other)
                    }
                    bridge::EventKind::Closed { code, reason } => match &d.handlers.on_close {
                        Some(f) => (
                            f.clone(),
                            vec![
                                d.conn_value.clone(),
                                Value::Int(code as i64),
                                Value::str(reason),
                            ],
                            Callback::Close,
                        ),
                        None => return Err(Step::Exit(ExitReason::Normal)),
                    },
                    _ => return Ok(()),
                }
            }
            Err(msg) => {
                let v = match &msg {
                    Message::User(b) => match b.downcast_ref::<Value>() {
                        Some(v) => v.clone(),
                        None => return Ok(()),
                    },
                    other => match crate::vm::system_message(other) {
                        Some(v) => v,
                        None => return Ok(()),
                    },
                };
                match &d.handlers.on_info {
                    Some(f) => (f.clone(), vec![d.conn_value.clone(), v], Callback::Other),
                    None => {
                        log::debug!("connection process dropped a message: {v}");
                        return Ok(());
                    }
                }
            }
        };
        d.running = kind;
        if let Err(e) = self.vm.start_call(f, args) {
            return Err(self.crash(cx, e));
        }
        Ok(())
    }

    fn crash(&mut self, cx: &mut Context<'_>, e: Error) -> Step {
        let reason = ExitReason::crashed(crash_text(&e));
        if let Some(d) = &self.driver {
            if d.running == Callback::Connect {
                let _ = d.conn.reject(500);
            }
        }
        self.finish(cx, Err(e));
        Step::Exit(reason)
    }

    /// A callback returned `v`.
    fn callback_done(&mut self, v: Value) -> Result<(), Step> {
        let d = self.driver.as_mut().expect("a connection process");
        let kind = std::mem::replace(&mut d.running, Callback::None);
        match kind {
            Callback::Connect => match &v {
                Value::Atom(a) if *a == Atom::OK => {
                    let _ = d.conn.accept();
                }
                Value::Tuple(t) if t.len() == 2 && t[0] == Value::Atom(Atom::REJECT) => {
                    let status = match &t[1] {
                        Value::Int(n) => u16::try_from(*n).ok().filter(|s| (400..600).contains(s)),
                        _ => None,
                    };
                    let _ = d.conn.reject(status.unwrap_or(403));
                }
                other => {
                    let _ = d.conn.reject(500);
                    return Err(Step::Exit(ExitReason::crashed(format!(
                        "on_connect must return :ok or {{:reject, status}}, got {}",
                        crate::vm::short(other)
                    ))));
                }
            },
            Callback::Close => return Err(Step::Exit(ExitReason::Normal)),
            Callback::Other | Callback::None => {}
        }
        Ok(())
    }

    fn resume_conn(&mut self, cx: &mut Context<'_>) -> Step {
        let env = self.env.clone();
        loop {
            if !self.vm.has_frames() {
                if let Err(step) = self.next_event(cx) {
                    return step;
                }
                if !self.vm.has_frames() {
                    if !cx.consume(1) {
                        return Step::Yield;
                    }
                    continue;
                }
            }
            let outcome = self.vm.run(&mut ContextHost { cx }, &env);
            match outcome {
                Outcome::Return(v) => {
                    if let Err(step) = self.callback_done(v) {
                        if let Step::Exit(ExitReason::Crashed(msg)) = &step {
                            (self.env.on_crash)(
                                cx.pid(),
                                &Error::Runtime {
                                    reason: msg.to_string(),
                                    trace: vec![],
                                },
                            );
                        }
                        return step;
                    }
                    if !cx.consume(1) {
                        return Step::Yield;
                    }
                }
                Outcome::Wait(deadline) => return Step::Wait { deadline },
                Outcome::Yield => return Step::Yield,
                Outcome::Exit(v) => return Step::Exit(value_reason(&v)),
                Outcome::Error(e) => return self.crash(cx, e),
            }
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
        if self.driver.is_some() {
            return self.resume_conn(cx);
        }
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
    fn rescan(&mut self) {
        self.cx.rescan()
    }
    fn send(&mut self, to: Pid, v: Value) {
        self.cx.send(to, v)
    }
    fn spawn(&mut self, p: VmProcess, how: Spawn) -> (Pid, Option<MonitorRef>) {
        match how {
            Spawn::Plain => (self.cx.spawn(p), None),
            Spawn::Link => (self.cx.spawn_link(p), None),
            Spawn::Monitor => {
                let (pid, mref) = self.cx.spawn_monitor(p);
                (pid, Some(mref))
            }
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
    /// Set (by a SIGINT handler) to interrupt the evaluation.
    pub interrupt: Option<&'a AtomicBool>,
}

/// How often a waiting thread host looks at its interrupt flag.
const INTERRUPT_POLL: Duration = Duration::from_millis(100);

impl MailboxHost<'_> {
    fn interrupted(&self) -> bool {
        self.interrupt.is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// Blocks until a message arrives (queued locally) or the deadline passes; with an
    /// interrupt flag, at most [`INTERRUPT_POLL`] at a time.
    pub(crate) fn wait(&mut self, deadline: Option<Instant>) {
        let deadline = match self.interrupt {
            Some(_) => {
                let poll = Instant::now() + INTERRUPT_POLL;
                Some(deadline.map_or(poll, |d| d.min(poll)))
            }
            None => deadline,
        };
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
        !self.interrupted()
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
    fn spawn(&mut self, p: VmProcess, how: Spawn) -> (Pid, Option<MonitorRef>) {
        match how {
            Spawn::Plain => (self.rt.spawn(p), None),
            Spawn::Link => (self.mb.spawn_link(p), None),
            Spawn::Monitor => {
                let (pid, mref) = self.mb.spawn_monitor(p);
                (pid, Some(mref))
            }
        }
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
        self.mb.demonitor(m);
        // A DOWN already moved from the mailbox to the local queue goes too, as in a process.
        self.queue
            .retain(|msg| !matches!(msg, Message::Down { monitor, .. } if *monitor == m));
    }
    fn trap_exit(&mut self, _on: bool) {
        // a mailbox always receives exit signals as messages
    }
    fn may_block(&self) -> bool {
        true
    }
    fn exit(&mut self, pid: Pid, reason: ExitReason) {
        self.rt.exit(pid, reason)
    }
}

/// Runs `vm` to completion on the calling thread (the REPL): waits block on the mailbox.
/// When `interrupt` is set the evaluation ends with an "interrupted" error.
pub(crate) fn run_on_thread(
    vm: &mut Vm,
    env: &Arc<Env>,
    mb: &Mailbox,
    queue: &mut VecDeque<Message>,
    interrupt: Option<&AtomicBool>,
) -> Result<Value, Error> {
    let mut host = MailboxHost {
        rt: env.runtime.clone(),
        mb,
        queue,
        interrupt,
    };
    let interrupted = || Error::Runtime {
        reason: "interrupted".into(),
        trace: vec![],
    };
    loop {
        if host.interrupted() {
            if let Some(f) = interrupt {
                f.store(false, Ordering::Relaxed);
            }
            return Err(interrupted());
        }
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
