//! Replays the parser fuzz target's seeds (the test programs, the examples and
//! `fuzz/seeds/parser/`) through the target's own body, so `cargo test` keeps the target
//! compiling and its invariants holding without libFuzzer (the smoke run of
//! `docs/fuzzing.md`). The target file is compiled here unchanged: `libfuzzer_sys` below is
//! this test crate, whose `fuzz_target!` turns the target's closure into a plain function.

extern crate self as libfuzzer_sys;

use std::path::Path;

/// In a module of its own so the targets reach it only through their
/// `use libfuzzer_sys::fuzz_target;`, as they reach the real one.
mod shim {
    /// Stands in for `libfuzzer_sys::fuzz_target!`: `fuzz_target!(|data: &[u8]| body)`
    /// becomes `pub fn run(data: &[u8]) { body }`.
    #[macro_export]
    macro_rules! fuzz_target {
        (|$data:ident: &[u8]| $body:block) => {
            pub fn run($data: &[u8]) $body
        };
    }
}

#[allow(unused_attributes)] // the target's `#![no_main]`, meaningful only as a crate root
#[path = "../fuzz/fuzz_targets/parser.rs"]
mod parser;

/// Runs the target on every file of `dir` (relative to the crate) whose name ends in
/// `suffix`, and on each file's prefixes cut at every line end, and returns how many files
/// there were.
fn replay(dir: &str, suffix: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    for file in &files {
        let data = std::fs::read(file).expect("seed file");
        parser::run(&data);
        // Truncated programs: unfinished `do`, brackets and strings at every line.
        for (i, _) in data.iter().enumerate().filter(|(_, &b)| b == b'\n') {
            parser::run(&data[..i]);
        }
        eprintln!("ok {}", file.display());
    }
    files.len()
}

#[test]
fn test_programs() {
    assert!(replay("tests/programs", ".tern") > 0);
}

#[test]
fn examples() {
    assert!(replay("../../examples", ".tern") > 0);
}

#[test]
fn seeds() {
    assert!(replay("fuzz/seeds/parser", "") > 0);
}
