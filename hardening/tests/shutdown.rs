//! Shutdown under load: `Server::stop` while every client is busy sending. Every client gets
//! a close frame with 1001, the process exits in bounded time, and nothing hangs.
//! Short run: 200 clients. Soak: 1,000.

use std::net::TcpStream;
use std::sync::mpsc::channel;
use std::time::Duration;

use hardening::{size, wait_until, ServerArgs, ServerProc};
use tungstenite::Message;

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");

/// Echo round trips until the server closes; returns the close code it sent (and how many
/// round trips were done).
fn busy_client(
    port: u16,
    id: usize,
    ready: std::sync::mpsc::Sender<()>,
) -> Result<(Option<u16>, u64), String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}/echo"), s)
        .map_err(|e| format!("client {id}: handshake: {e}"))?;
    let mut code = None;
    let mut n = 0u64;
    let mut ready = Some(ready);
    'talk: while n < 10_000_000 {
        let text = format!("{id} {n}");
        if ws.send(Message::text(text.clone())).is_err() {
            break; // closing: the close frame is (or will be) in the input
        }
        loop {
            match ws.read() {
                Ok(Message::Text(t)) if t.as_str() == text => break,
                Ok(Message::Close(f)) => {
                    code = f.map(|f| u16::from(f.code));
                    break 'talk;
                }
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(m) => return Err(format!("client {id}: unexpected {m:?}")),
                Err(e) => return Err(format!("client {id}: read after {n} round trips: {e}")),
            }
        }
        n += 1;
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
    }
    // Read up to the end of the stream (tungstenite answers the close on this read).
    loop {
        match ws.read() {
            Ok(Message::Close(f)) if code.is_none() => code = f.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => break,
            Err(e) => return Err(format!("client {id}: after the close: {e}")),
        }
    }
    Ok((code, n))
}

#[test]
fn stop_under_load_sends_1001_to_everyone_and_exits_in_bounded_time() {
    let n = size(200usize, 1000);
    let stop_timeout = Duration::from_secs(2);
    let mut args = ServerArgs::default();
    args.opts.stop_timeout = stop_timeout;
    let mut srv = ServerProc::start(EXE, &args);
    let port = srv.port;
    let (ready_tx, ready) = channel();
    let hs: Vec<_> = (0..n)
        .map(|id| {
            let r = ready_tx.clone();
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || busy_client(port, id, r))
                .expect("client thread")
        })
        .collect();
    drop(ready_tx);
    for i in 0..n {
        ready
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("only {i} of {n} clients got going: {e}"));
    }
    assert!(wait_until(Duration::from_secs(5), || srv.stats().live == n));
    let load = srv.proc_stats();
    // Bounded: the stop timeout, one more second for the stragglers (see `Server::stop`),
    // and slack for a machine whose load is far above its 2 cores.
    let bound = stop_timeout + Duration::from_secs(6);
    let report = srv.stop_report(bound);
    let (stop_took, exit_took) = (report.stop, report.exit);
    let results: Vec<Result<(Option<u16>, u64), String>> = hs
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect();
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let mut codes = std::collections::BTreeMap::<Option<u16>, usize>::new();
    let mut trips = 0;
    for (c, t) in results.iter().flatten() {
        *codes.entry(*c).or_default() += 1;
        trips += t;
    }
    println!(
        "shutdown under load: {n} busy clients ({trips} round trips in all; server {load}); \
         Server::stop took {stop_took:?}, the process exited {exit_took:?} after the command; \
         close codes seen {codes:?}; errors {}",
        errors.len()
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        codes.get(&Some(1001)),
        Some(&n),
        "every client gets 1001: {codes:?}"
    );
    assert!(exit_took <= bound, "exit took {exit_took:?}");
}

/// A client that only waits for the server's close (plain or TLS); returns its code.
fn waiting_client<S: std::io::Read + std::io::Write>(
    mut ws: tungstenite::WebSocket<S>,
) -> Result<Option<u16>, String> {
    let mut code = None;
    loop {
        match ws.read() {
            Ok(Message::Close(f)) => code = f.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(code)
            }
            Err(e) if code.is_some() => return Err(format!("after close {code:?}: {e}")),
            Err(e) => return Err(format!("before any close: {e}")),
        }
    }
}

/// Reads until the end of the stream; true if it came within `within`.
fn ends_within(s: &mut impl std::io::Read, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    let mut b = [0u8; 1024];
    while std::time::Instant::now() < deadline {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn stop_with_sockets_in_every_state_ends_them_all() {
    use std::io::Write;
    let k = size(20usize, 200);
    let tc = hardening::TestCert::new();
    let stop_timeout = Duration::from_secs(1);
    let mut args = ServerArgs::default();
    args.opts.stop_timeout = stop_timeout;
    args.tls = tc.files();
    let mut srv = ServerProc::start(EXE, &args);
    let (port, tls_port) = (srv.port, srv.tls_port.unwrap());
    let cfg = tc.client_config();

    // Open and idle, plain and TLS, some in a room.
    let mut waiting = Vec::new();
    for i in 0..k {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let path = if i % 2 == 0 { "/echo" } else { "/room/idle" };
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), s).unwrap();
        waiting.push(std::thread::spawn(move || waiting_client(ws)));
        let ws = tc
            .connect(&cfg, tls_port, "/echo", Duration::from_secs(20))
            .unwrap();
        waiting.push(std::thread::spawn(move || waiting_client(ws)));
    }
    // A member that never reads, with about 3 MiB sent to it (socket buffers full, the rest
    // queued): its 1001 cannot get through, so the stop timeout ends it.
    let stalled = hardening::raw_upgrade(port, "/room/stall", Duration::from_secs(5)).unwrap();
    {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let (mut ws, _) =
            tungstenite::client(format!("ws://127.0.0.1:{port}/room/stall"), s).unwrap();
        let chunk = "s".repeat(1024);
        for _ in 0..3000 {
            ws.send(Message::text(chunk.clone())).unwrap();
        }
        waiting.push(std::thread::spawn(move || waiting_client(ws)));
    }
    // Mid-handshake: half an upgrade request (plain), half a ClientHello (TLS).
    let req = hardening::upgrade_request("/echo").into_bytes();
    let mut hello = Vec::new();
    tc.session(&cfg).write_tls(&mut hello).unwrap();
    let mut half_open = vec![stalled];
    for _ in 0..k {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&req[..req.len() / 2]).unwrap();
        half_open.push(s);
        let mut s = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
        s.write_all(&hello[..hello.len() / 2]).unwrap();
        half_open.push(s);
    }
    assert!(wait_until(Duration::from_secs(10), || {
        let s = srv.stats();
        s.live == 2 * k + 2 && s.tls_live == 2 * k && s.messages == 3000
    }));
    let before = srv.proc_stats();
    let bound = stop_timeout + Duration::from_secs(6);
    let report = srv.stop_report(bound);
    let (stop_took, exit_took) = (report.stop, report.exit);
    let codes: Vec<Result<Option<u16>, String>> =
        waiting.into_iter().map(|h| h.join().unwrap()).collect();
    let ended = half_open
        .iter_mut()
        .map(|s| ends_within(s, Duration::from_secs(5)))
        .filter(|&e| e)
        .count();
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for c in &codes {
        *tally.entry(format!("{c:?}")).or_default() += 1;
    }
    println!(
        "stop with every state: {k} idle ws + {k} idle wss + a stalled reader + {k} half \
         requests + {k} half ClientHellos (server {before}); stop took {stop_took:?}, exit {exit_took:?}; open \
         clients saw {tally:?}; {ended}/{} half-open or stalled sockets ended",
        half_open.len()
    );
    assert_eq!(tally.get("Ok(Some(1001))"), Some(&(2 * k + 1)), "{tally:?}");
    assert_eq!(ended, half_open.len());
    let st = &report.stats;
    println!(
        "stop with every state: server side: accepted {}, on_close {} (codes {:?}), repeated {}",
        st.accepted, st.closed, st.codes, st.dup_closes
    );
    assert_eq!(
        st.accepted,
        2 * k as u64 + 2,
        "the half-open ones never reached on_connect"
    );
    assert_eq!(
        st.closed, st.accepted,
        "on_close once for every accepted connection"
    );
    assert_eq!(st.dup_closes, 0);
}

/// `stop` in the middle of churn: connections are being accepted, upgraded, used and closed
/// while the server stops. Every one that was accepted gets exactly one `on_close`, nothing
/// hangs, and the process exits in bounded time. (Before the fix of finding 1 in
/// docs/hardening.md this failed in about 4 runs of 10: a `stop` landing while `on_connect`
/// ran left that handler without `on_close`.)
#[test]
fn stop_during_churn_leaves_no_connection_behind() {
    let threads = 12;
    let stop_timeout = Duration::from_secs(1);
    let mut args = ServerArgs::default();
    args.opts.stop_timeout = stop_timeout;
    let mut srv = ServerProc::start(EXE, &args);
    let port = srv.port;
    let hs: Vec<_> = (0..threads)
        .map(|w| {
            std::thread::spawn(move || {
                let mut cycles = 0u64;
                // Bounded: until the server is gone (connect fails) or 10 s, whichever first.
                let end = std::time::Instant::now() + Duration::from_secs(10);
                while std::time::Instant::now() < end {
                    let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
                        break;
                    };
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let path = if w % 2 == 0 { "/echo" } else { "/room/churn" };
                    if let Ok((mut ws, _)) =
                        tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), s)
                    {
                        let _ = ws.send(Message::text("x"));
                        if w % 2 == 0 {
                            let _ = ws.read();
                        }
                        if cycles % 3 != 0 {
                            let _ = ws.close(None);
                            while ws.read().is_ok() {}
                        }
                    }
                    cycles += 1;
                }
                cycles
            })
        })
        .collect();
    assert!(wait_until(Duration::from_secs(10), || srv.stats().accepted >= 200));
    let report = srv.stop_report(stop_timeout + Duration::from_secs(6));
    let cycles: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    let st = &report.stats;
    println!(
        "stop during churn: {cycles} cycles by {threads} threads; stop took {:?}, exit {:?}; \
         accepted {}, on_close {} (codes {:?}), repeated {}, rooms left {:?}",
        report.stop, report.exit, st.accepted, st.closed, st.codes, st.dup_closes, st.roomlist
    );
    assert_eq!(
        st.closed, st.accepted,
        "an accepted connection got no on_close"
    );
    assert_eq!(st.dup_closes, 0);
    assert_eq!(st.live, 0);
    assert_eq!(st.rooms, 0, "rooms left after stop: {:?}", st.roomlist);
}
