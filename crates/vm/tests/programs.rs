//! Runs every `tests/programs/NAME.tern` and compares what it prints (and its crash
//! reports, and main's error) with `NAME.out`. Set `TERN_BLESS=1` to write the `.out` files.

use std::sync::{Arc, Mutex};

use vm::{load, run_main, Env};

fn run_program(path: &std::path::Path) -> String {
    let src = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let prog = match load(&src, &name) {
        Ok(p) => p,
        Err(e) => return format!("{e}\n"),
    };
    let rt = scheduler::Runtime::new(scheduler::Config {
        workers: 2,
        ..Default::default()
    });
    let out = Arc::new(Mutex::new(String::new()));
    let mut env = Env::new(rt.clone());
    let o = out.clone();
    env.out = Arc::new(move |s: &str| o.lock().unwrap().push_str(s));
    let o = out.clone();
    env.on_crash = Arc::new(move |_pid, e| {
        let mut o = o.lock().unwrap();
        o.push_str(&e.to_string());
        o.push('\n');
    });
    env.argv = vec!["a1".into(), "a2".into()];
    let r = run_main(Arc::new(env), Arc::new(prog));
    rt.shutdown();
    let mut s = out.lock().unwrap().clone();
    if r.is_err() {
        s.push_str("main failed\n");
    }
    s
}

#[test]
fn programs_print_what_they_should() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tern"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    let bless = std::env::var_os("TERN_BLESS").is_some();
    let mut failures = Vec::new();
    for p in &paths {
        let got = run_program(p);
        let out_path = p.with_extension("out");
        if bless {
            std::fs::write(&out_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&out_path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "--- {}\n--- expected:\n{want}--- got:\n{got}",
                p.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
