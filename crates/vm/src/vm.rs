//! The interpreter: one dispatch loop over [`Op`], the stack as data.
//!
//! Invariants:
//! - A process's whole state is a [`Vm`]: a value stack and a frame stack, both `Vec`s, so
//!   deep recursion ends in a clean "stack overflow" error at [`Limits`], never a Rust stack
//!   overflow, and a waiting process is just data.
//! - The reduction budget is checked at one point: function entry (every loop in tern is a
//!   call). When the scheduler says the budget is spent the VM returns [`Outcome::Yield`]
//!   with the callee's frame already set up, and resumes there.
//! - `receive` parks with [`Outcome::Wait`]; the scan of the mailbox is the host's
//!   `recv_matching`, whose predicate matches the clause patterns and guards directly into
//!   the frame's slots, so the matched clause's variables are bound when it returns.
//! - Tail calls reuse the caller's frame.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scheduler::{ExitReason, Message, MonitorRef, Pid};

use crate::ast::BinOp;
use crate::compiler::{GExpr, Pattern, Program, Proto};
use crate::error::Error;
use crate::natives::{self, Imp, NativeCx};
use crate::opcode::Op;
use crate::process::{Env, VmProcess};
use crate::value::{Atom, Fun, List, Ref, Value};

/// Per-process limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most values on one process's stack. Default 1,000,000 (24 MB): far beyond any
    /// reasonable recursion, small enough that a runaway one fails fast.
    pub max_stack: usize,
    /// Most frames (nested non-tail calls). Default 200,000.
    pub max_frames: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stack: 1_000_000,
            max_frames: 200_000,
        }
    }
}

/// Reductions spent between two checks of the scheduler's budget.
const CHECK_EVERY: u32 = 64;

/// What a process needs from where it runs: a scheduler actor's `Context`, or a thread's
/// `Mailbox` (the REPL, `tern run`'s main thread).
pub(crate) trait Host {
    fn pid(&self) -> Pid;
    /// Spends reductions; `false` when the process should yield.
    fn consume(&mut self, n: u32) -> bool;
    /// Takes the first message `pred` accepts (never blocks). A host may continue from
    /// where the previous call stopped scanning (see [`Host::rescan`]).
    fn recv_matching(&mut self, pred: &mut dyn FnMut(&Message) -> bool) -> Option<Message>;
    /// Makes the next `recv_matching` scan from the head of the mailbox. Called when a new
    /// `receive` starts: only a receive that resumes after waiting may continue from the
    /// saved position, because the messages before it were already rejected by the same
    /// patterns. A host that always scans from the head does nothing.
    fn rescan(&mut self) {}
    fn send(&mut self, to: Pid, v: Value);
    /// Starts `p`; with [`Spawn::Monitor`] also returns the monitor's ref. A link or a
    /// monitor is set up atomically: it exists before the new process can run.
    fn spawn(&mut self, p: VmProcess, how: Spawn) -> (Pid, Option<MonitorRef>);
    fn link(&mut self, pid: Pid);
    fn unlink(&mut self, pid: Pid);
    fn monitor(&mut self, pid: Pid) -> MonitorRef;
    fn demonitor(&mut self, m: MonitorRef);
    fn trap_exit(&mut self, on: bool);
    fn exit(&mut self, pid: Pid, reason: ExitReason);
    /// `true` when blocking work may run on the calling thread (not a scheduler worker).
    fn may_block(&self) -> bool {
        false
    }
}

/// How [`Host::spawn`] starts a process (`spawn`, `spawn_link`, `spawn_monitor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spawn {
    /// Just the process.
    Plain,
    /// Linked to the spawner.
    Link,
    /// Monitored by the spawner.
    Monitor,
}

/// How a run of the dispatch loop ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The outermost function returned this value.
    Return(Value),
    /// Park until a message or the deadline.
    Wait(Option<Instant>),
    /// The budget is spent.
    Yield,
    /// `exit(reason)`.
    Exit(Value),
    /// A runtime error.
    Error(Error),
}

/// What a native function can do besides returning a value.
pub(crate) enum Trap {
    /// A runtime error with this reason.
    Error(String),
    /// End the process with this reason.
    Exit(Value),
    /// Suspend until the instant, then return `:ok`.
    Sleep(Instant),
    /// Run blocking I/O off the scheduler's workers (on a helper thread) and return its
    /// result; the process parks meanwhile. A thread host runs it in place.
    Block(BlockingFn),
}

/// Blocking work of a native (`WsClient` calls).
pub(crate) type BlockingFn = Box<dyn FnOnce() -> Result<Value, String> + Send>;

/// The result of a [`Trap::Block`], sent back to the process.
struct BlockingDone {
    token: u64,
    result: Result<Value, String>,
}

impl std::fmt::Debug for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trap::Error(e) => write!(f, "Error({e})"),
            Trap::Exit(v) => write!(f, "Exit({v})"),
            Trap::Sleep(t) => write!(f, "Sleep({t:?})"),
            Trap::Block(_) => f.write_str("Block(..)"),
        }
    }
}

impl From<String> for Trap {
    fn from(s: String) -> Trap {
        Trap::Error(s)
    }
}

struct Frame {
    proto: Arc<Proto>,
    ip: u32,
    base: u32,
    /// Stack length to restore on return (below the callee, if it was on the stack).
    ret: u32,
}

#[derive(Clone, Copy, Debug)]
enum State {
    Running,
    Receiving {
        spec: u32,
        deadline: Option<Instant>,
    },
    Sleeping(Instant),
    Blocked {
        token: u64,
    },
}

/// One process's interpreter state.
pub(crate) struct Vm {
    stack: Vec<Value>,
    frames: Vec<Frame>,
    pub(crate) prog: Arc<Program>,
    state: State,
    reds: u32,
    limits: Limits,
    pub(crate) trap_exit: bool,
}

/// A short form of a value for error messages.
pub(crate) fn short(v: &Value) -> String {
    let s = v.inspect();
    if s.chars().count() > 200 {
        let mut t: String = s.chars().take(200).collect();
        t.push_str("...");
        t
    } else {
        s
    }
}

impl Vm {
    /// A VM that will call `f` with `args` when run.
    pub(crate) fn new(prog: Arc<Program>, limits: Limits) -> Vm {
        Vm {
            stack: Vec::with_capacity(16),
            frames: Vec::new(),
            prog,
            state: State::Running,
            reds: 0,
            limits,
            trap_exit: false,
        }
    }

    /// `true` while a call is in progress.
    pub(crate) fn has_frames(&self) -> bool {
        !self.frames.is_empty()
    }

    /// Sets up a call of `f(args)` as the outermost frame.
    pub(crate) fn start_call(&mut self, f: Value, args: Vec<Value>) -> Result<(), Error> {
        let argc = args.len();
        self.stack.push(f);
        self.stack.extend(args);
        self.call_value(argc as u8, false, &mut NoNatives)
            .map_err(|r| Error::Runtime {
                reason: r,
                trace: vec![],
            })
            .map(|_| ())
    }

    /// Sets up a call of a compiled function with captured values (the REPL's input).
    pub(crate) fn start_proto(&mut self, proto: Arc<Proto>, captures: Vec<Value>) {
        let base = self.stack.len();
        self.stack.extend(captures);
        self.stack.resize(base + proto.nslots as usize, Value::Nil);
        self.frames.push(Frame {
            proto,
            ip: 0,
            base: base as u32,
            ret: base as u32,
        });
    }

    /// Innermost first; runs of the same frame are folded and the list is capped, so a
    /// stack overflow prints a readable trace.
    fn trace(&self) -> Vec<String> {
        const MAX_LINES: usize = 20;
        let mut out: Vec<(String, usize)> = Vec::new();
        let mut omitted = 0usize;
        for f in self.frames.iter().rev() {
            let ip = (f.ip as usize).saturating_sub(1);
            let line = f.proto.lines.get(ip).copied().unwrap_or(0);
            let s = format!("{} ({}:{})", f.proto.name, f.proto.file, line);
            let full = out.len() >= MAX_LINES;
            match out.last_mut() {
                Some((last, n)) if *last == s => *n += 1,
                _ if full => omitted += 1,
                _ => out.push((s, 1)),
            }
        }
        let mut lines: Vec<String> = out
            .into_iter()
            .map(|(s, n)| if n > 1 { format!("{s} (x{n})") } else { s })
            .collect();
        if omitted > 0 {
            lines.push(format!("... {omitted} more frames"));
        }
        lines
    }

    fn error(&self, reason: String) -> Outcome {
        Outcome::Error(Error::Runtime {
            reason,
            trace: self.trace(),
        })
    }

    /// Pushes a frame for `proto` whose arguments (and captures) start at `base`.
    #[inline]
    fn enter(&mut self, proto: Arc<Proto>, base: usize, ret: usize) -> Result<(), String> {
        let top = base + proto.nslots as usize;
        if top > self.limits.max_stack || self.frames.len() >= self.limits.max_frames {
            return Err(format!(
                "stack overflow ({} nested calls; the innermost is {})",
                self.frames.len(),
                proto.name
            ));
        }
        if self.stack.len() < top {
            self.stack.resize(top, Value::Nil);
        } else {
            self.stack.truncate(top);
        }
        self.frames.push(Frame {
            proto,
            ip: 0,
            base: base as u32,
            ret: ret as u32,
        });
        Ok(())
    }

    /// Calls the function value below the top `argc` values. Natives run at once.
    fn call_value(
        &mut self,
        argc: u8,
        tail: bool,
        ncx: &mut dyn NativeRunner,
    ) -> Result<Option<Trap>, String> {
        let argc = argc as usize;
        let callee_at = self.stack.len() - argc - 1;
        let f = std::mem::take(&mut self.stack[callee_at]);
        let Value::Fun(fun) = &f else {
            return Err(format!("{} is not a function", short(&f)));
        };
        match &**fun {
            Fun::Closure { proto, captures } => {
                if proto.arity as usize != argc {
                    return Err(format!(
                        "{} takes {} argument(s), called with {argc}",
                        proto.name, proto.arity
                    ));
                }
                self.stack.extend(captures.iter().cloned());
                self.invoke(
                    proto.clone(),
                    callee_at + 1,
                    callee_at,
                    argc + captures.len(),
                    tail,
                )?;
                Ok(None)
            }
            Fun::Named(name) => {
                if let Some(id) = self.prog.lookup(name, argc as u8) {
                    let proto = self.prog.funcs[id as usize].clone();
                    self.invoke(proto, callee_at + 1, callee_at, argc, tail)?;
                    return Ok(None);
                }
                if let Some(id) = natives::lookup(name, argc as u8) {
                    let args: Vec<Value> = self.stack.drain(callee_at + 1..).collect();
                    self.stack.truncate(callee_at);
                    match ncx.run(self, id, &args) {
                        Ok(v) => {
                            self.stack.push(v);
                            return Ok(None);
                        }
                        Err(Trap::Error(e)) => return Err(e),
                        Err(t) => return Ok(Some(t)),
                    }
                }
                Err(format!("undefined function {name}/{argc}"))
            }
        }
    }

    /// Enters `proto` with `n` values (arguments, captures) at `from`; a tail call moves them
    /// down to the current frame's base first.
    #[inline]
    fn invoke(
        &mut self,
        proto: Arc<Proto>,
        from: usize,
        ret: usize,
        n: usize,
        tail: bool,
    ) -> Result<(), String> {
        if tail {
            if let Some(cur) = self.frames.pop() {
                let base = cur.base as usize;
                for i in 0..n {
                    self.stack.swap(base + i, from + i);
                }
                self.stack.truncate(base + n);
                return self.enter(proto, base, cur.ret as usize);
            }
        }
        self.enter(proto, from, ret)
    }

    /// Runs blocking work: in place on a thread host (`Ok(Some(result))`), else on a helper
    /// thread that sends the result back (`Ok(None)`: the process waits for it).
    fn block(
        &mut self,
        rt: &mut HostRunner<'_, '_>,
        work: BlockingFn,
    ) -> Result<Option<Value>, String> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        if rt.host.may_block() {
            return work().map(Some);
        }
        let token = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = rt.host.pid();
        let runtime = rt.env.runtime.clone();
        let spawned = std::thread::Builder::new()
            .name("tern-blocking".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let result = work();
                runtime.send(pid, BlockingDone { token, result });
            });
        match spawned {
            Ok(_) => {
                self.state = State::Blocked { token };
                Ok(None)
            }
            Err(e) => Err(format!("cannot start a thread for blocking I/O: {e}")),
        }
    }

    /// Runs until the process returns, waits, yields, exits or fails.
    pub(crate) fn run(&mut self, host: &mut dyn Host, env: &Arc<Env>) -> Outcome {
        match self.state {
            State::Running => {}
            State::Sleeping(until) => {
                if Instant::now() < until {
                    return Outcome::Wait(Some(until));
                }
                self.state = State::Running;
                self.stack.push(Value::Atom(Atom::OK));
            }
            State::Receiving { spec, deadline } => {
                if let Some(o) = self.try_receive(host, spec, deadline) {
                    return o;
                }
            }
            State::Blocked { token } => {
                let done = host.recv_matching(&mut |m: &Message| {
                    m.downcast_ref::<BlockingDone>()
                        .is_some_and(|d| d.token == token)
                });
                let Some(Ok(done)) = done.map(|m| m.downcast::<BlockingDone>()) else {
                    return Outcome::Wait(None);
                };
                self.state = State::Running;
                match done.result {
                    Ok(v) => self.stack.push(v),
                    Err(e) => return self.error(e),
                }
            }
        }
        let mut runner = HostRunner { host, env };
        self.dispatch(&mut runner)
    }

    /// Scans the mailbox for the receive `spec` of the current frame. `None` means a clause
    /// (or `after`) was chosen and the frame's ip points at its body.
    fn try_receive(
        &mut self,
        host: &mut dyn Host,
        spec: u32,
        deadline: Option<Instant>,
    ) -> Option<Outcome> {
        let frame = self.frames.last().expect("receiving in a frame");
        let proto = frame.proto.clone();
        let base = frame.base as usize;
        let recv = &proto.recvs[spec as usize];
        let slots = &mut self.stack[base..base + proto.nslots as usize];
        let mut chosen = None;
        let mut pred = |m: &Message| -> bool {
            let owned;
            let v = match m {
                Message::User(b) => match b.downcast_ref::<Value>() {
                    Some(v) => v,
                    None => return false,
                },
                other => match system_message(other) {
                    Some(v) => {
                        owned = v;
                        &owned
                    }
                    None => return false,
                },
            };
            for (i, c) in recv.clauses.iter().enumerate() {
                if match_pat(&c.pat, v, slots)
                    && c.guard.as_ref().map_or(true, |g| guard_true(g, slots))
                {
                    chosen = Some(i);
                    return true;
                }
            }
            false
        };
        if !recv.clauses.is_empty() && host.recv_matching(&mut pred).is_some() {
            let i = chosen.expect("a clause matched");
            self.frames.last_mut().expect("frame").ip = recv.clauses[i].target;
            self.state = State::Running;
            return None;
        }
        match deadline {
            Some(d) if Instant::now() >= d => {
                self.frames.last_mut().expect("frame").ip =
                    recv.after.expect("a deadline implies an after clause");
                self.state = State::Running;
                None
            }
            _ => {
                self.state = State::Receiving { spec, deadline };
                Some(Outcome::Wait(deadline))
            }
        }
    }

    fn dispatch(&mut self, rt: &mut HostRunner<'_, '_>) -> Outcome {
        let Some(frame) = self.frames.last() else {
            return Outcome::Return(self.stack.pop().unwrap_or(Value::Nil));
        };
        // The running function. It points into the `Arc<Proto>` held by the top frame and is
        // reloaded (`load_frame!`) after every change of the frame stack, so it is never
        // used after its frame is gone; this saves two atomic reference-count updates per
        // call and per return.
        let mut proto: *const Proto = Arc::as_ptr(&frame.proto);
        let mut ip = frame.ip as usize;
        let mut base = frame.base as usize;

        macro_rules! save {
            () => {
                if let Some(f) = self.frames.last_mut() {
                    f.ip = ip as u32;
                }
            };
        }
        macro_rules! fail {
            ($msg:expr) => {{
                save!();
                return self.error($msg);
            }};
        }
        macro_rules! load_frame {
            () => {{
                let f = self.frames.last().expect("frame");
                proto = Arc::as_ptr(&f.proto);
                ip = f.ip as usize;
                base = f.base as usize;
            }};
        }
        // After entering a function: the one point where the budget is checked.
        macro_rules! entered {
            () => {{
                load_frame!();
                self.reds += 1;
                if self.reds >= CHECK_EVERY {
                    let spent = self.reds;
                    self.reds = 0;
                    if !rt.host.consume(spent) {
                        return Outcome::Yield;
                    }
                }
            }};
        }
        macro_rules! pop {
            () => {
                self.stack.pop().expect("operand")
            };
        }
        macro_rules! binop {
            ($op:expr) => {{
                let b = pop!();
                let a = pop!();
                match arith($op, &a, &b) {
                    Ok(v) => self.stack.push(v),
                    Err(e) => fail!(e),
                }
            }};
        }
        macro_rules! trap {
            ($t:expr) => {{
                match $t {
                    Trap::Error(e) => fail!(e),
                    Trap::Exit(v) => {
                        save!();
                        return Outcome::Exit(v);
                    }
                    Trap::Sleep(until) => {
                        save!();
                        self.state = State::Sleeping(until);
                        return Outcome::Wait(Some(until));
                    }
                    Trap::Block(work) => {
                        save!();
                        match self.block(rt, work) {
                            Ok(Some(v)) => self.stack.push(v),
                            Ok(None) => return Outcome::Wait(None),
                            Err(e) => fail!(e),
                        }
                    }
                }
            }};
        }

        loop {
            // SAFETY: `proto` was taken from the top frame's `Arc<Proto>` by the last
            // `load_frame!` (or above), and every operation that pops or replaces that frame
            // reloads it before the next iteration; the frame's strong reference keeps the
            // `Proto` alive, and `p` does not outlive this iteration.
            let p: &Proto = unsafe { &*proto };
            let op = p.code[ip];
            ip += 1;
            match op {
                Op::Const(i) => self.stack.push(p.consts[i as usize].clone()),
                Op::Int(n) => self.stack.push(Value::Int(n as i64)),
                Op::Nil => self.stack.push(Value::Nil),
                Op::Load(s) => {
                    let v = self.stack[base + s as usize].clone();
                    self.stack.push(v);
                }
                Op::Store(s) => {
                    let v = pop!();
                    self.stack[base + s as usize] = v;
                }
                Op::Pop => {
                    self.stack.pop();
                }
                Op::Add => {
                    let n = self.stack.len();
                    if let (Value::Int(a), Value::Int(b)) = (&self.stack[n - 2], &self.stack[n - 1])
                    {
                        match a.checked_add(*b) {
                            Some(r) => {
                                self.stack.truncate(n - 2);
                                self.stack.push(Value::Int(r));
                            }
                            None => fail!(format!("integer overflow: {a} + {b}")),
                        }
                    } else {
                        binop!(BinOp::Add)
                    }
                }
                Op::Sub => {
                    let n = self.stack.len();
                    if let (Value::Int(a), Value::Int(b)) = (&self.stack[n - 2], &self.stack[n - 1])
                    {
                        match a.checked_sub(*b) {
                            Some(r) => {
                                self.stack.truncate(n - 2);
                                self.stack.push(Value::Int(r));
                            }
                            None => fail!(format!("integer overflow: {a} - {b}")),
                        }
                    } else {
                        binop!(BinOp::Sub)
                    }
                }
                Op::AddInt(k) | Op::SubInt(k) => {
                    let add = matches!(op, Op::AddInt(_));
                    let top = self.stack.last_mut().expect("operand");
                    let done = match top {
                        Value::Int(a) => {
                            let r = if add {
                                a.checked_add(k as i64)
                            } else {
                                a.checked_sub(k as i64)
                            };
                            match r {
                                Some(r) => {
                                    *a = r;
                                    true
                                }
                                None => false,
                            }
                        }
                        _ => false,
                    };
                    if !done {
                        let a = pop!();
                        let bop = if add { BinOp::Add } else { BinOp::Sub };
                        match arith(bop, &a, &Value::Int(k as i64)) {
                            Ok(v) => self.stack.push(v),
                            Err(e) => fail!(e),
                        }
                    }
                }
                Op::Mul => binop!(BinOp::Mul),
                Op::Div => binop!(BinOp::Div),
                Op::Rem => binop!(BinOp::Rem),
                Op::Eq => binop!(BinOp::Eq),
                Op::Ne => binop!(BinOp::Ne),
                Op::Lt => binop!(BinOp::Lt),
                Op::Gt => binop!(BinOp::Gt),
                Op::Le => binop!(BinOp::Le),
                Op::Ge => binop!(BinOp::Ge),
                Op::Concat => binop!(BinOp::Concat),
                Op::Neg => {
                    let a = pop!();
                    match neg(&a) {
                        Ok(v) => self.stack.push(v),
                        Err(e) => fail!(e),
                    }
                }
                Op::Not => {
                    let a = pop!();
                    self.stack.push(Value::Bool(!a.truthy()));
                }
                Op::Jump(t) => ip = t as usize,
                Op::JumpIfFalse(t) => {
                    if !pop!().truthy() {
                        ip = t as usize;
                    }
                }
                Op::AndJump(t) => {
                    if !self.stack.last().expect("operand").truthy() {
                        ip = t as usize;
                    } else {
                        self.stack.pop();
                    }
                }
                Op::OrJump(t) => {
                    if self.stack.last().expect("operand").truthy() {
                        ip = t as usize;
                    } else {
                        self.stack.pop();
                    }
                }
                Op::Tuple(n) => {
                    let at = self.stack.len() - n as usize;
                    let items: Arc<[Value]> = self.stack.drain(at..).collect();
                    self.stack.push(Value::Tuple(items));
                }
                Op::List(n) => {
                    let at = self.stack.len() - n as usize;
                    let mut l = List::EMPTY;
                    while self.stack.len() > at {
                        l = List::cons(pop!(), l);
                    }
                    self.stack.push(Value::List(l));
                }
                Op::ListTail(n) => {
                    let tail = pop!();
                    let Value::List(l) = &tail else {
                        fail!(format!(
                            "the tail of a list must be a list, got {}",
                            short(&tail)
                        ))
                    };
                    let mut l = l.clone();
                    drop(tail);
                    let at = self.stack.len() - n as usize;
                    while self.stack.len() > at {
                        l = List::cons(pop!(), l);
                    }
                    self.stack.push(Value::List(l));
                }
                Op::Map(n) => {
                    let at = self.stack.len() - 2 * n as usize;
                    let mut m = BTreeMap::new();
                    let mut it = self.stack.drain(at..);
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        m.insert(k, v);
                    }
                    drop(it);
                    self.stack.push(Value::Map(Arc::new(m)));
                }
                Op::Field(i) => {
                    let m = pop!();
                    let key = &p.consts[i as usize];
                    match &m {
                        Value::Map(map) => match map.get(key) {
                            Some(v) => self.stack.push(v.clone()),
                            None => fail!(format!("key {} not found in {}", key, short(&m))),
                        },
                        _ => fail!(format!(
                            "cannot read field .{} of {} (not a map)",
                            key.to_text(),
                            short(&m)
                        )),
                    }
                }
                Op::Interp(n) => {
                    let at = self.stack.len() - n as usize;
                    let mut s = String::new();
                    for v in self.stack.drain(at..) {
                        s.push_str(&v.to_text());
                    }
                    self.stack.push(Value::str(s));
                }
                Op::Closure(i) => {
                    let p = p.protos[i as usize].clone();
                    let at = self.stack.len() - p.captures as usize;
                    let captures: Box<[Value]> = self.stack.drain(at..).collect();
                    self.stack
                        .push(Value::Fun(Arc::new(Fun::Closure { proto: p, captures })));
                }
                Op::Call(argc) | Op::TailCall(argc) => {
                    save!();
                    let tail = matches!(op, Op::TailCall(_));
                    let depth = self.frames.len();
                    match self.call_value(argc, tail, rt) {
                        Ok(None) => {
                            if self.frames.len() != depth || tail {
                                entered!();
                            }
                        }
                        Ok(Some(t)) => trap!(t),
                        Err(e) => fail!(e),
                    }
                }
                Op::CallGlobal(id, argc) | Op::TailCallGlobal(id, argc) => {
                    save!();
                    let tail = matches!(op, Op::TailCallGlobal(..));
                    let callee = self.prog.funcs[id as usize].clone();
                    let from = self.stack.len() - argc as usize;
                    if let Err(e) = self.invoke(callee, from, from, argc as usize, tail) {
                        fail!(e)
                    }
                    entered!();
                }
                Op::CallNative(id, argc) => {
                    save!();
                    let at = self.stack.len() - argc as usize;
                    let args: Vec<Value> = self.stack.drain(at..).collect();
                    match rt.run(self, id, &args) {
                        Ok(v) => self.stack.push(v),
                        Err(t) => trap!(t),
                    }
                }
                Op::Test(i) => {
                    let t = &p.tests[i as usize];
                    let slots = &mut self.stack[base..base + p.nslots as usize];
                    let v = slots[t.slot as usize].clone();
                    if !match_pat(&t.pat, &v, slots) {
                        ip = t.fail as usize;
                    }
                }
                Op::Guard(i) => {
                    let g = &p.guards[i as usize];
                    if !guard_true(&g.expr, &self.stack[base..base + p.nslots as usize]) {
                        ip = g.fail as usize;
                    }
                }
                Op::Match(i) => {
                    let v = self.stack.last().expect("operand").clone();
                    let slots = &mut self.stack[base..base + p.nslots as usize];
                    if !match_pat(&p.pats[i as usize], &v, slots) {
                        fail!(format!("no match of right hand side value {}", short(&v)))
                    }
                }
                Op::CaseClause(s) => {
                    let v = self.stack[base + s as usize].clone();
                    fail!(format!("no case clause matching {}", short(&v)))
                }
                Op::FnClause => {
                    let args: Vec<String> = self.stack[base..base + p.arity as usize]
                        .iter()
                        .map(short)
                        .collect();
                    fail!(format!(
                        "no clause of {} matches ({})",
                        p.name,
                        args.join(", ")
                    ))
                }
                Op::Receive(ri) => {
                    let spec = &p.recvs[ri as usize];
                    let deadline = if spec.after.is_some() {
                        match timeout_deadline(&pop!()) {
                            Ok(d) => d,
                            Err(e) => fail!(e),
                        }
                    } else {
                        None
                    };
                    save!();
                    // A new receive: messages an earlier receive skipped may match this one.
                    rt.host.rescan();
                    if let Some(o) = self.try_receive(rt.host, ri, deadline) {
                        return o;
                    }
                    load_frame!();
                }
                Op::Return => {
                    let v = pop!();
                    let f = self.frames.pop().expect("frame");
                    self.stack.truncate(f.ret as usize);
                    if self.frames.is_empty() {
                        return Outcome::Return(v);
                    }
                    self.stack.push(v);
                    load_frame!();
                }
            }
        }
    }
}

/// `after` accepts a non-negative integer of milliseconds or `:infinity`.
fn timeout_deadline(v: &Value) -> Result<Option<Instant>, String> {
    match v {
        Value::Int(ms) if *ms >= 0 => {
            Ok(Instant::now().checked_add(Duration::from_millis(*ms as u64)))
        }
        Value::Atom(a) if &*a.name() == "infinity" => Ok(None),
        other => Err(format!(
            "`after` needs milliseconds (a non-negative integer) or :infinity, got {}",
            short(other)
        )),
    }
}

/// Runs natives for the dispatch loop.
pub(crate) trait NativeRunner {
    fn run(&mut self, vm: &mut Vm, id: u16, args: &[Value]) -> Result<Value, Trap>;
}

struct HostRunner<'h, 'e> {
    host: &'h mut dyn Host,
    env: &'e Arc<Env>,
}

impl NativeRunner for HostRunner<'_, '_> {
    fn run(&mut self, vm: &mut Vm, id: u16, args: &[Value]) -> Result<Value, Trap> {
        let native = natives::get(id);
        let r = match native.imp {
            Imp::Pure(f) => f(args),
            Imp::Cx(f) => {
                let mut cx = NativeCx {
                    host: self.host,
                    env: self.env,
                    vm,
                };
                f(&mut cx, args)
            }
        };
        r.map_err(|t| match t {
            Trap::Error(e) if native.name != "raise" => {
                Trap::Error(format!("{}/{}: {e}", native.name, native.arity))
            }
            other => other,
        })
    }
}

/// For the first call of a process: natives with side effects are not allowed.
struct NoNatives;

impl NativeRunner for NoNatives {
    fn run(&mut self, _vm: &mut Vm, id: u16, args: &[Value]) -> Result<Value, Trap> {
        match natives::get(id).imp {
            Imp::Pure(f) => f(args),
            Imp::Cx(_) => Err(Trap::Error(format!(
                "{} cannot be the function a process starts with",
                natives::get(id).name
            ))),
        }
    }
}

/// The tern form of an exit or down message.
pub(crate) fn system_message(m: &Message) -> Option<Value> {
    match m {
        Message::Exit { from, reason } => Some(Value::tuple(vec![
            Value::Atom(Atom::EXIT),
            Value::Pid(*from),
            reason_value(reason),
        ])),
        Message::Down {
            monitor,
            pid,
            reason,
        } => Some(Value::tuple(vec![
            Value::Atom(Atom::DOWN),
            Value::Ref(Ref::Monitor(*monitor)),
            Value::Atom(Atom::PROCESS),
            Value::Pid(*pid),
            reason_value(reason),
        ])),
        _ => None,
    }
}

/// An exit reason as a tern value.
pub(crate) fn reason_value(r: &ExitReason) -> Value {
    match r {
        ExitReason::Normal => Value::Atom(Atom::NORMAL),
        ExitReason::Killed => Value::Atom(Atom::KILLED),
        ExitReason::NoProc => Value::Atom(Atom::NOPROC),
        ExitReason::Crashed(s) => Value::error(Value::Str(s.clone())),
        ExitReason::Custom(c) => match c.downcast_ref::<Value>() {
            Some(v) => v.clone(),
            None => Value::str(r.to_string()),
        },
        _ => Value::str(r.to_string()),
    }
}

/// A tern value as an exit reason.
pub(crate) fn value_reason(v: &Value) -> ExitReason {
    match v {
        Value::Atom(a) if *a == Atom::NORMAL => ExitReason::Normal,
        Value::Atom(a) if *a == Atom::KILL => ExitReason::Killed,
        other => ExitReason::custom(other.clone()),
    }
}

/// Matches `v` against `p`, writing bindings into `slots`.
pub(crate) fn match_pat(p: &Pattern, v: &Value, slots: &mut [Value]) -> bool {
    match p {
        Pattern::Wild => true,
        Pattern::Bind(s) => {
            slots[*s as usize] = v.clone();
            true
        }
        Pattern::Check(s) => slots[*s as usize] == *v,
        Pattern::Lit(l) => l == v,
        Pattern::Tuple(ps) => match v {
            Value::Tuple(items) if items.len() == ps.len() => ps
                .iter()
                .zip(items.iter())
                .all(|(p, v)| match_pat(p, v, slots)),
            _ => false,
        },
        Pattern::List(ps, tail) => {
            let Value::List(l) = v else {
                return false;
            };
            let mut l = l.clone();
            for p in ps.iter() {
                let Some((h, t)) = l.uncons() else {
                    return false;
                };
                if !match_pat(p, h, slots) {
                    return false;
                }
                let t = t.clone();
                l = t;
            }
            match tail {
                Some(tp) => match_pat(tp, &Value::List(l), slots),
                None => l.is_empty(),
            }
        }
        Pattern::Map(pairs) => match v {
            Value::Map(m) => pairs.iter().all(|(k, p)| match m.get(k) {
                Some(x) => match_pat(p, x, slots),
                None => false,
            }),
            _ => false,
        },
        Pattern::StrPrefix(prefix, rest) => match v {
            Value::Str(s) => match s.strip_prefix(&**prefix) {
                Some(r) => match_pat(rest, &Value::str(r), slots),
                None => false,
            },
            _ => false,
        },
    }
}

/// A guard holds when it evaluates to `true`; an error in a guard means it does not hold.
#[inline]
pub(crate) fn guard_true(g: &GExpr, slots: &[Value]) -> bool {
    // fast path: an integer comparison of variables and literals (`n < 2`)
    if let GExpr::Bin(op, a, b) = g {
        let int = |e: &GExpr| match e {
            GExpr::Slot(s) => match &slots[*s as usize] {
                Value::Int(n) => Some(*n),
                _ => None,
            },
            GExpr::Const(Value::Int(n)) => Some(*n),
            _ => None,
        };
        if let (Some(x), Some(y)) = (int(a), int(b)) {
            match op {
                BinOp::Lt => return x < y,
                BinOp::Gt => return x > y,
                BinOp::Le => return x <= y,
                BinOp::Ge => return x >= y,
                BinOp::Eq => return x == y,
                BinOp::Ne => return x != y,
                _ => {}
            }
        }
    }
    matches!(eval_guard(g, slots).as_deref(), Ok(Value::Bool(true)))
}

/// Evaluates a guard without cloning constants and variables.
fn eval_guard<'a>(g: &'a GExpr, slots: &'a [Value]) -> Result<Cow<'a, Value>, String> {
    Ok(match g {
        GExpr::Const(v) => Cow::Borrowed(v),
        GExpr::Slot(s) => Cow::Borrowed(&slots[*s as usize]),
        GExpr::Neg(a) => Cow::Owned(neg(&*eval_guard(a, slots)?)?),
        GExpr::Not(a) => Cow::Owned(Value::Bool(!eval_guard(a, slots)?.truthy())),
        GExpr::Bin(BinOp::And, a, b) => {
            let a = eval_guard(a, slots)?;
            if a.truthy() {
                eval_guard(b, slots)?
            } else {
                a
            }
        }
        GExpr::Bin(BinOp::Or, a, b) => {
            let a = eval_guard(a, slots)?;
            if a.truthy() {
                a
            } else {
                eval_guard(b, slots)?
            }
        }
        GExpr::Bin(op, a, b) => {
            let (a, b) = (eval_guard(a, slots)?, eval_guard(b, slots)?);
            if let (Value::Int(x), Value::Int(y)) = (&*a, &*b) {
                let r = match op {
                    BinOp::Lt => Some(x < y),
                    BinOp::Gt => Some(x > y),
                    BinOp::Le => Some(x <= y),
                    BinOp::Ge => Some(x >= y),
                    BinOp::Eq => Some(x == y),
                    BinOp::Ne => Some(x != y),
                    _ => None,
                };
                if let Some(r) = r {
                    return Ok(Cow::Owned(Value::Bool(r)));
                }
            }
            Cow::Owned(arith(*op, &a, &b)?)
        }
        GExpr::Call(id, args) => {
            let vals: Vec<Value> = args
                .iter()
                .map(|a| eval_guard(a, slots).map(Cow::into_owned))
                .collect::<Result<_, _>>()?;
            match natives::get(*id).imp {
                Imp::Pure(f) => Cow::Owned(f(&vals).map_err(|_| String::new())?),
                Imp::Cx(_) => return Err(String::new()),
            }
        }
    })
}

fn neg(a: &Value) -> Result<Value, String> {
    match a {
        Value::Int(n) => n
            .checked_neg()
            .map(Value::Int)
            .ok_or_else(|| format!("integer overflow: -({n})")),
        Value::Float(x) => Ok(Value::Float(-x)),
        other => Err(format!("bad argument to unary `-`: {}", short(other))),
    }
}

fn float_of(v: &Value) -> Option<f64> {
    match v {
        Value::Int(n) => Some(*n as f64),
        Value::Float(x) => Some(*x),
        _ => None,
    }
}

/// Binary operators on values (not `and`/`or`, which short-circuit).
pub(crate) fn arith(op: BinOp, a: &Value, b: &Value) -> Result<Value, String> {
    use BinOp::*;
    let bad = || {
        format!(
            "bad arguments to `{}`: {} and {}",
            op.symbol(),
            short(a),
            short(b)
        )
    };
    let overflow = |x: &i64, y: &i64| format!("integer overflow: {x} {} {y}", op.symbol());
    Ok(match op {
        Add | Sub | Mul => match (a, b) {
            (Value::Int(x), Value::Int(y)) => Value::Int(
                match op {
                    Add => x.checked_add(*y),
                    Sub => x.checked_sub(*y),
                    _ => x.checked_mul(*y),
                }
                .ok_or_else(|| overflow(x, y))?,
            ),
            _ => {
                let (Some(x), Some(y)) = (float_of(a), float_of(b)) else {
                    return Err(bad());
                };
                let r = match op {
                    Add => x + y,
                    Sub => x - y,
                    _ => x * y,
                };
                if !r.is_finite() {
                    return Err(format!(
                        "float overflow: {} {} {}",
                        short(a),
                        op.symbol(),
                        short(b)
                    ));
                }
                Value::Float(r)
            }
        },
        Div => match (a, b) {
            (Value::Int(_), Value::Int(0)) => return Err(format!("division by zero: {a} / 0")),
            (Value::Int(x), Value::Int(y)) => {
                Value::Int(x.checked_div(*y).ok_or_else(|| overflow(x, y))?)
            }
            _ => {
                let (Some(x), Some(y)) = (float_of(a), float_of(b)) else {
                    return Err(bad());
                };
                if y == 0.0 {
                    return Err(format!("division by zero: {} / {}", short(a), short(b)));
                }
                let r = x / y;
                if !r.is_finite() {
                    return Err(format!("float overflow: {} / {}", short(a), short(b)));
                }
                Value::Float(r)
            }
        },
        Rem => match (a, b) {
            (Value::Int(_), Value::Int(0)) => return Err(format!("division by zero: {a} rem 0")),
            (Value::Int(x), Value::Int(y)) => {
                Value::Int(x.checked_rem(*y).ok_or_else(|| overflow(x, y))?)
            }
            _ => return Err(bad()),
        },
        Eq => Value::Bool(a.loose_eq(b)),
        Ne => Value::Bool(!a.loose_eq(b)),
        Lt | Gt | Le | Ge => {
            let ord = match (float_of(a), float_of(b)) {
                (Some(x), Some(y))
                    if !(matches!(a, Value::Int(_)) && matches!(b, Value::Int(_))) =>
                {
                    x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
                }
                _ => a.cmp(b),
            };
            Value::Bool(match op {
                Lt => ord.is_lt(),
                Gt => ord.is_gt(),
                Le => ord.is_le(),
                _ => ord.is_ge(),
            })
        }
        Concat => match (a, b) {
            (Value::Str(x), Value::Str(y)) => {
                let mut s = String::with_capacity(x.len() + y.len());
                s.push_str(x);
                s.push_str(y);
                Value::str(s)
            }
            (Value::Bin(x), Value::Bin(y)) => {
                let mut v = Vec::with_capacity(x.len() + y.len());
                v.extend_from_slice(x);
                v.extend_from_slice(y);
                Value::Bin(v.into())
            }
            _ => {
                return Err(format!(
                    "`<>` needs two strings or two binaries, got {} and {}",
                    short(a),
                    short(b)
                ))
            }
        },
        And | Or => unreachable!("short-circuit operators are compiled to jumps"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A host without a scheduler: a local queue and a budget of reductions per run.
    struct TestHost {
        queue: VecDeque<Message>,
        budget: u32,
        yields: u32,
    }

    impl Host for TestHost {
        fn pid(&self) -> Pid {
            Pid::NONE
        }
        fn consume(&mut self, n: u32) -> bool {
            if self.budget > n {
                self.budget -= n;
                true
            } else {
                self.budget = 1000;
                self.yields += 1;
                false
            }
        }
        fn recv_matching(&mut self, pred: &mut dyn FnMut(&Message) -> bool) -> Option<Message> {
            let i = self.queue.iter().position(pred)?;
            self.queue.remove(i)
        }
        fn send(&mut self, _to: Pid, v: Value) {
            self.queue.push_back(Message::new(v));
        }
        fn spawn(&mut self, _p: VmProcess, _how: Spawn) -> (Pid, Option<MonitorRef>) {
            unimplemented!("no processes in these tests")
        }
        fn link(&mut self, _pid: Pid) {}
        fn unlink(&mut self, _pid: Pid) {}
        fn monitor(&mut self, _pid: Pid) -> MonitorRef {
            unimplemented!()
        }
        fn demonitor(&mut self, _m: MonitorRef) {}
        fn trap_exit(&mut self, _on: bool) {}
        fn exit(&mut self, _pid: Pid, _reason: ExitReason) {}
    }

    fn setup(src: &str, limits: Limits) -> (Vm, Arc<Env>, TestHost) {
        let prog = Arc::new(crate::runner::load(src, "t.tern").expect("compiles"));
        let rt = scheduler::Runtime::new(scheduler::Config {
            workers: 1,
            ..Default::default()
        });
        let mut env = Env::new(rt);
        env.limits = limits;
        let mut vm = Vm::new(prog, limits);
        vm.start_call(Value::Fun(Arc::new(Fun::Named("main".into()))), vec![])
            .unwrap();
        let host = TestHost {
            queue: VecDeque::new(),
            budget: 1000,
            yields: 0,
        };
        (vm, Arc::new(env), host)
    }

    fn run_to_end(vm: &mut Vm, env: &Arc<Env>, host: &mut TestHost) -> Outcome {
        loop {
            match vm.run(host, env) {
                Outcome::Yield => continue,
                other => return other,
            }
        }
    }

    #[test]
    fn a_long_loop_yields_and_resumes() {
        let (mut vm, env, mut host) = setup(
            "fn main() do count(100000, 0) end\nfn count(0, a) do a end\nfn count(n, a) do count(n - 1, a + 1) end",
            Limits::default(),
        );
        match run_to_end(&mut vm, &env, &mut host) {
            Outcome::Return(Value::Int(100000)) => {}
            other => panic!("{other:?}"),
        }
        assert!(host.yields > 10, "yielded {} times", host.yields);
        assert!(vm.stack.is_empty() && vm.frames.is_empty());
    }

    #[test]
    fn tail_calls_keep_the_stack_flat_and_deep_recursion_is_an_error() {
        let limits = Limits {
            max_stack: 10_000,
            max_frames: 500,
        };
        let (mut vm, env, mut host) = setup(
            "fn main() do count(100000, 0) end\nfn count(0, a) do a end\nfn count(n, a) do count(n - 1, a + 1) end",
            limits,
        );
        assert!(matches!(
            run_to_end(&mut vm, &env, &mut host),
            Outcome::Return(Value::Int(100000))
        ));
        let (mut vm, env, mut host) =
            setup("fn main() do f(0) end\nfn f(n) do 1 + f(n + 1) end", limits);
        match run_to_end(&mut vm, &env, &mut host) {
            Outcome::Error(Error::Runtime { reason, trace }) => {
                assert!(
                    reason.starts_with("stack overflow (500 nested calls"),
                    "{reason}"
                );
                // main tail-called f, so only f's frames are left
                assert_eq!(trace, vec!["f/1 (t.tern:2) (x500)".to_string()]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn selective_receive_leaves_other_messages_in_order() {
        let (mut vm, env, mut host) = setup(
            "fn main() do\n receive do\n {:b, x} -> x\n end\nend",
            Limits::default(),
        );
        assert!(matches!(vm.run(&mut host, &env), Outcome::Wait(None)));
        host.queue.push_back(Message::new(Value::atom("a")));
        host.queue.push_back(Message::new(7u32)); // not a tern value: never matched
        assert!(matches!(vm.run(&mut host, &env), Outcome::Wait(None)));
        host.queue.push_back(Message::new(Value::tuple(vec![
            Value::atom("b"),
            Value::Int(5),
        ])));
        host.queue.push_back(Message::new(Value::atom("c")));
        assert!(matches!(
            vm.run(&mut host, &env),
            Outcome::Return(Value::Int(5))
        ));
        let left: Vec<String> = host
            .queue
            .iter()
            .map(|m| {
                m.downcast_ref::<Value>()
                    .map_or("other".into(), |v| v.inspect())
            })
            .collect();
        assert_eq!(left, vec![":a", "other", ":c"]);
    }

    #[test]
    fn receive_after_times_out() {
        let (mut vm, env, mut host) = setup(
            "fn main() do\n receive do\n :x -> 1\n after 0 -> 2\n end\nend",
            Limits::default(),
        );
        assert!(matches!(
            vm.run(&mut host, &env),
            Outcome::Return(Value::Int(2))
        ));
    }

    #[test]
    fn patterns_bind_and_check() {
        let mut slots = vec![Value::Nil; 3];
        let p = Pattern::Tuple(Box::new([
            Pattern::Bind(0),
            Pattern::Check(0),
            Pattern::List(
                Box::new([Pattern::Bind(1)]),
                Some(Box::new(Pattern::Bind(2))),
            ),
        ]));
        let v = Value::tuple(vec![
            Value::Int(1),
            Value::Int(1),
            Value::list(vec![Value::Int(2), Value::Int(3)]),
        ]);
        assert!(match_pat(&p, &v, &mut slots));
        assert_eq!(slots[1], Value::Int(2));
        assert_eq!(slots[2], Value::list(vec![Value::Int(3)]));
        let v2 = Value::tuple(vec![Value::Int(1), Value::Int(2), Value::list(vec![])]);
        assert!(!match_pat(&p, &v2, &mut slots));
        let prefix = Pattern::StrPrefix("ab".into(), Box::new(Pattern::Bind(0)));
        assert!(match_pat(&prefix, &Value::str("abc"), &mut slots));
        assert_eq!(slots[0], Value::str("c"));
        assert!(!match_pat(&prefix, &Value::str("xbc"), &mut slots));
    }

    #[test]
    fn arithmetic_is_checked() {
        use BinOp::*;
        assert!(arith(Add, &Value::Int(i64::MAX), &Value::Int(1))
            .unwrap_err()
            .contains("integer overflow"));
        assert!(arith(Div, &Value::Int(i64::MIN), &Value::Int(-1)).is_err());
        assert!(arith(Rem, &Value::Int(1), &Value::Int(0))
            .unwrap_err()
            .contains("division by zero"));
        assert_eq!(
            arith(Div, &Value::Int(7), &Value::Float(2.0)).unwrap(),
            Value::Float(3.5)
        );
        assert_eq!(
            arith(Lt, &Value::Int(1), &Value::Float(1.5)).unwrap(),
            Value::Bool(true)
        );
        assert!(neg(&Value::Int(i64::MIN)).is_err());
        let g = GExpr::Bin(
            BinOp::Lt,
            Box::new(GExpr::Slot(0)),
            Box::new(GExpr::Const(Value::Int(2))),
        );
        assert!(guard_true(&g, &[Value::Int(1)]));
        assert!(!guard_true(&g, &[Value::Int(3)]));
        // an error in a guard is false, not a crash
        let bad = GExpr::Bin(
            BinOp::Add,
            Box::new(GExpr::Slot(0)),
            Box::new(GExpr::Const(Value::atom("x"))),
        );
        assert!(!guard_true(&bad, &[Value::Int(1)]));
    }
}
