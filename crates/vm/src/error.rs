//! The crate's error type: syntax errors (with position, the offending line and a caret) and
//! errors from running a program (a reason and a trace of function names and lines).

use crate::ast::Pos;
use std::fmt;

/// A syntax or compile error at one position of one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong, in words.
    pub message: String,
    /// Where.
    pub pos: Pos,
    /// A suggestion, when one is obvious.
    pub hint: Option<String>,
}

impl SyntaxError {
    pub(crate) fn new(pos: Pos, message: impl Into<String>) -> Self {
        SyntaxError {
            message: message.into(),
            pos,
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Renders `file:line:col: message`, the offending line, a caret under the column and the
    /// hint, as a person reads it in a terminal.
    pub fn render(&self, file: &str, source: &str) -> String {
        let line_text = source
            .lines()
            .nth(self.pos.line.saturating_sub(1) as usize)
            .unwrap_or("");
        let gutter = format!("{} | ", self.pos.line);
        let mut out = format!(
            "{file}:{}:{}: error: {}\n{gutter}{line_text}\n{}^",
            self.pos.line,
            self.pos.col,
            self.message,
            " ".repeat(gutter.len() + self.pos.col.saturating_sub(1) as usize)
        );
        if let Some(h) = &self.hint {
            out.push_str("\nhint: ");
            out.push_str(h);
        }
        out
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SyntaxError {}

/// Everything that can go wrong loading or running tern code.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The source does not parse or compile; `rendered` is the full caret message.
    Syntax {
        /// The structured error.
        error: SyntaxError,
        /// `file:line:col`, line and caret, ready to print.
        rendered: String,
    },
    /// A process ended with an error.
    Runtime {
        /// The reason, in words (`bad argument: ...`).
        reason: String,
        /// Innermost first: `name (file:line)`.
        trace: Vec<String>,
    },
    /// A file could not be read.
    Io {
        /// The path.
        path: String,
        /// The OS error, in words.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Syntax { rendered, .. } => f.write_str(rendered),
            Error::Runtime { reason, trace } => {
                write!(f, "error: {reason}")?;
                for t in trace {
                    write!(f, "\n    at {t}")?;
                }
                Ok(())
            }
            Error::Io { path, message } => write!(f, "cannot read {path}: {message}"),
        }
    }
}

impl std::error::Error for Error {}
