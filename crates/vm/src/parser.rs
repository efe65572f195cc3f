//! Tokens to syntax tree: a recursive-descent parser with precedence climbing.
//!
//! Newlines end expressions except where an expression cannot end (after an operator, a comma,
//! an opening bracket, `->`, `do`); a line starting with `|>` continues the previous one.
//! Patterns are parsed as expressions and converted, so `let {:ok, x} = ...` and clause heads
//! share the expression grammar. Nesting is bounded by [`MAX_DEPTH`] so hostile input ends in a
//! syntax error, never a Rust stack overflow.
//!
//! Precedence, lowest first: `or`, `and`, `not`, `== !=`, `< > <= >=`, `|>`, `<>`, `+ -`,
//! `* / rem`, unary `-`, then calls, `.field` and `.(args)`.

use crate::ast::*;
use crate::error::SyntaxError;
use crate::lexer::{lex, StrTok, Tok, Token};

/// How deeply expressions may nest.
pub(crate) const MAX_DEPTH: usize = 100;

/// Parses a file: only `fn` definitions are allowed at the top level.
pub fn parse_program(src: &str) -> Result<Vec<FnClause>, SyntaxError> {
    let items = parse_items(src)?;
    let mut fns = Vec::new();
    for item in items {
        match item {
            Item::Fn(f) => fns.push(f),
            Item::Expr(e) => {
                return Err(SyntaxError::new(
                    e.pos,
                    "only `fn` definitions are allowed at the top level of a file",
                )
                .hint("put this code inside `fn main() do ... end`"))
            }
        }
    }
    Ok(fns)
}

/// Parses REPL input or a file into top-level items (functions and expressions).
pub fn parse_items(src: &str) -> Result<Vec<Item>, SyntaxError> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
    };
    let mut items = Vec::new();
    loop {
        p.skip_newlines();
        if p.at(&Tok::Eof) {
            return Ok(items);
        }
        if p.at(&Tok::Fn) && matches!(p.peek_n(1), Tok::Ident(_)) {
            items.push(Item::Fn(p.named_fn()?));
        } else {
            items.push(Item::Expr(p.expr()?));
        }
        p.end_of_statement()?;
    }
}

/// Whether `src` is unfinished (an open `do`, bracket or string), so the REPL should read
/// another line before parsing.
pub fn is_incomplete(src: &str) -> bool {
    match parse_items(src) {
        Ok(_) => false,
        Err(e) => {
            e.message.starts_with("unexpected end of input")
                || e.message == "unterminated string"
                || e.message.starts_with("unterminated `#{`")
        }
    }
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    depth: usize,
}

fn binop(t: &Tok) -> Option<(BinOp, u8)> {
    Some(match t {
        Tok::Or => (BinOp::Or, 1),
        Tok::And => (BinOp::And, 2),
        Tok::EqEq => (BinOp::Eq, 4),
        Tok::NotEq => (BinOp::Ne, 4),
        Tok::Lt => (BinOp::Lt, 5),
        Tok::Gt => (BinOp::Gt, 5),
        Tok::Le => (BinOp::Le, 5),
        Tok::Ge => (BinOp::Ge, 5),
        Tok::Concat => (BinOp::Concat, 7),
        Tok::Plus => (BinOp::Add, 8),
        Tok::Minus => (BinOp::Sub, 8),
        Tok::Star => (BinOp::Mul, 9),
        Tok::Slash => (BinOp::Div, 9),
        Tok::Rem => (BinOp::Rem, 9),
        _ => return None,
    })
}

const PIPE_PREC: u8 = 6;
const NOT_PREC: u8 = 3;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }

    fn peek_n(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }

    fn pos(&self) -> Pos {
        self.toks[self.i.min(self.toks.len() - 1)].pos
    }

    fn at(&self, t: &Tok) -> bool {
        self.peek() == t
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.i.min(self.toks.len() - 1)].clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.at(t) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn skip_newlines(&mut self) {
        while self.at(&Tok::Newline) {
            self.bump();
        }
    }

    fn unexpected(&self, expected: &str) -> SyntaxError {
        let t = self.peek();
        if *t == Tok::Eof {
            SyntaxError::new(
                self.pos(),
                format!("unexpected end of input, expected {expected}"),
            )
        } else {
            SyntaxError::new(
                self.pos(),
                format!("expected {expected}, found {}", t.describe()),
            )
        }
    }

    fn expect(&mut self, t: &Tok, expected: &str) -> Result<Token, SyntaxError> {
        if self.at(t) {
            Ok(self.bump())
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// Expects `end` closing the construct opened at `open`.
    fn expect_end(&mut self, what: &str, open: Pos) -> Result<(), SyntaxError> {
        self.skip_newlines();
        if self.eat(&Tok::End) {
            return Ok(());
        }
        Err(self.unexpected("`end`").hint(format!(
            "the `{what}` at line {} column {} needs a matching `end`",
            open.line, open.col
        )))
    }

    fn end_of_statement(&mut self) -> Result<(), SyntaxError> {
        match self.peek() {
            Tok::Newline => {
                self.skip_newlines();
                Ok(())
            }
            Tok::Eof | Tok::End | Tok::Else | Tok::After | Tok::RParen => Ok(()),
            Tok::Assign => Err(SyntaxError::new(self.pos(), "unexpected `=`")
                .hint("bind a variable with `let pattern = value`; compare with `==`")),
            _ => Err(self.unexpected("end of line or `;`")),
        }
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError::new(self.pos(), "expression nested too deeply")
                .hint(format!("at most {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// `fn name(params) [when guard] do body end`
    fn named_fn(&mut self) -> Result<FnClause, SyntaxError> {
        let pos = self.bump().pos;
        let Tok::Ident(name) = self.bump().tok else {
            unreachable!("checked by caller")
        };
        self.expect(&Tok::LParen, "`(` after the function name")?;
        let params = self.params()?;
        let guard = if self.eat(&Tok::When) {
            Some(self.expr()?)
        } else {
            None
        };
        if self.at(&Tok::Arrow) {
            return Err(self.unexpected("`do`").hint(
                "named functions use `fn name(x) do ... end`; `->` is for `fn(x) -> ... end`",
            ));
        }
        let do_pos = self.expect(&Tok::Do, "`do`")?.pos;
        let body = self.block()?;
        self.expect_end("do", do_pos)?;
        Ok(FnClause {
            name,
            params,
            guard,
            body,
            pos,
        })
    }

    /// Parameters after `(`, through `)`.
    fn params(&mut self) -> Result<Vec<Pat>, SyntaxError> {
        let args = self.args(&Tok::RParen, "`)`")?;
        args.into_iter().map(to_pat).collect()
    }

    /// Comma-separated expressions up to `close` (newlines allowed anywhere).
    fn args(&mut self, close: &Tok, what: &str) -> Result<Vec<Expr>, SyntaxError> {
        let open = self.toks[self.i.saturating_sub(1)].pos;
        self.args_inner(close, what)
            .map_err(|e| unclosed(e, open, what))
    }

    fn args_inner(&mut self, close: &Tok, what: &str) -> Result<Vec<Expr>, SyntaxError> {
        let mut out = Vec::new();
        self.skip_newlines();
        if self.eat(close) {
            return Ok(out);
        }
        loop {
            self.skip_newlines();
            out.push(self.expr()?);
            self.skip_newlines();
            if self.eat(close) {
                return Ok(out);
            }
            if !self.eat(&Tok::Comma) {
                return Err(self.unexpected(&format!("`,` or {what}")));
            }
        }
    }

    /// Expressions separated by newlines, up to (not including) `end`, `else` or `after`.
    fn block(&mut self) -> Result<Vec<Expr>, SyntaxError> {
        let mut out = Vec::new();
        loop {
            self.skip_newlines();
            if matches!(self.peek(), Tok::End | Tok::Else | Tok::After | Tok::Eof) {
                return Ok(out);
            }
            out.push(self.expr()?);
            self.end_of_statement()?;
        }
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.enter()?;
        let r = self.binary(0);
        self.depth -= 1;
        r
    }

    /// Every operator of a chain counts as one level of nesting (the tree is left-deep, and
    /// the compiler recurses on it), so the depth is restored when the chain ends.
    fn binary(&mut self, min: u8) -> Result<Expr, SyntaxError> {
        let depth = self.depth;
        let r = self.binary_chain(min);
        self.depth = depth;
        r
    }

    fn binary_chain(&mut self, min: u8) -> Result<Expr, SyntaxError> {
        let mut lhs = if self.at(&Tok::Not) && min <= NOT_PREC {
            let pos = self.bump().pos;
            self.enter()?;
            let e = self.binary(NOT_PREC + 1);
            self.depth -= 1;
            Expr {
                kind: ExprKind::Unary(UnOp::Not, Box::new(e?)),
                pos,
            }
        } else {
            self.unary()?
        };
        loop {
            // a line starting with `|>` continues the expression
            if min <= PIPE_PREC && self.at(&Tok::Newline) {
                let mut j = self.i;
                while self.toks[j].tok == Tok::Newline {
                    j += 1;
                }
                if self.toks[j].tok == Tok::PipeOp {
                    self.i = j;
                }
            }
            if self.at(&Tok::PipeOp) {
                if PIPE_PREC < min {
                    return Ok(lhs);
                }
                let op_pos = self.bump().pos;
                self.skip_newlines();
                self.enter()?;
                let rhs = self.binary(PIPE_PREC + 1);
                let rhs = rhs?;
                lhs = pipe(lhs, rhs, op_pos)?;
                continue;
            }
            let Some((op, prec)) = binop(self.peek()) else {
                return Ok(lhs);
            };
            if prec < min {
                return Ok(lhs);
            }
            let pos = lhs.pos;
            self.bump();
            self.skip_newlines();
            self.enter()?;
            let rhs = self.binary(prec + 1);
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs?)),
                pos,
            };
        }
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        if self.at(&Tok::Minus) {
            let pos = self.bump().pos;
            self.enter()?;
            let e = self.unary();
            self.depth -= 1;
            let e = e?;
            return Ok(match e.kind {
                ExprKind::Int(n) => Expr {
                    kind: ExprKind::Int(-n),
                    pos,
                },
                ExprKind::Float(x) => Expr {
                    kind: ExprKind::Float(-x),
                    pos,
                },
                _ => Expr {
                    kind: ExprKind::Unary(UnOp::Neg, Box::new(e)),
                    pos,
                },
            });
        }
        let mut e = self.primary()?;
        loop {
            if self.at(&Tok::LParen) && matches!(e.kind, ExprKind::Call(..) | ExprKind::Field(..)) {
                // `f(1)(2)`: call the function a call returned
                let pos = self.bump().pos;
                let args = self.args(&Tok::RParen, "`)`")?;
                e = Expr {
                    kind: ExprKind::Call(Callee::Value(Box::new(e)), args),
                    pos,
                };
            } else if self.at(&Tok::Dot) {
                let pos = self.bump().pos;
                match self.peek().clone() {
                    Tok::LParen => {
                        self.bump();
                        let args = self.args(&Tok::RParen, "`)`")?;
                        e = Expr {
                            kind: ExprKind::Call(Callee::Value(Box::new(e)), args),
                            pos,
                        };
                    }
                    Tok::Ident(name) => {
                        self.bump();
                        e = Expr {
                            kind: ExprKind::Field(Box::new(e), name),
                            pos,
                        };
                    }
                    _ => return Err(self.unexpected("a field name or `(` after `.`")),
                }
            } else {
                return Ok(e);
            }
        }
    }

    #[inline(never)]
    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let pos = self.pos();
        let mk = |kind| Ok(Expr { kind, pos });
        match self.peek().clone() {
            Tok::Int(n) => {
                self.bump();
                mk(ExprKind::Int(n))
            }
            Tok::Float(x) => {
                self.bump();
                mk(ExprKind::Float(x))
            }
            Tok::Atom(a) => {
                self.bump();
                mk(ExprKind::Atom(a))
            }
            Tok::True => {
                self.bump();
                mk(ExprKind::Bool(true))
            }
            Tok::False => {
                self.bump();
                mk(ExprKind::Bool(false))
            }
            Tok::Nil => {
                self.bump();
                mk(ExprKind::Nil)
            }
            Tok::Str(parts) => {
                self.bump();
                self.string(parts, pos)
            }
            Tok::Ident(name) => {
                self.bump();
                if self.at(&Tok::LParen) {
                    self.bump();
                    let args = self.args(&Tok::RParen, "`)`")?;
                    mk(ExprKind::Call(Callee::Name(name), args))
                } else {
                    mk(ExprKind::Var(name))
                }
            }
            Tok::Caret => {
                self.bump();
                match self.peek().clone() {
                    Tok::Ident(n) => {
                        self.bump();
                        mk(ExprKind::Pin(n))
                    }
                    _ => Err(self.unexpected("a variable name after `^`")),
                }
            }
            Tok::Rem if *self.peek_n(1) == Tok::LParen => {
                self.bump();
                self.bump();
                let args = self.args(&Tok::RParen, "`)`")?;
                mk(ExprKind::Call(Callee::Name("rem".into()), args))
            }
            Tok::Module(m) => {
                self.bump();
                if !self.eat(&Tok::Dot) {
                    return Err(self.unexpected("`.` after a module name").hint(format!(
                        "call a module function as `{m}.name(...)`; variables start lowercase"
                    )));
                }
                let Tok::Ident(f) = self.peek().clone() else {
                    return Err(self.unexpected("a function name"));
                };
                self.bump();
                if self.eat(&Tok::LParen) {
                    let args = self.args(&Tok::RParen, "`)`")?;
                    mk(ExprKind::Call(Callee::Remote(m, f), args))
                } else {
                    mk(ExprKind::RemoteRef(m, f))
                }
            }
            Tok::LParen => {
                self.bump();
                self.skip_newlines();
                let e = self.expr()?;
                self.skip_newlines();
                self.expect(&Tok::RParen, "`)`")?;
                Ok(e)
            }
            Tok::LBrace => {
                self.bump();
                let items = self.args(&Tok::RBrace, "`}`")?;
                mk(ExprKind::Tuple(items))
            }
            Tok::LBracket => {
                self.bump();
                self.list(pos)
            }
            Tok::MapOpen => {
                self.bump();
                self.map(pos)
            }
            Tok::Fn | Tok::Let | Tok::If | Tok::Case | Tok::Receive => self.keyword_expr(pos),
            Tok::Assign => Err(self.unexpected("an expression")),
            Tok::End => Err(self
                .unexpected("an expression")
                .hint("this `end` has no matching `do`, or an expression is missing before it")),
            _ => Err(self.unexpected("an expression")),
        }
    }

    #[inline(never)]
    fn keyword_expr(&mut self, pos: Pos) -> Result<Expr, SyntaxError> {
        let mk = |kind| Ok(Expr { kind, pos });
        match self.peek().clone() {
            Tok::Fn => {
                self.bump();
                if let Tok::Ident(n) = self.peek() {
                    return Err(SyntaxError::new(
                        self.pos(),
                        format!("named function `{n}` defined inside an expression"),
                    )
                    .hint("define named functions at the top level; use `fn(x) -> ... end` here"));
                }
                self.expect(&Tok::LParen, "`(` after `fn`")?;
                let params = self.params()?;
                let guard = if self.eat(&Tok::When) {
                    Some(self.expr()?)
                } else {
                    None
                };
                if self.at(&Tok::Do) {
                    return Err(self
                        .unexpected("`->`")
                        .hint("anonymous functions are written `fn(x) -> body end`"));
                }
                self.expect(&Tok::Arrow, "`->`")?;
                let body = self.block()?;
                if self.at(&Tok::Else) || self.at(&Tok::After) {
                    return Err(self.unexpected("`end`"));
                }
                self.expect_end("fn", pos)?;
                if body.is_empty() {
                    return Err(SyntaxError::new(pos, "empty function body"));
                }
                mk(ExprKind::Fn(Box::new(FnClause {
                    name: String::new(),
                    params,
                    guard,
                    body,
                    pos,
                })))
            }
            Tok::Let => {
                self.bump();
                self.enter()?;
                let lhs = self.binary(5); // above `==`, so `let x == 1` gets a hint
                self.depth -= 1;
                let pat = to_pat(lhs?)?;
                if self.at(&Tok::EqEq) {
                    return Err(self.unexpected("`=`").hint("`let` binds with a single `=`"));
                }
                self.expect(&Tok::Assign, "`=` after the pattern")?;
                self.skip_newlines();
                let rhs = self.expr()?;
                mk(ExprKind::Let(pat, Box::new(rhs)))
            }
            Tok::If => {
                self.bump();
                let cond = self.expr()?;
                self.expect(&Tok::Do, "`do` after the `if` condition")?;
                let then = self.block()?;
                let els = if self.eat(&Tok::Else) {
                    Some(self.block()?)
                } else {
                    None
                };
                self.expect_end("if", pos)?;
                mk(ExprKind::If(Box::new(cond), then, els))
            }
            Tok::Case => {
                self.bump();
                let subject = self.expr()?;
                self.expect(&Tok::Do, "`do` after the `case` subject")?;
                let clauses = self.clauses("case")?;
                if clauses.is_empty() {
                    return Err(SyntaxError::new(pos, "`case` needs at least one clause")
                        .hint("write `pattern -> body` lines between `do` and `end`"));
                }
                self.expect_end("case", pos)?;
                mk(ExprKind::Case(Box::new(subject), clauses))
            }
            Tok::Receive => {
                self.bump();
                self.expect(&Tok::Do, "`do` after `receive`")?;
                let clauses = self.clauses("receive")?;
                let after = if self.eat(&Tok::After) {
                    let ms = self.expr()?;
                    self.expect(&Tok::Arrow, "`->` after the `after` timeout")?;
                    let body = self.block()?;
                    Some((Box::new(ms), body))
                } else {
                    None
                };
                if clauses.is_empty() && after.is_none() {
                    return Err(SyntaxError::new(pos, "`receive` needs a clause or `after`"));
                }
                self.expect_end("receive", pos)?;
                mk(ExprKind::Receive(clauses, after))
            }
            _ => Err(self.unexpected("an expression")),
        }
    }

    fn string(&mut self, parts: Vec<StrTok>, pos: Pos) -> Result<Expr, SyntaxError> {
        if let [StrTok::Lit(s)] = parts.as_slice() {
            return Ok(Expr {
                kind: ExprKind::Str(s.clone()),
                pos,
            });
        }
        let mut out = Vec::new();
        for part in parts {
            match part {
                StrTok::Lit(s) => out.push(StrPart::Lit(s)),
                StrTok::Code(toks) => {
                    let mut sub = Parser {
                        toks,
                        i: 0,
                        depth: self.depth + 1,
                    };
                    sub.skip_newlines();
                    let e = sub.expr()?;
                    sub.skip_newlines();
                    if !sub.at(&Tok::Eof) {
                        return Err(sub.unexpected("`}` closing the interpolation"));
                    }
                    out.push(StrPart::Code(e));
                }
            }
        }
        Ok(Expr {
            kind: ExprKind::Interp(out),
            pos,
        })
    }

    fn list(&mut self, pos: Pos) -> Result<Expr, SyntaxError> {
        self.list_inner(pos).map_err(|e| unclosed(e, pos, "`]`"))
    }

    fn list_inner(&mut self, pos: Pos) -> Result<Expr, SyntaxError> {
        let mut items = Vec::new();
        let mut tail = None;
        self.skip_newlines();
        if !self.eat(&Tok::RBracket) {
            loop {
                self.skip_newlines();
                items.push(self.expr()?);
                self.skip_newlines();
                if self.eat(&Tok::Pipe) {
                    self.skip_newlines();
                    tail = Some(Box::new(self.expr()?));
                    self.skip_newlines();
                    self.expect(&Tok::RBracket, "`]` after the list tail")?;
                    break;
                }
                if self.eat(&Tok::RBracket) {
                    break;
                }
                if !self.eat(&Tok::Comma) {
                    return Err(self.unexpected("`,`, `|` or `]`"));
                }
            }
        }
        Ok(Expr {
            kind: ExprKind::List(items, tail),
            pos,
        })
    }

    fn map(&mut self, pos: Pos) -> Result<Expr, SyntaxError> {
        let mut pairs = Vec::new();
        loop {
            self.skip_newlines();
            if self.eat(&Tok::RBrace) {
                break;
            }
            let kpos = self.pos();
            if let Tok::KwKey(k) = self.peek().clone() {
                self.bump();
                self.skip_newlines();
                let v = self.expr()?;
                pairs.push((
                    Expr {
                        kind: ExprKind::Atom(k),
                        pos: kpos,
                    },
                    v,
                ));
            } else {
                let k = self.expr()?;
                if self.at(&Tok::Pipe) {
                    return Err(
                        SyntaxError::new(self.pos(), "map update syntax is not supported")
                            .hint("use Map.put(map, key, value)"),
                    );
                }
                self.expect(&Tok::FatArrow, "`=>` after a map key")?;
                self.skip_newlines();
                let v = self.expr()?;
                pairs.push((k, v));
            }
            self.skip_newlines();
            if self.eat(&Tok::RBrace) {
                break;
            }
            if !self.eat(&Tok::Comma) {
                return Err(self.unexpected("`,` or `}`"));
            }
        }
        Ok(Expr {
            kind: ExprKind::Map(pairs),
            pos,
        })
    }

    /// `pattern [when guard] -> body` clauses up to `end` or `after`.
    fn clauses(&mut self, what: &str) -> Result<Vec<Clause>, SyntaxError> {
        let mut out = Vec::new();
        let mut pending: Option<Expr> = None;
        loop {
            self.skip_newlines();
            let head = match pending.take() {
                Some(h) => h,
                None => {
                    if self.at(&Tok::Eof) {
                        return Err(self.unexpected("a clause or `end`"));
                    }
                    if matches!(self.peek(), Tok::End | Tok::After) {
                        return Ok(out);
                    }
                    if self.at(&Tok::Else) {
                        return Err(SyntaxError::new(
                            self.pos(),
                            format!("`else` is not allowed in `{what}`"),
                        )
                        .hint("use a catch-all clause `_ -> ...`"));
                    }
                    self.expr()?
                }
            };
            let pat = to_pat(head)?;
            let guard = if self.eat(&Tok::When) {
                Some(self.expr()?)
            } else {
                None
            };
            if !self.at(&Tok::Arrow) {
                return Err(self
                    .unexpected("`->` after the clause pattern")
                    .hint(format!("`{what}` clauses are written `pattern -> body`")));
            }
            self.bump();
            let mut body = Vec::new();
            loop {
                self.skip_newlines();
                if matches!(self.peek(), Tok::End | Tok::After | Tok::Eof | Tok::Else) {
                    break;
                }
                let e = self.expr()?;
                if matches!(self.peek(), Tok::Arrow | Tok::When) && !body.is_empty() {
                    pending = Some(e);
                    break;
                }
                if matches!(self.peek(), Tok::Arrow | Tok::When) {
                    return Err(SyntaxError::new(e.pos, "empty clause body")
                        .hint("every `pattern ->` needs an expression after it"));
                }
                body.push(e);
                self.end_of_statement()?;
            }
            if body.is_empty() {
                return Err(self.unexpected("an expression after `->`"));
            }
            out.push(Clause { pat, guard, body });
        }
    }
}

/// Adds "the `(` at line N is not closed" to an error about a missing closing bracket
/// found on a later line than the opening one.
fn unclosed(e: SyntaxError, open: Pos, close: &str) -> SyntaxError {
    if e.hint.is_none() && e.pos.line > open.line && e.message.contains(close) {
        let opener = match close {
            "`)`" => "(",
            "`]`" => "[",
            _ => "{",
        };
        let h = format!(
            "the `{opener}` at line {} column {} is not closed",
            open.line, open.col
        );
        e.hint(h)
    } else {
        e
    }
}

/// `lhs |> f(args)` becomes `f(lhs, args)`.
fn pipe(lhs: Expr, rhs: Expr, op_pos: Pos) -> Result<Expr, SyntaxError> {
    match rhs.kind {
        ExprKind::Call(callee, mut args) => {
            args.insert(0, lhs);
            Ok(Expr {
                kind: ExprKind::Call(callee, args),
                pos: rhs.pos,
            })
        }
        ExprKind::Var(name) => Ok(Expr {
            kind: ExprKind::Call(Callee::Name(name), vec![lhs]),
            pos: rhs.pos,
        }),
        ExprKind::RemoteRef(m, f) => Ok(Expr {
            kind: ExprKind::Call(Callee::Remote(m, f), vec![lhs]),
            pos: rhs.pos,
        }),
        _ => Err(
            SyntaxError::new(op_pos, "the right side of `|>` must be a call")
                .hint("write `value |> f(other_args)`"),
        ),
    }
}

fn lit_of(e: &ExprKind) -> Option<Lit> {
    Some(match e {
        ExprKind::Int(n) => Lit::Int(*n),
        ExprKind::Float(x) => Lit::Float(*x),
        ExprKind::Str(s) => Lit::Str(s.clone()),
        ExprKind::Atom(a) => Lit::Atom(a.clone()),
        ExprKind::Bool(b) => Lit::Bool(*b),
        ExprKind::Nil => Lit::Nil,
        _ => return None,
    })
}

/// Converts an expression written where a pattern is expected.
pub(crate) fn to_pat(e: Expr) -> Result<Pat, SyntaxError> {
    let pos = e.pos;
    let kind = if let Some(l) = lit_of(&e.kind) {
        PatKind::Lit(l)
    } else {
        match e.kind {
            ExprKind::Var(v) if v.starts_with('_') => PatKind::Wild,
            ExprKind::Var(v) => PatKind::Var(v),
            ExprKind::Pin(v) => PatKind::Pin(v),
            ExprKind::Tuple(items) => {
                PatKind::Tuple(items.into_iter().map(to_pat).collect::<Result<_, _>>()?)
            }
            ExprKind::List(items, tail) => PatKind::List(
                items.into_iter().map(to_pat).collect::<Result<_, _>>()?,
                match tail {
                    Some(t) => Some(Box::new(to_pat(*t)?)),
                    None => None,
                },
            ),
            ExprKind::Map(pairs) => {
                let mut out = Vec::new();
                for (k, v) in pairs {
                    let Some(l) = lit_of(&k.kind) else {
                        return Err(SyntaxError::new(
                            k.pos,
                            "map keys in a pattern must be literals",
                        ));
                    };
                    out.push((l, to_pat(v)?));
                }
                PatKind::Map(out)
            }
            ExprKind::Binary(BinOp::Concat, l, r) => match l.kind {
                ExprKind::Str(s) => PatKind::StrPrefix(s, Box::new(to_pat(*r)?)),
                _ => {
                    return Err(SyntaxError::new(
                        l.pos,
                        "the left side of `<>` in a pattern must be a string literal",
                    ))
                }
            },
            ExprKind::Unary(UnOp::Neg, _) | ExprKind::Binary(..) => {
                return Err(
                    SyntaxError::new(pos, "operators are not allowed in patterns")
                        .hint("compute the value first, or compare it in a `when` guard"),
                )
            }
            ExprKind::Call(Callee::Name(_), _) | ExprKind::Call(..) => {
                return Err(SyntaxError::new(pos, "a call is not allowed in a pattern")
                    .hint("patterns are made of literals, variables, `_`, tuples, lists and maps"))
            }
            ExprKind::Interp(_) => {
                return Err(SyntaxError::new(
                    pos,
                    "string interpolation is not allowed in a pattern",
                ))
            }
            _ => {
                return Err(SyntaxError::new(pos, "this is not a valid pattern")
                    .hint("patterns are made of literals, variables, `_`, tuples, lists and maps"))
            }
        }
    };
    Ok(Pat { kind, pos })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(src: &str) -> Expr {
        match parse_items(src).unwrap().remove(0) {
            Item::Expr(e) => e,
            Item::Fn(_) => panic!("fn"),
        }
    }

    fn err(src: &str) -> SyntaxError {
        parse_items(src).unwrap_err()
    }

    fn sexp(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(n) => n.to_string(),
            ExprKind::Var(v) => v.clone(),
            ExprKind::Atom(a) => format!(":{a}"),
            ExprKind::Binary(op, a, b) => format!("({} {} {})", op.symbol(), sexp(a), sexp(b)),
            ExprKind::Unary(UnOp::Not, a) => format!("(not {})", sexp(a)),
            ExprKind::Unary(UnOp::Neg, a) => format!("(- {})", sexp(a)),
            ExprKind::Call(Callee::Name(n), args) => format!(
                "{n}({})",
                args.iter().map(sexp).collect::<Vec<_>>().join(", ")
            ),
            ExprKind::Call(Callee::Remote(m, n), args) => format!(
                "{m}.{n}({})",
                args.iter().map(sexp).collect::<Vec<_>>().join(", ")
            ),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn precedence() {
        assert_eq!(sexp(&expr("1 + 2 * 3")), "(+ 1 (* 2 3))");
        assert_eq!(sexp(&expr("a or b and c")), "(or a (and b c))");
        assert_eq!(sexp(&expr("not a == b")), "(not (== a b))");
        assert_eq!(sexp(&expr("a - b - c")), "(- (- a b) c)");
        assert_eq!(sexp(&expr("x rem 3 == 0")), "(== (rem x 3) 0)");
        assert_eq!(sexp(&expr("-x * 2")), "(* (- x) 2)");
        assert_eq!(
            sexp(&expr("a + 1 |> f(2) |> String.upcase()")),
            "String.upcase(f((+ a 1), 2))"
        );
        assert_eq!(sexp(&expr("x\n|> f()\n|> g")), "g(f(x))");
    }

    #[test]
    fn constructs() {
        let items =
            parse_items("fn f(0) do 1 end\nfn f(n) when n > 0 do\n  n * f(n - 1)\nend\nf(3)")
                .unwrap();
        assert_eq!(items.len(), 3);
        let e = expr("case x do\n {:ok, v} when v > 1 -> v\n  w\n _ -> 0\nend");
        let ExprKind::Case(_, clauses) = e.kind else {
            panic!()
        };
        assert_eq!(clauses.len(), 2);
        assert_eq!(clauses[0].body.len(), 2);
        assert!(clauses[0].guard.is_some());
        let e = expr("receive do\n  :a -> 1\nafter 100 -> 2\nend");
        assert!(matches!(e.kind, ExprKind::Receive(ref c, Some(_)) if c.len() == 1));
        let e = expr("%{\"k\" => 1, name: [1, 2 | t]}");
        assert!(matches!(e.kind, ExprKind::Map(ref p) if p.len() == 2));
        let e = expr("let {:ok, [h | _]} = f.(1)");
        assert!(matches!(e.kind, ExprKind::Let(..)));
        let e = expr("spawn(fn() ->\n  let x = 1\n  x\nend)");
        assert!(matches!(e.kind, ExprKind::Call(..)), "{e:?}");
        let e = expr("\"a#{x + 1}b\"");
        assert!(matches!(e.kind, ExprKind::Interp(ref p) if p.len() == 3));
        let e = expr("if a do 1 else 2 end");
        assert!(matches!(e.kind, ExprKind::If(_, _, Some(_))));
        let e = expr("req.path");
        assert!(matches!(e.kind, ExprKind::Field(..)));
        let e = expr("List.map(xs, String.upcase)");
        assert!(matches!(e.kind, ExprKind::Call(..)));
    }

    #[test]
    fn incomplete_input() {
        assert!(is_incomplete("fn f() do"));
        assert!(is_incomplete("case x do\n 1 -> 2"));
        assert!(is_incomplete("[1, 2,"));
        assert!(is_incomplete("\"abc"));
        assert!(is_incomplete("f(1,\n"));
        assert!(is_incomplete("receive do\n"));
        assert!(is_incomplete("receive do\n x -> x\n"));
        assert!(is_incomplete("case 1 do\n"));
        assert!(!is_incomplete("f(1)"));
        assert!(!is_incomplete("f(1))"));
    }

    #[test]
    fn error_forms() {
        let e = err("fn f() do\n  1 +\n");
        assert!(e.message.starts_with("unexpected end of input"), "{e}");

        let e = err("fn f() do\n  1\n");
        assert_eq!(e.message, "unexpected end of input, expected `end`");
        assert_eq!(
            e.hint.as_deref(),
            Some("the `do` at line 1 column 8 needs a matching `end`")
        );

        let e = err("if x do 1 else 2");
        assert!(e.hint.unwrap().contains("`if` at line 1"));

        let e = err("x = 1");
        assert_eq!(e.message, "unexpected `=`");
        assert!(e.hint.unwrap().contains("let"));

        let e = err("let f(x) = 1");
        assert_eq!(e.message, "a call is not allowed in a pattern");
        assert_eq!(e.pos, Pos { line: 1, col: 5 });

        let e = err("let x + 1 = 2");
        assert_eq!(e.message, "operators are not allowed in patterns");

        let e = err("let x = [1, 2\nf(x)");
        assert_eq!(
            e.hint.as_deref(),
            Some("the `[` at line 1 column 9 is not closed")
        );
        let e = err("f(1,\n  2\ng(3)");
        assert_eq!(
            e.hint.as_deref(),
            Some("the `(` at line 1 column 2 is not closed")
        );

        let e = err("f(1, 2");
        assert!(e.message.contains("expected `,` or `)`"), "{e}");

        let e = err("[1 2]");
        assert_eq!(e.message, "expected `,`, `|` or `]`, found number 2");
        assert_eq!(e.pos, Pos { line: 1, col: 4 });

        let e = err("fn f(x) -> x end");
        assert!(e.hint.unwrap().contains("do"));

        let e = err("fn(x) do x end");
        assert!(e.hint.unwrap().contains("->"));

        let e = err("case x do\n 1 2\nend");
        assert!(e.message.contains("expected `->`"), "{e}");

        let e = err("case x do\nend");
        assert_eq!(e.message, "`case` needs at least one clause");

        let e = err("case x do\n1 -> 2\nelse -> 3\nend");
        assert!(e.message.contains("`else` is not allowed"));

        let e = err("receive do\nend");
        assert!(e.message.contains("needs a clause"));

        let e = err("end");
        assert!(e.hint.unwrap().contains("no matching `do`"));

        let e = err("foo 1");
        assert!(e.message.contains("expected end of line"), "{e}");

        let e = err("Foo");
        assert!(e.hint.unwrap().contains("lowercase"));

        let e = err("x |> 1");
        assert!(e.message.contains("right side of `|>`"));

        let e = err("%{1 => 2, 3}");
        assert!(e.message.contains("`=>`"));

        let e = err("%{m | a: 1}");
        assert!(e.message.contains("map update"));

        let e = err("let %{x => 1} = m");
        assert!(e.message.contains("literals"));

        let e = err("fn f() do\n fn g() do 1 end\nend");
        assert!(e.message.contains("named function `g`"));

        let e = err("let x == 1");
        assert!(e.hint.unwrap().contains("single `=`"));

        let e = err("\"#{1 2}\"");
        assert!(e.message.contains("closing the interpolation"), "{e}");

        let e = err("let \"a#{x}\" = y");
        assert!(e.message.contains("interpolation is not allowed"));

        let e = err("Foo.1");
        assert!(e.message.contains("function name"));

        let e = err("x.1");
        assert!(e.message.contains("field name"));

        let e = parse_program("1 + 2").unwrap_err();
        assert!(e.hint.unwrap().contains("fn main()"));
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let src = "(".repeat(10_000);
        let e = err(&src);
        assert!(e.message.contains("nested too deeply"), "{e}");
        let src = "-".repeat(10_000);
        assert!(err(&src).message.contains("nested too deeply"));
        let src = "[".repeat(10_000);
        assert!(err(&src).message.contains("nested too deeply"));
        let src = "1".to_string() + &" + 1".repeat(10_000);
        assert!(err(&src).message.contains("nested too deeply"));
        let src = "1".to_string() + &" |> f()".repeat(10_000);
        assert!(err(&src).message.contains("nested too deeply"));
    }
}
