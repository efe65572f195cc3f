//! Nothing lost under flow control: a client that sends as fast as it can on one thread and
//! reads on another gets every echo, in order, although the server stops reading it whenever
//! its handler falls behind (inbound bounds) — while the good clients go on.
//! Short run: 3 clients × 20,000 messages with small inbound bounds. Soak: 3 × 200,000.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use hardening::{size, wait_until, GoodClients, ServerArgs, ServerProc, RTT_BOUND};
use tungstenite::Message;

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");

/// Sends `n` numbered messages from one thread while a clone of the socket reads the echoes
/// on another; returns the time taken, or what went wrong.
fn pipeline(port: u16, id: usize, n: u64) -> Result<Duration, String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}/echo"), s)
        .map_err(|e| format!("client {id}: handshake: {e}"))?;
    // tungstenite's WebSocket is one object; split it by handing the raw socket to a second
    // WebSocket for reading (the server's frames are unmasked, so a client-role reader works).
    let raw = ws.get_ref().try_clone().map_err(|e| e.to_string())?;
    let mut reader =
        tungstenite::WebSocket::from_raw_socket(raw, tungstenite::protocol::Role::Client, None);
    let mut writer = ws;
    let t0 = Instant::now();
    let r = std::thread::spawn(move || -> Result<(), String> {
        for i in 0..n {
            let t = loop {
                match reader.read() {
                    Ok(Message::Text(t)) => break t,
                    Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                    Ok(m) => return Err(format!("client {id}: unexpected {m:?}")),
                    Err(e) => return Err(format!("client {id}: echo {i}: {e}")),
                }
            };
            let want = format!("{id}:{i}:");
            if !t.as_str().starts_with(&want) {
                return Err(format!(
                    "client {id}: expected echo #{i}, got {:?} (lost or out of order)",
                    &t.as_str()[..t.len().min(20)]
                ));
            }
        }
        Ok(())
    });
    let pad = "p".repeat(100);
    for i in 0..n {
        writer
            .send(Message::text(format!("{id}:{i}:{pad}")))
            .map_err(|e| format!("client {id}: send {i}: {e}"))?;
    }
    r.join().map_err(|_| "reader panicked".to_string())??;
    let took = t0.elapsed();
    let _ = writer.close(None);
    Ok(took)
}

#[test]
fn a_fast_sender_gets_every_echo_in_order() {
    let n = size(20_000u64, 200_000);
    let mut args = ServerArgs::default();
    args.opts.inbound_queue_messages = 16;
    args.opts.inbound_queue_bytes = 4 * 1024;
    let mut srv = ServerProc::start(EXE, &args);
    let good = GoodClients::echo(srv.port, 2, Duration::from_millis(20));
    let port = srv.port;
    let hs: Vec<_> = (0..3)
        .map(|id| std::thread::spawn(move || pipeline(port, id, n)))
        .collect();
    let took: Vec<Duration> = hs
        .into_iter()
        .map(|h| h.join().unwrap().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let s = srv.stats();
    println!(
        "pipelined echo: 3 clients × {n} messages with inbound bounds of 16 messages / 4 KiB: \
         all echoed in order in {:?} (slowest client); server saw {} messages",
        took.iter().max().unwrap(),
        s.messages
    );
    let g = good.finish();
    println!("pipelined echo: good clients {g:?}");
    g.assert_ok(RTT_BOUND, 2);
    assert!(wait_until(Duration::from_secs(5), || srv.stats().live == 0));
    assert_eq!(srv.stats().code(1008), 0, "nobody hit the outbound rule");
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}
