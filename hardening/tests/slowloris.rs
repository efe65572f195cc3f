//! Slowloris: sockets that send the upgrade request one byte at a time are all closed at the
//! handshake deadline (not before, not much after), and the good clients never notice.
//! Short run: 100 sockets, a byte every 250 ms, a 1.5 s deadline. Soak: 500 sockets, a byte
//! a second, the default 10 s deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use hardening::{size, upgrade_request, GoodClients, ServerArgs, ServerProc, RTT_BOUND};

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");

struct Slow {
    s: TcpStream,
    opened: Instant,
    sent: usize,
    closed_after: Option<Duration>,
    answer: Vec<u8>,
}

/// Reads what the server says without blocking; records when the socket ends.
fn poll_closed(c: &mut Slow) {
    if c.closed_after.is_some() {
        return;
    }
    let mut b = [0u8; 512];
    loop {
        match c.s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => {
                if c.answer.len() < 4096 {
                    c.answer.extend_from_slice(&b[..n]);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    c.closed_after = Some(c.opened.elapsed());
}

#[test]
fn slowloris_sockets_are_closed_at_the_handshake_deadline() {
    let n = size(100, 500);
    let deadline = Duration::from_millis(size(1500, 10_000));
    let byte_every = Duration::from_millis(size(250, 1000));
    let mut args = ServerArgs::default();
    args.opts.handshake_timeout = deadline;
    let mut srv = ServerProc::start(EXE, &args);
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let base = srv.proc_stats();

    let req = upgrade_request("/echo").into_bytes();
    let mut socks: Vec<Slow> = (0..n)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
            s.set_nonblocking(true).unwrap();
            Slow {
                s,
                opened: Instant::now(),
                sent: 0,
                closed_after: None,
                answer: Vec::new(),
            }
        })
        .collect();
    let t0 = Instant::now();
    let give_up = t0 + deadline + Duration::from_secs(5);
    let (_tx, pace) = channel::<()>();
    let mut next_byte = t0;
    let mut peak_threads = 0;
    while Instant::now() < give_up {
        if Instant::now() >= next_byte {
            next_byte += byte_every;
            for c in socks.iter_mut().filter(|c| c.closed_after.is_none()) {
                // One byte; never the whole request (it is ~150 bytes).
                if c.sent < req.len() - 1 && c.s.write(&req[c.sent..c.sent + 1]).is_ok() {
                    c.sent += 1;
                }
            }
        }
        socks.iter_mut().for_each(poll_closed);
        if let Some(p) = hardening::ProcStats::of(srv.pid()) {
            peak_threads = peak_threads.max(p.threads);
        }
        if socks.iter().all(|c| c.closed_after.is_some()) {
            break;
        }
        let _ = pace.recv_timeout(Duration::from_millis(20));
    }

    let open = socks.iter().filter(|c| c.closed_after.is_none()).count();
    assert_eq!(
        open, 0,
        "{open} of {n} slow sockets still open 5 s after the deadline"
    );
    let times: Vec<Duration> = socks.iter().filter_map(|c| c.closed_after).collect();
    let (min, max) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    let upgraded = socks
        .iter()
        .filter(|c| c.answer.starts_with(b"HTTP/1.1 101"))
        .count();
    assert_eq!(upgraded, 0, "a slow socket was upgraded");
    let answers: std::collections::BTreeMap<String, usize> =
        socks.iter().fold(Default::default(), |mut m, c| {
            let line = String::from_utf8_lossy(&c.answer)
                .lines()
                .next()
                .unwrap_or("(closed, no answer)")
                .to_string();
            *m.entry(line).or_default() += 1;
            m
        });
    println!(
        "slowloris: {n} sockets, deadline {deadline:?}, a byte every {byte_every:?}: closed \
         between {min:?} and {max:?} after connecting; answers {answers:?}; server threads \
         {} before, {peak_threads} at peak",
        base.threads
    );
    assert!(
        *min >= deadline - Duration::from_millis(100),
        "a slow socket was closed before the deadline ({min:?})"
    );
    assert!(
        *max <= deadline + Duration::from_secs(3),
        "a slow socket outlived the deadline by too much ({max:?})"
    );

    let report = good.finish();
    println!("slowloris: good clients {report:?}");
    report.assert_ok(RTT_BOUND, 3);
    assert!(hardening::wait_until(Duration::from_secs(5), || srv
        .stats()
        .live
        == 0));
    let s = srv.stats();
    assert_eq!(
        s.accepted, 3,
        "only the good clients reached on_connect: {s:?}"
    );
    assert!(hardening::wait_until(Duration::from_secs(5), || srv
        .proc_stats()
        .threads
        <= base.threads));
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}
