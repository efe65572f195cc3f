//! Helpers shared by the integration tests: a runtime, local options, a recording handler
//! and tungstenite / raw clients. Everything waits on deadlines, never on sleeps.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bridge::{Conn, Data, Decision, Handler, Options};
use tungstenite::protocol::WebSocket;

/// How long a test waits for something that must happen. Only a failing test waits this long,
/// so it is generous: with `RUST_BACKTRACE=1` a handler's first panic symbolizes the debug
/// binary's backtrace before the 500/1011 goes out, which took over 5 s on a loaded 2-core CI.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn rt() -> scheduler::Runtime {
    let _ = env_logger::builder().is_test(true).try_init();
    scheduler::Runtime::new(scheduler::Config {
        workers: 2,
        ..Default::default()
    })
}

pub fn opts() -> Options {
    // A short stop timeout: some tests stop with clients that never answer the close.
    Options {
        bind_addr: "127.0.0.1".parse().unwrap(),
        stop_timeout: Duration::from_millis(300),
        ..Default::default()
    }
}

/// What the recording handler saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Rec {
    Connect { path: String, conn: u64 },
    Message(Data),
    Close { code: u16, reason: String },
    Info(String),
}

/// A handler that reports every callback on a channel and echoes messages. Behaviour is
/// tuned by its fields.
#[derive(Clone)]
pub struct Recorder {
    pub tx: Arc<Mutex<Sender<Rec>>>,
    pub echo: bool,
    pub reject: Option<u16>,
    pub panic_on: Option<String>,
    pub conns: Arc<Mutex<Vec<Conn>>>,
}

impl Recorder {
    pub fn new() -> (Recorder, Receiver<Rec>) {
        let (tx, rx) = channel();
        (
            Recorder {
                tx: Arc::new(Mutex::new(tx)),
                echo: true,
                reject: None,
                panic_on: None,
                conns: Default::default(),
            },
            rx,
        )
    }
    fn rec(&self, r: Rec) {
        let _ = self.tx.lock().unwrap().send(r);
    }
}

impl Handler for Recorder {
    fn on_connect(&mut self, conn: &Conn) -> Decision {
        self.conns.lock().unwrap().push(conn.clone());
        self.rec(Rec::Connect {
            path: conn.path().to_string(),
            conn: conn.id(),
        });
        match self.reject {
            Some(status) => Decision::Reject { status },
            None => Decision::ACCEPT,
        }
    }
    fn on_message(&mut self, conn: &Conn, msg: Data) {
        if let (Some(p), Data::Text(t)) = (&self.panic_on, &msg) {
            if t == p {
                panic!("asked to panic");
            }
        }
        if self.echo {
            let _ = conn.send_payload(msg.as_payload());
        }
        self.rec(Rec::Message(msg));
    }
    fn on_close(&mut self, _conn: &Conn, code: u16, reason: &str) {
        self.rec(Rec::Close {
            code,
            reason: reason.to_string(),
        });
    }
    fn on_info(&mut self, conn: &Conn, msg: scheduler::Message) {
        if let Some(s) = msg.downcast_ref::<String>() {
            let _ = conn.send(s);
            self.rec(Rec::Info(s.clone()));
        }
    }
}

/// Next record within `WAIT`, or a test failure.
pub fn next(rx: &Receiver<Rec>) -> Rec {
    rx.recv_timeout(WAIT)
        .expect("no callback within the deadline")
}

/// Skips records until one matches.
pub fn until(rx: &Receiver<Rec>, mut f: impl FnMut(&Rec) -> bool) -> Rec {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let r = rx
            .recv_timeout(left)
            .expect("expected callback did not come");
        if f(&r) {
            return r;
        }
    }
}

pub type Client = WebSocket<TcpStream>;

/// A tungstenite client on `path`, with a read timeout so a test fails instead of hanging.
pub fn connect(port: u16, path: &str) -> Client {
    try_connect(port, path).expect("handshake failed")
}

pub fn try_connect(port: u16, path: &str) -> Result<Client, tungstenite::Error> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let url = format!("ws://127.0.0.1:{port}{path}");
    match tungstenite::client(url, s) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(e),
        Err(tungstenite::HandshakeError::Interrupted(_)) => panic!("handshake interrupted"),
    }
}

/// Reads the next data message (skipping pings/pongs).
pub fn recv(c: &mut Client) -> tungstenite::Message {
    loop {
        match c.read().expect("read failed") {
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => continue,
            m => return m,
        }
    }
}

/// Reads until the server's close frame; returns its code. The reply is sent (tungstenite
/// answers on the next read, which then reports the end of the connection).
pub fn recv_close(c: &mut Client) -> Option<u16> {
    loop {
        match c.read() {
            Ok(tungstenite::Message::Close(f)) => {
                let code = f.map(|f| u16::from(f.code));
                let _ = c.read();
                return code;
            }
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) | Err(tungstenite::Error::AlreadyClosed) => {
                return None
            }
            Err(e) => panic!("error before the close frame: {e}"),
        }
    }
}

/// A raw client: does the upgrade by hand, then writes whatever bytes a test wants.
pub struct Raw {
    pub s: TcpStream,
}

impl Raw {
    pub fn connect(port: u16, path: &str) -> Raw {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Raw { s }
    }

    /// Writes one masked client frame.
    pub fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        self.s.write_all(&masked(fin, opcode, payload)).unwrap();
    }

    /// Reads one server frame: (fin, opcode, payload).
    pub fn read_frame(&mut self) -> (bool, u8, Vec<u8>) {
        let mut h = [0u8; 2];
        self.s.read_exact(&mut h).unwrap();
        assert_eq!(h[1] & 0x80, 0, "server frames are unmasked");
        let len = match h[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                self.s.read_exact(&mut b).unwrap();
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                self.s.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut p = vec![0u8; len];
        self.s.read_exact(&mut p).unwrap();
        (h[0] & 0x80 != 0, h[0] & 0x0f, p)
    }
}

pub fn masked(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => v.push(0x80 | n as u8),
        n if n <= 0xffff => {
            v.push(0x80 | 126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            v.push(0x80 | 127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = [1u8, 2, 3, 4];
    v.extend_from_slice(&key);
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    v
}

/// Reads an HTTP response head (up to the blank line).
pub fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Polls `f` until true or `WAIT` passes (for counters that change on another thread).
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(2));
    }
    f()
}

/// A fresh directory for one test's files (per test name and process).
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("bridge-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A self-signed certificate for `localhost` and its key, written to `dir` as PEM files:
/// (cert path, key path, cert PEM).
pub fn cert_files(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = ck.cert.pem();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key, cert_pem.into_bytes())
}
