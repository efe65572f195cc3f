//! Codec benchmark: `ws` against `tungstenite` on identical inputs, each driven the way a
//! server drives it, including the copy to or from the "socket" (in memory here, so the
//! figures measure user-space work; the kernel's own copy is simulated by a `memcpy`).
//!
//! * decode + unmask: a buffer of masked client frames (binary messages, made once by
//!   tungstenite's encoder with fixed keys) is "received" by a server-role decoder that returns
//!   each message as an owned buffer. The "socket" is a `Cursor` over that buffer; every byte is
//!   copied out of it once (the kernel's copy to user space). tungstenite runs its full server
//!   read path (`WebSocket::read`, reads into its own buffer, zero-filled first, then
//!   the payload unmasked in place). ws runs the bridge's loop: reads into a reused
//!   read buffer, each `Connection::feed` until used up (payload copied into the message and
//!   unmasked in one pass). Both read the same number of bytes per read: 16 KiB (the bridge's
//!   read buffer) and 128 KiB (tungstenite's default), one row each; tungstenite is faster
//!   with 16 KiB reads than with its default, so the 16 KiB row is the stricter comparison.
//! * encode (server): one unmasked frame per message, handed to a sink that simulates the
//!   socket: every byte written is copied into a reused 256 KiB buffer (cycling), as the kernel
//!   copies into its send buffer; `write_vectored` copies every slice, as `writev` does. ws
//!   writes an `OutFrame` (stack header + payload in one vectored write); tungstenite runs
//!   `WebSocket::send` (encode into its write buffer, write, flush) over the same sink.
//! * encode + mask (client): the same with masking, both drawing a random key per frame: ws
//!   `encode_into` a reused buffer + `write_all`; tungstenite `WebSocket::send` in the client
//!   role.
//!
//! Payload sizes 16 B, 1 KiB, 64 KiB, 1 MiB; batches of about 8 MiB of payload. Each case runs
//! alternately for a budget of thread CPU time and prints the best measured throughput (MiB of
//! payload per CPU second) for both and the ratio ws / tungstenite.
//! Run with `crates/ws/bench/run.sh` (release build). Nothing is asserted; figures are measured.

use std::hint::black_box;
use std::io::{self, Cursor, Read, Write};
use std::time::Duration;

use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};
use tungstenite::{Bytes, Message};
use ws::{encode_into, Config, Connection, Event, Opcode, OutFrame, Role};

/// Socket read sizes of the decode cases, the same for both libraries: the bridge's read buffer
/// (16 KiB, plus room for a frame header) and tungstenite's default read buffer (128 KiB).
const READS: [usize; 2] = [16 * 1024, 128 * 1024];
/// The simulated socket send buffer of the encode cases.
const SINK: usize = 256 * 1024;
const SIZES: [usize; 4] = [16, 1024, 64 * 1024, 1024 * 1024];

/// An in-memory "socket" for tungstenite: reads from the wire buffer, writes are discarded.
struct MemIo<'a>(Cursor<&'a [u8]>);

impl Read for MemIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for MemIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The simulated socket of the encode cases (the same for both libraries): every byte written
/// is copied into a reused 256 KiB buffer, cycling, like the kernel's copy into a socket's send
/// buffer. It always takes everything it is given.
struct Sink {
    buf: Vec<u8>,
    pos: usize,
}

impl Sink {
    fn new() -> Self {
        Sink {
            buf: vec![0; SINK],
            pos: 0,
        }
    }

    fn copy_in(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.pos == SINK {
                self.pos = 0;
            }
            let n = (SINK - self.pos).min(data.len());
            self.buf[self.pos..self.pos + n].copy_from_slice(&data[..n]);
            self.pos += n;
            data = &data[n..];
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.copy_in(buf);
        Ok(buf.len())
    }
    /// Like `writev(2)`: every slice, in order.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            self.copy_in(b);
            n += b.len();
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        black_box(&self.buf);
        Ok(())
    }
}

impl Read for Sink {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Ok(0)
    }
}

fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 + 7) as u8).collect()
}

/// Messages per batch so that a batch carries about 8 MiB of payload (at least 4 messages).
fn batch_count(size: usize) -> usize {
    ((8 << 20) / size).clamp(4, 200_000)
}

/// CPU time of the calling thread: on a shared machine, time slices given to other processes
/// do not count against the code measured (cache pollution still does).
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `ours` and `theirs` alternately, ROUNDS times each for `budget / ROUNDS` of thread CPU
/// time, and returns the best MiB/s (payload bytes per CPU second) of each. Best-of and CPU
/// time filter out interference from other processes; alternating exposes both to the same
/// conditions.
fn compare(
    budget: Duration,
    bytes: usize,
    mut ours: impl FnMut(),
    mut theirs: impl FnMut(),
) -> (f64, f64) {
    const ROUNDS: u32 = 5;
    let slice = budget / ROUNDS;
    let run = |f: &mut dyn FnMut()| {
        let start = thread_cpu_time();
        let mut n = 0u64;
        while n == 0 || thread_cpu_time() - start < slice {
            f();
            n += 1;
        }
        (bytes as f64 * n as f64) / (thread_cpu_time() - start).as_secs_f64() / (1024.0 * 1024.0)
    };
    ours();
    theirs();
    let (mut a, mut b) = (0f64, 0f64);
    for _ in 0..ROUNDS {
        a = a.max(run(&mut ours));
        b = b.max(run(&mut theirs));
    }
    (a, b)
}

fn decode_config() -> Config {
    Config {
        max_frame_size: 64 << 20,
        max_message_size: 64 << 20,
        ..Config::default()
    }
}

/// ws as the bridge drives it: `read`-byte reads into a reused buffer, each fed until used up.
fn decode_ws(wire: &[u8], expect: usize, read: usize) {
    let mut conn = Connection::new(Role::Server, &decode_config());
    let mut readbuf = vec![0u8; read];
    let mut src = Cursor::new(wire);
    let mut got = 0;
    loop {
        let n = src.read(&mut readbuf).unwrap();
        if n == 0 {
            break;
        }
        let mut input = &readbuf[..n];
        while !input.is_empty() {
            let p = conn.feed(input).unwrap();
            input = &input[p.consumed..];
            if let Some(ev) = p.event {
                if let Event::Binary(b) = &ev {
                    got += 1;
                    black_box(b.len());
                }
                black_box(ev);
            }
        }
    }
    assert_eq!(got, expect);
}

fn decode_tungstenite(wire: &[u8], expect: usize, read: usize) {
    let config = WebSocketConfig::default()
        .read_buffer_size(read)
        .max_frame_size(Some(64 << 20))
        .max_message_size(Some(64 << 20));
    let mut socket =
        WebSocket::from_raw_socket(MemIo(Cursor::new(wire)), TRole::Server, Some(config));
    for _ in 0..expect {
        match socket.read().unwrap() {
            Message::Binary(b) => {
                black_box(b.len());
                black_box(b);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn main() {
    // Options: `--quick` (shorter budget), `--size BYTES` (only that payload size),
    // `--decode-only`. cargo bench passes `--bench`; without it (cargo test) nothing runs.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs bench targets without `--bench`: do not benchmark
        // a debug build there.
        println!("codec benchmark: run it with `cargo bench -p ws --bench codec` (crates/ws/bench/run.sh)");
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let decode_only = args.iter().any(|a| a == "--decode-only");
    let only_size: Option<usize> = args
        .iter()
        .position(|a| a == "--size")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    let budget = Duration::from_millis(if quick { 250 } else { 1000 });
    println!(
        "codec benchmark: ws vs tungstenite 0.28 (MiB of payload per CPU second, best of 5; ratio = ws / tungstenite)"
    );
    println!(
        "decode: 16 KiB reads (the bridge's) and 128 KiB reads (tungstenite's default) from an in-memory socket, same size for both (copy counted); encode: frames written to a sink that copies them into a 256 KiB buffer (copy counted)"
    );
    println!(
        "{:<30} {:>9} {:>12} {:>12} {:>7}",
        "case", "payload", "ws", "tungstenite", "ratio"
    );
    for &size in SIZES
        .iter()
        .filter(|s| only_size.map_or(true, |o| o == **s))
    {
        let data = payload(size);
        let count = batch_count(size);
        let bytes = size * count;

        // Identical input for both decoders: masked client frames (tungstenite's encoder
        // with a fixed mask, so neither side's encoder is involved).
        let mut wire = Vec::new();
        for i in 0..count {
            let mut f = Frame::message(data.clone(), OpCode::Data(Data::Binary), true);
            f.header_mut().mask = Some([0x37, 0xfa, 0x21, (i % 251) as u8]);
            f.format(&mut wire).unwrap();
        }
        for read in READS {
            let (ours, theirs) = compare(
                budget,
                bytes,
                || decode_ws(&wire, count, read),
                || decode_tungstenite(&wire, count, read),
            );
            row(
                &format!("decode+unmask, {} KiB reads", read >> 10),
                size,
                ours,
                theirs,
            );
        }
        if decode_only {
            continue;
        }

        let bytes_payload = Bytes::from(data.clone());
        let mut sink = Sink::new();
        let mut sink2 = Sink::new();
        let mut tsocket = WebSocket::from_raw_socket(&mut sink2, TRole::Server, None);
        let (ours, theirs) = compare(
            budget,
            bytes,
            || {
                for _ in 0..count {
                    let mut f = OutFrame::new(Opcode::Binary, true, black_box(&data[..]));
                    f.write_to(&mut sink).unwrap();
                }
                sink.flush().unwrap();
            },
            || {
                for _ in 0..count {
                    tsocket
                        .send(Message::Binary(black_box(bytes_payload.clone())))
                        .unwrap();
                }
            },
        );
        drop(tsocket);
        row("encode (server)", size, ours, theirs);

        let mut out = Vec::with_capacity(size + 14);
        let mut tsocket = WebSocket::from_raw_socket(&mut sink2, TRole::Client, None);
        let (ours, theirs) = compare(
            budget,
            bytes,
            || {
                for _ in 0..count {
                    out.clear();
                    encode_into(
                        Role::Client,
                        Opcode::Binary,
                        true,
                        black_box(&data),
                        &mut out,
                    );
                    sink.write_all(&out).unwrap();
                }
                sink.flush().unwrap();
            },
            || {
                for _ in 0..count {
                    tsocket
                        .send(Message::Binary(black_box(bytes_payload.clone())))
                        .unwrap();
                }
            },
        );
        row("encode+mask (client)", size, ours, theirs);
    }
}

fn row(case: &str, size: usize, ours: f64, theirs: f64) {
    let label = match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    };
    println!(
        "{case:<30} {label:>9} {ours:>12.1} {theirs:>12.1} {:>6.2}x",
        ours / theirs
    );
}
