//! Invalid bytes: random garbage after the handshake, garbage instead of a handshake, half
//! handshakes, and random bytes and half handshakes to the TLS port. Each ends in a clean
//! close with the right close code or HTTP status (or at the handshake deadline), with no
//! panic and no log flood, while the good clients go on.
//! Short run: 60 seeds per case. Soak: 1,000.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use hardening::{
    close_code, raw_upgrade, read_frame, read_http_head, size, upgrade_request, wait_until,
    GoodClients, Rng, ServerArgs, ServerProc, TestCert, RTT_BOUND,
};

const EXE: &str = env!("CARGO_BIN_EXE_harden-server");
const DEADLINE: Duration = Duration::from_millis(1000);

fn server(tls: Option<(std::path::PathBuf, std::path::PathBuf)>) -> ServerProc {
    let mut args = ServerArgs::default();
    args.opts.handshake_timeout = DEADLINE;
    args.opts.close_timeout = Duration::from_secs(1);
    args.tls = tls;
    ServerProc::start(EXE, &args)
}

fn tally(m: &mut std::collections::BTreeMap<String, usize>, k: String) {
    *m.entry(k).or_default() += 1;
}

/// Reads until the end of the stream (EOF or reset) within `within`; false if still open.
fn ends_within(s: &mut impl Read, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut b = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn garbage_after_the_handshake_is_closed_with_a_protocol_code() {
    let seeds = size(60u64, 1000);
    let mut srv = server(None);
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let mut outcomes = std::collections::BTreeMap::new();
    for seed in 1..=seeds {
        let mut rng = Rng::new(seed);
        let len = 1 + rng.below(4096) as usize;
        let garbage = rng.bytes(len);
        let mut s = raw_upgrade(srv.port, "/echo", Duration::from_secs(5)).unwrap();
        let _ = s.write_all(&garbage);
        let _ = s.shutdown(Shutdown::Write);
        // Echoed frames (a random prefix can be a valid frame), then the close or the end.
        let outcome = loop {
            match read_frame(&mut s, 64 << 20) {
                Ok(f) if f.opcode == 8 => break format!("close {:?}", close_code(&f.payload)),
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!("seed {seed}: the server neither answered nor closed within 5 s")
                }
                Err(_) => break "end of stream without a close frame".to_string(),
            }
        };
        tally(&mut outcomes, outcome);
    }
    println!("garbage after the handshake: {seeds} seeds: {outcomes:?}");
    for k in outcomes.keys() {
        assert!(
            k.starts_with("end")
                || ["Some(1002)", "Some(1007)", "Some(1009)"]
                    .iter()
                    .any(|c| k.ends_with(c)),
            "unexpected outcome {k}"
        );
    }
    // (`on_close` runs on the actor after the I/O thread has finished: wait for it.)
    assert!(wait_until(Duration::from_secs(10), || {
        let s = srv.stats();
        s.live == 3 && s.closed == seeds
    }));
    let s = srv.stats();
    println!(
        "garbage after the handshake: server on_close codes {:?}",
        s.codes
    );
    for (code, _) in &s.codes {
        assert!(
            [1002, 1006, 1007, 1009].contains(code),
            "on_close reported {code}: {s:?}"
        );
    }
    assert_eq!(s.closed, seeds, "one on_close per garbage connection");
    assert_eq!(s.dup_closes, 0);
    good.finish().assert_ok(RTT_BOUND, 3);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}

#[test]
fn garbage_and_half_handshakes_instead_of_a_handshake() {
    let seeds = size(60u64, 1000);
    let mut srv = server(None);
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let mut outcomes = std::collections::BTreeMap::new();
    for seed in 1..=seeds {
        let mut rng = Rng::new(seed);
        let len = 1 + rng.below(2048) as usize;
        let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
        let _ = s.write_all(&rng.bytes(len));
        let _ = s.shutdown(Shutdown::Write);
        let head =
            read_http_head(&mut s, Instant::now() + Duration::from_secs(5)).unwrap_or_default();
        let status = head.lines().next().unwrap_or("(closed)").to_string();
        assert!(
            status == "(closed)" || status.starts_with("HTTP/1.1 4"),
            "seed {seed}: {status:?}"
        );
        assert!(
            ends_within(&mut s, Duration::from_secs(5)),
            "seed {seed}: left open"
        );
        tally(&mut outcomes, format!("garbage: {status}"));
    }
    // Half handshakes: the request cut short, then the client either leaves or goes silent.
    let req = upgrade_request("/echo").into_bytes();
    let cuts = [1, 10, req.len() / 2, req.len() - 3];
    for &cut in &cuts {
        let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
        s.write_all(&req[..cut]).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let head =
            read_http_head(&mut s, Instant::now() + Duration::from_secs(5)).unwrap_or_default();
        let status = head.lines().next().unwrap_or("(closed)").to_string();
        assert!(!status.contains("101"), "a half request was upgraded");
        tally(&mut outcomes, format!("half, then leaves: {status}"));
    }
    // (In parallel: each waits for the deadline.)
    let port = srv.port;
    let silent: Vec<String> = std::thread::scope(|sc| {
        let hs: Vec<_> = cuts
            .iter()
            .map(|&cut| {
                let req = &req;
                sc.spawn(move || {
                    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    let t0 = Instant::now();
                    s.write_all(&req[..cut]).unwrap();
                    let head = read_http_head(&mut s, t0 + DEADLINE + Duration::from_secs(3))
                        .unwrap_or_default();
                    let status = head.lines().next().unwrap_or("(closed)").to_string();
                    let took = t0.elapsed();
                    assert!(
                        took >= DEADLINE - Duration::from_millis(100),
                        "a silent half request was dropped before the deadline ({took:?})"
                    );
                    assert!(ends_within(&mut s, Duration::from_secs(3)));
                    format!("half, then silent: {status}")
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in silent {
        tally(&mut outcomes, o);
    }
    println!("garbage instead of a handshake: {outcomes:?}");
    let s = srv.stats();
    assert_eq!(
        s.accepted, 3,
        "only the good clients reached on_connect: {s:?}"
    );
    assert!(wait_until(Duration::from_secs(5), || srv.stats().live == 3));
    good.finish().assert_ok(RTT_BOUND, 3);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}

#[test]
fn random_bytes_and_half_handshakes_to_the_tls_port() {
    let seeds = size(60u64, 1000);
    let tc = TestCert::new();
    let mut srv = server(tc.files());
    let tls_port = srv.tls_port.expect("tls port");
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let client_cfg = tc.client_config();
    let mut outcomes = std::collections::BTreeMap::new();

    // Random bytes: an alert or a plain close, quickly.
    for seed in 1..=seeds {
        let mut rng = Rng::new(seed);
        let len = 1 + rng.below(2048) as usize;
        let mut s = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&rng.bytes(len));
        let _ = s.shutdown(Shutdown::Write);
        let mut first = [0u8; 1];
        let what = match s.read(&mut first) {
            Ok(0) => "closed".to_string(),
            Ok(_) if first[0] == 0x15 => "TLS alert".to_string(),
            Ok(_) => format!("record type {}", first[0]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("seed {seed}: no answer and no close within 5 s")
            }
            Err(_) => "reset".to_string(),
        };
        assert!(
            ends_within(&mut s, Duration::from_secs(5)),
            "seed {seed}: left open"
        );
        tally(&mut outcomes, format!("random bytes: {what}"));
    }

    // Half a ClientHello, then silence: dropped at the handshake deadline.
    let mut hello = Vec::new();
    tc.session(&client_cfg).write_tls(&mut hello).unwrap();
    // (These wait for the deadline: all in parallel.)
    let req = upgrade_request("/echo").into_bytes();
    let silent: Vec<String> = std::thread::scope(|sc| {
        let mut hs = Vec::new();
        for cut in [1, 5, hello.len() / 2, hello.len() - 1] {
            let hello = &hello;
            hs.push(sc.spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let t0 = Instant::now();
                s.write_all(&hello[..cut]).unwrap();
                assert!(ends_within(&mut s, DEADLINE + Duration::from_secs(3)));
                let took = t0.elapsed();
                assert!(
                    took >= DEADLINE - Duration::from_millis(100),
                    "dropped early: {took:?}"
                );
                "half a ClientHello: closed at the deadline".to_string()
            }));
        }
        // A whole TLS handshake, then half an upgrade request and silence.
        for cut in [1, req.len() / 2, req.len() - 3] {
            let (req, tc, client_cfg) = (&req, &tc, &client_cfg);
            hs.push(sc.spawn(move || {
                let tcp = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
                tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut tls = rustls::StreamOwned::new(tc.session(client_cfg), tcp);
                let t0 = Instant::now();
                tls.write_all(&req[..cut]).unwrap();
                let mut got = Vec::new();
                let mut b = [0u8; 1024];
                let end = loop {
                    match tls.read(&mut b) {
                        Ok(0) => break "close_notify".to_string(),
                        Ok(n) => got.extend_from_slice(&b[..n]),
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                        {
                            panic!("half request over TLS: still open 5 s on")
                        }
                        Err(e) => break format!("{:?}", e.kind()),
                    }
                };
                let took = t0.elapsed();
                assert!(
                    took >= DEADLINE - Duration::from_millis(100),
                    "dropped early: {took:?}"
                );
                assert!(
                    took <= DEADLINE + Duration::from_secs(3),
                    "dropped late: {took:?}"
                );
                let status = String::from_utf8_lossy(&got)
                    .lines()
                    .next()
                    .unwrap_or("(no answer)")
                    .to_string();
                format!("TLS, half a request: {status}, then {end}")
            }));
        }
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in silent {
        tally(&mut outcomes, o);
    }
    println!("TLS port: {outcomes:?}");
    assert!(wait_until(Duration::from_secs(5), || srv.stats().tls_live == 0));
    let s = srv.stats();
    assert_eq!(
        s.accepted, 3,
        "only the good clients reached on_connect: {s:?}"
    );
    good.finish().assert_ok(RTT_BOUND, 3);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}

/// Each RFC 6455 violation, alone on a fresh connection, gets its close code.
#[test]
fn each_protocol_violation_gets_its_close_code() {
    use hardening::masked_frame;
    let mut srv = server(None);
    let good = GoodClients::echo(srv.port, 3, Duration::from_millis(20));
    let with_first = |first: u8, payload: &[u8]| {
        let mut f = masked_frame(true, 1, payload);
        f[0] = first;
        f
    };
    let close = |code: u16, reason: &[u8]| {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason);
        masked_frame(true, 8, &p)
    };
    let cat = |parts: &[Vec<u8>]| parts.concat();
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("unmasked frame", vec![0x81, 0x02, b'h', b'i'], &[1002]),
        (
            "RSV1 without an extension",
            with_first(0xC1, b"hi"),
            &[1002],
        ),
        ("RSV3", with_first(0x91, b"hi"), &[1002]),
        ("reserved data opcode 3", with_first(0x83, b"hi"), &[1002]),
        (
            "reserved control opcode 0xB",
            with_first(0x8B, b"hi"),
            &[1002],
        ),
        (
            "ping of 126 bytes",
            masked_frame(true, 9, &[0u8; 126]),
            &[1002],
        ),
        ("fragmented ping", masked_frame(false, 9, b"p"), &[1002]),
        (
            "continuation with nothing to continue",
            masked_frame(true, 0, b"x"),
            &[1002],
        ),
        (
            "a new message inside a fragmented one",
            cat(&[masked_frame(false, 1, b"a"), masked_frame(true, 1, b"b")]),
            &[1002],
        ),
        (
            "invalid UTF-8 text",
            masked_frame(true, 1, &[0xff, 0xfe]),
            &[1007],
        ),
        (
            "invalid UTF-8 across fragments",
            cat(&[
                masked_frame(false, 1, &[0xe2, 0x82]),
                masked_frame(true, 0, &[0x28]),
            ]),
            &[1007],
        ),
        ("close code 1005 on the wire", close(1005, b""), &[1002]),
        ("close code 999", close(999, b""), &[1002]),
        ("close code 5000", close(5000, b""), &[1002]),
        (
            "close with a 1-byte payload",
            masked_frame(true, 8, &[3]),
            &[1002],
        ),
        (
            "close reason not UTF-8",
            close(1000, &[0xff]),
            &[1007, 1002],
        ),
        (
            "length with the top bit set",
            {
                let mut v = vec![0x82, 0x80 | 127];
                v.extend_from_slice(&(1u64 << 63).to_be_bytes());
                v.extend_from_slice(&[1, 2, 3, 4]);
                v
            },
            &[1002, 1009],
        ),
        ("a proper close 1000", close(1000, b"bye"), &[1000]),
        ("a proper close 4000", close(4000, b""), &[4000]),
    ];
    let mut report = Vec::new();
    for (name, bytes, want) in &cases {
        let mut s = raw_upgrade(srv.port, "/echo", Duration::from_secs(5)).unwrap();
        s.write_all(bytes).unwrap();
        let got = loop {
            match read_frame(&mut s, 1 << 20) {
                Ok(f) if f.opcode == 8 => break close_code(&f.payload),
                Ok(_) => continue,
                Err(e) => panic!("{name}: no close frame: {e}"),
            }
        };
        report.push(format!("{name}: {got:?}"));
        assert!(
            got.is_some_and(|c| want.contains(&c)),
            "{name}: the server closed with {got:?}, expected one of {want:?}"
        );
        // Our side of the handshake, then the end.
        let _ = s.write_all(&masked_frame(true, 8, &got.unwrap_or(1000).to_be_bytes()));
        assert!(
            ends_within(&mut s, Duration::from_secs(5)),
            "{name}: left open"
        );
    }
    println!("protocol violations: {report:#?}");
    assert!(wait_until(Duration::from_secs(5), || srv.stats().closed
        == cases.len() as u64));
    let s = srv.stats();
    println!("protocol violations: on_close codes {:?}", s.codes);
    assert_eq!(s.dup_closes, 0);
    good.finish().assert_ok(RTT_BOUND, 3);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}

/// Each malformed upgrade request gets its HTTP status, and the socket is closed.
#[test]
fn each_bad_upgrade_request_gets_its_status() {
    let mut srv = server(None);
    let good = GoodClients::echo(srv.port, 2, Duration::from_millis(20));
    let ok_headers = "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                      Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let without = |name: &str| -> String {
        ok_headers
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.starts_with(name))
            .map(|l| format!("{l}\r\n"))
            .collect()
    };
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(&str, String, &[u16])> = vec![
        (
            "POST",
            format!("POST / HTTP/1.1\r\n{ok_headers}\r\n"),
            &[400, 405],
        ),
        (
            "HTTP/1.0",
            format!("GET / HTTP/1.0\r\n{ok_headers}\r\n"),
            &[400, 505],
        ),
        (
            "no Upgrade",
            format!("GET / HTTP/1.1\r\n{}\r\n", without("Upgrade")),
            &[400, 426],
        ),
        (
            "no Connection",
            format!("GET / HTTP/1.1\r\n{}\r\n", without("Connection")),
            &[400],
        ),
        (
            "no key",
            format!("GET / HTTP/1.1\r\n{}\r\n", without("Sec-WebSocket-Key")),
            &[400],
        ),
        (
            "a key that is not 16 bytes",
            format!(
                "GET / HTTP/1.1\r\n{}Sec-WebSocket-Key: c2hvcnQ=\r\n\r\n",
                without("Sec-WebSocket-Key")
            ),
            &[400],
        ),
        (
            "no version",
            format!("GET / HTTP/1.1\r\n{}\r\n", without("Sec-WebSocket-Version")),
            &[400, 426],
        ),
        (
            "version 8",
            format!(
                "GET / HTTP/1.1\r\n{}Sec-WebSocket-Version: 8\r\n\r\n",
                without("Sec-WebSocket-Version")
            ),
            &[426],
        ),
        (
            "100 headers",
            format!("GET / HTTP/1.1\r\n{ok_headers}{many}\r\n"),
            &[431],
        ),
        (
            "a NUL in the path",
            format!("GET /a\0b HTTP/1.1\r\n{ok_headers}\r\n"),
            &[400],
        ),
        (
            "no path",
            format!("GET  HTTP/1.1\r\n{ok_headers}\r\n"),
            &[400],
        ),
        (
            "a bare LF head",
            format!("GET / HTTP/1.1\n{}\n", ok_headers.replace("\r\n", "\n")),
            &[400, 101],
        ),
    ];
    let mut report = Vec::new();
    for (name, req, want) in &cases {
        let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let head =
            read_http_head(&mut s, Instant::now() + Duration::from_secs(5)).unwrap_or_default();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        report.push(format!(
            "{name}: {}",
            head.lines().next().unwrap_or("(closed)")
        ));
        assert!(
            want.contains(&status),
            "{name}: answered {head:?}, expected {want:?}"
        );
        if status == 426 {
            assert!(
                head.contains("Sec-WebSocket-Version: 13"),
                "{name}: 426 without the supported version: {head:?}"
            );
        }
        if status != 101 {
            assert!(
                ends_within(&mut s, Duration::from_secs(5)),
                "{name}: left open"
            );
        }
    }
    println!("bad upgrade requests: {report:#?}");
    good.finish().assert_ok(RTT_BOUND, 2);
    srv.assert_quiet(20);
    srv.stop(Duration::from_secs(10));
}
