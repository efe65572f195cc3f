//! The runtime suites: every `runtime-tests/<area>/<case>.tern` program runs under the real
//! `tern` binary (`tern run`), and every `<case>.repl` script is piped into `tern repl`; the
//! output must equal `<case>.out` exactly. Adding a case is adding two files.
//!
//! - A case may start with a line `# exit: N` (expected exit status, default 0) and a line
//!   `# timeout: S` (deadline in seconds, default 30). A case over its deadline is killed and fails.
//! - An optional `<case>.err` holds the exact expected stderr (errors, REPL diagnostics);
//!   without it, stderr is not compared.
//! - For a `.repl` case the header lines are not piped into the REPL.
//! - Files with other endings (`NAME.tern.pending`: a known failure described at its top;
//!   `NAME.tern.lib`: a file a case loads) are not cases.
//! - On failure the report shows a line diff (expected `-`, actual `+`) and the program's stderr.
//! - The binary is `$TERN_BIN`, or `tern` beside this test's target directory (`make test` builds
//!   it first; `cargo build -p vm --bin tern` does too).
//! - One case: `cargo test -p runtime-tests --test suites -- ws/echo`; one area: `-- ws/`.

use libtest_mimic::{Arguments, Failed, Trial};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tern = tern_binary();
    let mut trials = Vec::new();
    let mut areas: Vec<PathBuf> = read_dir_sorted(root)
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    areas.retain(|p| {
        !matches!(
            name_of(p).as_str(),
            "tests" | "python" | "browser" | "target"
        )
    });
    for area in areas {
        for case in read_dir_sorted(&area) {
            let kind = match case.extension().and_then(|e| e.to_str()) {
                Some("tern") => Kind::Program,
                Some("repl") => Kind::Repl,
                _ => continue,
            };
            let name = format!(
                "{}/{}",
                name_of(&area),
                case.file_stem().unwrap().to_string_lossy()
            );
            let tern = tern.clone();
            trials.push(Trial::test(name, move || run_case(&tern, &case, kind)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

#[derive(Clone, Copy)]
enum Kind {
    Program,
    Repl,
}

fn tern_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("TERN_BIN") {
        return PathBuf::from(bin);
    }
    // This test runs from <target>/<profile>/deps/suites-HASH; tern is <target>/<profile>/tern.
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("tern")
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn header_line(line: &str) -> bool {
    let l = line.trim_start_matches('#').trim_start();
    line.starts_with('#') && (l.starts_with("exit:") || l.starts_with("timeout:"))
}

/// `# key: value` header lines at the top of a case.
fn header(source: &str, key: &str) -> Option<String> {
    source
        .lines()
        .take_while(|l| header_line(l))
        .find_map(|l| {
            l.strip_prefix('#')?
                .trim()
                .strip_prefix(key)?
                .strip_prefix(':')
        })
        .map(|v| v.trim().to_string())
}

fn run_case(tern: &Path, case: &Path, kind: Kind) -> Result<(), Failed> {
    if !tern.exists() {
        return Err(format!(
            "no tern binary at {} (run `cargo build -p vm --bin tern`)",
            tern.display()
        )
        .into());
    }
    let source = std::fs::read_to_string(case).map_err(|e| format!("{}: {e}", case.display()))?;
    let expected_path = case.with_extension("out");
    let expected = std::fs::read_to_string(&expected_path)
        .map_err(|e| format!("{}: {e}", expected_path.display()))?;
    let want_status: i32 = header(&source, "exit")
        .map_or(Ok(0), |v| v.parse())
        .map_err(|e| format!("bad `# exit:` header: {e}"))?;
    let timeout = header(&source, "timeout")
        .map(|v| v.parse::<u64>().map(Duration::from_secs))
        .transpose()
        .map_err(|e| format!("bad `# timeout:` header: {e}"))?
        .unwrap_or(DEFAULT_TIMEOUT);

    let mut cmd = Command::new(tern);
    cmd.current_dir(case.parent().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match kind {
        Kind::Program => {
            cmd.arg("run")
                .arg(case.file_name().unwrap())
                .stdin(Stdio::null());
        }
        Kind::Repl => {
            cmd.arg("repl").stdin(Stdio::piped());
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", tern.display()))?;
    if let Kind::Repl = kind {
        // Written from a thread so a REPL that answers before reading everything cannot deadlock us.
        let mut stdin = child.stdin.take().unwrap();
        let input: String = source
            .split_inclusive('\n')
            .skip_while(|l| header_line(l))
            .collect();
        std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
    }
    // Wait for the program to close its output (it exits), under the deadline: no polling.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let mut out_pipe = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        let _ = done_tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    let stderr = drain(child.stderr.take().unwrap());
    let (status, out) = match done_rx.recv_timeout(timeout) {
        Ok(out) => (child.wait().ok(), out),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            (None, done_rx.recv().unwrap_or_default())
        }
    };
    let err = stderr.join().unwrap_or_default();
    let mut problems = Vec::new();
    match status {
        None => problems.push(format!("killed after its deadline of {timeout:?}")),
        Some(s) if s.code() != Some(want_status) => {
            problems.push(format!("exit status {s}, expected {want_status}"))
        }
        Some(_) => {}
    }
    if out != expected {
        problems.push(format!(
            "output differs (- expected, + actual):\n{}",
            diff(&expected, &out)
        ));
    }
    if let Ok(expected_err) = std::fs::read_to_string(case.with_extension("err")) {
        if err != expected_err {
            problems.push(format!(
                "stderr differs (- expected, + actual):\n{}",
                diff(&expected_err, &err)
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!("{}\n--- stderr ---\n{}", problems.join("\n"), err).into())
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn diff(expected: &str, actual: &str) -> String {
    let d = similar::TextDiff::from_lines(expected, actual);
    let mut s = String::new();
    for change in d.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        s.push(sign);
        s.push_str(change.as_str().unwrap_or(""));
        if !change.as_str().unwrap_or("").ends_with('\n') {
            s.push_str("\n\\ no newline\n");
        }
    }
    s
}
