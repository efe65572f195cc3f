//! Values: immutable, cheap to clone (an `Arc` bump at most), `Send + Sync`, so a message is
//! shared between processes instead of deep-copied.
//!
//! Invariants: a [`List`] is a proper cons list (its tail is always a list), dropped
//! iteratively so a long list never overflows the Rust stack; atoms are interned for the life
//! of the program (the table only grows); equality is structural and strict (`1` is not
//! `1.0`), while the ordering is total (numbers < atoms < refs < functions < pids < tuples <
//! maps < lists < strings < binaries) so any value can be a map key.

use std::any::Any;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use scheduler::{MonitorRef, Pid, TimerRef};

use crate::compiler::Proto;

/// An interned atom.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Atom(u32);

struct Atoms {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

fn atoms() -> &'static RwLock<Atoms> {
    static ATOMS: OnceLock<RwLock<Atoms>> = OnceLock::new();
    ATOMS.get_or_init(|| {
        let mut a = Atoms {
            ids: HashMap::new(),
            names: Vec::new(),
        };
        for name in PREDEFINED {
            let n: Arc<str> = Arc::from(*name);
            a.ids.insert(n.clone(), a.names.len() as u32);
            a.names.push(n);
        }
        RwLock::new(a)
    })
}

/// Atoms with fixed ids, in this order (see the constants on [`Atom`]).
const PREDEFINED: &[&str] = &[
    "ok",
    "error",
    "EXIT",
    "DOWN",
    "process",
    "normal",
    "killed",
    "noproc",
    "text",
    "binary",
    "closed",
    "timeout",
    "trap_exit",
    "reject",
    "kill",
];

impl Atom {
    /// `:ok`
    pub const OK: Atom = Atom(0);
    /// `:error`
    pub const ERROR: Atom = Atom(1);
    /// `:EXIT`
    pub const EXIT: Atom = Atom(2);
    /// `:DOWN`
    pub const DOWN: Atom = Atom(3);
    /// `:process`
    pub const PROCESS: Atom = Atom(4);
    /// `:normal`
    pub const NORMAL: Atom = Atom(5);
    /// `:killed`
    pub const KILLED: Atom = Atom(6);
    /// `:noproc`
    pub const NOPROC: Atom = Atom(7);
    /// `:text`
    pub const TEXT: Atom = Atom(8);
    /// `:binary`
    pub const BINARY: Atom = Atom(9);
    /// `:closed`
    pub const CLOSED: Atom = Atom(10);
    /// `:timeout`
    pub const TIMEOUT: Atom = Atom(11);
    /// `:trap_exit`
    pub const TRAP_EXIT: Atom = Atom(12);
    /// `:reject`
    pub const REJECT: Atom = Atom(13);
    /// `:kill`
    pub const KILL: Atom = Atom(14);

    /// Interns `name`.
    pub fn new(name: &str) -> Atom {
        if let Some(&id) = atoms()
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .ids
            .get(name)
        {
            return Atom(id);
        }
        let mut a = atoms().write().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = a.ids.get(name) {
            return Atom(id);
        }
        let id = a.names.len() as u32;
        let n: Arc<str> = Arc::from(name);
        a.ids.insert(n.clone(), id);
        a.names.push(n);
        Atom(id)
    }

    /// The atom's name.
    pub fn name(self) -> Arc<str> {
        atoms().read().unwrap_or_else(|e| e.into_inner()).names[self.0 as usize].clone()
    }
}

/// A proper, immutable cons list.
#[derive(Clone, Default)]
pub struct List(Option<Arc<Cons>>);

/// One cell of a [`List`].
pub struct Cons {
    head: Value,
    tail: List,
}

impl List {
    /// The empty list.
    pub const EMPTY: List = List(None);

    /// `[head | tail]`.
    pub fn cons(head: Value, tail: List) -> List {
        List(Some(Arc::new(Cons { head, tail })))
    }

    /// The first element and the rest, or `None` for `[]`.
    pub fn uncons(&self) -> Option<(&Value, &List)> {
        self.0.as_deref().map(|c| (&c.head, &c.tail))
    }

    /// `true` for `[]`.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Iterates the elements.
    pub fn iter(&self) -> ListIter<'_> {
        ListIter(self)
    }

    /// Counts the elements (O(n)).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// A list of the values, in order.
    pub fn from_values(
        values: impl IntoIterator<Item = Value, IntoIter: DoubleEndedIterator>,
    ) -> List {
        let mut l = List::EMPTY;
        for v in values.into_iter().rev() {
            l = List::cons(v, l);
        }
        l
    }

    /// The elements in a vector.
    pub fn to_vec(&self) -> Vec<Value> {
        self.iter().cloned().collect()
    }

    fn ptr_eq(&self, other: &List) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Drop for List {
    fn drop(&mut self) {
        let mut cur = self.0.take();
        let mut work = Vec::new();
        while let Some(cell) = cur {
            match Arc::try_unwrap(cell) {
                Ok(mut c) => {
                    if c.head.is_container() {
                        work.push(std::mem::take(&mut c.head));
                    }
                    cur = c.tail.0.take();
                }
                Err(_) => break,
            }
        }
        drop_all(work);
    }
}

/// Drops values whose nesting may be deep without recursion: every container this code
/// owns alone gives its children to a work list before it is dropped.
fn drop_all(mut work: Vec<Value>) {
    while let Some(mut v) = work.pop() {
        v.take_children(&mut work);
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        if self.is_container() {
            let mut work = Vec::new();
            self.take_children(&mut work);
            drop_all(work);
        }
    }
}

/// Iterator over a [`List`].
pub struct ListIter<'a>(&'a List);

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a Value;
    fn next(&mut self) -> Option<&'a Value> {
        let (h, t) = self.0.uncons()?;
        self.0 = t;
        Some(h)
    }
}

/// An opaque native object: a server, a connection, a client.
pub trait Handle: Any + Send + Sync {
    /// How it prints: `#Server<port 8080>`.
    fn describe(&self) -> String;
    /// For downcasting.
    fn as_any(&self) -> &dyn Any;
    /// Kind and id: two handles of the same object are equal.
    fn identity(&self) -> (&'static str, u64);
}

/// A function value.
pub enum Fun {
    /// An anonymous function with its captured values.
    Closure {
        /// The compiled code.
        proto: Arc<Proto>,
        /// Captured values, copied into the frame after the parameters.
        captures: Box<[Value]>,
    },
    /// A named function (`double`, `String.upcase`), resolved by name and arity when called.
    Named(Arc<str>),
}

/// A reference: a monitor's, or one made by `make_ref()`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Ref {
    /// From `monitor`.
    Monitor(MonitorRef),
    /// From `make_ref()`.
    Local(u64),
    /// From `Timer.send_after`.
    Timer(TimerRef),
}

/// A tern value.
#[derive(Clone, Default)]
pub enum Value {
    /// `nil`
    #[default]
    Nil,
    /// `true` / `false`
    Bool(bool),
    /// 64-bit integer.
    Int(i64),
    /// 64-bit float.
    Float(f64),
    /// `:name`
    Atom(Atom),
    /// UTF-8 string.
    Str(Arc<str>),
    /// Bytes.
    Bin(Arc<[u8]>),
    /// `{a, b}`
    Tuple(Arc<[Value]>),
    /// `[a, b]`
    List(List),
    /// `%{k => v}`
    Map(Arc<BTreeMap<Value, Value>>),
    /// A process id.
    Pid(Pid),
    /// A reference.
    Ref(Ref),
    /// A function.
    Fun(Arc<Fun>),
    /// An opaque native object.
    Handle(Arc<dyn Handle>),
}

impl Value {
    /// An atom value.
    pub fn atom(name: &str) -> Value {
        Value::Atom(Atom::new(name))
    }

    /// A string value.
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::Str(s.into())
    }

    /// A tuple value.
    pub fn tuple(items: impl Into<Arc<[Value]>>) -> Value {
        Value::Tuple(items.into())
    }

    /// `{:ok, v}`
    pub fn ok(v: Value) -> Value {
        Value::tuple(vec![Value::Atom(Atom::OK), v])
    }

    /// `{:error, reason}`
    pub fn error(reason: Value) -> Value {
        Value::tuple(vec![Value::Atom(Atom::ERROR), reason])
    }

    /// A list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(List::from_values(items))
    }

    fn is_container(&self) -> bool {
        matches!(self, Value::Tuple(_) | Value::Map(_) | Value::List(_))
    }

    /// If this value is the only owner of a container, moves the container's children that
    /// are containers themselves into `work` (so dropping it is shallow).
    fn take_children(&mut self, work: &mut Vec<Value>) {
        match self {
            Value::Tuple(items) => {
                if let Some(items) = Arc::get_mut(items) {
                    for x in items.iter_mut() {
                        if x.is_container() {
                            work.push(std::mem::take(x));
                        }
                    }
                }
            }
            Value::Map(m) => {
                if let Some(m) = Arc::get_mut(m) {
                    for (k, v) in std::mem::take(m) {
                        if k.is_container() {
                            work.push(k);
                        }
                        if v.is_container() {
                            work.push(v);
                        }
                    }
                }
            }
            Value::List(l) => {
                let mut cur = l.0.take();
                while let Some(cell) = cur {
                    match Arc::try_unwrap(cell) {
                        Ok(mut c) => {
                            if c.head.is_container() {
                                work.push(std::mem::take(&mut c.head));
                            }
                            cur = c.tail.0.take();
                        }
                        Err(_) => break,
                    }
                }
            }
            _ => {}
        }
    }

    /// Truthiness: everything except `nil` and `false`.
    pub fn truthy(&self) -> bool {
        !matches!(self, Value::Nil | Value::Bool(false))
    }

    /// The type's name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Atom(_) => "atom",
            Value::Str(_) => "string",
            Value::Bin(_) => "binary",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Pid(_) => "pid",
            Value::Ref(_) => "reference",
            Value::Fun(_) => "function",
            Value::Handle(_) => "handle",
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Int(_) | Value::Float(_) => 0,
            Value::Nil | Value::Bool(_) | Value::Atom(_) => 1,
            Value::Ref(_) => 2,
            Value::Fun(_) => 3,
            Value::Handle(_) => 4,
            Value::Pid(_) => 5,
            Value::Tuple(_) => 6,
            Value::Map(_) => 7,
            Value::List(_) => 8,
            Value::Str(_) => 9,
            Value::Bin(_) => 10,
        }
    }

    fn atom_name(&self) -> Option<Arc<str>> {
        match self {
            Value::Nil => Some("nil".into()),
            Value::Bool(true) => Some("true".into()),
            Value::Bool(false) => Some("false".into()),
            Value::Atom(a) => Some(a.name()),
            _ => None,
        }
    }

    /// `==`: structural equality, except that an integer equals a float of the same value.
    pub fn loose_eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => {
                (*a as f64) == *b
            }
            (Value::Float(a), Value::Float(b)) => a == b,
            _ => self == other,
        }
    }

    /// The text `#{}` interpolation and `IO.println` produce: strings as they are, everything
    /// else as [`Value::inspect`] shows it (atoms without the colon).
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            Value::Atom(a) => a.name().to_string(),
            Value::Nil => String::new(),
            Value::Bin(b) => String::from_utf8_lossy(b).into_owned(),
            other => other.inspect(),
        }
    }

    /// The value in source syntax: `{:ok, "a\n"}`. Iterative (an explicit work list, not
    /// the Rust stack), so a value nested 100,000 levels deep prints in full.
    pub fn inspect(&self) -> String {
        enum Task<'a> {
            Val(&'a Value),
            Text(&'static str),
            AtomKey(Atom),
        }
        let mut out = String::new();
        let mut work = vec![Task::Val(self)];
        while let Some(t) = work.pop() {
            let v = match t {
                Task::Val(v) => v,
                Task::Text(s) => {
                    out.push_str(s);
                    continue;
                }
                Task::AtomKey(a) => {
                    out.push_str(&a.name());
                    out.push_str(": ");
                    continue;
                }
            };
            // Children go on the work list in reverse, so they pop in order.
            match v {
                Value::Tuple(items) => {
                    out.push('{');
                    work.push(Task::Text("}"));
                    for (i, x) in items.iter().enumerate().rev() {
                        work.push(Task::Val(x));
                        if i > 0 {
                            work.push(Task::Text(", "));
                        }
                    }
                }
                Value::List(l) => {
                    out.push('[');
                    work.push(Task::Text("]"));
                    let items: Vec<&Value> = l.iter().collect();
                    for (i, x) in items.into_iter().enumerate().rev() {
                        work.push(Task::Val(x));
                        if i > 0 {
                            work.push(Task::Text(", "));
                        }
                    }
                }
                Value::Map(m) => {
                    out.push_str("%{");
                    work.push(Task::Text("}"));
                    let all_atoms = m
                        .keys()
                        .all(|k| matches!(k, Value::Atom(a) if is_plain_atom(&a.name())));
                    for (i, (k, x)) in m.iter().enumerate().rev() {
                        work.push(Task::Val(x));
                        match k {
                            Value::Atom(a) if all_atoms => work.push(Task::AtomKey(*a)),
                            _ => {
                                work.push(Task::Text(" => "));
                                work.push(Task::Val(k));
                            }
                        }
                        if i > 0 {
                            work.push(Task::Text(", "));
                        }
                    }
                }
                scalar => scalar.write_scalar(&mut out),
            }
        }
        out
    }

    /// A value that is not a container, in source syntax.
    fn write_scalar(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Value::Nil => out.push_str("nil"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Float(x) => write_float(out, *x),
            Value::Atom(a) => {
                let name = a.name();
                if is_plain_atom(&name) {
                    let _ = write!(out, ":{name}");
                } else {
                    out.push(':');
                    write_str_lit(out, &name);
                }
            }
            Value::Str(s) => write_str_lit(out, s),
            Value::Bin(b) => {
                out.push_str("<<");
                for (i, byte) in b.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{byte}");
                }
                out.push_str(">>");
            }
            Value::Pid(p) => {
                let _ = write!(out, "#PID{p}");
            }
            Value::Ref(Ref::Monitor(r)) => {
                let _ = write!(out, "{r}");
            }
            Value::Ref(Ref::Local(n)) => {
                let _ = write!(out, "#Ref<1.{n}>");
            }
            Value::Ref(Ref::Timer(t)) => {
                let _ = write!(out, "#Timer<{t:?}>");
            }
            Value::Fun(f) => match &**f {
                Fun::Closure { proto, .. } => {
                    let _ = write!(out, "#Function<{}>", proto.name);
                }
                Fun::Named(n) => {
                    let _ = write!(out, "&{n}");
                }
            },
            Value::Handle(h) => out.push_str(&h.describe()),
            Value::Tuple(_) | Value::List(_) | Value::Map(_) => {
                unreachable!("containers are written by `inspect`")
            }
        }
    }
}

fn is_plain_atom(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && name.chars().enumerate().all(|(i, c)| {
            c.is_alphanumeric()
                || c == '_'
                || ((c == '?' || c == '!') && i == name.chars().count() - 1)
        })
}

/// A float as the lexer reads it back: always with a `.`, exponent form when large or tiny.
fn write_float(out: &mut String, x: f64) {
    use std::fmt::Write;
    if !x.is_finite() {
        let _ = write!(out, "{x}");
    } else if x != 0.0 && (x.abs() >= 1e16 || x.abs() < 1e-5) {
        let e = format!("{x:e}");
        match e.split_once('e') {
            Some((m, exp)) if !m.contains('.') => {
                let _ = write!(out, "{m}.0e{exp}");
            }
            _ => out.push_str(&e),
        }
    } else if x.fract() == 0.0 {
        let _ = write!(out, "{x:.1}");
    } else {
        let _ = write!(out, "{x}");
    }
}

fn write_str_lit(out: &mut String, s: &str) {
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' if chars.peek() == Some(&'{') => out.push_str("\\#"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inspect())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inspect())
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        cmp_at(self, other, 0)
    }
}

/// Recursion depth after which comparison switches to the iterative [`deep_cmp`].
const CMP_RECURSION: usize = 128;

/// Compares two values; containers recurse until [`CMP_RECURSION`], then go iterative, so a
/// deeply nested value never exhausts the Rust stack.
fn cmp_at(a: &Value, b: &Value, depth: usize) -> Ordering {
    let child = |x: &Value, y: &Value| {
        if depth < CMP_RECURSION {
            cmp_at(x, y, depth + 1)
        } else {
            deep_cmp(x, y)
        }
    };
    match (a, b) {
        (Value::Tuple(x), Value::Tuple(y)) => x.len().cmp(&y.len()).then_with(|| {
            for (p, q) in x.iter().zip(y.iter()) {
                let o = child(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        }),
        (Value::List(x), Value::List(y)) => {
            if x.ptr_eq(y) {
                return Ordering::Equal;
            }
            let (mut i, mut j) = (x.iter(), y.iter());
            loop {
                match (i.next(), j.next()) {
                    (None, None) => return Ordering::Equal,
                    (None, Some(_)) => return Ordering::Less,
                    (Some(_), None) => return Ordering::Greater,
                    (Some(p), Some(q)) => {
                        let o = child(p, q);
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                }
            }
        }
        (Value::Map(x), Value::Map(y)) => x.len().cmp(&y.len()).then_with(|| {
            for ((k1, v1), (k2, v2)) in x.iter().zip(y.iter()) {
                let o = child(k1, k2).then_with(|| child(v1, v2));
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        }),
        _ => shallow_cmp(a, b),
    }
}

enum CmpWork<'a> {
    Pair(&'a Value, &'a Value),
    Decide(Ordering),
}

/// Iterative comparison with an explicit work list (for deeply nested values).
fn deep_cmp(a: &Value, b: &Value) -> Ordering {
    let mut work = vec![CmpWork::Pair(a, b)];
    while let Some(w) = work.pop() {
        let (a, b) = match w {
            CmpWork::Decide(o) if o != Ordering::Equal => return o,
            CmpWork::Decide(_) => continue,
            CmpWork::Pair(a, b) => (a, b),
        };
        match (a, b) {
            (Value::Tuple(x), Value::Tuple(y)) => {
                if x.len() != y.len() {
                    return x.len().cmp(&y.len());
                }
                for (p, q) in x.iter().zip(y.iter()).rev() {
                    work.push(CmpWork::Pair(p, q));
                }
            }
            (Value::List(x), Value::List(y)) => {
                if x.ptr_eq(y) {
                    continue;
                }
                let (xs, ys): (Vec<&Value>, Vec<&Value>) = (x.iter().collect(), y.iter().collect());
                work.push(CmpWork::Decide(xs.len().cmp(&ys.len())));
                for (p, q) in xs.into_iter().zip(ys).rev() {
                    work.push(CmpWork::Pair(p, q));
                }
            }
            (Value::Map(x), Value::Map(y)) => {
                if x.len() != y.len() {
                    return x.len().cmp(&y.len());
                }
                let pairs: Vec<_> = x.iter().zip(y.iter()).collect();
                for ((k1, v1), (k2, v2)) in pairs.into_iter().rev() {
                    work.push(CmpWork::Pair(v1, v2));
                    work.push(CmpWork::Pair(k1, k2));
                }
            }
            _ => {
                let o = shallow_cmp(a, b);
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
    Ordering::Equal
}

/// Compares values that are not both containers of the same kind.
fn shallow_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(a), Value::Int(b)) => a.cmp(b),
        (Value::Float(a), Value::Float(b)) => a.total_cmp(b),
        (Value::Int(a), Value::Float(b)) => (*a as f64).total_cmp(b).then(Ordering::Less),
        (Value::Float(a), Value::Int(b)) => a.total_cmp(&(*b as f64)).then(Ordering::Greater),
        (Value::Str(a), Value::Str(b)) => a.cmp(b),
        (Value::Bin(a), Value::Bin(b)) => a.cmp(b),
        (Value::Atom(a), Value::Atom(b)) if a == b => Ordering::Equal,
        (Value::Pid(a), Value::Pid(b)) => a.cmp(b),
        (Value::Ref(a), Value::Ref(b)) => a.cmp(b),
        (Value::Fun(a), Value::Fun(b)) => (Arc::as_ptr(a) as usize).cmp(&(Arc::as_ptr(b) as usize)),
        (Value::Handle(a), Value::Handle(b)) => a.identity().cmp(&b.identity()),
        _ => {
            let (ra, rb) = (a.rank(), b.rank());
            if ra != rb {
                return ra.cmp(&rb);
            }
            // both atoms (incl. nil/true/false): by name
            a.atom_name().cmp(&b.atom_name())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_small_and_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Value>();
        assert!(std::mem::size_of::<Value>() <= 24);
    }

    #[test]
    fn inspect_in_source_syntax() {
        let v = Value::tuple(vec![
            Value::atom("ok"),
            Value::str("a\"b\n"),
            Value::list(vec![Value::Int(1), Value::Float(2.0), Value::Nil]),
        ]);
        assert_eq!(v.inspect(), r#"{:ok, "a\"b\n", [1, 2.0, nil]}"#);
        let mut m = BTreeMap::new();
        m.insert(Value::atom("b"), Value::Int(2));
        m.insert(Value::atom("a"), Value::Bool(true));
        assert_eq!(
            Value::Map(Arc::new(m.clone())).inspect(),
            "%{a: true, b: 2}"
        );
        m.insert(Value::str("k"), Value::Int(3));
        assert_eq!(
            Value::Map(Arc::new(m)).inspect(),
            r#"%{:a => true, :b => 2, "k" => 3}"#
        );
        assert_eq!(Value::atom("with space").inspect(), r#":"with space""#);
        assert_eq!(Value::Bin(Arc::from(&[1u8, 2][..])).inspect(), "<<1, 2>>");
        assert_eq!(Value::Float(1e20).inspect(), "1.0e20");
        assert_eq!(Value::Float(2.5e-7).inspect(), "2.5e-7");
        assert_eq!(Value::Float(-3.0).inspect(), "-3.0");
        assert_eq!(Value::Float(0.1).inspect(), "0.1");
        assert_eq!(Value::str("a#{b}#").inspect(), r##""a\#{b}#""##);
    }

    #[test]
    fn deep_values_inspect_compare_and_drop_without_recursion() {
        let nest = |n: usize| {
            let mut v = Value::Int(1);
            for i in 0..n {
                v = if i % 2 == 0 {
                    Value::list(vec![v])
                } else {
                    Value::tuple(vec![v, Value::Nil])
                };
            }
            v
        };
        let (a, b) = (nest(100_000), nest(100_000));
        assert_eq!(a, b);
        assert!(a < nest(100_001));
        let text = a.inspect();
        assert_eq!(text.len(), 1 + 50_000 * ("[]".len() + "{, nil}".len()));
        assert!(text.starts_with("{[{["));
        assert!(text.ends_with("], nil}], nil}") && text.contains("{[1], nil}"));
        drop((a, b));
    }

    #[test]
    fn equality_and_order() {
        assert_ne!(Value::Int(1), Value::Float(1.0));
        assert!(Value::Int(1).loose_eq(&Value::Float(1.0)));
        assert!(Value::Int(1) < Value::Float(1.5));
        assert!(Value::Int(5) < Value::atom("a"));
        assert!(Value::atom("a") < Value::atom("b"));
        assert!(Value::Nil < Value::atom("ok"));
        assert!(Value::tuple(vec![]) < Value::list(vec![]));
        assert!(Value::list(vec![]) < Value::str(""));
        assert_eq!(
            Value::list(vec![Value::Int(1)]),
            Value::list(vec![Value::Int(1)])
        );
    }

    #[test]
    fn deeply_nested_values_drop_without_recursion() {
        let mut v = Value::Nil;
        for i in 0..200_000 {
            v = match i % 3 {
                0 => Value::tuple(vec![Value::Int(i), v]),
                1 => Value::list(vec![v, Value::Int(i)]),
                _ => {
                    let mut m = BTreeMap::new();
                    m.insert(Value::Int(i), v);
                    Value::Map(Arc::new(m))
                }
            };
        }
        drop(v);
    }

    #[test]
    fn deeply_nested_values_compare_without_recursion() {
        let build = |leaf: i64| {
            let mut v = Value::Int(leaf);
            for i in 0..60_000 {
                v = if i % 2 == 0 {
                    Value::tuple(vec![Value::Int(i), v])
                } else {
                    Value::list(vec![v])
                };
            }
            v
        };
        let (a, b, c) = (build(1), build(1), build(2));
        assert_eq!(a, b);
        assert!(a < c);
        assert!(c > b);
    }

    #[test]
    fn long_list_drops_without_recursion() {
        let mut l = List::EMPTY;
        for i in 0..1_000_000 {
            l = List::cons(Value::Int(i), l);
        }
        assert_eq!(l.len(), 1_000_000);
        drop(l);
    }
}
