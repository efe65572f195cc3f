//! Source text to tokens.
//!
//! Newlines are tokens (they separate expressions); the parser skips them where an expression
//! cannot end. A string with `#{...}` is lexed into parts whose code is lexed recursively, so
//! positions inside interpolations are exact. Limits: nesting of interpolations is bounded by
//! [`MAX_NESTING`] so hostile input cannot exhaust the Rust stack.

use crate::ast::Pos;
use crate::error::SyntaxError;

/// How deep `#{ "#{ ... }" }` may nest.
pub(crate) const MAX_NESTING: usize = 32;

/// A token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Int(i64),
    Float(f64),
    /// A string: literal parts and interpolated token streams.
    Str(Vec<StrTok>),
    Atom(String),
    /// `lowercase_name` (may end with `?` or `!`).
    Ident(String),
    /// `Uppercase` module name.
    Module(String),
    /// `name:` as a map key.
    KwKey(String),
    // keywords
    Fn,
    Do,
    End,
    Let,
    If,
    Else,
    Case,
    When,
    Receive,
    After,
    True,
    False,
    Nil,
    And,
    Or,
    Not,
    Rem,
    // punctuation
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    /// `%{`
    MapOpen,
    Comma,
    Dot,
    Pipe,
    Caret,
    Assign,
    Arrow,
    FatArrow,
    PipeOp,
    Plus,
    Minus,
    Star,
    Slash,
    Concat,
    EqEq,
    NotEq,
    Lt,
    Gt,
    Le,
    Ge,
    Newline,
    Eof,
}

/// A part of a string token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum StrTok {
    Lit(String),
    Code(Vec<Token>),
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Int(n) => format!("number {n}"),
            Tok::Float(x) => format!("number {x}"),
            Tok::Str(_) => "a string".into(),
            Tok::Atom(a) => format!("atom :{a}"),
            Tok::Ident(s) => format!("name `{s}`"),
            Tok::Module(s) => format!("module name `{s}`"),
            Tok::KwKey(s) => format!("key `{s}:`"),
            Tok::Newline => "end of line".into(),
            Tok::Eof => "end of input".into(),
            other => format!("`{}`", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::Fn => "fn",
            Tok::Do => "do",
            Tok::End => "end",
            Tok::Let => "let",
            Tok::If => "if",
            Tok::Else => "else",
            Tok::Case => "case",
            Tok::When => "when",
            Tok::Receive => "receive",
            Tok::After => "after",
            Tok::True => "true",
            Tok::False => "false",
            Tok::Nil => "nil",
            Tok::And => "and",
            Tok::Or => "or",
            Tok::Not => "not",
            Tok::Rem => "rem",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::MapOpen => "%{",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::Pipe => "|",
            Tok::Caret => "^",
            Tok::Assign => "=",
            Tok::Arrow => "->",
            Tok::FatArrow => "=>",
            Tok::PipeOp => "|>",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Concat => "<>",
            Tok::EqEq => "==",
            Tok::NotEq => "!=",
            Tok::Lt => "<",
            Tok::Gt => ">",
            Tok::Le => "<=",
            Tok::Ge => ">=",
            _ => "?",
        }
    }
}

fn keyword(s: &str) -> Option<Tok> {
    Some(match s {
        "fn" => Tok::Fn,
        "do" => Tok::Do,
        "end" => Tok::End,
        "let" => Tok::Let,
        "if" => Tok::If,
        "else" => Tok::Else,
        "case" => Tok::Case,
        "when" => Tok::When,
        "receive" => Tok::Receive,
        "after" => Tok::After,
        "true" => Tok::True,
        "false" => Tok::False,
        "nil" => Tok::Nil,
        "and" => Tok::And,
        "or" => Tok::Or,
        "not" => Tok::Not,
        "rem" => Tok::Rem,
        _ => return None,
    })
}

struct Lexer<'a> {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    depth: usize,
    _src: &'a str,
}

/// Lexes a whole source into tokens ending with `Eof`.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
        depth: 0,
        _src: src,
    };
    let mut out = lx.tokens(false)?;
    let pos = lx.pos();
    out.push(Token { tok: Tok::Eof, pos });
    Ok(out)
}

fn ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Lexer<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.i).copied()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    /// Lexes until end of input, or (inside an interpolation) until the matching `}`.
    fn tokens(&mut self, interp: bool) -> Result<Vec<Token>, SyntaxError> {
        let mut out: Vec<Token> = Vec::new();
        let mut braces = 0usize;
        loop {
            let pos = self.pos();
            let Some(c) = self.peek() else {
                if interp {
                    return Err(SyntaxError::new(pos, "unterminated `#{` in string")
                        .hint("close the interpolation with `}` and the string with `\"`"));
                }
                return Ok(out);
            };
            let tok = match c {
                ' ' | '\t' | '\r' => {
                    self.bump();
                    continue;
                }
                '#' if !interp || self.peek_at(1) != Some('{') => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                    continue;
                }
                '\n' => {
                    self.bump();
                    Tok::Newline
                }
                ';' => {
                    self.bump();
                    Tok::Newline
                }
                '"' => self.string(pos)?,
                '0'..='9' => self.number(pos)?,
                ':' if self.peek_at(1).is_some_and(ident_start) => {
                    self.bump();
                    Tok::Atom(self.word())
                }
                ':' if self.peek_at(1) == Some('"') => {
                    self.bump();
                    let s = self.string(pos)?;
                    match s {
                        Tok::Str(parts) if parts.iter().all(|p| matches!(p, StrTok::Lit(_))) => {
                            Tok::Atom(
                                parts
                                    .into_iter()
                                    .map(|p| match p {
                                        StrTok::Lit(s) => s,
                                        StrTok::Code(_) => String::new(),
                                    })
                                    .collect(),
                            )
                        }
                        _ => {
                            return Err(SyntaxError::new(
                                pos,
                                "a quoted atom cannot contain `#{}` interpolation",
                            ))
                        }
                    }
                }
                c if ident_start(c) => {
                    let w = self.word();
                    if self.peek() == Some(':')
                        && self.peek_at(1) != Some(':')
                        && c.is_lowercase() | (c == '_')
                        && self.peek_at(1).map_or(true, |n| n.is_whitespace())
                    {
                        self.bump();
                        Tok::KwKey(w)
                    } else if let Some(k) = keyword(&w) {
                        k
                    } else if c.is_uppercase() {
                        Tok::Module(w)
                    } else {
                        Tok::Ident(w)
                    }
                }
                _ => self.punct(pos, interp, &mut braces)?,
            };
            if tok == Tok::Eof {
                // the `}` closing an interpolation
                return Ok(out);
            }
            out.push(Token { tok, pos });
        }
    }

    fn word(&mut self) -> String {
        let mut w = String::new();
        while let Some(c) = self.peek() {
            if ident_char(c) {
                w.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if let Some(c @ ('?' | '!')) = self.peek() {
            if self.peek_at(1) != Some('=') {
                w.push(c);
                self.bump();
            }
        }
        w
    }

    fn punct(&mut self, pos: Pos, interp: bool, braces: &mut usize) -> Result<Tok, SyntaxError> {
        let c = self.bump().unwrap_or(' ');
        let n = self.peek();
        let two = |lx: &mut Self, t: Tok| {
            lx.bump();
            Ok(t)
        };
        match (c, n) {
            ('-', Some('>')) => two(self, Tok::Arrow),
            ('=', Some('>')) => two(self, Tok::FatArrow),
            ('=', Some('=')) => two(self, Tok::EqEq),
            ('!', Some('=')) => two(self, Tok::NotEq),
            ('<', Some('=')) => two(self, Tok::Le),
            ('>', Some('=')) => two(self, Tok::Ge),
            ('<', Some('>')) => two(self, Tok::Concat),
            ('|', Some('>')) => two(self, Tok::PipeOp),
            ('%', Some('{')) => two(self, Tok::MapOpen),
            ('(', _) => Ok(Tok::LParen),
            (')', _) => Ok(Tok::RParen),
            ('[', _) => Ok(Tok::LBracket),
            (']', _) => Ok(Tok::RBracket),
            ('{', _) => {
                *braces += 1;
                Ok(Tok::LBrace)
            }
            ('}', _) => {
                if interp && *braces == 0 {
                    return Ok(Tok::Eof);
                }
                *braces = braces.saturating_sub(1);
                Ok(Tok::RBrace)
            }
            (',', _) => Ok(Tok::Comma),
            ('.', _) => Ok(Tok::Dot),
            ('|', Some('|')) => Err(SyntaxError::new(pos, "unexpected `||`").hint("use `or`")),
            ('|', _) => Ok(Tok::Pipe),
            ('^', _) => Ok(Tok::Caret),
            ('=', _) => Ok(Tok::Assign),
            ('+', _) => Ok(Tok::Plus),
            ('-', _) => Ok(Tok::Minus),
            ('*', _) => Ok(Tok::Star),
            ('/', _) => Ok(Tok::Slash),
            ('<', _) => Ok(Tok::Lt),
            ('>', _) => Ok(Tok::Gt),
            ('!', _) => Err(SyntaxError::new(pos, "unexpected character `!`")
                .hint("use `not x` for negation and `!=` for inequality")),
            ('&', Some('&')) => Err(SyntaxError::new(pos, "unexpected `&&`").hint("use `and`")),
            ('\'', _) => Err(SyntaxError::new(pos, "unexpected character `'`")
                .hint("strings use double quotes: \"text\"")),
            (c, _) => Err(SyntaxError::new(
                pos,
                format!("unexpected character `{}`", c.escape_default()),
            )),
        }
    }

    fn number(&mut self, pos: Pos) -> Result<Tok, SyntaxError> {
        let mut s = String::new();
        let mut float = false;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                s.push(c);
            } else if c == '_' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
            } else if c == '.' && !float && self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) {
                float = true;
                s.push(c);
            } else if (c == 'e' || c == 'E') && float {
                s.push(c);
                self.bump();
                if let Some(sign @ ('+' | '-')) = self.peek() {
                    s.push(sign);
                    self.bump();
                }
                continue;
            } else {
                break;
            }
            self.bump();
        }
        if self.peek().is_some_and(ident_start) {
            return Err(
                SyntaxError::new(self.pos(), "unexpected letter after a number")
                    .hint("names cannot start with a digit"),
            );
        }
        if float {
            s.parse::<f64>()
                .map(Tok::Float)
                .map_err(|_| SyntaxError::new(pos, format!("invalid float literal `{s}`")))
        } else {
            s.parse::<i64>().map(Tok::Int).map_err(|_| {
                SyntaxError::new(pos, format!("integer literal `{s}` is too large"))
                    .hint("integers are 64-bit: at most 9223372036854775807")
            })
        }
    }

    fn string(&mut self, pos: Pos) -> Result<Tok, SyntaxError> {
        self.bump(); // opening quote
        let mut parts = Vec::new();
        let mut lit = String::new();
        loop {
            let here = self.pos();
            let Some(c) = self.bump() else {
                return Err(
                    SyntaxError::new(pos, "unterminated string").hint("add the closing `\"`")
                );
            };
            match c {
                '"' => break,
                '\\' => {
                    let e = self.bump();
                    match e {
                        Some('n') => lit.push('\n'),
                        Some('t') => lit.push('\t'),
                        Some('r') => lit.push('\r'),
                        Some('0') => lit.push('\0'),
                        Some('\\') => lit.push('\\'),
                        Some('"') => lit.push('"'),
                        Some('#') => lit.push('#'),
                        Some('u') => lit.push(self.unicode_escape(here)?),
                        Some(other) => {
                            return Err(SyntaxError::new(
                                here,
                                format!("unknown escape `\\{}` in string", other.escape_default()),
                            )
                            .hint("known escapes: \\n \\t \\r \\0 \\\\ \\\" \\# \\u{XXXX}"))
                        }
                        None => {
                            return Err(SyntaxError::new(pos, "unterminated string")
                                .hint("add the closing `\"`"))
                        }
                    }
                }
                '#' if self.peek() == Some('{') => {
                    self.bump();
                    if self.depth >= MAX_NESTING {
                        return Err(SyntaxError::new(here, "interpolation nested too deeply"));
                    }
                    if !lit.is_empty() {
                        parts.push(StrTok::Lit(std::mem::take(&mut lit)));
                    }
                    self.depth += 1;
                    let mut toks = self.tokens(true)?;
                    self.depth -= 1;
                    if toks.iter().all(|t| t.tok == Tok::Newline) {
                        return Err(SyntaxError::new(here, "empty interpolation `#{}`"));
                    }
                    let end = self.pos();
                    toks.push(Token {
                        tok: Tok::Eof,
                        pos: end,
                    });
                    parts.push(StrTok::Code(toks));
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() || parts.is_empty() {
            parts.push(StrTok::Lit(lit));
        }
        Ok(Tok::Str(parts))
    }

    fn unicode_escape(&mut self, pos: Pos) -> Result<char, SyntaxError> {
        let bad = || SyntaxError::new(pos, "invalid unicode escape").hint("write it as \\u{1F600}");
        if self.bump() != Some('{') {
            return Err(bad());
        }
        let mut hex = String::new();
        loop {
            match self.bump() {
                Some('}') => break,
                Some(c) if c.is_ascii_hexdigit() && hex.len() < 6 => hex.push(c),
                _ => return Err(bad()),
            }
        }
        u32::from_str_radix(&hex, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn err(s: &str) -> SyntaxError {
        lex(s).unwrap_err()
    }

    #[test]
    fn basic_tokens() {
        assert_eq!(
            toks("let x = 1 + 2.5 # c\n:ok"),
            vec![
                Tok::Let,
                Tok::Ident("x".into()),
                Tok::Assign,
                Tok::Int(1),
                Tok::Plus,
                Tok::Float(2.5),
                Tok::Newline,
                Tok::Atom("ok".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("%{name: 1} |> <> -> => == != <= >= Foo.bar?"),
            vec![
                Tok::MapOpen,
                Tok::KwKey("name".into()),
                Tok::Int(1),
                Tok::RBrace,
                Tok::PipeOp,
                Tok::Concat,
                Tok::Arrow,
                Tok::FatArrow,
                Tok::EqEq,
                Tok::NotEq,
                Tok::Le,
                Tok::Ge,
                Tok::Module("Foo".into()),
                Tok::Dot,
                Tok::Ident("bar?".into()),
                Tok::Eof
            ]
        );
        assert_eq!(toks("1_000"), vec![Tok::Int(1000), Tok::Eof]);
    }

    #[test]
    fn strings_and_interpolation() {
        assert_eq!(
            toks(r#""a\n\"b\u{41}""#),
            vec![Tok::Str(vec![StrTok::Lit("a\n\"bA".into())]), Tok::Eof]
        );
        let t = lex(r##""x#{1 + "#{2}"}y""##).unwrap();
        let Tok::Str(parts) = &t[0].tok else { panic!() };
        assert_eq!(parts.len(), 3);
        assert!(matches!(&parts[1], StrTok::Code(c) if c.len() == 4));
        assert_eq!(parts[2], StrTok::Lit("y".into()));
        // braces inside interpolation
        let t = lex(r##""#{ {1, 2} }""##).unwrap();
        let Tok::Str(parts) = &t[0].tok else { panic!() };
        assert!(matches!(&parts[0], StrTok::Code(c) if c.len() == 6));
    }

    #[test]
    fn error_forms() {
        let e = err("\"abc");
        assert_eq!(e.message, "unterminated string");
        assert_eq!(e.pos, Pos { line: 1, col: 1 });
        assert!(e.hint.is_some());

        let e = err("\"a\\q\"");
        assert!(e.message.contains("unknown escape `\\q`"), "{}", e.message);
        assert_eq!(e.pos, Pos { line: 1, col: 3 });

        let e = err("x = \"#{1 + 2\"");
        assert!(e.message.contains("unterminated"), "{}", e.message);

        let e = err("99999999999999999999");
        assert!(e.message.contains("too large"));

        let e = err("let a = 1\n  x $ 2");
        assert_eq!(e.message, "unexpected character `$`");
        assert_eq!(e.pos, Pos { line: 2, col: 5 });

        let e = err("a && b");
        assert!(e.hint.as_deref() == Some("use `and`"));
        let e = err("'x'");
        assert!(e.hint.unwrap().contains("double quotes"));
        let e = err("!x");
        assert!(e.hint.unwrap().contains("not x"));
        let e = err("12abc");
        assert!(e.message.contains("letter after a number"));
        let e = err("\"\\u{zz}\"");
        assert_eq!(e.message, "invalid unicode escape");
        let e = err("\"#{}\"");
        assert_eq!(e.message, "empty interpolation `#{}`");
        let e = err(":\"a#{1}\"");
        assert!(e.message.contains("quoted atom"));
    }

    #[test]
    fn deep_interpolation_is_an_error_not_a_crash() {
        let mut s = String::new();
        for _ in 0..100 {
            s.push_str("\"#{");
        }
        let e = err(&s);
        assert!(e.message.contains("nested too deeply"), "{}", e.message);
    }

    #[test]
    fn render_has_caret() {
        let e = err("let a = 1\n  x $ 2");
        let r = e.render("t.tern", "let a = 1\n  x $ 2");
        assert_eq!(
            r,
            "t.tern:2:5: error: unexpected character `$`\n2 |   x $ 2\n        ^"
        );
    }
}
