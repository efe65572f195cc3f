//! Arbitrary source text and JSON never panic the lexer, parser, compiler or JSON decoder:
//! every input ends in a value or a positioned error. (Property tests, bounded in count.)

use proptest::prelude::*;

/// Fragments that make up plausible-but-broken tern source.
fn tern_soup() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "fn",
        "do",
        "end",
        "let",
        "if",
        "else",
        "case",
        "receive",
        "after",
        "when",
        "->",
        "=>",
        "=",
        "==",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "%{",
        "|",
        "|>",
        "<>",
        "+",
        "-",
        "*",
        "/",
        "rem",
        "and",
        "or",
        "not",
        ",",
        ".",
        "^",
        "\n",
        ";",
        " ",
        "x",
        "f",
        "main",
        "Foo",
        "IO.println",
        ":ok",
        "key:",
        "1",
        "2.5",
        "\"s\"",
        "\"#{",
        "}\"",
        "\"",
        "#",
        "_",
        "\\",
        "99999999999999999999",
        "'",
        "!",
        "&&",
    ]);
    prop::collection::vec(tokens, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(src in tern_soup()) {
        let _ = vm::parse_items(&src);
        let _ = vm::is_incomplete(&src);
        if let Err(vm::Error::Syntax { rendered, .. }) = vm::load(&src, "soup.tern") {
            prop_assert!(rendered.starts_with("soup.tern:"));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        let _ = vm::parse_items(&src);
        let _ = vm::load(&src, "any.tern");
    }

    #[test]
    fn programs_that_parse_also_compile_or_report(src in tern_soup()) {
        let wrapped = format!("fn main() do\n{src}\nend\n");
        match vm::load(&wrapped, "w.tern") {
            Ok(_) => {}
            Err(vm::Error::Syntax { error, .. }) => prop_assert!(error.pos.line >= 1),
            Err(other) => prop_assert!(false, "unexpected error kind {other}"),
        }
    }
}
