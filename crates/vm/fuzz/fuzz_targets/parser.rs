//! The tern parser (`parse_items`, `parse_program`, `is_incomplete`) on arbitrary text, and the
//! compiler on whatever parses (`Program::define` for the functions, `compile_repl` for the
//! top-level expressions, as the REPL does).
//! Invariants: no panic and no stack overflow; the three parse entry points agree; every error
//! is positioned on a line of the source (or just past its end) and renders with
//! `file:line:col`; a program that parses either compiles or reports a positioned error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vm::ast::Item;

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let src: &str = &src;
    // A position may point one line past the last one (end of input after a final newline).
    let lines = src.lines().count() as u32 + 1;
    let check = |e: &vm::SyntaxError| {
        assert!(
            e.pos.line >= 1 && e.pos.line <= lines,
            "{e} (source has {lines} lines)"
        );
        let rendered = e.render("fuzz.tern", src);
        assert!(
            rendered.starts_with(&format!("fuzz.tern:{}:", e.pos.line)),
            "{rendered}"
        );
    };
    let items = vm::parse_items(src);
    let program = vm::parse_program(src);
    match &items {
        Err(e) => {
            check(e);
            assert!(
                program.is_err(),
                "parse_program accepted what parse_items refused"
            );
        }
        Ok(items) => {
            assert!(
                !vm::is_incomplete(src),
                "complete input reported as incomplete"
            );
            let all_fns = items.iter().all(|i| matches!(i, Item::Fn(_)));
            assert_eq!(
                program.is_ok(),
                all_fns,
                "parse_program disagrees with parse_items"
            );
        }
    }
    if let Err(e) = &program {
        check(e);
    }
    let Ok(items) = items else {
        return;
    };
    let (fns, exprs) = Item::split(items);
    let prog = match vm::prelude().define(fns, "fuzz.tern") {
        Ok(p) => p,
        Err(e) => return check(&e),
    };
    if !exprs.is_empty() {
        if let Err(e) = prog.compile_repl(&exprs, &[], "fuzz.tern") {
            check(&e);
        }
    }
});
