//! The examples under `examples/` run with the real `tern` binary on port 0 and are driven
//! by the `ws` crate's client.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(example: &str, args: &[&str]) -> Server {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .arg("run")
        .arg(root.join(example))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("tern runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "... on ws://127.0.0.1:PORT/..."
    let after = line.split("127.0.0.1:").nth(1).expect("a URL line");
    let port = after
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    Server { child, port }
}

fn client(url: &str) -> ws::Client {
    ws::connect(url, ws::ClientConfig::default()).expect("connects")
}

fn recv(c: &mut ws::Client) -> ws::Recv {
    c.recv(Some(Instant::now() + Duration::from_secs(5)))
        .expect("recv")
}

fn quiet(c: &mut ws::Client) -> bool {
    matches!(
        c.recv(Some(Instant::now() + Duration::from_millis(200))),
        Ok(ws::Recv::Timeout)
    )
}

#[test]
fn echo_returns_text_and_binary() {
    let s = start("echo.tern", &["0"]);
    let mut c = client(&format!("ws://127.0.0.1:{}/", s.port));
    c.send_text("héllo").unwrap();
    assert_eq!(recv(&mut c), ws::Recv::Text("héllo".into()));
    c.send_binary(&[0, 1, 255]).unwrap();
    assert_eq!(recv(&mut c), ws::Recv::Binary(vec![0, 1, 255]));
    assert_eq!(c.close(1000, "").unwrap(), 1000);
}

#[test]
fn chat_relays_to_the_other_members_of_a_room() {
    let s = start("chat.tern", &["0"]);
    let url = |room: &str| format!("ws://127.0.0.1:{}/room/{room}", s.port);
    let mut a = client(&url("lobby"));
    let mut b = client(&url("lobby"));
    let mut other = client(&url("elsewhere"));
    a.send_text("hi all").unwrap();
    assert_eq!(recv(&mut b), ws::Recv::Text("hi all".into()));
    b.send_binary(b"bin").unwrap();
    assert_eq!(recv(&mut a), ws::Recv::Binary(b"bin".to_vec()));
    assert!(quiet(&mut a), "the sender does not get its own message");
    assert!(quiet(&mut other), "other rooms do not see it");
    // a path that is not /room/NAME is refused
    assert!(ws::connect(
        &format!("ws://127.0.0.1:{}/nope", s.port),
        ws::ClientConfig::default()
    )
    .is_err());
}

#[test]
fn chat_notices_are_an_option() {
    let s = start("chat.tern", &["0", "notices"]);
    let url = format!("ws://127.0.0.1:{}/room/r", s.port);
    let mut a = client(&url);
    let mut b = client(&url);
    assert_eq!(
        recv(&mut a),
        ws::Recv::Text(r#"{"event":"join","members":2,"room":"r"}"#.into())
    );
    b.close(1000, "").unwrap();
    assert_eq!(
        recv(&mut a),
        ws::Recv::Text(r#"{"event":"leave","members":1,"room":"r"}"#.into())
    );
}

#[test]
fn tls_echo_over_wss() {
    let dir = std::env::temp_dir().join(format!("tern-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();
    let s = start(
        "tls_echo.tern",
        &["0", cert_path.to_str().unwrap(), key_path.to_str().unwrap()],
    );
    let cfg = ws::ClientConfig {
        tls: Some(ws::client_config_from_pem(cert_pem.as_bytes()).unwrap()),
        ..Default::default()
    };
    let mut c = ws::connect(&format!("wss://localhost:{}/", s.port), cfg).unwrap();
    c.send_text("secret").unwrap();
    assert_eq!(recv(&mut c), ws::Recv::Text("secret".into()));
    // WsClient over wss://, trusting the CA file, skipping verification, or neither
    let script = dir.join("client.tern");
    std::fs::write(
        &script,
        r#"fn main() do
  let [url, ca] = System.argv()
  let {:ok, c} = WsClient.connect(url, %{ca: ca})
  WsClient.send(c, "via ca")
  IO.inspect(WsClient.recv(c, 5000))
  let {:ok, c2} = WsClient.connect(url, %{insecure: true})
  WsClient.send(c2, "insecure")
  IO.inspect(WsClient.recv(c2, 5000))
  IO.inspect(WsClient.connect(url))
end
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["run", script.to_str().unwrap()])
        .arg(format!("wss://localhost:{}/", s.port))
        .arg(&cert_path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{:text, \"via ca\"}\n{:text, \"insecure\"}\n{:error, \"wss:// needs %{ca: \\\"ca.pem\\\"} or %{insecure: true}\"}\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_program_that_does_not_parse_exits_non_zero() {
    let dir = std::env::temp_dir().join(format!("tern-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.tern");
    std::fs::write(&f, "fn main() do\n  1 +\nend\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["run", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.tern:3:1: error: expected an expression, found `end`"),
        "{err}"
    );
    let f2 = dir.join("crash.tern");
    std::fs::write(
        &f2,
        "fn main() do\n  IO.println(System.argv())\n  1 / 0\nend\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["run", f2.to_str().unwrap(), "x", "y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[\"x\", \"y\"]\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("division by zero"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_stops_the_servers_gracefully() {
    let mut s = start("chat.tern", &["0"]);
    let mut c = client(&format!("ws://127.0.0.1:{}/room/a", s.port));
    c.send_text("x").unwrap(); // make sure the connection is fully up
    assert!(quiet(&mut c));
    let status = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    match recv(&mut c) {
        ws::Recv::Closed { code, .. } => assert_eq!(code, 1001),
        other => panic!("expected a close, got {other:?}"),
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            assert!(st.success(), "{st:?}");
            break;
        }
        assert!(Instant::now() < deadline, "tern did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn run_waits_for_servers_and_exits_when_the_last_one_stops() {
    let dir = std::env::temp_dir().join(format!("tern-wait-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("stop_later.tern");
    std::fs::write(
        &f,
        r#"fn main() do
  let {:ok, s} = Ws.serve(%{}, 0)
  spawn(fn() ->
    receive do after 300 -> :ok end
    IO.println("stopping")
    Ws.stop(s)
  end)
  IO.println("main returns")
end
"#,
    )
    .unwrap();
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["run", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "main returns\nstopping\n"
    );
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let _ = std::fs::remove_dir_all(&dir);
}
