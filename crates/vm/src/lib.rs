//! The tern VM: a small Elixir-flavoured actor language whose processes are green actors of
//! the `scheduler` crate.
//!
//! Pipeline: `lexer` → `parser` (syntax tree in [`ast`]) → `compiler` (bytecode, table in
//! `opcode`) → `vm` (the dispatch loop), with processes in `process`, builtins in
//! `natives` (+ `prelude.tern`, `json`, `ws_natives`), and the entry points `tern run` and
//! `tern repl` use in `runner` and `repl`.

pub mod ast;
mod compiler;
mod error;
mod json;
mod lexer;
mod natives;
mod opcode;
mod parser;
mod process;
mod repl;
mod runner;
mod value;
mod vm;
mod ws_natives;

pub use compiler::{Program, Proto};
pub use error::{Error, SyntaxError};
pub use natives::native_names;
pub use parser::{is_incomplete, parse_items, parse_program};
pub use process::{CrashFn, Env, OutputFn, VmProcess};
pub use repl::{Repl, ReplOutput};
pub use runner::{load, load_file, prelude, run_main};
pub use value::{Atom, Fun, Handle, List, Ref, Value};
pub use vm::Limits;
pub use ws_natives::{stop_servers, wait_for_servers};
