//! `tern run FILE [ARGS...]` and `tern repl`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use vm::{load_file, run_main, Env, Repl, ReplOutput};

const USAGE: &str = "usage: tern run FILE [ARGS...]\n       tern repl";

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") if args.len() >= 2 => run(&args[1], args[2..].to_vec()),
        Some("repl") => repl(),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn env(rt: &scheduler::Runtime) -> Env {
    let mut env = Env::new(rt.clone());
    env.on_crash = Arc::new(|pid, e| eprintln!("** process {pid} crashed\n{e}"));
    env
}

fn run(path: &str, argv: Vec<String>) -> ExitCode {
    let prog = match load_file(path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let signals = block_stop_signals();
    let rt = scheduler::Runtime::new(scheduler::Config::default());
    let mut env = env(&rt);
    env.argv = argv;
    let env = Arc::new(env);
    if let Some(set) = signals {
        let env = env.clone();
        let _ = std::thread::Builder::new()
            .name("tern-signals".into())
            .spawn(move || {
                let sig = wait_signal(&set);
                log::info!("signal {sig}: stopping the servers");
                vm::stop_servers(&env);
                std::process::exit(0);
            });
    }
    let r = run_main(env.clone(), Arc::new(prog));
    let code = match r {
        Ok(()) => {
            vm::wait_for_servers(&env);
            ExitCode::SUCCESS
        }
        Err(e) => {
            vm::stop_servers(&env);
            if !matches!(e, vm::Error::Runtime { ref trace, .. } if !trace.is_empty()) {
                eprintln!("{e}");
            }
            ExitCode::from(1)
        }
    };
    rt.shutdown();
    code
}

fn repl() -> ExitCode {
    let rt = scheduler::Runtime::new(scheduler::Config::default());
    let env = Arc::new(env(&rt));
    let mut repl = Repl::new(env.clone());
    let tty = std::io::stdin().is_terminal();
    let handle = |line: &str, repl: &mut Repl| -> bool {
        match repl.feed(line) {
            ReplOutput::Text(t) => println!("{t}"),
            ReplOutput::Error(e) => eprintln!("{e}"),
            ReplOutput::Quit => return false,
            _ => {}
        }
        true
    };
    if tty {
        repl.set_interrupt(install_interrupt());
        let Ok(mut rl) = rustyline::DefaultEditor::new() else {
            eprintln!("cannot open the terminal");
            return ExitCode::from(1);
        };
        let history =
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".tern_history"));
        if let Some(h) = &history {
            let _ = rl.load_history(h);
        }
        println!("tern repl — :help for help, :quit to leave");
        loop {
            let prompt = if repl.continuing() { "...> " } else { "tern> " };
            match rl.readline(prompt) {
                Ok(line) => {
                    let _ = rl.add_history_entry(line.as_str());
                    // line editing may have put its own SIGINT handler in place
                    install_interrupt();
                    if !handle(&line, &mut repl) {
                        break;
                    }
                }
                Err(rustyline::error::ReadlineError::Interrupted) => continue,
                Err(_) => break,
            }
        }
        if let Some(h) = &history {
            let _ = rl.save_history(h);
        }
    } else {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match std::io::BufRead::read_line(&mut stdin.lock(), &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if !handle(line.trim_end_matches(['\n', '\r']), &mut repl) {
                        break;
                    }
                }
            }
        }
    }
    vm::stop_servers(&env);
    rt.shutdown();
    ExitCode::SUCCESS
}

/// Blocks SIGINT and SIGTERM in this thread and so in every thread started after it, so that
/// one thread can take them with `sigwait` and stop the servers gracefully (close 1001).
fn block_stop_signals() -> Option<libc::sigset_t> {
    // SAFETY: `set` is a plain C struct initialised by sigemptyset before use; the calls only
    // read and write it and this thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        if libc::sigemptyset(&mut set) != 0
            || libc::sigaddset(&mut set, libc::SIGINT) != 0
            || libc::sigaddset(&mut set, libc::SIGTERM) != 0
            || libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0
        {
            return None;
        }
        Some(set)
    }
}

/// Waits for one of the blocked signals.
fn wait_signal(set: &libc::sigset_t) -> i32 {
    let mut sig: libc::c_int = 0;
    loop {
        // SAFETY: `set` is a valid, initialised signal set; `sig` is a valid out pointer.
        let r = unsafe { libc::sigwait(set, &mut sig) };
        if r == 0 {
            return sig;
        }
    }
}

/// Set by SIGINT while the REPL evaluates (line editing reads Ctrl-C as a key instead).
static INTERRUPT: std::sync::OnceLock<Arc<std::sync::atomic::AtomicBool>> =
    std::sync::OnceLock::new();

extern "C" fn on_sigint(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    if let Some(f) = INTERRUPT.get() {
        f.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Makes Ctrl-C interrupt a running REPL evaluation instead of killing the REPL.
fn install_interrupt() -> Arc<std::sync::atomic::AtomicBool> {
    let flag = INTERRUPT
        .get_or_init(|| Arc::new(std::sync::atomic::AtomicBool::new(false)))
        .clone();
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: the handler only performs an atomic store on a flag that lives for the whole
    // program (a static), which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
    flag
}
