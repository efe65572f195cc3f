//! Runs every example of docs/language.md in one REPL session and checks that every native
//! function is documented there, so the reference cannot drift from the VM.
//!
//! In a ```tern block, `tern> ` starts an input line and `...> ` continues it; the lines
//! after an input are what it prints: its `IO` output, then its value (or the first line of
//! its error).

use std::sync::{Arc, Mutex};

use vm::{native_names, Env, Repl, ReplOutput};

fn doc() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/language.md");
    std::fs::read_to_string(path).expect("docs/language.md")
}

/// (input lines, expected output lines, line number in the document)
fn examples(doc: &str) -> Vec<(Vec<String>, Vec<String>, usize)> {
    let mut out = Vec::new();
    let mut in_block = false;
    for (no, line) in doc.lines().enumerate() {
        if line.starts_with("```") {
            in_block = line == "```tern";
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(input) = line.strip_prefix("tern> ") {
            out.push((vec![input.to_string()], Vec::new(), no + 1));
        } else if let Some(more) = line.strip_prefix("...> ") {
            let last: &mut (Vec<String>, Vec<String>, usize) =
                out.last_mut().expect("`...>` after `tern>`");
            last.0.push(more.to_string());
        } else if let Some(last) = out.last_mut() {
            last.1.push(line.to_string());
        }
    }
    out
}

#[test]
fn every_example_prints_what_the_document_says() {
    let doc = doc();
    let rt = scheduler::Runtime::new(scheduler::Config {
        workers: 2,
        ..Default::default()
    });
    let printed = Arc::new(Mutex::new(String::new()));
    let mut env = Env::new(rt.clone());
    let p = printed.clone();
    env.out = Arc::new(move |s: &str| p.lock().unwrap().push_str(s));
    env.on_crash = Arc::new(|_, _| {});
    let env = Arc::new(env);
    let mut repl = Repl::new(env.clone());
    let cases = examples(&doc);
    assert!(cases.len() > 50, "found {} examples", cases.len());
    let mut failures = Vec::new();
    for (inputs, expected, line) in cases {
        let mut got = String::new();
        for (i, input) in inputs.iter().enumerate() {
            let r = repl.feed(input);
            got.push_str(&std::mem::take(&mut *printed.lock().unwrap()));
            let last = i + 1 == inputs.len();
            match r {
                ReplOutput::More if !last => {}
                ReplOutput::Text(t) if last => {
                    got.push_str(&t);
                    got.push('\n');
                }
                ReplOutput::Error(e) if last => {
                    got.push_str(e.lines().next().unwrap_or(""));
                    got.push('\n');
                }
                ReplOutput::Nothing if last => {}
                other => {
                    got.push_str(&format!("<unexpected {other:?} after {input:?}>\n"));
                    break;
                }
            }
        }
        let want: String = expected.iter().map(|l| format!("{l}\n")).collect();
        if got != want {
            failures.push(format!(
                "docs/language.md:{line}: {}\n  expected: {want:?}\n  got:      {got:?}",
                inputs.join(" / ")
            ));
        }
    }
    vm::stop_servers(&env);
    rt.shutdown();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_native_function_is_documented() {
    let doc = doc();
    let mut missing: Vec<String> = native_names()
        .into_iter()
        .map(|n| n.rsplit_once('/').unwrap().0.to_string())
        .filter(|name| !doc.contains(&format!("{name}(")))
        .collect();
    missing.dedup();
    assert!(missing.is_empty(), "not in docs/language.md: {missing:?}");
}
