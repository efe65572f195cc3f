//! The `Ws` module (servers, binding the `bridge` crate) and the `WsClient` module (the `ws`
//! crate's blocking client).
//!
//! Invariants:
//! - Each accepted connection gets its own VM process ([`VmProcess::for_conn`]); its
//!   callbacks (`on_connect`, `on_message`, `on_close`, `on_info`) run inside that process,
//!   one at a time, in the order the bridge posted the events.
//! - Every server a program starts is kept in its [`Servers`] list until `Ws.stop`, so
//!   `tern run` can wait for them and stop them all (close code 1001) on a signal.
//! - No lock is held across blocking I/O: a `WsClient` is taken out of its slot for the
//!   duration of a call (a second concurrent call on the same client gets
//!   `{:error, :closed_or_busy}`). `WsClient` calls are blocking I/O: from a process they run
//!   on a helper thread while the process waits (a scheduler worker never blocks); in the
//!   REPL they run on the REPL's thread.

use std::any::Any;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::natives::{int, map, string, Native, NativeCx};
use crate::process::{Env, VmProcess};
use crate::value::{Atom, Handle, Value};
use crate::vm::{short, Trap};

/// The live servers of one program.
#[derive(Default)]
pub(crate) struct Servers {
    list: Mutex<Vec<Arc<ServerHandle>>>,
    changed: Condvar,
}

impl Servers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<ServerHandle>>> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, s: Arc<ServerHandle>) {
        self.lock().push(s);
        self.changed.notify_all();
    }

    fn remove(&self, s: &ServerHandle) {
        self.lock().retain(|x| !std::ptr::eq(&**x, s));
        self.changed.notify_all();
    }
}

/// A server as a tern value.
pub(crate) struct ServerHandle {
    server: bridge::Server,
}

impl Handle for ServerHandle {
    fn describe(&self) -> String {
        format!("#Server<port {}>", self.server.port())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn identity(&self) -> (&'static str, u64) {
        ("server", self.server.port() as u64)
    }
}

/// A connection as a tern value.
pub(crate) struct ConnHandle {
    pub(crate) conn: bridge::Conn,
}

impl Handle for ConnHandle {
    fn describe(&self) -> String {
        format!("#Conn<{} {}>", self.conn.id(), self.conn.path())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn identity(&self) -> (&'static str, u64) {
        ("conn", self.conn.id())
    }
}

/// A client as a tern value. `None` while a call is using it, or after `close`.
pub(crate) struct ClientHandle {
    slot: Mutex<Option<ws::Client>>,
    url: String,
    id: u64,
}

impl Handle for ClientHandle {
    fn describe(&self) -> String {
        format!("#WsClient<{}>", self.url)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn identity(&self) -> (&'static str, u64) {
        ("client", self.id)
    }
}

pub(crate) fn conn_value(conn: bridge::Conn) -> Value {
    Value::Handle(Arc::new(ConnHandle { conn }))
}

fn handle<T: 'static>(v: &Value, what: &str) -> Result<Arc<dyn Handle>, Trap> {
    match v {
        Value::Handle(h) if h.as_any().is::<T>() => Ok(h.clone()),
        other => Err(Trap::Error(format!(
            "expected {what}, got {}",
            short(other)
        ))),
    }
}

fn conn(v: &Value) -> Result<bridge::Conn, Trap> {
    let h = handle::<ConnHandle>(v, "a connection")?;
    Ok(h.as_any()
        .downcast_ref::<ConnHandle>()
        .expect("checked")
        .conn
        .clone())
}

fn server(v: &Value) -> Result<Arc<dyn Handle>, Trap> {
    handle::<ServerHandle>(v, "a server")
}

fn with_server<R>(v: &Value, f: impl FnOnce(&bridge::Server) -> R) -> Result<R, Trap> {
    let h = server(v)?;
    let s = h.as_any().downcast_ref::<ServerHandle>().expect("checked");
    Ok(f(&s.server))
}

/// The rooms of a connection's or a server's server.
fn with_rooms<R>(v: &Value, f: impl FnOnce(&bridge::Rooms) -> R) -> Result<R, Trap> {
    if let Ok(c) = conn(v) {
        return Ok(f(c.server_rooms()));
    }
    with_server(v, |s| f(s.rooms())).map_err(|_| {
        Trap::Error(format!(
            "expected a connection or a server, got {}",
            short(v)
        ))
    })
}

fn result(r: Result<(), bridge::Error>) -> Result<Value, Trap> {
    Ok(match r {
        Ok(()) => Value::Atom(Atom::OK),
        Err(e) => Value::error(Value::str(e.to_string())),
    })
}

/// A message to send: a string (text), a binary, `{:text, s}` or `{:binary, b}`.
fn payload(v: &Value) -> Result<bridge::Payload<'_>, Trap> {
    match v {
        Value::Str(s) => Ok(bridge::Payload::Text(s)),
        Value::Bin(b) => Ok(bridge::Payload::Binary(b)),
        Value::Tuple(t) if t.len() == 2 => match (&t[0], &t[1]) {
            (Value::Atom(a), Value::Str(s)) if *a == Atom::TEXT => Ok(bridge::Payload::Text(s)),
            (Value::Atom(a), Value::Bin(b)) if *a == Atom::BINARY => Ok(bridge::Payload::Binary(b)),
            _ => Err(Trap::Error(format!("cannot send {}", short(v)))),
        },
        other => Err(Trap::Error(format!(
            "expected a string, a binary, {{:text, s}} or {{:binary, b}}, got {}",
            short(other)
        ))),
    }
}

/// Server options from a tern map. Every field of [`bridge::Options`] can be set, by its
/// name: durations in milliseconds, sizes in bytes, counts as integers; `heartbeat`
/// (`heartbeat_interval`) also takes `nil` for none, and `bind` (`bind_addr`) an address
/// string. `max_message` is short for `max_message_size` and also lowers `max_frame_size`
/// to it.
fn options(v: Option<&Value>) -> Result<bridge::Options, Trap> {
    let mut o = bridge::Options::default();
    let Some(v) = v else { return Ok(o) };
    for (k, x) in map(v)?.iter() {
        let key = match k {
            Value::Atom(a) => a.name().to_string(),
            Value::Str(s) => s.to_string(),
            other => return Err(Trap::Error(format!("unknown option {}", short(other)))),
        };
        let non_neg = |x: &Value| -> Result<u64, Trap> {
            let n = int(x)?;
            u64::try_from(n).map_err(|_| Trap::Error(format!("option {key}: {n} is negative")))
        };
        let count = |x: &Value| -> Result<usize, Trap> {
            usize::try_from(non_neg(x)?)
                .map_err(|_| Trap::Error(format!("option {key}: too large")))
        };
        if let Some((_, field)) = DURATIONS.iter().find(|(n, _)| *n == key) {
            *field(&mut o) = Duration::from_millis(non_neg(x)?);
            continue;
        }
        if let Some((_, field)) = COUNTS.iter().find(|(n, _)| *n == key) {
            *field(&mut o) = count(x)?;
            continue;
        }
        match key.as_str() {
            "heartbeat" | "heartbeat_interval" => {
                o.heartbeat_interval = match x {
                    Value::Nil | Value::Bool(false) => None,
                    x => Some(Duration::from_millis(non_neg(x)?)),
                }
            }
            "max_message" => {
                let n = count(x)?;
                o.max_message_size = n;
                o.max_frame_size = o.max_frame_size.min(n.max(1));
            }
            "bind" | "bind_addr" => {
                o.bind_addr = string(x)?.parse::<IpAddr>().map_err(|_| {
                    Trap::Error(format!("option {key}: not an IP address: {}", short(x)))
                })?
            }
            "run_actor_on_io_thread" => match x {
                Value::Bool(b) => o.run_actor_on_io_thread = *b,
                other => {
                    return Err(Trap::Error(format!(
                        "option {key}: expected true or false, got {}",
                        short(other)
                    )))
                }
            },
            other => {
                let known: Vec<&str> = [
                    "heartbeat",
                    "heartbeat_interval",
                    "max_message",
                    "bind",
                    "bind_addr",
                    "run_actor_on_io_thread",
                ]
                .into_iter()
                .chain(DURATIONS.iter().map(|(n, _)| *n))
                .chain(COUNTS.iter().map(|(n, _)| *n))
                .collect();
                return Err(Trap::Error(format!(
                    "unknown option {other} (known: {})",
                    known.join(", ")
                )));
            }
        }
    }
    o.validate().map_err(|e| Trap::Error(e.to_string()))?;
    Ok(o)
}

type Field<T> = fn(&mut bridge::Options) -> &mut T;

/// The options given in milliseconds.
const DURATIONS: &[(&str, Field<Duration>)] = &[
    ("heartbeat_timeout", |o| &mut o.heartbeat_timeout),
    ("handshake_timeout", |o| &mut o.handshake_timeout),
    ("defer_accept", |o| &mut o.defer_accept),
    ("busy_tls_timeout", |o| &mut o.busy_tls_timeout),
    ("busy_linger", |o| &mut o.busy_linger),
    ("close_linger", |o| &mut o.close_linger),
    ("close_timeout", |o| &mut o.close_timeout),
    ("stop_timeout", |o| &mut o.stop_timeout),
    ("spare_io_thread_timeout", |o| {
        &mut o.spare_io_thread_timeout
    }),
];

/// The options given as a number of bytes or of things.
const COUNTS: &[(&str, Field<usize>)] = &[
    ("max_connections", |o| &mut o.max_connections),
    ("max_busy_answers", |o| &mut o.max_busy_answers),
    ("max_busy_tls_answers", |o| &mut o.max_busy_tls_answers),
    ("max_request_bytes", |o| &mut o.max_request_bytes),
    ("max_frame_size", |o| &mut o.max_frame_size),
    ("max_message_size", |o| &mut o.max_message_size),
    ("outbound_buffer", |o| &mut o.outbound_buffer),
    ("inbound_queue_bytes", |o| &mut o.inbound_queue_bytes),
    ("inbound_queue_messages", |o| &mut o.inbound_queue_messages),
    ("io_thread_stack", |o| &mut o.io_thread_stack),
    ("spare_io_threads", |o| &mut o.spare_io_threads),
];

/// The four callbacks of a server.
#[derive(Clone)]
pub(crate) struct Handlers {
    pub on_connect: Option<Value>,
    pub on_message: Option<Value>,
    pub on_close: Option<Value>,
    pub on_info: Option<Value>,
}

fn handlers(v: &Value) -> Result<Handlers, Trap> {
    let m = map(v)?;
    for k in m.keys() {
        let ok = matches!(k, Value::Atom(a) if matches!(&*a.name(), "on_connect" | "on_message" | "on_close" | "on_info"));
        if !ok {
            return Err(Trap::Error(format!(
                "unknown handler key {} (known: on_connect, on_message, on_close, on_info)",
                short(k)
            )));
        }
    }
    let get = |name: &str| -> Result<Option<Value>, Trap> {
        match m.get(&Value::atom(name)) {
            None | Some(Value::Nil) => Ok(None),
            Some(f @ Value::Fun(_)) => Ok(Some(f.clone())),
            Some(other) => Err(Trap::Error(format!(
                "{name} must be a function, got {}",
                short(other)
            ))),
        }
    };
    Ok(Handlers {
        on_connect: get("on_connect")?,
        on_message: get("on_message")?,
        on_close: get("on_close")?,
        on_info: get("on_info")?,
    })
}

/// The request a connection made, for `on_connect`.
pub(crate) fn request_value(c: &bridge::Conn) -> Value {
    let mut m = BTreeMap::new();
    m.insert(Value::atom("path"), Value::str(c.path()));
    m.insert(
        Value::atom("query"),
        c.query().map_or(Value::Nil, Value::str),
    );
    m.insert(Value::atom("headers"), headers_value(c));
    m.insert(Value::atom("peer"), Value::str(c.peer_addr().to_string()));
    Value::Map(Arc::new(m))
}

fn headers_value(c: &bridge::Conn) -> Value {
    let mut h = BTreeMap::new();
    for (k, v) in c.headers() {
        h.insert(Value::str(k.to_ascii_lowercase()), Value::str(v.as_str()));
    }
    Value::Map(Arc::new(h))
}

fn serve(c: &mut NativeCx<'_>, a: &[Value], tls: bool) -> Result<Value, Trap> {
    let hs = handlers(&a[0])?;
    let port = int(&a[1])?;
    let port = u16::try_from(port).map_err(|_| Trap::Error(format!("bad port {port}")))?;
    let (cert_key, opts) = if tls {
        (
            (Some((string(&a[2])?.to_string(), string(&a[3])?.to_string()))),
            a.get(4),
        )
    } else {
        (None, a.get(2))
    };
    let opts = options(opts)?;
    let env = c.env.clone();
    let prog = c.vm.prog.clone();
    let rt = env.runtime.clone();
    let spawn_env = env.clone();
    let spawner = move |conn: bridge::Conn| -> scheduler::Pid {
        let p = VmProcess::for_conn(spawn_env.clone(), prog.clone(), hs.clone(), conn);
        spawn_env.runtime.spawn_waiting(p)
    };
    let tls_config = match &cert_key {
        Some((cert, key)) => {
            match bridge::load_server_config(std::path::Path::new(cert), std::path::Path::new(key))
            {
                Ok(cfg) => Some(cfg),
                Err(e) => return Ok(Value::error(Value::str(e.to_string()))),
            }
        }
        None => None,
    };
    match bridge::serve_with(&rt, spawner, port, tls_config, opts) {
        Ok(server) => {
            let h = Arc::new(ServerHandle { server });
            env.servers.add(h.clone());
            Ok(Value::ok(Value::Handle(h)))
        }
        Err(e) => Ok(Value::error(Value::str(e.to_string()))),
    }
}

/// `Ws.stop` waits (up to the server's stop timeout) for the close handshakes: blocking
/// work, so it runs off the scheduler's workers.
fn stop(c: &mut NativeCx<'_>, a: &[Value]) -> Result<Value, Trap> {
    let h = server(&a[0])?;
    let env = c.env.clone();
    Err(Trap::Block(Box::new(move || {
        let s = h.as_any().downcast_ref::<ServerHandle>().expect("checked");
        s.server.stop();
        env.servers.remove(s);
        Ok(Value::Atom(Atom::OK))
    })))
}

// ---- WsClient ---------------------------------------------------------------------------

fn client_slot(v: &Value) -> Result<Arc<dyn Handle>, Trap> {
    handle::<ClientHandle>(v, "a WsClient")
}

/// Runs `f` with the client taken out of its slot (so no lock is held during the I/O), as
/// blocking work: off the scheduler's workers when called from a process.
fn with_client(
    v: &Value,
    f: impl FnOnce(&mut ws::Client) -> Value + Send + 'static,
) -> Result<Value, Trap> {
    let h = client_slot(v)?;
    Err(Trap::Block(Box::new(move || {
        let ch = h.as_any().downcast_ref::<ClientHandle>().expect("checked");
        let taken = ch.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut client) = taken else {
            return Ok(Value::error(Value::atom("closed_or_busy")));
        };
        let r = f(&mut client);
        *ch.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(client);
        Ok(r)
    })))
}

fn ws_err(e: ws::Error) -> Value {
    Value::error(Value::str(e.to_string()))
}

fn client_connect(a: &[Value]) -> Result<Value, Trap> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let url = string(&a[0])?.to_string();
    let mut cfg = ws::ClientConfig::default();
    if let Some(o) = a.get(1) {
        for (k, x) in map(o)?.iter() {
            match k {
                Value::Atom(n) if &*n.name() == "insecure" => {
                    if x.truthy() {
                        cfg.tls = Some(ws::insecure_client_config());
                    }
                }
                Value::Atom(n) if &*n.name() == "ca" => match ws::load_client_config(&**string(x)?)
                {
                    Ok(c) => cfg.tls = Some(c),
                    Err(e) => return Ok(ws_err(e)),
                },
                Value::Atom(n) if &*n.name() == "timeout" => {
                    let ms = u64::try_from(int(x)?).unwrap_or(0);
                    cfg.connect_timeout = Duration::from_millis(ms);
                }
                other => {
                    return Err(Trap::Error(format!(
                        "unknown option {} (known: ca, insecure, timeout)",
                        short(other)
                    )))
                }
            }
        }
    }
    if url.starts_with("wss://") && cfg.tls.is_none() {
        return Ok(Value::error(Value::str(
            "wss:// needs %{ca: \"ca.pem\"} or %{insecure: true}",
        )));
    }
    Err(Trap::Block(Box::new(move || {
        Ok(match ws::connect(&url, cfg) {
            Ok(client) => Value::ok(Value::Handle(Arc::new(ClientHandle {
                slot: Mutex::new(Some(client)),
                url,
                id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            }))),
            Err(e) => ws_err(e),
        })
    })))
}

fn client_recv(a: &[Value]) -> Result<Value, Trap> {
    let ms = int(&a[1])?;
    let ms = u64::try_from(ms).map_err(|_| Trap::Error(format!("bad timeout {ms}")))?;
    let deadline = Instant::now() + Duration::from_millis(ms.min(24 * 3600 * 1000));
    with_client(&a[0], move |c| loop {
        return match c.recv(Some(deadline)) {
            Ok(ws::Recv::Text(s)) => Value::tuple(vec![Value::Atom(Atom::TEXT), Value::str(s)]),
            Ok(ws::Recv::Binary(b)) => {
                Value::tuple(vec![Value::Atom(Atom::BINARY), Value::Bin(b.into())])
            }
            Ok(ws::Recv::Closed { code, reason }) => Value::tuple(vec![
                Value::Atom(Atom::CLOSED),
                Value::Int(code as i64),
                Value::str(reason),
            ]),
            Ok(ws::Recv::Timeout) => Value::Atom(Atom::TIMEOUT),
            Ok(_) => continue, // ping / pong
            Err(e) => ws_err(e),
        };
    })
}

/// `{:closed, code}` for the result of a client close.
fn closed(r: Result<u16, ws::Error>) -> Value {
    match r {
        Ok(code) => Value::tuple(vec![Value::Atom(Atom::CLOSED), Value::Int(code as i64)]),
        Err(e) => ws_err(e),
    }
}

/// How long `WsClient.close(c, nil, reason)` waits for the server's close (the same as the
/// `ws` client's default close timeout).
const EMPTY_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// `WsClient.close(client, code, reason)`: a close with this code and reason; `code` nil
/// sends an empty close frame (the server reports 1005, "no status").
fn client_close(a: &[Value]) -> Result<Value, Trap> {
    let reason = string(&a[2])?.to_string();
    let code = match &a[1] {
        Value::Nil => None,
        v => {
            let n = int(v)?;
            // RFC 6455 §7.4: the codes an endpoint may send (1000-1003, 1007-1011, 3000-4999).
            match u16::try_from(n)
                .ok()
                .filter(|c| ws::is_valid_close_code(*c))
            {
                Some(c) => Some(c),
                None => return Err(Trap::Error(format!("bad close code {n}"))),
            }
        }
    };
    // RFC 6455 §5.5: a control frame's payload (2-byte code + reason) is at most 125 bytes.
    if reason.len() > 123 {
        return Err(Trap::Error(format!(
            "a close reason is at most 123 bytes, got {}",
            reason.len()
        )));
    }
    with_client(&a[0], move |c| match code {
        Some(code) => closed(c.close(code, &reason)),
        None => {
            // The client's own close always carries a code: write the empty frame by hand
            // and wait for the server's answer.
            if let Err(e) = c.write_raw(&ws::encode_close(ws::Role::Client, None, "")) {
                return ws_err(e);
            }
            let deadline = Instant::now() + EMPTY_CLOSE_WAIT;
            loop {
                match c.recv(Some(deadline)) {
                    Ok(ws::Recv::Closed { code, .. }) => return closed(Ok(code)),
                    Ok(ws::Recv::Timeout) => return closed(Err(ws::Error::CloseTimeout)),
                    Ok(_) => {}
                    Err(e) => return ws_err(e),
                }
            }
        }
    })
}

/// `WsClient.send_fragments(client, parts)` (and `_binary`): one message sent as one frame
/// per part, each after the first a continuation frame, FIN on the last (RFC 6455 §5.4).
fn send_fragments(a: &[Value], opcode: ws::Opcode) -> Result<Value, Trap> {
    let parts = crate::natives::list(&a[1])?;
    if parts.is_empty() {
        return Err(Trap::Error("send_fragments needs at least one part".into()));
    }
    let n = parts.len();
    let mut frames = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let bytes: &[u8] = match (opcode, p) {
            (ws::Opcode::Text, Value::Str(s)) => s.as_bytes(),
            (ws::Opcode::Binary, Value::Bin(b)) => b,
            (ws::Opcode::Binary, Value::Str(s)) => s.as_bytes(),
            (ws::Opcode::Text, other) => {
                return Err(Trap::Error(format!(
                    "expected a list of strings, got {}",
                    short(other)
                )))
            }
            (_, other) => {
                return Err(Trap::Error(format!(
                    "expected a list of binaries, got {}",
                    short(other)
                )))
            }
        };
        let op = if i == 0 {
            opcode
        } else {
            ws::Opcode::Continuation
        };
        ws::encode_into(ws::Role::Client, op, i + 1 == n, bytes, &mut frames);
    }
    with_client(&a[0], move |c| match c.write_raw(&frames) {
        Ok(()) => Value::Atom(Atom::OK),
        Err(e) => ws_err(e),
    })
}

/// `Ws.*` and `WsClient.*`.
pub(crate) static NATIVES: &[Native] = &[
    Native::cx("Ws.serve", 2, |c, a| serve(c, a, false)),
    Native::cx("Ws.serve", 3, |c, a| serve(c, a, false)),
    Native::cx("Ws.serve_tls", 4, |c, a| serve(c, a, true)),
    Native::cx("Ws.serve_tls", 5, |c, a| serve(c, a, true)),
    Native::pure("Ws.port", 1, |a| {
        with_server(&a[0], |s| Value::Int(s.port() as i64))
    }),
    Native::cx("Ws.stop", 1, stop),
    Native::pure("Ws.connections", 1, |a| {
        with_server(&a[0], |s| Value::Int(s.connection_count() as i64))
    }),
    Native::pure("Ws.send", 2, |a| {
        result(conn(&a[0])?.send_payload(payload(&a[1])?))
    }),
    Native::pure("Ws.send_binary", 2, |a| match &a[1] {
        Value::Bin(b) => result(conn(&a[0])?.send_binary(b)),
        Value::Str(s) => result(conn(&a[0])?.send_binary(s.as_bytes())),
        other => Err(Trap::Error(format!(
            "expected a binary, got {}",
            short(other)
        ))),
    }),
    Native::pure("Ws.close", 1, |a| result(conn(&a[0])?.close(1000, ""))),
    Native::pure("Ws.close", 3, |a| {
        let code = int(&a[1])?;
        let code =
            u16::try_from(code).map_err(|_| Trap::Error(format!("bad close code {code}")))?;
        result(conn(&a[0])?.close(code, string(&a[2])?))
    }),
    Native::pure("Ws.join", 2, |a| {
        conn(&a[0])?.join(string(&a[1])?);
        Ok(Value::Atom(Atom::OK))
    }),
    Native::pure("Ws.leave", 2, |a| {
        conn(&a[0])?.leave(string(&a[1])?);
        Ok(Value::Atom(Atom::OK))
    }),
    Native::pure("Ws.broadcast", 3, |a| {
        let room = string(&a[1])?;
        let p = payload(&a[2])?;
        with_rooms(&a[0], |r| Value::Int(r.broadcast(room, p) as i64))
    }),
    Native::pure("Ws.broadcast_except", 3, |a| {
        let c = conn(&a[0])?;
        let room = string(&a[1])?;
        let p = payload(&a[2])?;
        Ok(Value::Int(
            c.server_rooms().broadcast_except(room, p, &c) as i64
        ))
    }),
    Native::pure("Ws.members", 2, |a| {
        let room = string(&a[1])?;
        with_rooms(&a[0], |r| {
            Value::list(r.members(room).into_iter().map(conn_value).collect())
        })
    }),
    Native::pure("Ws.member_count", 2, |a| {
        let room = string(&a[1])?;
        with_rooms(&a[0], |r| Value::Int(r.member_count(room) as i64))
    }),
    Native::pure("Ws.rooms", 1, |a| {
        if let Ok(c) = conn(&a[0]) {
            return Ok(Value::list(c.rooms().into_iter().map(Value::str).collect()));
        }
        with_rooms(&a[0], |r| {
            Value::list(
                r.list()
                    .into_iter()
                    .map(|(name, n)| Value::tuple(vec![Value::str(name), Value::Int(n as i64)]))
                    .collect(),
            )
        })
    }),
    Native::pure("Ws.pid", 1, |a| {
        Ok(conn(&a[0])?.pid().map_or(Value::Nil, Value::Pid))
    }),
    Native::pure("Ws.path", 1, |a| Ok(Value::str(conn(&a[0])?.path()))),
    Native::pure("Ws.query", 1, |a| {
        Ok(conn(&a[0])?.query().map_or(Value::Nil, Value::str))
    }),
    Native::pure("Ws.headers", 1, |a| Ok(headers_value(&conn(&a[0])?))),
    Native::pure("WsClient.connect", 1, client_connect),
    Native::pure("WsClient.connect", 2, client_connect),
    Native::pure("WsClient.send", 2, |a| {
        let text = string(&a[1])?.clone();
        with_client(&a[0], move |c| match c.send_text(&text) {
            Ok(()) => Value::Atom(Atom::OK),
            Err(e) => ws_err(e),
        })
    }),
    Native::pure("WsClient.send_binary", 2, |a| {
        let bytes: Arc<[u8]> = match &a[1] {
            Value::Bin(b) => b.clone(),
            Value::Str(s) => Arc::from(s.as_bytes()),
            other => {
                return Err(Trap::Error(format!(
                    "expected a binary, got {}",
                    short(other)
                )))
            }
        };
        with_client(&a[0], move |c| match c.send_binary(&bytes) {
            Ok(()) => Value::Atom(Atom::OK),
            Err(e) => ws_err(e),
        })
    }),
    Native::pure("WsClient.recv", 2, client_recv),
    Native::pure("WsClient.close", 1, |a| {
        with_client(&a[0], |c| closed(c.close(1000, "")))
    }),
    Native::pure("WsClient.close", 3, client_close),
    Native::pure("WsClient.send_fragments", 2, |a| {
        send_fragments(a, ws::Opcode::Text)
    }),
    Native::pure("WsClient.send_fragments_binary", 2, |a| {
        send_fragments(a, ws::Opcode::Binary)
    }),
];

/// `:servers` text.
pub(crate) fn describe_servers(env: &Env) -> String {
    let list = env.servers.lock();
    if list.is_empty() {
        return "no servers".into();
    }
    list.iter()
        .map(|s| {
            format!(
                "port {}: {} connection(s)",
                s.server.port(),
                s.server.connection_count()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `:rooms` text.
pub(crate) fn describe_rooms(env: &Env) -> String {
    let list = env.servers.lock();
    let mut out = Vec::new();
    for s in list.iter() {
        for (room, n) in s.server.rooms().list() {
            out.push(format!("port {}: {room} ({n} members)", s.server.port()));
        }
    }
    if out.is_empty() {
        "no rooms".into()
    } else {
        out.join("\n")
    }
}

/// Blocks until every server of this program has been stopped.
pub fn wait_for_servers(env: &Env) {
    let mut list = env.servers.lock();
    while !list.is_empty() {
        list = env
            .servers
            .changed
            .wait(list)
            .unwrap_or_else(|e| e.into_inner());
    }
}

/// Stops every server of this program (their connections get close code 1001).
pub fn stop_servers(env: &Env) {
    let list: Vec<Arc<ServerHandle>> = std::mem::take(&mut *env.servers.lock());
    for s in &list {
        s.server.stop();
    }
    env.servers.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, Value)]) -> Result<bridge::Options, Trap> {
        let m: BTreeMap<Value, Value> = pairs
            .iter()
            .map(|(k, v)| (Value::atom(k), v.clone()))
            .collect();
        options(Some(&Value::Map(Arc::new(m))))
    }

    fn err(r: Result<bridge::Options, Trap>) -> String {
        match r {
            Err(Trap::Error(e)) => e,
            Err(_) => "another trap".into(),
            Ok(o) => format!("accepted: {o:?}"),
        }
    }

    /// Every field set by name to a value that is not its default. The expected value is a
    /// struct literal without `..Default::default()`: a field added to `Options` breaks
    /// this test's build until the VM can set it too.
    #[test]
    fn every_option_can_be_set_by_name() {
        let n = Value::Int;
        let got = opts(&[
            ("bind_addr", Value::str("127.0.0.2")),
            ("max_connections", n(7)),
            ("max_busy_answers", n(8)),
            ("max_busy_tls_answers", n(9)),
            ("busy_tls_timeout", n(1001)),
            ("busy_linger", n(1009)),
            ("close_linger", n(1010)),
            ("handshake_timeout", n(1002)),
            ("defer_accept", n(1003)),
            ("max_request_bytes", n(4000)),
            ("max_frame_size", n(5000)),
            ("max_message_size", n(6000)),
            ("outbound_buffer", n(7000)),
            ("inbound_queue_bytes", n(8000)),
            ("inbound_queue_messages", n(90)),
            ("heartbeat_interval", n(1004)),
            ("heartbeat_timeout", n(1005)),
            ("close_timeout", n(1006)),
            ("stop_timeout", n(1007)),
            ("io_thread_stack", n(40 * 1024)),
            ("run_actor_on_io_thread", Value::Bool(false)),
            ("spare_io_threads", n(3)),
            ("spare_io_thread_timeout", n(1008)),
        ])
        .unwrap_or_else(|e| panic!("{}", err(Err(e))));
        let d = Duration::from_millis;
        let want = bridge::Options {
            bind_addr: "127.0.0.2".parse().unwrap(),
            max_connections: 7,
            max_busy_answers: 8,
            max_busy_tls_answers: 9,
            busy_tls_timeout: d(1001),
            busy_linger: d(1009),
            handshake_timeout: d(1002),
            defer_accept: d(1003),
            max_request_bytes: 4000,
            max_frame_size: 5000,
            max_message_size: 6000,
            outbound_buffer: 7000,
            inbound_queue_bytes: 8000,
            inbound_queue_messages: 90,
            heartbeat_interval: Some(d(1004)),
            heartbeat_timeout: d(1005),
            close_timeout: d(1006),
            close_linger: d(1010),
            stop_timeout: d(1007),
            io_thread_stack: 40 * 1024,
            run_actor_on_io_thread: false,
            spare_io_threads: 3,
            spare_io_thread_timeout: d(1008),
        };
        assert_eq!(format!("{got:?}"), format!("{want:?}"));
    }

    #[test]
    fn short_names_and_nil_heartbeat() {
        let o = opts(&[
            ("heartbeat", Value::Nil),
            ("max_message", Value::Int(100)),
            ("bind", Value::str("::1")),
        ])
        .unwrap_or_else(|e| panic!("{}", err(Err(e))));
        assert_eq!(o.heartbeat_interval, None);
        assert_eq!((o.max_message_size, o.max_frame_size), (100, 100));
        assert_eq!(o.bind_addr, "::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn bad_options_are_refused_with_their_name() {
        let e = err(opts(&[("max_conections", Value::Int(1))]));
        assert!(e.contains("unknown option max_conections"), "{e}");
        assert!(
            e.contains("outbound_buffer") && e.contains("defer_accept"),
            "{e}"
        );
        let e = err(opts(&[("close_timeout", Value::Int(-1))]));
        assert!(e.contains("close_timeout") && e.contains("negative"), "{e}");
        let e = err(opts(&[("run_actor_on_io_thread", Value::Int(1))]));
        assert!(e.contains("run_actor_on_io_thread"), "{e}");
        let e = err(opts(&[("io_thread_stack", Value::Int(1024))]));
        assert!(e.contains("io_thread_stack"), "{e}");
        let e = err(opts(&[("outbound_buffer", Value::str("big"))]));
        assert!(!e.starts_with("accepted"), "{e}");
    }
}
