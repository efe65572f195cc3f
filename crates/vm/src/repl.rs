//! The REPL's engine, without any terminal: feed it lines, get back what to print.
//!
//! Invariants: input is evaluated on the calling thread, which owns a scheduler mailbox, so
//! `self()` is stable across lines and messages sent to it wait in its queue; definitions
//! (`fn`) and bindings (`let`) persist; every error is turned into text, never a panic or an
//! exit, so the REPL survives anything the user types.

use std::collections::VecDeque;
use std::sync::Arc;

use scheduler::{Mailbox, Message};

use crate::ast::Item;
use crate::compiler::Program;
use crate::parser::{is_incomplete, parse_items, parse_program};
use crate::process::{run_on_thread, Env};
use crate::runner::prelude;
use crate::value::Value;
use crate::vm::Vm;

/// What the REPL should show after a line.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ReplOutput {
    /// The input is unfinished; read another line (prompt `...>`).
    More,
    /// Print this (a value in source syntax, a definition notice, a command's output).
    Text(String),
    /// Print this error (to stderr).
    Error(String),
    /// Nothing to print (an empty line).
    Nothing,
    /// `:quit`
    Quit,
}

const HELP: &str = "\
Type an expression to evaluate it; its value is printed in source syntax.
  let pattern = value        bind variables (they persist between lines)
  fn name(args) do ... end   define a function; clauses entered one after the other
                             add to it, anything else in between starts it anew
An unfinished `do ... end`, bracket or string continues on the next line.
Ctrl-C interrupts a running evaluation; Ctrl-D or :quit leaves.
Commands:
  :help        this text
  :load FILE   load the functions of a file
  :procs       live processes
  :servers     live Ws servers with port and connection count
  :rooms       rooms with member counts
  :quit        leave (also Ctrl-D)";

/// The REPL state.
pub struct Repl {
    env: Arc<Env>,
    prog: Arc<Program>,
    bindings: Vec<(String, Value)>,
    mb: Mailbox,
    queue: VecDeque<Message>,
    pending: String,
    line_no: u32,
    /// The function clauses the previous input defined: an input that defines more clauses
    /// of the same function right after adds to them instead of replacing them.
    recent: Vec<crate::ast::FnClause>,
    /// Set from outside (a SIGINT handler) to interrupt a running evaluation.
    interrupt: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Repl {
    /// A REPL whose processes run on `env`'s runtime.
    pub fn new(env: Arc<Env>) -> Repl {
        let (_, mb) = env.runtime.mailbox();
        Repl {
            env,
            prog: prelude(),
            bindings: Vec::new(),
            mb,
            queue: VecDeque::new(),
            pending: String::new(),
            line_no: 0,
            recent: Vec::new(),
            interrupt: None,
        }
    }

    /// A flag that, once set, interrupts the running evaluation (busy loop or wait) with an
    /// "interrupted" error; the REPL clears it and goes on.
    pub fn set_interrupt(&mut self, flag: Arc<std::sync::atomic::AtomicBool>) {
        self.interrupt = Some(flag);
    }

    /// `true` while an unfinished input is pending.
    pub fn continuing(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Feeds one line of input.
    pub fn feed(&mut self, line: &str) -> ReplOutput {
        if self.pending.is_empty() {
            let t = line.trim();
            if t.is_empty() {
                return ReplOutput::Nothing;
            }
            if t.starts_with(':') {
                return self.command(t);
            }
        }
        self.pending.push_str(line);
        self.pending.push('\n');
        if is_incomplete(&self.pending) {
            return ReplOutput::More;
        }
        let src = std::mem::take(&mut self.pending);
        self.eval(&src)
    }

    fn command(&mut self, t: &str) -> ReplOutput {
        let (cmd, arg) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
        match cmd {
            ":help" | ":h" => ReplOutput::Text(HELP.into()),
            ":quit" | ":q" | ":exit" => ReplOutput::Quit,
            ":procs" => {
                let pids = self.env.runtime.processes();
                let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
                ReplOutput::Text(format!("{} live: {}", pids.len(), list.join(" ")))
            }
            ":servers" => ReplOutput::Text(crate::ws_natives::describe_servers(&self.env)),
            ":rooms" => ReplOutput::Text(crate::ws_natives::describe_rooms(&self.env)),
            ":load" => {
                let path = arg.trim();
                if path.is_empty() {
                    return ReplOutput::Error("usage: :load FILE".into());
                }
                let src = match std::fs::read_to_string(path) {
                    Ok(s) => s,
                    Err(e) => return ReplOutput::Error(format!("cannot read {path}: {e}")),
                };
                let fns = match parse_program(&src) {
                    Ok(f) => f,
                    Err(e) => return ReplOutput::Error(e.render(path, &src)),
                };
                let names: Vec<String> = fns
                    .iter()
                    .map(|f| format!("{}/{}", f.name, f.params.len()))
                    .collect();
                match self.prog.define(fns, path) {
                    Ok(p) => {
                        self.prog = Arc::new(p);
                        let mut names = names;
                        names.dedup();
                        ReplOutput::Text(format!("loaded {path}: {}", names.join(", ")))
                    }
                    Err(e) => ReplOutput::Error(e.render(path, &src)),
                }
            }
            other => ReplOutput::Error(format!("unknown command {other} (try :help)")),
        }
    }

    /// Evaluates a complete input.
    pub fn eval(&mut self, src: &str) -> ReplOutput {
        self.line_no += 1;
        let file = format!("repl:{}", self.line_no);
        let items = match parse_items(src) {
            Ok(i) => i,
            Err(e) => return ReplOutput::Error(e.render("repl", src)),
        };
        if items.is_empty() {
            // Only comments: nothing to evaluate, nothing to print (like an empty line).
            return ReplOutput::Nothing;
        }
        let (fns, exprs) = Item::split(items);
        let mut out = Vec::new();
        let recent = std::mem::take(&mut self.recent);
        if !fns.is_empty() {
            let mut names: Vec<String> = fns
                .iter()
                .map(|f| format!("{}/{}", f.name, f.params.len()))
                .collect();
            names.dedup();
            // clauses of a function defined by the previous input continue it
            let same = |a: &crate::ast::FnClause, b: &crate::ast::FnClause| {
                a.name == b.name && a.params.len() == b.params.len()
            };
            let mut all: Vec<_> = recent
                .into_iter()
                .filter(|r| fns.iter().any(|f| same(f, r)))
                .collect();
            all.extend(fns);
            match self.prog.define(all.clone(), &file) {
                Ok(p) => self.prog = Arc::new(p),
                Err(e) => return ReplOutput::Error(e.render("repl", src)),
            }
            if exprs.is_empty() {
                self.recent = all;
                return ReplOutput::Text(format!("defined {}", names.join(", ")));
            }
        }
        let names: Vec<String> = self.bindings.iter().map(|(n, _)| n.clone()).collect();
        let (proto, new_names) = match self.prog.compile_repl(&exprs, &names, &file) {
            Ok(x) => x,
            Err(e) => return ReplOutput::Error(e.render("repl", src)),
        };
        let mut vm = Vm::new(self.prog.clone(), self.env.limits);
        vm.start_proto(
            proto,
            self.bindings.iter().map(|(_, v)| v.clone()).collect(),
        );
        let interrupt = self.interrupt.as_deref();
        match run_on_thread(&mut vm, &self.env, &self.mb, &mut self.queue, interrupt) {
            Ok(Value::Tuple(ref t)) if t.len() == 2 => {
                if let Value::Tuple(vals) = &t[1] {
                    self.bindings = new_names.into_iter().zip(vals.iter().cloned()).collect();
                }
                if matches!(
                    exprs.last().map(|e| &e.kind),
                    Some(crate::ast::ExprKind::Let(..))
                ) {
                    return ReplOutput::Nothing;
                }
                out.push(t[0].inspect());
                ReplOutput::Text(out.join("\n"))
            }
            Ok(other) => ReplOutput::Text(other.inspect()),
            Err(e) => ReplOutput::Error(e.to_string()),
        }
    }
}
