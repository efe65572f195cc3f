//! Loading programs and running `main()`: what `tern run` does.

use std::sync::{Arc, OnceLock};

use scheduler::Message;

use crate::compiler::Program;
use crate::error::Error;
use crate::parser::parse_program;
use crate::process::{Env, VmProcess};

const PRELUDE: &str = include_str!("prelude.tern");

/// The standard library's tern part, compiled once.
pub fn prelude() -> Arc<Program> {
    static P: OnceLock<Arc<Program>> = OnceLock::new();
    P.get_or_init(|| {
        let fns = parse_program(PRELUDE).expect("the prelude parses");
        Arc::new(
            Program::default()
                .define_with(fns, "prelude.tern", true)
                .expect("the prelude compiles"),
        )
    })
    .clone()
}

/// Parses and compiles a file's source on top of the prelude. Errors are rendered with
/// `file:line:col`, the line and a caret.
pub fn load(src: &str, file: &str) -> Result<Program, Error> {
    let syntax = |error: crate::SyntaxError| Error::Syntax {
        rendered: error.render(file, src),
        error,
    };
    let fns = parse_program(src).map_err(syntax)?;
    prelude().define(fns, file).map_err(syntax)
}

/// Reads and loads a file.
pub fn load_file(path: &str) -> Result<Program, Error> {
    let src = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_string(),
        message: e.to_string(),
    })?;
    load(&src, path)
}

/// How the main process ended (sent to the waiting thread).
pub(crate) struct MainExit(pub Result<(), Error>);

/// Runs `main()` as a process and waits until it ends. Returns its error if it crashed.
/// Other processes keep running (the caller decides when to stop the runtime).
pub fn run_main(env: Arc<Env>, prog: Arc<Program>) -> Result<(), Error> {
    if prog.function("main", 0).is_none() {
        return Err(Error::Runtime {
            reason: "the program has no `fn main() do ... end`".into(),
            trace: vec![],
        });
    }
    let (pid, mb) = env.runtime.mailbox();
    let mut p = VmProcess::call(env.clone(), prog, "main", Vec::new());
    p.report_to(pid);
    // The monitor catches a main killed by an exit signal (it cannot report then); set up
    // with the spawn, so even a main killed at once is seen with its real reason.
    let (main, _monitor) = mb.spawn_monitor(p);
    let is_main_down = |m: &Message| matches!(m, Message::Down { pid, .. } if *pid == main);
    let first = mb.recv_matching(|m: &Message| m.is::<MainExit>() || is_main_down(m), None);
    let reported = match first {
        Some(m) if m.is::<MainExit>() => Some(m),
        // a report sent just before the exit is already queued
        _ => mb.recv_matching(
            |m: &Message| m.is::<MainExit>(),
            Some(std::time::Instant::now()),
        ),
    };
    match reported.map(|m| m.downcast::<MainExit>()) {
        Some(Ok(MainExit(r))) => r,
        _ => Err(Error::Runtime {
            reason: "main was killed by an exit signal".into(),
            trace: vec![],
        }),
    }
}
