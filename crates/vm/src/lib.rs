//! The tern VM: a small Elixir-flavoured actor language whose processes are green actors of
//! the `scheduler` crate.
//!
//! Pipeline: [`lexer`] → [`parser`] (syntax tree in [`ast`]) → compiler (bytecode) → VM.

pub mod ast;
mod error;
mod lexer;
mod parser;

pub use error::{Error, SyntaxError};
pub use parser::{is_incomplete, parse_items, parse_program};
