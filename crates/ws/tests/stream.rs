//! `WsStream` over loopback, plain and TLS: one thread blocked in a read while others write
//! (the writer must never wait for the reader), and a non-blocking TLS server driven by
//! `poll(2)` with `wants_write` / `flush_pending`.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use common::pki;
use ws::WsStream;

const CHUNK: usize = 16 * 1024;
const CHUNKS: usize = 200;

struct Pair {
    client: Arc<WsStream>,
    server: WsStream,
}

fn pair(tls: bool) -> Pair {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let c = TcpStream::connect(addr).unwrap();
    let (s, _) = listener.accept().unwrap();
    if !tls {
        return Pair {
            client: Arc::new(WsStream::plain(c)),
            server: WsStream::plain(s),
        };
    }
    let p = pki();
    let server_cfg =
        ws::server_config_from_pem(p.cert_pem.as_bytes(), p.key_pem.as_bytes()).unwrap();
    let client_cfg = ws::client_config_from_pem(p.ca_pem.as_bytes()).unwrap();
    let server = WsStream::tls_server(s, server_cfg).unwrap();
    let client = WsStream::tls_client(c, client_cfg, "localhost").unwrap();
    Pair {
        client: Arc::new(client),
        server,
    }
}

/// Reads exactly `n` bytes (blocking).
fn read_n(mut s: &WsStream, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    s.read_exact(&mut out).unwrap();
    out
}

fn writer_never_waits_for_blocked_reader(tls: bool) {
    let Pair { client, server } = pair(tls);
    server
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The server reads everything, then answers "done".
    let srv = std::thread::spawn(move || {
        let data = read_n(&server, CHUNK * CHUNKS);
        (&server).write_all(b"done").unwrap();
        (&server).flush().unwrap();
        data
    });
    // Blocking sockets: finish the TLS handshake before sharing the stream (see the contract).
    client.complete_handshake().unwrap();
    // The client's reader blocks in read: nothing arrives until every write is through.
    let reader_stream = client.clone();
    let reader = std::thread::spawn(move || read_n(&reader_stream, 4));
    // The writer runs in its own thread so that a deadlock fails the test instead of hanging.
    let (tx, rx) = mpsc::channel();
    let writer_stream = client.clone();
    std::thread::spawn(move || {
        for i in 0..CHUNKS {
            (&*writer_stream).write_all(&vec![i as u8; CHUNK]).unwrap();
        }
        (&*writer_stream).flush().unwrap();
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("writer blocked behind the reader");
    assert_eq!(reader.join().unwrap(), b"done");
    let data = srv.join().unwrap();
    for (i, c) in data.chunks(CHUNK).enumerate() {
        assert!(c.iter().all(|b| *b == i as u8), "chunk {i} corrupted");
    }
}

#[test]
fn plain_writer_never_waits_for_blocked_reader() {
    writer_never_waits_for_blocked_reader(false);
}

#[test]
fn tls_writer_never_waits_for_blocked_reader() {
    writer_never_waits_for_blocked_reader(true);
}

#[test]
fn tls_read_timeout_loses_nothing() {
    let Pair { client, server } = pair(true);
    let srv = std::thread::spawn(move || {
        server
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let got = read_n(&server, 5);
        (&server).write_all(b"world").unwrap();
        got
    });
    client.complete_handshake().unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 16];
    let e = (&*client).read(&mut buf).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{e}"
    );
    (&*client).write_all(b"hello").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(read_n(&client, 5), b"world");
    assert_eq!(srv.join().unwrap(), b"hello");
}

/// Waits until `fd` is readable (or writable, if asked), at most 10 s.
fn wait(fd: i32, write: bool) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN | if write { libc::POLLOUT } else { 0 },
        revents: 0,
    };
    // SAFETY: `p` is a valid pollfd for the duration of the call, and nfds is 1.
    let r = unsafe { libc::poll(&mut p, 1, 10_000) };
    assert!(r > 0, "poll timed out or failed");
}

#[test]
fn tls_nonblocking_server_echoes_a_megabyte() {
    use std::os::fd::AsRawFd;
    const TOTAL: usize = 1 << 20;
    let Pair { client, server } = pair(true);
    server.set_nonblocking(true).unwrap();
    // Non-blocking echo server: poll, read until WouldBlock, write back with back-pressure.
    let srv = std::thread::spawn(move || {
        let fd = server.as_raw_fd();
        let mut echoed = 0;
        let mut backlog: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        while echoed < TOTAL {
            wait(fd, server.wants_write() || !backlog.is_empty());
            match server.flush_pending() {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            loop {
                match (&server).read(&mut buf) {
                    Ok(0) => panic!("early EOF"),
                    Ok(n) => backlog.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            while !backlog.is_empty() {
                match (&server).write(&backlog) {
                    Ok(n) => {
                        backlog.drain(..n);
                        echoed += n;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        while server.wants_write() {
            wait(fd, true);
            match server.flush_pending() {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
    });
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    client.complete_handshake().unwrap();
    let reader_stream = client.clone();
    let reader = std::thread::spawn(move || read_n(&reader_stream, TOTAL));
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    for c in data.chunks(10_000) {
        (&*client).write_all(c).unwrap();
    }
    assert!(reader.join().unwrap() == data, "echo differs");
    srv.join().unwrap();
    client.shutdown(std::net::Shutdown::Both).unwrap();
}

/// A connected pair whose server side is NON-BLOCKING with its TLS handshake done (driven by
/// the server's own reads, as the bridge's poll loop drives it).
fn nonblocking_pair(tls: bool) -> Pair {
    use std::os::fd::AsRawFd;
    let Pair { client, server } = pair(tls);
    server.set_nonblocking(true).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let c = client.clone();
    let hs = std::thread::spawn(move || c.complete_handshake().unwrap());
    let mut buf = [0u8; 64];
    while server.is_handshaking() {
        wait(server.as_raw_fd(), server.wants_write());
        match server.flush_pending() {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
        match (&server).read(&mut buf) {
            Ok(n) => panic!("no application data expected yet ({n} bytes)"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    hs.join().unwrap();
    Pair { client, server }
}

/// Reads once the socket is readable; retries while rustls has only part of a record.
fn read_drained_when_ready(s: &WsStream, buf: &mut [u8]) -> (usize, bool) {
    use std::os::fd::AsRawFd;
    loop {
        match s.read_drained(buf) {
            Ok(r) => return r,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => wait(s.as_raw_fd(), false),
            Err(e) => panic!("{e}"),
        }
    }
}

/// `size`: the read buffer (TLS: below 4 KiB the ciphertext goes through the stream's own
/// stack buffer, from 4 KiB on through the caller's).
fn read_drained_says_when_the_socket_is_empty(tls: bool, size: usize) {
    let Pair { client, server } = nonblocking_pair(tls);
    // A short message in one read: drained, the next read would only say WouldBlock.
    (&*client).write_all(b"hello").unwrap();
    let mut buf = vec![0u8; size];
    assert_eq!(read_drained_when_ready(&server, &mut buf), (5, true));
    assert_eq!(&buf[..5], b"hello");
    let e = server.read_drained(&mut buf).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    // More than the buffer holds (one write, so it arrives at once): the first read is not
    // drained, and nothing is lost.
    let total = size * 5 / 4;
    let sent: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    (&*client).write_all(&sent).unwrap();
    let (n, drained) = read_drained_when_ready(&server, &mut buf);
    assert_eq!((n, drained), (size, false));
    let mut got = buf[..n].to_vec();
    while got.len() < total {
        let (n, _) = read_drained_when_ready(&server, &mut buf);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got == sent, "bytes differ");
}

#[test]
fn plain_read_drained_says_when_the_socket_is_empty() {
    read_drained_says_when_the_socket_is_empty(false, 100);
    read_drained_says_when_the_socket_is_empty(false, 16 * 1024);
}

#[test]
fn tls_read_drained_says_when_the_socket_is_empty() {
    read_drained_says_when_the_socket_is_empty(true, 100);
    read_drained_says_when_the_socket_is_empty(true, 16 * 1024);
}

fn vectored_write_carries_several_buffers(tls: bool) {
    let Pair { client, server } = nonblocking_pair(tls);
    // Plain: small enough for a fresh socket's send buffer; TLS: past the 64 KiB bound.
    let size = if tls { 50 * 1024 } else { 2 * 1024 };
    let (a, b, c) = (vec![1u8; size], vec![2u8; size], vec![3u8; size]);
    let bufs = [
        std::io::IoSlice::new(&a),
        std::io::IoSlice::new(&b),
        std::io::IoSlice::new(&c),
    ];
    let n = (&server).write_vectored(&bufs).unwrap();
    // More than the first buffer; TLS hands rustls 64 KiB per write at most.
    assert!(n > a.len(), "{n}");
    assert_eq!(n, if tls { 64 * 1024 } else { 3 * size });
    // What was accepted arrives, in order.
    let reader = client.clone();
    let r = std::thread::spawn(move || read_n(&reader, n));
    while server.wants_write() {
        wait(std::os::fd::AsRawFd::as_raw_fd(&server), true);
        match server.flush_pending() {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    let got = r.join().unwrap();
    let sent: Vec<u8> = [a, b, c].concat();
    assert!(got == sent[..n], "bytes differ");
}

#[test]
fn plain_vectored_write_carries_several_buffers() {
    vectored_write_carries_several_buffers(false);
}

#[test]
fn tls_vectored_write_is_bounded_and_carries_several_buffers() {
    vectored_write_carries_several_buffers(true);
}

#[test]
fn tls_eof_with_and_without_close_notify() {
    // close_notify, then FIN: a clean EOF.
    let Pair { client, server } = nonblocking_pair(true);
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(read_drained_when_ready(&server, &mut buf).0, 0);
    // FIN without close_notify: UnexpectedEof, which a caller may treat as the peer closing.
    let Pair { client, server } = nonblocking_pair(true);
    client.tcp().shutdown(std::net::Shutdown::Write).unwrap();
    let e = loop {
        match server.read_drained(&mut buf) {
            Ok(r) => panic!("expected an error, got {r:?}"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                wait(std::os::fd::AsRawFd::as_raw_fd(&server), false)
            }
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
}
