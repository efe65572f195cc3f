//! The standard library written in Rust: builtins (`spawn`, `send`, `elem`, ...) and the
//! `IO`, `String`, `List`, `Map`, `Json`, `System`, `Process` and `Timer` modules.
//!
//! Every native is one row of [`table`] (name, arity, implementation), looked up by the
//! compiler at compile time; higher-order list functions are tern code in `prelude.tern`.
//! A native's error is prefixed with its `name/arity` by the caller. Natives never block:
//! `Process.sleep` returns [`Trap::Sleep`] and the process parks.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use scheduler::Pid;

use crate::process::{Env, VmProcess};
use crate::value::{Atom, Fun, List, Ref, Value};
use crate::vm::{short, value_reason, Host, Spawn, Trap, Vm};

/// What a native gets besides its arguments.
pub(crate) struct NativeCx<'a> {
    pub host: &'a mut dyn Host,
    pub env: &'a Arc<Env>,
    pub vm: &'a mut Vm,
}

pub(crate) type PureFn = fn(&[Value]) -> Result<Value, Trap>;
pub(crate) type CxFn = fn(&mut NativeCx<'_>, &[Value]) -> Result<Value, Trap>;

/// How a native is implemented.
#[derive(Clone, Copy)]
pub(crate) enum Imp {
    /// No side effects (allowed in guards).
    Pure(PureFn),
    /// Needs the process (send, spawn, output, ...).
    Cx(CxFn),
}

/// One native function.
pub(crate) struct Native {
    pub name: &'static str,
    pub arity: u8,
    pub imp: Imp,
}

impl Native {
    pub(crate) const fn pure(name: &'static str, arity: u8, f: PureFn) -> Native {
        pure(name, arity, f)
    }

    pub(crate) const fn cx(name: &'static str, arity: u8, f: CxFn) -> Native {
        cx(name, arity, f)
    }
}

const fn pure(name: &'static str, arity: u8, f: PureFn) -> Native {
    Native {
        name,
        arity,
        imp: Imp::Pure(f),
    }
}

const fn cx(name: &'static str, arity: u8, f: CxFn) -> Native {
    Native {
        name,
        arity,
        imp: Imp::Cx(f),
    }
}

struct Tables {
    all: Vec<&'static Native>,
    index: HashMap<(&'static str, u8), u16>,
    names: std::collections::HashSet<&'static str>,
    modules: std::collections::HashSet<&'static str>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let all: Vec<&'static Native> = BUILTINS
            .iter()
            .chain(crate::ws_natives::NATIVES.iter())
            .collect();
        let mut index = HashMap::new();
        let mut names = std::collections::HashSet::new();
        let mut modules = std::collections::HashSet::new();
        for (i, n) in all.iter().enumerate() {
            index.insert((n.name, n.arity), i as u16);
            names.insert(n.name);
            if let Some((m, _)) = n.name.split_once('.') {
                modules.insert(m);
            }
        }
        Tables {
            all,
            index,
            names,
            modules,
        }
    })
}

/// The id of native `name/arity`.
pub(crate) fn lookup(name: &str, arity: u8) -> Option<u16> {
    tables().index.get(&(name, arity)).copied()
}

/// `true` if a native of that name exists (any arity).
pub(crate) fn exists(name: &str) -> bool {
    tables().names.contains(name)
}

/// `true` if some native lives in module `m` (or the prelude extends it).
pub(crate) fn module_exists(m: &str) -> bool {
    tables().modules.contains(m)
}

/// The native with this id.
pub(crate) fn get(id: u16) -> &'static Native {
    tables().all[id as usize]
}

/// Every native, for the documentation test.
pub fn native_names() -> Vec<String> {
    tables()
        .all
        .iter()
        .map(|n| format!("{}/{}", n.name, n.arity))
        .collect()
}

// ---- argument helpers -------------------------------------------------------------------

fn err<T>(msg: impl Into<String>) -> Result<T, Trap> {
    Err(Trap::Error(msg.into()))
}

fn expected<T>(what: &str, v: &Value) -> Result<T, Trap> {
    err(format!("expected {what}, got {}", short(v)))
}

pub(crate) fn int(v: &Value) -> Result<i64, Trap> {
    match v {
        Value::Int(n) => Ok(*n),
        other => expected("an integer", other),
    }
}

pub(crate) fn string(v: &Value) -> Result<&Arc<str>, Trap> {
    match v {
        Value::Str(s) => Ok(s),
        other => expected("a string", other),
    }
}

pub(crate) fn list(v: &Value) -> Result<&List, Trap> {
    match v {
        Value::List(l) => Ok(l),
        other => expected("a list", other),
    }
}

pub(crate) fn map(v: &Value) -> Result<&Arc<BTreeMap<Value, Value>>, Trap> {
    match v {
        Value::Map(m) => Ok(m),
        other => expected("a map", other),
    }
}

pub(crate) fn pid(v: &Value) -> Result<Pid, Trap> {
    match v {
        Value::Pid(p) => Ok(*p),
        other => expected("a pid", other),
    }
}

fn bool_(b: bool) -> Result<Value, Trap> {
    Ok(Value::Bool(b))
}

fn ok() -> Result<Value, Trap> {
    Ok(Value::Atom(Atom::OK))
}

fn non_neg(v: &Value) -> Result<usize, Trap> {
    let n = int(v)?;
    if n < 0 {
        return err(format!("expected a non-negative integer, got {n}"));
    }
    Ok(n as usize)
}

/// Most elements `List.range` and `String.duplicate` may produce.
const MAX_BUILD: usize = 10_000_000;

// ---- the table --------------------------------------------------------------------------

static BUILTINS: &[Native] = &[
    // processes
    cx("self", 0, |c, _| Ok(Value::Pid(c.host.pid()))),
    cx("send", 2, send),
    cx("spawn", 1, |c, a| spawn(c, a, Spawn::Plain)),
    cx("spawn", 2, |c, a| spawn(c, a, Spawn::Plain)),
    cx("spawn_link", 1, |c, a| spawn(c, a, Spawn::Link)),
    cx("spawn_link", 2, |c, a| spawn(c, a, Spawn::Link)),
    cx("spawn_monitor", 1, |c, a| spawn(c, a, Spawn::Monitor)),
    cx("spawn_monitor", 2, |c, a| spawn(c, a, Spawn::Monitor)),
    cx("link", 1, |c, a| {
        c.host.link(pid(&a[0])?);
        Ok(Value::Bool(true))
    }),
    cx("unlink", 1, |c, a| {
        c.host.unlink(pid(&a[0])?);
        Ok(Value::Bool(true))
    }),
    cx("monitor", 1, |c, a| {
        Ok(Value::Ref(Ref::Monitor(c.host.monitor(pid(&a[0])?))))
    }),
    cx("demonitor", 1, |c, a| match &a[0] {
        Value::Ref(Ref::Monitor(m)) => {
            c.host.demonitor(*m);
            Ok(Value::Bool(true))
        }
        other => expected("a monitor reference", other),
    }),
    cx("exit", 1, |_, a| Err(Trap::Exit(a[0].clone()))),
    cx("exit", 2, |c, a| {
        c.host.exit(pid(&a[0])?, value_reason(&a[1]));
        Ok(Value::Bool(true))
    }),
    cx("make_ref", 0, |_, _| {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Ok(Value::Ref(Ref::Local(NEXT.fetch_add(1, Ordering::Relaxed))))
    }),
    pure("raise", 1, |a| Err(Trap::Error(a[0].to_text()))),
    // terms
    pure("elem", 2, |a| {
        let Value::Tuple(t) = &a[0] else {
            return expected("a tuple", &a[0]);
        };
        let i = int(&a[1])?;
        usize::try_from(i)
            .ok()
            .and_then(|i| t.get(i))
            .cloned()
            .ok_or_else(|| Trap::Error(format!("index {i} out of range for {}", short(&a[0]))))
    }),
    pure("tuple_size", 1, |a| match &a[0] {
        Value::Tuple(t) => Ok(Value::Int(t.len() as i64)),
        other => expected("a tuple", other),
    }),
    pure("length", 1, |a| Ok(Value::Int(list(&a[0])?.len() as i64))),
    pure("map_size", 1, |a| Ok(Value::Int(map(&a[0])?.len() as i64))),
    pure("byte_size", 1, |a| match &a[0] {
        Value::Str(s) => Ok(Value::Int(s.len() as i64)),
        Value::Bin(b) => Ok(Value::Int(b.len() as i64)),
        other => expected("a string or binary", other),
    }),
    pure("hd", 1, |a| match list(&a[0])?.uncons() {
        Some((h, _)) => Ok(h.clone()),
        None => err("hd of an empty list"),
    }),
    pure("tl", 1, |a| match list(&a[0])?.uncons() {
        Some((_, t)) => Ok(Value::List(t.clone())),
        None => err("tl of an empty list"),
    }),
    pure("abs", 1, |a| match &a[0] {
        Value::Int(n) => n
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| Trap::Error("integer overflow".into())),
        Value::Float(x) => Ok(Value::Float(x.abs())),
        other => expected("a number", other),
    }),
    pure("rem", 2, |a| {
        Ok(crate::vm::arith(crate::ast::BinOp::Rem, &a[0], &a[1])?)
    }),
    pure("div", 2, |a| {
        int(&a[0])?;
        int(&a[1])?;
        Ok(crate::vm::arith(crate::ast::BinOp::Div, &a[0], &a[1])?)
    }),
    pure("max", 2, |a| {
        Ok(if a[0] >= a[1] {
            a[0].clone()
        } else {
            a[1].clone()
        })
    }),
    pure("min", 2, |a| {
        Ok(if a[0] <= a[1] {
            a[0].clone()
        } else {
            a[1].clone()
        })
    }),
    pure("round", 1, |a| match &a[0] {
        Value::Int(n) => Ok(Value::Int(*n)),
        Value::Float(x) if x.is_finite() && x.abs() < 9.0e18 => Ok(Value::Int(x.round() as i64)),
        other => expected("a finite number", other),
    }),
    pure("trunc", 1, |a| match &a[0] {
        Value::Int(n) => Ok(Value::Int(*n)),
        Value::Float(x) if x.is_finite() && x.abs() < 9.0e18 => Ok(Value::Int(x.trunc() as i64)),
        other => expected("a finite number", other),
    }),
    pure("to_float", 1, |a| match &a[0] {
        Value::Int(n) => Ok(Value::Float(*n as f64)),
        Value::Float(x) => Ok(Value::Float(*x)),
        other => expected("a number", other),
    }),
    pure("to_string", 1, |a| Ok(Value::str(a[0].to_text()))),
    pure("inspect", 1, |a| Ok(Value::str(a[0].inspect()))),
    pure("is_integer", 1, |a| bool_(matches!(a[0], Value::Int(_)))),
    pure("is_float", 1, |a| bool_(matches!(a[0], Value::Float(_)))),
    pure("is_number", 1, |a| {
        bool_(matches!(a[0], Value::Int(_) | Value::Float(_)))
    }),
    pure("is_atom", 1, |a| {
        bool_(matches!(a[0], Value::Atom(_) | Value::Bool(_) | Value::Nil))
    }),
    pure("is_boolean", 1, |a| bool_(matches!(a[0], Value::Bool(_)))),
    pure("is_nil", 1, |a| bool_(matches!(a[0], Value::Nil))),
    pure("is_string", 1, |a| bool_(matches!(a[0], Value::Str(_)))),
    pure("is_binary", 1, |a| bool_(matches!(a[0], Value::Bin(_)))),
    pure("is_list", 1, |a| bool_(matches!(a[0], Value::List(_)))),
    pure("is_tuple", 1, |a| bool_(matches!(a[0], Value::Tuple(_)))),
    pure("is_map", 1, |a| bool_(matches!(a[0], Value::Map(_)))),
    pure("is_pid", 1, |a| bool_(matches!(a[0], Value::Pid(_)))),
    pure("is_function", 1, |a| bool_(matches!(a[0], Value::Fun(_)))),
    // IO
    cx("IO.println", 1, |c, a| {
        let mut s = a[0].to_text();
        s.push('\n');
        (c.env.out)(&s);
        ok()
    }),
    cx("IO.print", 1, |c, a| {
        (c.env.out)(&a[0].to_text());
        ok()
    }),
    cx("IO.inspect", 1, |c, a| {
        let mut s = a[0].inspect();
        s.push('\n');
        (c.env.out)(&s);
        Ok(a[0].clone())
    }),
    // String
    pure("String.length", 1, |a| {
        Ok(Value::Int(string(&a[0])?.chars().count() as i64))
    }),
    pure("String.split", 1, |a| {
        Ok(Value::list(
            string(&a[0])?.split_whitespace().map(Value::str).collect(),
        ))
    }),
    pure("String.split", 2, |a| {
        let s = string(&a[0])?;
        let sep = string(&a[1])?;
        if sep.is_empty() {
            return Ok(Value::list(
                s.chars().map(|c| Value::str(c.to_string())).collect(),
            ));
        }
        Ok(Value::list(s.split(&**sep).map(Value::str).collect()))
    }),
    pure("String.contains", 2, string_contains),
    pure("String.contains?", 2, string_contains),
    pure("String.starts_with", 2, |a| {
        bool_(string(&a[0])?.starts_with(&**string(&a[1])?))
    }),
    pure("String.ends_with", 2, |a| {
        bool_(string(&a[0])?.ends_with(&**string(&a[1])?))
    }),
    pure("String.upcase", 1, |a| {
        Ok(Value::str(string(&a[0])?.to_uppercase()))
    }),
    pure("String.downcase", 1, |a| {
        Ok(Value::str(string(&a[0])?.to_lowercase()))
    }),
    pure("String.trim", 1, |a| Ok(Value::str(string(&a[0])?.trim()))),
    pure("String.reverse", 1, |a| {
        Ok(Value::str(string(&a[0])?.chars().rev().collect::<String>()))
    }),
    pure("String.to_integer", 1, |a| {
        let s = string(&a[0])?;
        s.trim()
            .parse::<i64>()
            .map(Value::Int)
            .or_else(|_| err(format!("not an integer: {}", short(&a[0]))))
    }),
    pure("String.to_float", 1, |a| {
        let s = string(&a[0])?;
        s.trim()
            .parse::<f64>()
            .map(Value::Float)
            .or_else(|_| err(format!("not a float: {}", short(&a[0]))))
    }),
    pure("String.slice", 3, |a| {
        let s = string(&a[0])?;
        let start = int(&a[1])?;
        let len = non_neg(&a[2])?;
        let count = s.chars().count() as i64;
        let start = if start < 0 {
            (count + start).max(0)
        } else {
            start
        } as usize;
        Ok(Value::str(
            s.chars().skip(start).take(len).collect::<String>(),
        ))
    }),
    pure("String.replace", 3, |a| {
        let s = string(&a[0])?;
        let from = string(&a[1])?;
        if from.is_empty() {
            return err("the pattern to replace is empty");
        }
        Ok(Value::str(s.replace(&**from, string(&a[2])?)))
    }),
    pure("String.duplicate", 2, |a| {
        let s = string(&a[0])?;
        let n = non_neg(&a[1])?;
        if s.len().saturating_mul(n) > MAX_BUILD {
            return err("result too large");
        }
        Ok(Value::str(s.repeat(n)))
    }),
    pure("String.join", 2, list_join),
    pure("String.to_binary", 1, |a| {
        Ok(Value::Bin(Arc::from(string(&a[0])?.as_bytes())))
    }),
    pure("String.from_binary", 1, |a| match &a[0] {
        Value::Bin(b) => match std::str::from_utf8(b) {
            Ok(s) => Ok(Value::ok(Value::str(s))),
            Err(_) => Ok(Value::error(Value::atom("invalid_utf8"))),
        },
        other => expected("a binary", other),
    }),
    // List
    pure("List.length", 1, |a| {
        Ok(Value::Int(list(&a[0])?.len() as i64))
    }),
    pure("List.reverse", 1, |a| {
        let mut out = List::EMPTY;
        for v in list(&a[0])?.iter() {
            out = List::cons(v.clone(), out);
        }
        Ok(Value::List(out))
    }),
    pure("List.append", 2, |a| {
        let mut items = list(&a[0])?.to_vec();
        let mut out = list(&a[1])?.clone();
        while let Some(v) = items.pop() {
            out = List::cons(v, out);
        }
        Ok(Value::List(out))
    }),
    pure("List.concat", 1, |a| {
        let mut all = Vec::new();
        for l in list(&a[0])?.iter() {
            all.extend(list(l)?.iter().cloned());
        }
        Ok(Value::list(all))
    }),
    pure("List.sort", 1, |a| {
        let mut v = list(&a[0])?.to_vec();
        v.sort();
        Ok(Value::list(v))
    }),
    pure("List.at", 2, |a| {
        let i = int(&a[1])?;
        let l = list(&a[0])?;
        Ok(usize::try_from(i)
            .ok()
            .and_then(|i| l.iter().nth(i))
            .cloned()
            .unwrap_or(Value::Nil))
    }),
    pure("List.first", 1, |a| {
        Ok(list(&a[0])?.iter().next().cloned().unwrap_or(Value::Nil))
    }),
    pure("List.last", 1, |a| {
        Ok(list(&a[0])?.iter().last().cloned().unwrap_or(Value::Nil))
    }),
    pure("List.member", 2, list_member),
    pure("List.member?", 2, list_member),
    pure("List.range", 2, |a| {
        let (from, to) = (int(&a[0])?, int(&a[1])?);
        let n = (to as i128 - from as i128).unsigned_abs() + 1;
        if n > MAX_BUILD as u128 {
            return err(format!("range of {n} elements is too large"));
        }
        let mut out = List::EMPTY;
        if from <= to {
            for i in (from..=to).rev() {
                out = List::cons(Value::Int(i), out);
            }
        } else {
            for i in to..=from {
                out = List::cons(Value::Int(i), out);
            }
        }
        Ok(Value::List(out))
    }),
    pure("List.sum", 1, |a| {
        let mut acc = Value::Int(0);
        for v in list(&a[0])?.iter() {
            acc = crate::vm::arith(crate::ast::BinOp::Add, &acc, v)?;
        }
        Ok(acc)
    }),
    pure("List.join", 2, list_join),
    pure("List.take", 2, |a| {
        let n = non_neg(&a[1])?;
        Ok(Value::list(list(&a[0])?.iter().take(n).cloned().collect()))
    }),
    pure("List.drop", 2, |a| {
        let mut l = list(&a[0])?.clone();
        for _ in 0..non_neg(&a[1])? {
            match l.uncons() {
                Some((_, t)) => {
                    let t = t.clone();
                    l = t;
                }
                None => break,
            }
        }
        Ok(Value::List(l))
    }),
    pure("List.delete", 2, |a| {
        let mut out = Vec::new();
        let mut done = false;
        for v in list(&a[0])?.iter() {
            if !done && *v == a[1] {
                done = true;
            } else {
                out.push(v.clone());
            }
        }
        Ok(Value::list(out))
    }),
    pure("List.zip", 2, |a| {
        Ok(Value::list(
            list(&a[0])?
                .iter()
                .zip(list(&a[1])?.iter())
                .map(|(x, y)| Value::tuple(vec![x.clone(), y.clone()]))
                .collect(),
        ))
    }),
    // Map
    pure("Map.new", 0, |_| Ok(Value::Map(Arc::new(BTreeMap::new())))),
    pure("Map.get", 2, |a| {
        Ok(map(&a[0])?.get(&a[1]).cloned().unwrap_or(Value::Nil))
    }),
    pure("Map.get", 3, |a| {
        Ok(map(&a[0])?
            .get(&a[1])
            .cloned()
            .unwrap_or_else(|| a[2].clone()))
    }),
    pure("Map.fetch", 2, |a| {
        Ok(match map(&a[0])?.get(&a[1]) {
            Some(v) => Value::ok(v.clone()),
            None => Value::Atom(Atom::ERROR),
        })
    }),
    pure("Map.put", 3, |a| {
        let mut m = map(&a[0])?.clone();
        Arc::make_mut(&mut m).insert(a[1].clone(), a[2].clone());
        Ok(Value::Map(m))
    }),
    pure("Map.delete", 2, |a| {
        let mut m = map(&a[0])?.clone();
        Arc::make_mut(&mut m).remove(&a[1]);
        Ok(Value::Map(m))
    }),
    pure("Map.keys", 1, |a| {
        Ok(Value::list(map(&a[0])?.keys().cloned().collect()))
    }),
    pure("Map.values", 1, |a| {
        Ok(Value::list(map(&a[0])?.values().cloned().collect()))
    }),
    pure("Map.has_key", 2, map_has_key),
    pure("Map.has_key?", 2, map_has_key),
    pure("Map.merge", 2, |a| {
        let mut m = map(&a[0])?.clone();
        let inner = Arc::make_mut(&mut m);
        for (k, v) in map(&a[1])?.iter() {
            inner.insert(k.clone(), v.clone());
        }
        Ok(Value::Map(m))
    }),
    pure("Map.size", 1, |a| Ok(Value::Int(map(&a[0])?.len() as i64))),
    pure("Map.to_list", 1, |a| {
        Ok(Value::list(
            map(&a[0])?
                .iter()
                .map(|(k, v)| Value::tuple(vec![k.clone(), v.clone()]))
                .collect(),
        ))
    }),
    pure("Map.from_list", 1, |a| {
        let mut m = BTreeMap::new();
        for item in list(&a[0])?.iter() {
            match item {
                Value::Tuple(t) if t.len() == 2 => {
                    m.insert(t[0].clone(), t[1].clone());
                }
                other => return expected("a list of {key, value} tuples", other),
            }
        }
        Ok(Value::Map(Arc::new(m)))
    }),
    // Json
    pure("Json.encode", 1, |a| {
        let mut out = String::new();
        crate::json::encode(&a[0], &mut out, 0)?;
        Ok(Value::str(out))
    }),
    pure("Json.decode", 1, |a| {
        Ok(match crate::json::decode(string(&a[0])?) {
            Ok(v) => Value::ok(v),
            Err(e) => Value::error(Value::str(e)),
        })
    }),
    // System
    cx("System.argv", 0, |c, _| {
        Ok(Value::list(
            c.env.argv.iter().map(|s| Value::str(s.as_str())).collect(),
        ))
    }),
    pure("System.monotonic_ms", 0, |_| {
        static START: OnceLock<Instant> = OnceLock::new();
        let start = *START.get_or_init(Instant::now);
        Ok(Value::Int(start.elapsed().as_millis() as i64))
    }),
    // Process
    cx("Process.flag", 2, |c, a| match (&a[0], &a[1]) {
        (Value::Atom(f), Value::Bool(on)) if *f == Atom::TRAP_EXIT => {
            let old = c.vm.trap_exit;
            c.vm.trap_exit = *on;
            c.host.trap_exit(*on);
            Ok(Value::Bool(old))
        }
        _ => err(format!(
            "unknown flag {} (only :trap_exit with a boolean)",
            short(&a[0])
        )),
    }),
    cx("Process.register", 2, |c, a| {
        let Value::Atom(name) = &a[0] else {
            return expected("an atom name", &a[0]);
        };
        match c.env.runtime.register(&name.name(), pid(&a[1])?) {
            Ok(()) => Ok(Value::Bool(true)),
            Err(e) => err(e.to_string()),
        }
    }),
    cx("Process.unregister", 1, |c, a| {
        let Value::Atom(name) = &a[0] else {
            return expected("an atom name", &a[0]);
        };
        Ok(Value::Bool(c.env.runtime.unregister(&name.name())))
    }),
    cx("Process.whereis", 1, |c, a| {
        let Value::Atom(name) = &a[0] else {
            return expected("an atom name", &a[0]);
        };
        Ok(c.env
            .runtime
            .whereis(&name.name())
            .map_or(Value::Nil, Value::Pid))
    }),
    cx("Process.sleep", 1, |_, a| {
        let ms = non_neg(&a[0])?;
        Err(Trap::Sleep(
            Instant::now() + Duration::from_millis(ms.min(u32::MAX as usize) as u64),
        ))
    }),
    cx("Process.alive?", 1, |c, a| {
        Ok(Value::Bool(c.env.runtime.is_alive(pid(&a[0])?)))
    }),
    cx("Process.list", 0, |c, _| {
        Ok(Value::list(
            c.env
                .runtime
                .processes()
                .into_iter()
                .map(Value::Pid)
                .collect(),
        ))
    }),
    // Timer
    cx("Timer.send_after", 3, |c, a| {
        let ms = non_neg(&a[0])?;
        let to = match &a[1] {
            Value::Pid(p) => *p,
            Value::Atom(n) => match c.env.runtime.whereis(&n.name()) {
                Some(p) => p,
                None => return err(format!("no process registered as {}", short(&a[1]))),
            },
            other => return expected("a pid", other),
        };
        let t = c.env.runtime.send_after(
            Duration::from_millis(ms.min(u32::MAX as usize) as u64),
            to,
            a[2].clone(),
        );
        Ok(Value::Ref(Ref::Timer(t)))
    }),
    cx("Timer.cancel", 1, |c, a| match &a[0] {
        Value::Ref(Ref::Timer(t)) => Ok(Value::Bool(c.env.runtime.cancel_timer(*t))),
        other => expected("a timer reference", other),
    }),
];

fn string_contains(a: &[Value]) -> Result<Value, Trap> {
    bool_(string(&a[0])?.contains(&**string(&a[1])?))
}

fn list_member(a: &[Value]) -> Result<Value, Trap> {
    bool_(list(&a[0])?.iter().any(|v| *v == a[1]))
}

fn map_has_key(a: &[Value]) -> Result<Value, Trap> {
    bool_(map(&a[0])?.contains_key(&a[1]))
}

fn list_join(a: &[Value]) -> Result<Value, Trap> {
    let sep = string(&a[1])?;
    let mut out = String::new();
    for (i, v) in list(&a[0])?.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(&v.to_text());
    }
    Ok(Value::str(out))
}

fn send(c: &mut NativeCx<'_>, a: &[Value]) -> Result<Value, Trap> {
    let to = match &a[0] {
        Value::Pid(p) => *p,
        Value::Atom(n) => match c.env.runtime.whereis(&n.name()) {
            Some(p) => p,
            None => return err(format!("no process registered as {}", short(&a[0]))),
        },
        other => return expected("a pid or a registered name", other),
    };
    c.host.send(to, a[1].clone());
    Ok(a[1].clone())
}

/// `spawn`, `spawn_link` (a pid) and `spawn_monitor` (`{pid, ref}`).
fn spawn(c: &mut NativeCx<'_>, a: &[Value], how: Spawn) -> Result<Value, Trap> {
    let f = a[0].clone();
    let Value::Fun(fun) = &f else {
        return expected("a function", &f);
    };
    let args = match a.get(1) {
        Some(l) => list(l)?.to_vec(),
        None => Vec::new(),
    };
    if let Fun::Closure { proto, .. } = &**fun {
        if proto.arity as usize != args.len() {
            return err(format!(
                "{} takes {} argument(s), {} given",
                proto.name,
                proto.arity,
                args.len()
            ));
        }
    }
    let p = VmProcess::new(c.env.clone(), c.vm.prog.clone(), f, args);
    Ok(match c.host.spawn(p, how) {
        (pid, None) => Value::Pid(pid),
        (pid, Some(mref)) => Value::tuple(vec![Value::Pid(pid), Value::Ref(Ref::Monitor(mref))]),
    })
}
