//! The syntax tree produced by the parser and consumed by the compiler.
//!
//! Invariants: every node carries the position of its first token; patterns are a separate type
//! ([`Pat`]) built from expressions by the parser, so the compiler never sees an expression where
//! a pattern is required. Guards are ordinary expressions restricted by the compiler.

use std::fmt;

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line number, from 1.
    pub line: u32,
    /// Column number in characters, from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// One top-level item of a file or REPL input.
#[derive(Clone, Debug)]
pub enum Item {
    /// `fn name(params) when guard do body end`: one clause of a named function.
    Fn(FnClause),
    /// A bare expression (REPL input only; files hold only functions).
    Expr(Expr),
}

impl Item {
    /// Splits REPL input into its function clauses and its expressions, each in input order.
    pub fn split(items: Vec<Item>) -> (Vec<FnClause>, Vec<Expr>) {
        let mut fns = Vec::new();
        let mut exprs = Vec::new();
        for item in items {
            match item {
                Item::Fn(f) => fns.push(f),
                Item::Expr(e) => exprs.push(e),
            }
        }
        (fns, exprs)
    }
}

/// One clause of a named function or an anonymous function.
#[derive(Clone, Debug)]
pub struct FnClause {
    /// The function's name (`""` for anonymous functions).
    pub name: String,
    /// One pattern per parameter.
    pub params: Vec<Pat>,
    /// Optional `when` guard.
    pub guard: Option<Expr>,
    /// The body; its last expression is the result.
    pub body: Vec<Expr>,
    /// Where `fn` was written.
    pub pos: Pos,
}

/// A `pattern when guard -> body` clause of `case` and `receive`.
#[derive(Clone, Debug)]
pub struct Clause {
    /// The pattern.
    pub pat: Pat,
    /// Optional guard.
    pub guard: Option<Expr>,
    /// The body.
    pub body: Vec<Expr>,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `rem`
    Rem,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `<>`
    Concat,
    /// `and` (short-circuit)
    And,
    /// `or` (short-circuit)
    Or,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "rem",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Gt => ">",
            BinOp::Le => "<=",
            BinOp::Ge => ">=",
            BinOp::Concat => "<>",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `not x`
    Not,
}

/// A part of an interpolated string.
#[derive(Clone, Debug)]
pub enum StrPart {
    /// Literal text.
    Lit(String),
    /// `#{expr}`
    Code(Expr),
}

/// What a call calls.
#[derive(Clone, Debug)]
pub enum Callee {
    /// `name(args)`: a local variable holding a function, a top-level function or a builtin.
    Name(String),
    /// `Module.name(args)`.
    Remote(String, String),
    /// `expr.(args)`.
    Value(Box<Expr>),
}

/// An expression with its position.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it starts.
    pub pos: Pos,
}

/// Expression forms.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// Integer literal.
    Int(i64),
    /// Float literal.
    Float(f64),
    /// String literal without interpolation.
    Str(String),
    /// String with `#{}` parts.
    Interp(Vec<StrPart>),
    /// `:atom`
    Atom(String),
    /// `true` / `false`
    Bool(bool),
    /// `nil`
    Nil,
    /// A variable, or a top-level function used as a value.
    Var(String),
    /// `^name`: only valid in patterns.
    Pin(String),
    /// `Module.name` without a call: the module function as a value.
    RemoteRef(String, String),
    /// `{a, b}`
    Tuple(Vec<Expr>),
    /// `[a, b | tail]`
    List(Vec<Expr>, Option<Box<Expr>>),
    /// `%{k => v, name: v}`
    Map(Vec<(Expr, Expr)>),
    /// `-x`, `not x`
    Unary(UnOp, Box<Expr>),
    /// `a op b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A call.
    Call(Callee, Vec<Expr>),
    /// `map.key`: fetch an atom key (error when missing).
    Field(Box<Expr>, String),
    /// `fn(params) -> body end`
    Fn(Box<FnClause>),
    /// `let pat = expr`
    Let(Pat, Box<Expr>),
    /// `if c do a else b end`
    If(Box<Expr>, Vec<Expr>, Option<Vec<Expr>>),
    /// `case e do clauses end`
    Case(Box<Expr>, Vec<Clause>),
    /// `receive do clauses after ms -> body end`
    Receive(Vec<Clause>, Option<(Box<Expr>, Vec<Expr>)>),
}

/// Literal values usable in patterns.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// String.
    Str(String),
    /// Atom.
    Atom(String),
    /// Boolean.
    Bool(bool),
    /// nil.
    Nil,
}

/// A pattern with its position.
#[derive(Clone, Debug)]
pub struct Pat {
    /// What it is.
    pub kind: PatKind,
    /// Where it starts.
    pub pos: Pos,
}

/// Pattern forms.
#[derive(Clone, Debug)]
pub enum PatKind {
    /// `_` or `_name`: matches anything, binds nothing.
    Wild,
    /// `name`: binds (a second occurrence in one pattern must be equal).
    Var(String),
    /// `^name`: equal to the variable's current value.
    Pin(String),
    /// A literal.
    Lit(Lit),
    /// `{p, q}`
    Tuple(Vec<Pat>),
    /// `[p, q | tail]`
    List(Vec<Pat>, Option<Box<Pat>>),
    /// `%{key => p}`: the map has at least these keys.
    Map(Vec<(Lit, Pat)>),
    /// `"prefix" <> rest`
    StrPrefix(String, Box<Pat>),
}
