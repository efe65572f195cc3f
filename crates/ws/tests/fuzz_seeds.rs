//! Replays every committed fuzz seed through the fuzz targets' own bodies, so `cargo test`
//! keeps the targets compiling and their invariants holding without libFuzzer (the smoke run
//! of `docs/fuzzing.md`). The target files are compiled here unchanged: `libfuzzer_sys` below
//! is this test crate, whose `fuzz_target!` turns the target's closure into a plain function.

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

// `allow`: the targets' `#![no_main]` is meaningful only in a crate root.
#[allow(unused_attributes)]
#[path = "../fuzz/fuzz_targets/fragments.rs"]
mod fragments;
#[allow(unused_attributes)]
#[path = "../fuzz/fuzz_targets/frame_decoder.rs"]
mod frame_decoder;
#[allow(unused_attributes)]
#[path = "../fuzz/fuzz_targets/handshake.rs"]
mod handshake;

/// Runs `run` on every file of `dir` (relative to the crate) and returns how many there were.
fn replay(dir: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    files.sort();
    for file in &files {
        let data = std::fs::read(file).expect("seed file");
        // Every prefix too: the targets must hold on truncated input, and this is cheap.
        for end in 0..=data.len() {
            run(&data[..end]);
        }
        eprintln!("ok {}", file.display());
    }
    files.len()
}

#[test]
fn frame_decoder_seeds() {
    assert!(replay("fuzz/seeds/frame_decoder", frame_decoder::run) > 0);
}

#[test]
fn handshake_seeds() {
    assert!(replay("fuzz/seeds/handshake", handshake::run) > 0);
}

#[test]
fn fragments_seeds() {
    assert!(replay("fuzz/seeds/fragments", fragments::run) > 0);
}
