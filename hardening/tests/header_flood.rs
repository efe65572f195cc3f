//! Header flood: a 1 MiB header block (many header lines, or one huge line) is answered 431
//! and the connection closed; the server's memory stays flat and the good clients go on.
//! Short run: 4 floods of each shape. Soak: 50 of each.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hardening::{read_http_head, size, GoodClients, RssMonitor, ServerArgs, ServerProc, RTT_BOUND};

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");
const MIB: usize = 1 << 20;

/// The 1 MiB header block: `lines` header lines of equal length, then the blank line.
fn flood(lines: usize) -> Vec<u8> {
    let mut v = b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec();
    let per = MIB / lines;
    for i in 0..lines {
        let name = format!("X-Flood-{i}: ");
        v.extend_from_slice(name.as_bytes());
        v.resize(v.len() + per.saturating_sub(name.len() + 2), b'a');
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"\r\n");
    v
}

/// Sends one flood while reading the answer; returns the status line and whether the
/// connection was closed afterwards.
fn attack(port: u16, block: &[u8]) -> (String, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    let block = block.to_vec();
    // The server stops reading at its limit; the writer then fails (reset) or times out.
    let writer = std::thread::spawn(move || {
        let mut sent = 0;
        for chunk in block.chunks(16 * 1024) {
            if w.write_all(chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let head = read_http_head(&mut s, Instant::now() + Duration::from_secs(5)).unwrap_or_default();
    let status = head.lines().next().unwrap_or("").to_string();
    // After the answer: the end of the stream (EOF or reset) within the deadline.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 4096];
    let closed = loop {
        match s.read(&mut b) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                break !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    };
    // (The kernel's socket buffers may take the whole MiB; what the server read is bounded
    // by its limit, which the RSS check below sees.)
    let _sent = writer.join().unwrap();
    (status, closed)
}

#[test]
fn a_1_mib_header_block_gets_431_and_memory_stays_flat() {
    let rounds = size(4, 50);
    let mut srv = ServerProc::start(EXE, &ServerArgs::default());
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let before = srv.proc_stats();
    let mon = RssMonitor::start(srv.pid(), Duration::from_millis(10));
    let shapes = [("many lines", flood(1024)), ("one line", flood(1))];
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..rounds {
        for (shape, block) in &shapes {
            let (status, closed) = attack(srv.port, block);
            assert!(
                closed,
                "{shape}: the connection stayed open after {status:?}"
            );
            *statuses.entry(format!("{shape}: {status}")).or_default() += 1;
        }
    }
    let peak = mon.finish();
    let after = srv.proc_stats();
    println!(
        "header flood: {} floods of 1 MiB; answers {statuses:?}; server RSS {} KiB before, \
         {} KiB after, {} KiB at peak",
        2 * rounds,
        before.rss_kb,
        after.rss_kb,
        peak
    );
    for (k, n) in &statuses {
        assert!(
            k.ends_with("HTTP/1.1 431 Request Header Fields Too Large"),
            "{n} floods answered {k:?}, not 431"
        );
    }
    assert!(
        peak <= before.rss_kb + 4 * 1024,
        "RSS grew by {} KiB during the floods",
        peak - before.rss_kb
    );
    let report = good.finish();
    println!("header flood: good clients {report:?}");
    report.assert_ok(RTT_BOUND, 3);
    let s = srv.stats();
    assert_eq!(s.accepted, 3, "no flood reached on_connect: {s:?}");
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}
