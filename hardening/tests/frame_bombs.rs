//! Frame bombs: a frame header claiming 2^62 bytes, and a 100 MiB message sent as 1 KiB
//! fragments, are both closed with 1009 once the limit is crossed, and the server's RSS never
//! grows past the limit plus a small margin.
//! Short run: a 4 MiB message limit. Soak: the default 16 MiB.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hardening::{
    close_code, raw_upgrade, read_frame, size, wait_until, GoodClients, RssMonitor, ServerArgs,
    ServerProc, RTT_BOUND,
};

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");
const MIB: usize = 1 << 20;
/// What the server may hold beyond the message limit: reassembly growth, read buffers,
/// allocator slack.
const MARGIN_KB: u64 = 8 * 1024;

/// Reads server frames until a close; returns its code (`None`: the stream ended first).
fn close_of(s: &mut TcpStream) -> Option<u16> {
    loop {
        match read_frame(s, 1 << 20) {
            Ok(f) if f.opcode == 8 => return close_code(&f.payload),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

fn server(limit: usize) -> ServerProc {
    let mut args = ServerArgs::default();
    args.opts.max_message_size = limit;
    args.opts.max_frame_size = limit;
    ServerProc::start(EXE, &args)
}

#[test]
fn a_header_claiming_2_pow_62_bytes_is_closed_with_1009() {
    let limit = size(4 * MIB, 16 * MIB);
    let mut srv = server(limit);
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let before = srv.proc_stats();
    let mon = RssMonitor::start(srv.pid(), Duration::from_millis(5));
    let mut s = raw_upgrade(srv.port, "/echo", Duration::from_secs(5)).unwrap();
    let mut bomb = vec![0x82, 0x80 | 127];
    bomb.extend_from_slice(&(1u64 << 62).to_be_bytes());
    bomb.extend_from_slice(&[1, 2, 3, 4]);
    bomb.extend_from_slice(&[0u8; 1024]);
    s.write_all(&bomb).unwrap();
    assert_eq!(close_of(&mut s), Some(1009));
    let peak = mon.finish();
    println!(
        "2^62 header: closed with 1009; server RSS {} KiB before, {peak} KiB at peak",
        before.rss_kb
    );
    assert!(peak <= before.rss_kb + MARGIN_KB);
    assert!(wait_until(Duration::from_secs(5), || srv
        .stats()
        .code(1009)
        == 1));
    let report = good.finish();
    report.assert_ok(RTT_BOUND, 3);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}

#[test]
fn a_100_mib_message_in_1_kib_fragments_is_closed_with_1009_at_the_limit() {
    let limit = size(4 * MIB, 16 * MIB);
    let mut srv = server(limit);
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let before = srv.proc_stats();
    let mon = RssMonitor::start(srv.pid(), Duration::from_millis(5));
    let mut s = raw_upgrade(srv.port, "/echo", Duration::from_secs(10)).unwrap();
    let mut w = s.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let writer = std::thread::spawn(move || {
        let payload = [b'z'; 1024];
        let first = hardening::masked_frame(false, 2, &payload);
        let cont = hardening::masked_frame(false, 0, &payload);
        // A batch of 64 continuation frames per write.
        let batch: Vec<u8> = cont.repeat(64);
        let mut sent = 0usize;
        if w.write_all(&first).is_err() {
            return sent;
        }
        sent += 1024;
        while sent < 100 * MIB && !stop2.load(Ordering::Relaxed) {
            if w.write_all(&batch).is_err() {
                break;
            }
            sent += 64 * 1024;
        }
        sent
    });
    let code = close_of(&mut s);
    stop.store(true, Ordering::Relaxed);
    drop(s);
    let sent = writer.join().unwrap();
    let peak = mon.finish();
    println!(
        "fragment bomb: limit {} MiB; closed with {code:?} after the client wrote {} KiB; \
         server RSS {} KiB before, {peak} KiB at peak (+{} KiB)",
        limit / MIB,
        sent / 1024,
        before.rss_kb,
        peak.saturating_sub(before.rss_kb)
    );
    assert_eq!(code, Some(1009));
    assert!(sent >= limit, "closed before the limit was crossed");
    assert!(sent < 100 * MIB, "the whole 100 MiB went in");
    assert!(
        peak <= before.rss_kb + (limit / 1024) as u64 + MARGIN_KB,
        "RSS grew by {} KiB with a {} KiB limit",
        peak - before.rss_kb,
        limit / 1024
    );
    assert!(wait_until(Duration::from_secs(5), || srv
        .stats()
        .code(1009)
        == 1));
    let report = good.finish();
    report.assert_ok(RTT_BOUND, 3);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}

/// The limit itself: a message of exactly `max_message_size` bytes (one frame, or fragments)
/// is echoed whole; one byte more is closed with 1009.
#[test]
fn a_message_at_the_limit_passes_and_one_byte_more_is_1009() {
    let limit = size(MIB, 16 * MIB);
    let mut srv = server(limit);
    let payload: Vec<u8> = (0..limit).map(|i| (i % 251) as u8).collect();
    let echo = |frames: Vec<Vec<u8>>| -> Option<u16> {
        let mut s = raw_upgrade(srv.port, "/echo", Duration::from_secs(10)).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            for f in frames {
                if w.write_all(&f).is_err() {
                    break;
                }
            }
        });
        let r = match read_frame(&mut s, 64 * MIB) {
            Ok(f) if f.opcode == 8 => close_code(&f.payload),
            Ok(f) => {
                assert_eq!(f.payload.len(), limit, "echo length");
                assert!(f.payload == payload[..], "echo content");
                None
            }
            Err(e) => panic!("no answer: {e}"),
        };
        writer.join().unwrap();
        r
    };
    // Exactly the limit: one frame, then 64 KiB fragments.
    assert_eq!(echo(vec![hardening::masked_frame(true, 2, &payload)]), None);
    let chunks: Vec<&[u8]> = payload.chunks(64 * 1024).collect();
    let frames: Vec<Vec<u8>> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let op = if i == 0 { 2 } else { 0 };
            hardening::masked_frame(i == chunks.len() - 1, op, c)
        })
        .collect();
    assert_eq!(echo(frames), None);
    // One byte more: one frame, then the limit in fragments plus a 1-byte last fragment.
    let mut over = payload.clone();
    over.push(0);
    assert_eq!(
        echo(vec![hardening::masked_frame(true, 2, &over)]),
        Some(1009)
    );
    let frames = vec![
        hardening::masked_frame(false, 2, &payload),
        hardening::masked_frame(true, 0, &[0]),
    ];
    assert_eq!(echo(frames), Some(1009));
    println!(
        "message limit {} bytes: the limit passes (one frame and fragments); limit + 1 gets 1009",
        limit
    );
    assert!(wait_until(Duration::from_secs(5), || srv
        .stats()
        .code(1009)
        == 2));
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}
