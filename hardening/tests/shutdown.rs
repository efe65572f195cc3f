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
    let (stop_took, exit_took) = srv.stop(bound);
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
