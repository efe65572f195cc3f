//! Syntax tree to bytecode ([`Proto`]), with every variable resolved to a frame slot.
//!
//! Invariants:
//! - A frame's slots are `[params][captures][locals]`. A closure captures, by value, every
//!   enclosing variable its body names (found by a pre-pass); they are copied into the frame
//!   when it is called.
//! - Every `let` and pattern variable gets a fresh slot, so rebinding never changes a value a
//!   closure already captured; names go out of scope at the end of their block.
//! - Calls to top-level functions are resolved at compile time to an index in the
//!   [`Program`]; calling an undefined function is a compile error. Calls in tail position
//!   compile to tail calls.
//! - Guards compile to small trees ([`GExpr`]) evaluated without the stack, so `receive` can
//!   test them while it scans the mailbox.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::ast::*;
use crate::error::SyntaxError;
use crate::natives;
use crate::opcode::Op;
use crate::value::{Atom, Fun, Value};

/// The most slots a frame may have.
const MAX_SLOTS: usize = u16::MAX as usize;
/// The most instructions in one function.
const MAX_CODE: usize = u32::MAX as usize / 2;

/// A compiled function.
pub struct Proto {
    /// `name/arity` (or `fn/arity in name/arity` for anonymous functions).
    pub name: Arc<str>,
    /// Number of parameters.
    pub arity: u8,
    /// Number of captured values (slots `arity..arity + captures`).
    pub captures: u16,
    /// Total slots of a frame.
    pub nslots: u16,
    pub(crate) code: Box<[Op]>,
    /// Source line of each instruction.
    pub(crate) lines: Box<[u32]>,
    pub(crate) consts: Box<[Value]>,
    pub(crate) tests: Box<[Test]>,
    pub(crate) guards: Box<[GuardSpec]>,
    pub(crate) pats: Box<[Pattern]>,
    pub(crate) protos: Box<[Arc<Proto>]>,
    pub(crate) recvs: Box<[RecvSpec]>,
    /// The source file.
    pub file: Arc<str>,
}

impl std::fmt::Debug for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proto({})", self.name)
    }
}

/// A compiled pattern.
#[derive(Clone, Debug)]
pub(crate) enum Pattern {
    Wild,
    Bind(u16),
    /// Equal (strictly) to the value in a slot (`^x`, or a repeated variable).
    Check(u16),
    Lit(Value),
    Tuple(Box<[Pattern]>),
    List(Box<[Pattern]>, Option<Box<Pattern>>),
    Map(Box<[(Value, Pattern)]>),
    StrPrefix(Arc<str>, Box<Pattern>),
}

#[derive(Debug)]
pub(crate) struct Test {
    pub slot: u16,
    pub pat: Pattern,
    pub fail: u32,
}

#[derive(Debug)]
pub(crate) struct GuardSpec {
    pub expr: GExpr,
    pub fail: u32,
}

/// A guard expression: no calls except pure builtins, no side effects.
#[derive(Debug)]
pub(crate) enum GExpr {
    Const(Value),
    Slot(u16),
    Bin(BinOp, Box<GExpr>, Box<GExpr>),
    Neg(Box<GExpr>),
    Not(Box<GExpr>),
    Call(u16, Box<[GExpr]>),
}

#[derive(Debug)]
pub(crate) struct RecvClause {
    pub pat: Pattern,
    pub guard: Option<GExpr>,
    pub target: u32,
}

#[derive(Debug)]
pub(crate) struct RecvSpec {
    pub clauses: Box<[RecvClause]>,
    /// Where the `after` body starts (the timeout is popped by `Receive`).
    pub after: Option<u32>,
}

/// A set of top-level functions. Immutable once built: the REPL makes a new one per
/// definition, and running processes keep the one they started with.
#[derive(Clone, Default)]
pub struct Program {
    pub(crate) funcs: Vec<Arc<Proto>>,
    pub(crate) index: HashMap<(String, u8), u32>,
    names: HashSet<String>,
}

impl Program {
    /// The id of `name/arity`.
    pub(crate) fn lookup(&self, name: &str, arity: u8) -> Option<u32> {
        self.index.get(&(name.to_string(), arity)).copied()
    }

    /// `true` if a top-level function of that name exists (any arity).
    pub fn has_function(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// The function `name/arity`.
    pub fn function(&self, name: &str, arity: u8) -> Option<Arc<Proto>> {
        self.lookup(name, arity)
            .map(|i| self.funcs[i as usize].clone())
    }

    /// Compiles function clauses into a new program that extends this one. Clauses of the
    /// same name and arity are one function; a function already in `self` is replaced.
    /// In the prelude, names of the form `module__name` are published as `Module.name`.
    pub fn define(&self, clauses: Vec<FnClause>, file: &str) -> Result<Program, SyntaxError> {
        self.define_with(clauses, file, false)
    }

    pub(crate) fn define_with(
        &self,
        clauses: Vec<FnClause>,
        file: &str,
        prelude: bool,
    ) -> Result<Program, SyntaxError> {
        let mut groups: Vec<((String, u8), Vec<FnClause>)> = Vec::new();
        for mut c in clauses {
            if let Some((m, f)) = c.name.split_once("__").filter(|_| prelude) {
                let mut chars = m.chars();
                let first = chars
                    .next()
                    .map(|c| c.to_uppercase().to_string())
                    .unwrap_or_default();
                c.name = format!("{first}{}.{f}", chars.as_str());
            }
            if c.params.len() > u8::MAX as usize {
                return Err(SyntaxError::new(c.pos, "too many parameters (at most 255)"));
            }
            let key = (c.name.clone(), c.params.len() as u8);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(c),
                None => groups.push((key, vec![c])),
            }
        }
        let mut next = self.clone();
        let mut ids = Vec::new();
        for (key, _) in &groups {
            let id = match next.index.get(key) {
                Some(&id) => id,
                None => {
                    let id = (next.funcs.len() + ids.iter().filter(|(_, new)| *new).count()) as u32;
                    ids.push((id, true));
                    next.index.insert(key.clone(), id);
                    next.names.insert(key.0.clone());
                    continue;
                }
            };
            ids.push((id, false));
        }
        let file: Arc<str> = Arc::from(file);
        let mut compiled = Vec::new();
        for ((name, arity), group) in &groups {
            let proto = compile_function(&next, name, *arity, group, &file)?;
            compiled.push(proto);
        }
        for ((id, new), proto) in ids.into_iter().zip(compiled) {
            if new {
                debug_assert_eq!(id as usize, next.funcs.len());
                next.funcs.push(proto);
            } else {
                next.funcs[id as usize] = proto;
            }
        }
        Ok(next)
    }

    /// Compiles REPL input: `body` runs as a function of no arguments that sees the previous
    /// `bindings` (captured, in order), and returns `{last_value, {binding values...}}`
    /// together with the names of the bindings after it ran.
    pub fn compile_repl(
        &self,
        body: &[Expr],
        bindings: &[String],
        file: &str,
    ) -> Result<(Arc<Proto>, Vec<String>), SyntaxError> {
        let mut c = Compiler {
            prog: self,
            file: Arc::from(file),
            fns: Vec::new(),
        };
        c.fns.push(FnState::new(Arc::from("repl/0"), 0));
        let caps: Vec<(String, u16)> = bindings
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u16))
            .collect();
        c.cur().nslots = caps.len() as u16;
        c.cur().scopes.push(caps);
        c.cur().scopes.push(Vec::new());
        let line = body.first().map_or(1, |e| e.pos.line);
        c.block(body, false, line)?;
        // the visible bindings, innermost shadowing outer
        let mut visible: Vec<(String, u16)> = Vec::new();
        for scope in &c.fns[0].scopes {
            for (n, s) in scope {
                visible.retain(|(m, _)| m != n);
                visible.push((n.clone(), *s));
            }
        }
        let names: Vec<String> = visible.iter().map(|(n, _)| n.clone()).collect();
        for (_, s) in &visible {
            c.emit(Op::Load(*s), line);
        }
        c.emit(Op::Tuple(visible.len() as u16), line);
        c.emit(Op::Tuple(2), line);
        c.emit(Op::Return, line);
        let st = c.fns.pop().expect("one function");
        let mut proto = st.finish(&c.file)?;
        proto.captures = bindings.len() as u16;
        Ok((Arc::new(proto), names))
    }
}

struct FnState {
    name: Arc<str>,
    arity: u8,
    code: Vec<Op>,
    lines: Vec<u32>,
    consts: Vec<Value>,
    tests: Vec<Test>,
    guards: Vec<GuardSpec>,
    pats: Vec<Pattern>,
    protos: Vec<Arc<Proto>>,
    recvs: Vec<RecvSpec>,
    scopes: Vec<Vec<(String, u16)>>,
    nslots: u16,
    captures: u16,
    too_many_slots: bool,
}

impl FnState {
    fn new(name: Arc<str>, arity: u8) -> FnState {
        FnState {
            name,
            arity,
            code: Vec::new(),
            lines: Vec::new(),
            consts: Vec::new(),
            tests: Vec::new(),
            guards: Vec::new(),
            pats: Vec::new(),
            protos: Vec::new(),
            recvs: Vec::new(),
            scopes: Vec::new(),
            nslots: arity as u16,
            captures: 0,
            too_many_slots: false,
        }
    }

    fn finish(self, file: &Arc<str>) -> Result<Proto, SyntaxError> {
        if self.too_many_slots || self.code.len() > MAX_CODE {
            return Err(SyntaxError::new(
                Pos { line: 1, col: 1 },
                format!("function {} is too large", self.name),
            ));
        }
        Ok(Proto {
            name: self.name,
            arity: self.arity,
            captures: self.captures,
            nslots: self.nslots,
            code: self.code.into(),
            lines: self.lines.into(),
            consts: self.consts.into(),
            tests: self.tests.into(),
            guards: self.guards.into(),
            pats: self.pats.into(),
            protos: self.protos.into(),
            recvs: self.recvs.into(),
            file: file.clone(),
        })
    }
}

struct Compiler<'a> {
    prog: &'a Program,
    file: Arc<str>,
    /// The function being compiled is last; enclosing functions before it.
    fns: Vec<FnState>,
}

fn compile_function(
    prog: &Program,
    name: &str,
    arity: u8,
    clauses: &[FnClause],
    file: &Arc<str>,
) -> Result<Arc<Proto>, SyntaxError> {
    let mut c = Compiler {
        prog,
        file: file.clone(),
        fns: vec![FnState::new(Arc::from(format!("{name}/{arity}")), arity)],
    };
    c.clauses_body(clauses)?;
    let st = c.fns.pop().expect("one function");
    Ok(Arc::new(st.finish(file)?))
}

/// Guard functions (pure builtins allowed in `when`).
const GUARD_FNS: &[&str] = &[
    "is_integer",
    "is_float",
    "is_number",
    "is_atom",
    "is_boolean",
    "is_nil",
    "is_string",
    "is_binary",
    "is_list",
    "is_tuple",
    "is_map",
    "is_pid",
    "is_function",
    "length",
    "tuple_size",
    "map_size",
    "byte_size",
    "elem",
    "abs",
];

impl Compiler<'_> {
    fn cur(&mut self) -> &mut FnState {
        self.fns.last_mut().expect("a function")
    }

    fn here(&mut self) -> u32 {
        self.cur().code.len() as u32
    }

    fn emit(&mut self, op: Op, line: u32) -> usize {
        let st = self.cur();
        st.code.push(op);
        st.lines.push(line);
        st.code.len() - 1
    }

    fn patch(&mut self, at: usize, target: u32) {
        let op = &mut self.cur().code[at];
        *op = match *op {
            Op::Jump(_) => Op::Jump(target),
            Op::JumpIfFalse(_) => Op::JumpIfFalse(target),
            Op::AndJump(_) => Op::AndJump(target),
            Op::OrJump(_) => Op::OrJump(target),
            other => other,
        };
    }

    fn constant(&mut self, v: Value, line: u32) {
        let st = self.cur();
        let i = st.consts.len() as u32;
        st.consts.push(v);
        self.emit(Op::Const(i), line);
    }

    fn new_slot(&mut self) -> u16 {
        let st = self.cur();
        let s = st.nslots;
        if (st.nslots as usize) < MAX_SLOTS {
            st.nslots += 1;
        } else {
            st.too_many_slots = true;
        }
        s
    }

    fn resolve(&self, name: &str) -> Option<u16> {
        let st = self.fns.last()?;
        for scope in st.scopes.iter().rev() {
            if let Some((_, s)) = scope.iter().rev().find(|(n, _)| n == name) {
                return Some(*s);
            }
        }
        None
    }

    fn bind(&mut self, name: &str, slot: u16) {
        let st = self.cur();
        st.scopes
            .last_mut()
            .expect("a scope")
            .push((name.to_string(), slot));
    }

    /// Names a global or native of this name exists (for variables used as values).
    fn global_exists(&self, name: &str) -> bool {
        self.prog.has_function(name) || natives::exists(name)
    }

    /// The body of a named function: try each clause in order.
    fn clauses_body(&mut self, clauses: &[FnClause]) -> Result<(), SyntaxError> {
        let arity = self.cur().arity;
        for clause in clauses {
            let line = clause.pos.line;
            self.cur().scopes.push(Vec::new());
            let mut fails = Vec::new();
            let mut seen = HashMap::new();
            for (i, p) in clause.params.iter().enumerate() {
                let slot = i as u16;
                match &p.kind {
                    PatKind::Var(n) if !seen.contains_key(n) => {
                        seen.insert(n.clone(), slot);
                    }
                    PatKind::Wild => {}
                    _ => {
                        let pat = self.pattern(p, &mut seen)?;
                        let st = self.cur();
                        let t = st.tests.len() as u32;
                        st.tests.push(Test { slot, pat, fail: 0 });
                        self.emit(Op::Test(t), p.pos.line);
                        fails.push(Fail::Test(t));
                    }
                }
            }
            for (n, s) in seen {
                self.bind(&n, s);
            }
            if let Some(g) = &clause.guard {
                let expr = self.guard(g)?;
                let st = self.cur();
                let gi = st.guards.len() as u32;
                st.guards.push(GuardSpec { expr, fail: 0 });
                self.emit(Op::Guard(gi), g.pos.line);
                fails.push(Fail::Guard(gi));
            }
            self.block(&clause.body, true, line)?;
            self.emit(Op::Return, line);
            self.cur().scopes.pop();
            let next = self.here();
            self.set_fails(&fails, next);
        }
        let _ = arity;
        let line = clauses.last().map_or(1, |c| c.pos.line);
        self.emit(Op::FnClause, line);
        Ok(())
    }

    fn set_fails(&mut self, fails: &[Fail], target: u32) {
        for f in fails {
            match *f {
                Fail::Test(t) => self.cur().tests[t as usize].fail = target,
                Fail::Guard(g) => self.cur().guards[g as usize].fail = target,
            }
        }
    }

    fn block(&mut self, body: &[Expr], tail: bool, line: u32) -> Result<(), SyntaxError> {
        if body.is_empty() {
            self.emit(Op::Nil, line);
            return Ok(());
        }
        for (i, e) in body.iter().enumerate() {
            let last = i + 1 == body.len();
            self.expr(e, tail && last)?;
            if !last {
                self.emit(Op::Pop, e.pos.line);
            }
        }
        Ok(())
    }

    /// A block in its own scope.
    fn scoped_block(&mut self, body: &[Expr], tail: bool, line: u32) -> Result<(), SyntaxError> {
        self.cur().scopes.push(Vec::new());
        let r = self.block(body, tail, line);
        self.cur().scopes.pop();
        r
    }

    fn expr(&mut self, e: &Expr, tail: bool) -> Result<(), SyntaxError> {
        let line = e.pos.line;
        match &e.kind {
            ExprKind::Int(n) => match i32::try_from(*n) {
                Ok(small) => {
                    self.emit(Op::Int(small), line);
                }
                Err(_) => self.constant(Value::Int(*n), line),
            },
            ExprKind::Float(x) => self.constant(Value::Float(*x), line),
            ExprKind::Str(s) => self.constant(Value::str(s.as_str()), line),
            ExprKind::Atom(a) => self.constant(Value::atom(a), line),
            ExprKind::Bool(b) => self.constant(Value::Bool(*b), line),
            ExprKind::Nil => {
                self.emit(Op::Nil, line);
            }
            ExprKind::Interp(parts) => {
                for p in parts {
                    match p {
                        StrPart::Lit(s) => self.constant(Value::str(s.as_str()), line),
                        StrPart::Code(c) => self.expr(c, false)?,
                    }
                }
                self.emit(Op::Interp(count(parts.len(), e.pos)?), line);
            }
            ExprKind::Var(name) => {
                if let Some(s) = self.resolve(name) {
                    self.emit(Op::Load(s), line);
                } else if self.global_exists(name) {
                    self.constant(
                        Value::Fun(Arc::new(Fun::Named(Arc::from(name.as_str())))),
                        line,
                    );
                } else {
                    return Err(self.undefined_var(name, e.pos));
                }
            }
            ExprKind::Pin(n) => {
                return Err(SyntaxError::new(
                    e.pos,
                    format!("`^{n}` is only allowed in patterns"),
                ))
            }
            ExprKind::RemoteRef(m, f) => {
                let full = format!("{m}.{f}");
                if !self.global_exists(&full) {
                    return Err(SyntaxError::new(
                        e.pos,
                        format!("undefined function {full}"),
                    ));
                }
                self.constant(Value::Fun(Arc::new(Fun::Named(Arc::from(full)))), line);
            }
            ExprKind::Tuple(items) => {
                for i in items {
                    self.expr(i, false)?;
                }
                self.emit(Op::Tuple(count(items.len(), e.pos)?), line);
            }
            ExprKind::List(items, tail_e) => {
                for i in items {
                    self.expr(i, false)?;
                }
                match tail_e {
                    Some(t) => {
                        self.expr(t, false)?;
                        self.emit(Op::ListTail(count(items.len(), e.pos)?), line);
                    }
                    None => {
                        self.emit(Op::List(count(items.len(), e.pos)?), line);
                    }
                }
            }
            ExprKind::Map(pairs) => {
                for (k, v) in pairs {
                    self.expr(k, false)?;
                    self.expr(v, false)?;
                }
                self.emit(Op::Map(count(pairs.len(), e.pos)?), line);
            }
            ExprKind::Unary(op, a) => {
                self.expr(a, false)?;
                self.emit(
                    match op {
                        UnOp::Neg => Op::Neg,
                        UnOp::Not => Op::Not,
                    },
                    line,
                );
            }
            ExprKind::Binary(BinOp::And, a, b) | ExprKind::Binary(BinOp::Or, a, b) => {
                let is_and = matches!(e.kind, ExprKind::Binary(BinOp::And, ..));
                self.expr(a, false)?;
                let j = self.emit(
                    if is_and {
                        Op::AndJump(0)
                    } else {
                        Op::OrJump(0)
                    },
                    line,
                );
                self.expr(b, false)?;
                let end = self.here();
                self.patch(j, end);
            }
            ExprKind::Binary(op @ (BinOp::Add | BinOp::Sub), a, b) if matches!(b.kind, ExprKind::Int(k) if i32::try_from(k).is_ok()) =>
            {
                let ExprKind::Int(k) = b.kind else {
                    unreachable!("checked")
                };
                self.expr(a, false)?;
                let k = k as i32;
                self.emit(
                    if *op == BinOp::Add {
                        Op::AddInt(k)
                    } else {
                        Op::SubInt(k)
                    },
                    line,
                );
            }
            ExprKind::Binary(op, a, b) => {
                self.expr(a, false)?;
                self.expr(b, false)?;
                let op = match op {
                    BinOp::Add => Op::Add,
                    BinOp::Sub => Op::Sub,
                    BinOp::Mul => Op::Mul,
                    BinOp::Div => Op::Div,
                    BinOp::Rem => Op::Rem,
                    BinOp::Eq => Op::Eq,
                    BinOp::Ne => Op::Ne,
                    BinOp::Lt => Op::Lt,
                    BinOp::Gt => Op::Gt,
                    BinOp::Le => Op::Le,
                    BinOp::Ge => Op::Ge,
                    BinOp::Concat => Op::Concat,
                    BinOp::And | BinOp::Or => unreachable!("handled above"),
                };
                self.emit(op, line);
            }
            ExprKind::Call(callee, args) => self.call(callee, args, tail, e.pos)?,
            ExprKind::Field(m, name) => {
                self.expr(m, false)?;
                let st = self.cur();
                let i = st.consts.len() as u32;
                st.consts.push(Value::atom(name));
                self.emit(Op::Field(i), line);
            }
            ExprKind::Fn(clause) => self.closure(clause)?,
            ExprKind::Let(pat, rhs) => {
                self.expr(rhs, false)?;
                let mut seen = HashMap::new();
                let p = self.pattern(pat, &mut seen)?;
                for (n, s) in seen {
                    self.bind(&n, s);
                }
                let st = self.cur();
                let i = st.pats.len() as u32;
                st.pats.push(p);
                self.emit(Op::Match(i), line);
            }
            ExprKind::If(cond, then, els) => {
                self.expr(cond, false)?;
                let jf = self.emit(Op::JumpIfFalse(0), line);
                self.scoped_block(then, tail, line)?;
                let jend = self.emit(Op::Jump(0), line);
                let else_at = self.here();
                self.patch(jf, else_at);
                match els {
                    Some(b) => self.scoped_block(b, tail, line)?,
                    None => {
                        self.emit(Op::Nil, line);
                    }
                }
                let end = self.here();
                self.patch(jend, end);
            }
            ExprKind::Case(subject, clauses) => {
                self.expr(subject, false)?;
                let tmp = self.new_slot();
                self.emit(Op::Store(tmp), line);
                let mut ends = Vec::new();
                for cl in clauses {
                    self.cur().scopes.push(Vec::new());
                    let mut seen = HashMap::new();
                    let pat = self.pattern(&cl.pat, &mut seen)?;
                    for (n, s) in seen {
                        self.bind(&n, s);
                    }
                    let st = self.cur();
                    let t = st.tests.len() as u32;
                    st.tests.push(Test {
                        slot: tmp,
                        pat,
                        fail: 0,
                    });
                    self.emit(Op::Test(t), cl.pat.pos.line);
                    let mut fails = vec![Fail::Test(t)];
                    if let Some(g) = &cl.guard {
                        let expr = self.guard(g)?;
                        let st = self.cur();
                        let gi = st.guards.len() as u32;
                        st.guards.push(GuardSpec { expr, fail: 0 });
                        self.emit(Op::Guard(gi), g.pos.line);
                        fails.push(Fail::Guard(gi));
                    }
                    self.block(&cl.body, tail, cl.pat.pos.line)?;
                    ends.push(self.emit(Op::Jump(0), line));
                    self.cur().scopes.pop();
                    let next = self.here();
                    self.set_fails(&fails, next);
                }
                self.emit(Op::CaseClause(tmp), line);
                let end = self.here();
                for j in ends {
                    self.patch(j, end);
                }
            }
            ExprKind::Receive(clauses, after) => {
                if let Some((ms, _)) = after {
                    self.expr(ms, false)?;
                }
                let ri = self.cur().recvs.len() as u32;
                self.cur().recvs.push(RecvSpec {
                    clauses: Box::new([]),
                    after: None,
                });
                self.emit(Op::Receive(ri), line);
                let mut specs = Vec::new();
                let mut ends = Vec::new();
                for cl in clauses {
                    self.cur().scopes.push(Vec::new());
                    let mut seen = HashMap::new();
                    let pat = self.pattern(&cl.pat, &mut seen)?;
                    for (n, s) in seen {
                        self.bind(&n, s);
                    }
                    let guard = match &cl.guard {
                        Some(g) => Some(self.guard(g)?),
                        None => None,
                    };
                    let target = self.here();
                    specs.push(RecvClause { pat, guard, target });
                    self.block(&cl.body, tail, cl.pat.pos.line)?;
                    ends.push(self.emit(Op::Jump(0), line));
                    self.cur().scopes.pop();
                }
                let after_at = match after {
                    Some((_, body)) => {
                        let at = self.here();
                        self.scoped_block(body, tail, line)?;
                        Some(at)
                    }
                    None => None,
                };
                let end = self.here();
                for j in ends {
                    self.patch(j, end);
                }
                self.cur().recvs[ri as usize] = RecvSpec {
                    clauses: specs.into(),
                    after: after_at,
                };
            }
        }
        Ok(())
    }

    fn undefined_var(&self, name: &str, pos: Pos) -> SyntaxError {
        let e = SyntaxError::new(pos, format!("undefined variable `{name}`"));
        let mut visible: Vec<&str> = Vec::new();
        if let Some(st) = self.fns.last() {
            for scope in &st.scopes {
                for (n, _) in scope {
                    visible.push(n);
                }
            }
        }
        match visible.iter().find(|v| similar(v, name)) {
            Some(v) => e.hint(format!("did you mean `{v}`?")),
            None => e,
        }
    }

    fn call(
        &mut self,
        callee: &Callee,
        args: &[Expr],
        tail: bool,
        pos: Pos,
    ) -> Result<(), SyntaxError> {
        let line = pos.line;
        let argc = u8::try_from(args.len())
            .map_err(|_| SyntaxError::new(pos, "too many arguments (at most 255)"))?;
        match callee {
            Callee::Name(name) if self.resolve(name).is_some() => {
                let s = self.resolve(name).expect("checked");
                self.emit(Op::Load(s), line);
                self.args(args)?;
                self.emit(
                    if tail {
                        Op::TailCall(argc)
                    } else {
                        Op::Call(argc)
                    },
                    line,
                );
            }
            Callee::Name(name) => {
                if let Some(id) = self.prog.lookup(name, argc) {
                    self.args(args)?;
                    self.emit(
                        if tail {
                            Op::TailCallGlobal(id, argc)
                        } else {
                            Op::CallGlobal(id, argc)
                        },
                        line,
                    );
                } else if let Some(id) = natives::lookup(name, argc) {
                    self.args(args)?;
                    self.emit(Op::CallNative(id, argc), line);
                } else {
                    return Err(self.undefined_fn(name, argc, pos));
                }
            }
            Callee::Remote(m, f) => {
                let full = format!("{m}.{f}");
                if let Some(id) = natives::lookup(&full, argc) {
                    self.args(args)?;
                    self.emit(Op::CallNative(id, argc), line);
                } else if let Some(id) = self.prog.lookup(&full, argc) {
                    self.args(args)?;
                    self.emit(
                        if tail {
                            Op::TailCallGlobal(id, argc)
                        } else {
                            Op::CallGlobal(id, argc)
                        },
                        line,
                    );
                } else {
                    return Err(self.undefined_fn(&full, argc, pos));
                }
            }
            Callee::Value(f) => {
                self.expr(f, false)?;
                self.args(args)?;
                self.emit(
                    if tail {
                        Op::TailCall(argc)
                    } else {
                        Op::Call(argc)
                    },
                    line,
                );
            }
        }
        Ok(())
    }

    fn undefined_fn(&self, name: &str, argc: u8, pos: Pos) -> SyntaxError {
        let e = SyntaxError::new(pos, format!("undefined function {name}/{argc}"));
        let mut arities: Vec<u8> = (0..=8u8)
            .filter(|a| self.prog.lookup(name, *a).is_some() || natives::lookup(name, *a).is_some())
            .collect();
        arities.dedup();
        if !arities.is_empty() {
            let list: Vec<String> = arities.iter().map(|a| format!("{name}/{a}")).collect();
            return e.hint(format!("defined with other arities: {}", list.join(", ")));
        }
        if let Some((m, _)) = name.split_once('.') {
            if !natives::module_exists(m)
                && !self
                    .prog
                    .names
                    .iter()
                    .any(|n| n.starts_with(&format!("{m}.")))
            {
                return e.hint(format!("there is no module `{m}`"));
            }
        }
        e
    }

    fn args(&mut self, args: &[Expr]) -> Result<(), SyntaxError> {
        for a in args {
            self.expr(a, false)?;
        }
        Ok(())
    }

    fn closure(&mut self, clause: &FnClause) -> Result<(), SyntaxError> {
        let line = clause.pos.line;
        let arity = u8::try_from(clause.params.len())
            .map_err(|_| SyntaxError::new(clause.pos, "too many parameters (at most 255)"))?;
        // what the body names, that is visible here, is captured
        let mut used = Vec::new();
        let mut seen_names = HashSet::new();
        for p in &clause.params {
            pat_names(p, &mut used);
        }
        if let Some(g) = &clause.guard {
            expr_names(g, &mut used);
        }
        for e in &clause.body {
            expr_names(e, &mut used);
        }
        let mut caps: Vec<(String, u16)> = Vec::new();
        for n in used {
            if seen_names.insert(n.clone()) {
                if let Some(s) = self.resolve(&n) {
                    caps.push((n, s));
                }
            }
        }
        if caps.len() > 1000 {
            return Err(SyntaxError::new(
                clause.pos,
                "a closure may capture at most 1000 variables",
            ));
        }
        let parent = self.cur().name.clone();
        let mut st = FnState::new(Arc::from(format!("fn/{arity} in {parent}")), arity);
        st.captures = caps.len() as u16;
        st.nslots = arity as u16 + caps.len() as u16;
        st.scopes.push(
            caps.iter()
                .enumerate()
                .map(|(i, (n, _))| (n.clone(), arity as u16 + i as u16))
                .collect(),
        );
        self.fns.push(st);
        let r = self.clauses_body(std::slice::from_ref(clause));
        let st = self.fns.pop().expect("pushed");
        r?;
        let proto = Arc::new(st.finish(&self.file)?);
        for (_, s) in &caps {
            self.emit(Op::Load(*s), line);
        }
        let cur = self.cur();
        let pi = cur.protos.len() as u32;
        cur.protos.push(proto);
        self.emit(Op::Closure(pi), line);
        Ok(())
    }

    fn pattern(
        &mut self,
        p: &Pat,
        seen: &mut HashMap<String, u16>,
    ) -> Result<Pattern, SyntaxError> {
        Ok(match &p.kind {
            PatKind::Wild => Pattern::Wild,
            PatKind::Var(n) => match seen.get(n) {
                Some(&s) => Pattern::Check(s),
                None => {
                    let s = self.new_slot();
                    seen.insert(n.clone(), s);
                    Pattern::Bind(s)
                }
            },
            PatKind::Pin(n) => match self.resolve(n) {
                Some(s) => Pattern::Check(s),
                None => return Err(self.undefined_var(n, p.pos)),
            },
            PatKind::Lit(l) => Pattern::Lit(lit_value(l)),
            PatKind::Tuple(items) => Pattern::Tuple(
                items
                    .iter()
                    .map(|i| self.pattern(i, seen))
                    .collect::<Result<_, _>>()?,
            ),
            PatKind::List(items, tail) => Pattern::List(
                items
                    .iter()
                    .map(|i| self.pattern(i, seen))
                    .collect::<Result<_, _>>()?,
                match tail {
                    Some(t) => Some(Box::new(self.pattern(t, seen)?)),
                    None => None,
                },
            ),
            PatKind::Map(pairs) => Pattern::Map(
                pairs
                    .iter()
                    .map(|(k, v)| Ok((lit_value(k), self.pattern(v, seen)?)))
                    .collect::<Result<_, SyntaxError>>()?,
            ),
            PatKind::StrPrefix(s, rest) => {
                Pattern::StrPrefix(Arc::from(s.as_str()), Box::new(self.pattern(rest, seen)?))
            }
        })
    }

    fn guard(&mut self, e: &Expr) -> Result<GExpr, SyntaxError> {
        let not_allowed = |what: &str| {
            SyntaxError::new(e.pos, format!("{what} is not allowed in a guard")).hint(format!(
                "guards may use variables, literals, operators and {}",
                GUARD_FNS.join(", ")
            ))
        };
        Ok(match &e.kind {
            ExprKind::Int(n) => GExpr::Const(Value::Int(*n)),
            ExprKind::Float(x) => GExpr::Const(Value::Float(*x)),
            ExprKind::Str(s) => GExpr::Const(Value::str(s.as_str())),
            ExprKind::Atom(a) => GExpr::Const(Value::atom(a)),
            ExprKind::Bool(b) => GExpr::Const(Value::Bool(*b)),
            ExprKind::Nil => GExpr::Const(Value::Nil),
            ExprKind::Var(n) => match self.resolve(n) {
                Some(s) => GExpr::Slot(s),
                None => return Err(self.undefined_var(n, e.pos)),
            },
            ExprKind::Unary(UnOp::Neg, a) => GExpr::Neg(Box::new(self.guard(a)?)),
            ExprKind::Unary(UnOp::Not, a) => GExpr::Not(Box::new(self.guard(a)?)),
            ExprKind::Binary(op, a, b) => {
                GExpr::Bin(*op, Box::new(self.guard(a)?), Box::new(self.guard(b)?))
            }
            ExprKind::Call(Callee::Name(n), args) if GUARD_FNS.contains(&n.as_str()) => {
                let argc = args.len() as u8;
                let Some(id) = natives::lookup(n, argc) else {
                    return Err(self.undefined_fn(n, argc, e.pos));
                };
                GExpr::Call(
                    id,
                    args.iter()
                        .map(|a| self.guard(a))
                        .collect::<Result<_, _>>()?,
                )
            }
            ExprKind::Call(..) => return Err(not_allowed("this call")),
            _ => return Err(not_allowed("this expression")),
        })
    }
}

enum Fail {
    Test(u32),
    Guard(u32),
}

fn count(n: usize, pos: Pos) -> Result<u16, SyntaxError> {
    u16::try_from(n).map_err(|_| SyntaxError::new(pos, "too many elements (at most 65535)"))
}

fn lit_value(l: &Lit) -> Value {
    match l {
        Lit::Int(n) => Value::Int(*n),
        Lit::Float(x) => Value::Float(*x),
        Lit::Str(s) => Value::str(s.as_str()),
        Lit::Atom(a) => Value::Atom(Atom::new(a)),
        Lit::Bool(b) => Value::Bool(*b),
        Lit::Nil => Value::Nil,
    }
}

/// One character changed, inserted, removed, or two neighbours swapped (for "did you mean").
fn similar(a: &str, b: &str) -> bool {
    if a == b {
        return false;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len() == b.len() {
        let diffs: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        return match diffs.as_slice() {
            [_] => true,
            [i, j] => *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i],
            _ => false,
        };
    }
    let (long, short) = if a.len() > b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    if long.len() != short.len() + 1 {
        return false;
    }
    (0..long.len()).any(|skip| {
        long.iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, c)| c)
            .eq(short.iter())
    })
}

/// Every name an expression mentions (variables, pins, local calls), for captures.
fn expr_names(e: &Expr, out: &mut Vec<String>) {
    match &e.kind {
        ExprKind::Var(n) | ExprKind::Pin(n) => out.push(n.clone()),
        ExprKind::Interp(parts) => {
            for p in parts {
                if let StrPart::Code(c) = p {
                    expr_names(c, out);
                }
            }
        }
        ExprKind::Tuple(items) => items.iter().for_each(|i| expr_names(i, out)),
        ExprKind::List(items, tail) => {
            items.iter().for_each(|i| expr_names(i, out));
            if let Some(t) = tail {
                expr_names(t, out);
            }
        }
        ExprKind::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            expr_names(k, out);
            expr_names(v, out);
        }),
        ExprKind::Unary(_, a) | ExprKind::Field(a, _) => expr_names(a, out),
        ExprKind::Binary(_, a, b) => {
            expr_names(a, out);
            expr_names(b, out);
        }
        ExprKind::Call(callee, args) => {
            match callee {
                Callee::Name(n) => out.push(n.clone()),
                Callee::Value(f) => expr_names(f, out),
                Callee::Remote(..) => {}
            }
            args.iter().for_each(|a| expr_names(a, out));
        }
        ExprKind::Fn(c) => {
            c.params.iter().for_each(|p| pat_names(p, out));
            if let Some(g) = &c.guard {
                expr_names(g, out);
            }
            c.body.iter().for_each(|b| expr_names(b, out));
        }
        ExprKind::Let(p, rhs) => {
            pat_names(p, out);
            expr_names(rhs, out);
        }
        ExprKind::If(c, a, b) => {
            expr_names(c, out);
            a.iter().for_each(|x| expr_names(x, out));
            if let Some(b) = b {
                b.iter().for_each(|x| expr_names(x, out));
            }
        }
        ExprKind::Case(s, clauses) => {
            expr_names(s, out);
            for c in clauses {
                clause_names(c, out);
            }
        }
        ExprKind::Receive(clauses, after) => {
            for c in clauses {
                clause_names(c, out);
            }
            if let Some((ms, body)) = after {
                expr_names(ms, out);
                body.iter().for_each(|x| expr_names(x, out));
            }
        }
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_)
        | ExprKind::Atom(_)
        | ExprKind::Bool(_)
        | ExprKind::Nil
        | ExprKind::RemoteRef(..) => {}
    }
}

fn clause_names(c: &Clause, out: &mut Vec<String>) {
    pat_names(&c.pat, out);
    if let Some(g) = &c.guard {
        expr_names(g, out);
    }
    c.body.iter().for_each(|x| expr_names(x, out));
}

/// Pinned names in a pattern (the only names a pattern reads).
fn pat_names(p: &Pat, out: &mut Vec<String>) {
    match &p.kind {
        PatKind::Pin(n) => out.push(n.clone()),
        PatKind::Tuple(items) => items.iter().for_each(|i| pat_names(i, out)),
        PatKind::List(items, tail) => {
            items.iter().for_each(|i| pat_names(i, out));
            if let Some(t) = tail {
                pat_names(t, out);
            }
        }
        PatKind::Map(pairs) => pairs.iter().for_each(|(_, v)| pat_names(v, out)),
        PatKind::StrPrefix(_, r) => pat_names(r, out),
        PatKind::Wild | PatKind::Var(_) | PatKind::Lit(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse_program;

    fn compile(src: &str) -> Result<Program, SyntaxError> {
        Program::default().define(parse_program(src).expect("parses"), "t.tern")
    }

    fn code(p: &Program, name: &str, arity: u8) -> Vec<Op> {
        p.function(name, arity).expect("defined").code.to_vec()
    }

    #[test]
    fn tail_calls_are_marked() {
        let p = compile(
            "fn f(x) do g(x) end\nfn g(y) do 1 + h(y) end\nfn h(z) do if z do h(z) else k(z) end end\nfn k(a) do a end",
        )
        .unwrap();
        assert!(code(&p, "f", 1)
            .iter()
            .any(|o| matches!(o, Op::TailCallGlobal(_, 1))));
        let g = code(&p, "g", 1);
        assert!(g.iter().any(|o| matches!(o, Op::CallGlobal(_, 1))));
        assert!(!g.iter().any(|o| matches!(o, Op::TailCallGlobal(..))));
        let h = code(&p, "h", 1);
        assert_eq!(
            h.iter()
                .filter(|o| matches!(o, Op::TailCallGlobal(..)))
                .count(),
            2,
            "both branches of a tail `if` are tail calls: {h:?}"
        );
    }

    #[test]
    fn variables_resolve_to_slots_and_rebinding_takes_a_new_slot() {
        let p = compile("fn f(a) do\n let b = a\n let b = b + 1\n b\nend").unwrap();
        let f = p.function("f", 1).unwrap();
        assert_eq!(f.nslots, 3, "a, b, b again");
        let c = f.code.to_vec();
        assert_eq!(c[0], Op::Load(0));
        assert!(c.contains(&Op::Load(2)));
    }

    #[test]
    fn closures_capture_what_they_use() {
        let p = compile("fn f(a, b) do\n let unused = 1\n fn(x) -> x + a end\nend").unwrap();
        let f = p.function("f", 2).unwrap();
        assert_eq!(f.protos.len(), 1);
        let inner = &f.protos[0];
        assert_eq!(inner.captures, 1);
        assert_eq!(inner.arity, 1);
        assert_eq!(&*inner.name, "fn/1 in f/2");
    }

    #[test]
    fn compile_errors() {
        let e = compile("fn f() do g(1) end\nfn g(a, b) do a end")
            .err()
            .unwrap();
        assert_eq!(e.message, "undefined function g/1");
        assert_eq!(e.hint.as_deref(), Some("defined with other arities: g/2"));
        assert_eq!(e.pos, Pos { line: 1, col: 11 });

        let e = compile("fn f() do\n let count = 1\n coutn + 1\nend")
            .err()
            .unwrap();
        assert_eq!(e.message, "undefined variable `coutn`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `count`?"));
        assert_eq!(e.pos, Pos { line: 3, col: 2 });

        let e = compile("fn f(x) when g(x) do 1 end\nfn g(x) do x end")
            .err()
            .unwrap();
        assert_eq!(e.message, "this call is not allowed in a guard");
        assert!(e.hint.unwrap().contains("is_integer"));

        let e = compile("fn f(x) do ^x end").err().unwrap();
        assert_eq!(e.message, "`^x` is only allowed in patterns");

        let e = compile("fn f() do Nope.g() end").err().unwrap();
        assert_eq!(e.message, "undefined function Nope.g/0");
        assert_eq!(e.hint.as_deref(), Some("there is no module `Nope`"));

        let e = compile("fn f() do String.nope end").err().unwrap();
        assert_eq!(e.message, "undefined function String.nope");

        let e = compile("fn f() do let ^y = 1 end").err().unwrap();
        assert_eq!(e.message, "undefined variable `y`");
    }

    #[test]
    fn redefinition_replaces_and_keeps_ids() {
        let p = compile("fn f() do 1 end\nfn g() do f() end").unwrap();
        let id = p.lookup("f", 0).unwrap();
        let p2 = p
            .define(parse_program("fn f() do 2 end").unwrap(), "t2.tern")
            .unwrap();
        assert_eq!(p2.lookup("f", 0), Some(id));
        assert_eq!(&*p2.function("f", 0).unwrap().file, "t2.tern");
        assert_eq!(
            &*p.function("f", 0).unwrap().file,
            "t.tern",
            "the old program is unchanged"
        );
    }

    #[test]
    fn similar_names() {
        assert!(similar("count", "coutn"));
        assert!(similar("count", "cont"));
        assert!(similar("count", "counts"));
        assert!(similar("count", "cound"));
        assert!(similar("name", "nam"));
        assert!(!similar("alpha", "omega"));
    }
}
