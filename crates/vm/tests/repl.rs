//! The `tern repl` binary driven through piped standard input (no prompts on a pipe).

use std::io::Write;
use std::process::{Command, Stdio};

fn repl(input: &str) -> (String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .arg("repl")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tern runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_session_from_the_issue() {
    let (out, err) = repl(
        r#"let {:ok, s} = Ws.serve(%{on_message: fn(c, {:text, m}) -> Ws.send(c, String.upcase(m)) end}, 0)
let {:ok, c} = WsClient.connect("ws://127.0.0.1:#{Ws.port(s)}/")
WsClient.send(c, "hello")
WsClient.recv(c, 1000)
WsClient.close(c)
Ws.stop(s)
"#,
    );
    assert_eq!(
        out, ":ok\n{:text, \"HELLO\"}\n{:closed, 1000}\n:ok\n",
        "stderr: {err}"
    );
}

#[test]
fn definitions_bindings_multiline_and_errors() {
    let (out, err) = repl(
        "fn sq(x) do\n  x * x\nend\nlet y = sq(4)\ny + 1\n[1,\n 2]\n\
         1 / 0\nundefined_thing\nlet {:a, z} = {:b, 1}\ny\n:help\n\
         send(self(), :hi)\nreceive do\n  m -> {:got, m}\nend\n:nope\n%{\"k\" => [1.5, nil]}\n:quit\n99\n",
    );
    assert_eq!(
        out.lines()
            .filter(|l| !l.starts_with(' ')
                && !l.starts_with("Type")
                && !l.starts_with("An unfinished")
                && !l.starts_with("Ctrl-C")
                && !l.starts_with("Commands"))
            .collect::<Vec<_>>(),
        vec![
            "defined sq/1",
            "17",
            "[1, 2]",
            "16",
            ":hi",
            "{:got, :hi}",
            "%{\"k\" => [1.5, nil]}",
        ],
        "stderr: {err}"
    );
    assert!(err.contains("division by zero"), "{err}");
    assert!(
        err.contains("undefined variable `undefined_thing`"),
        "{err}"
    );
    assert!(
        err.contains("no match of right hand side value {:b, 1}"),
        "{err}"
    );
    assert!(err.contains("unknown command :nope"), "{err}");
    assert!(out.contains(":procs"), "help lists the commands");
}

#[test]
fn load_procs_servers_rooms() {
    let dir = std::env::temp_dir().join(format!("tern-repl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lib.tern");
    std::fs::write(&file, "fn triple(x) do 3 * x end\n").unwrap();
    let (out, err) = repl(&format!(
        ":load {}\ntriple(5)\n:procs\n:servers\n:rooms\n:load /no/such/file\n",
        file.display()
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("loaded ") && lines[0].ends_with("triple/1"),
        "{out}"
    );
    assert_eq!(lines[1], "15");
    assert!(lines[2].contains("live"), "{out}");
    assert_eq!(lines[3], "no servers");
    assert_eq!(lines[4], "no rooms");
    assert!(err.contains("cannot read /no/such/file"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn servers_and_rooms_are_listed() {
    let (out, err) = repl(
        "let {:ok, s} = Ws.serve(%{on_connect: fn(c, _) ->\n Ws.join(c, \"lobby\")\n :ok\nend}, 0)\n\
         let {:ok, c} = WsClient.connect(\"ws://127.0.0.1:#{Ws.port(s)}/\")\n\
         Ws.port(s) > 0\n:servers\n:rooms\nWsClient.close(c)\nWs.stop(s)\n:servers\n",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "true", "{out}{err}");
    assert!(
        lines[1].starts_with("port ") && lines[1].ends_with(": 1 connection(s)"),
        "{out}"
    );
    assert!(lines[2].ends_with(": lobby (1 members)"), "{out}");
    assert_eq!(
        &lines[3..],
        &["{:closed, 1000}", ":ok", "no servers"],
        "{out}"
    );
}

#[test]
fn comment_lines_print_nothing() {
    let (out, err) = repl(
        "# a comment\n1 + 1\n   # an indented one\nfn f(0) do :zero end\n# between clauses\n\
         fn f(n) do n end\n{f(0), f(3)} # trailing\n",
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec!["2", "defined f/1", "defined f/1", "{:zero, 3}"],
        "stderr: {err}"
    );
    assert_eq!(err, "");
}
