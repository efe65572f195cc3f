//! Property tests: any payload, any fragmentation, any read chunking round-trips through
//! `encode_into` and `Connection::feed`, in both roles, with pings interleaved; and server
//! frames written by `OutFrame` through a writer that takes any number of bytes per call.

use std::io::{self, IoSlice, Write};

use proptest::prelude::*;
use ws::{encode_into, Config, Connection, Event, Opcode, OutFrame, Role};

/// A non-blocking "socket" that takes the given numbers of bytes per call (cycled; 0 means
/// `WouldBlock`), across all the slices of a vectored write, as `writev` may.
struct Choppy<'a> {
    out: Vec<u8>,
    takes: &'a [usize],
    call: usize,
}

impl Write for Choppy<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let max = self.takes[self.call % self.takes.len()];
        self.call += 1;
        if max == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(max - n);
            self.out.extend_from_slice(&b[..take]);
            n += take;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Feeds `data` in chunks of the given sizes (cycled), collecting events.
fn feed_chunked(
    conn: &mut Connection,
    data: &[u8],
    chunks: &[usize],
) -> Result<Vec<Event>, ws::Error> {
    let mut events = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < data.len() {
        let size = chunks[i % chunks.len()].max(1);
        i += 1;
        let mut piece = &data[pos..(pos + size).min(data.len())];
        pos += piece.len();
        while !piece.is_empty() {
            let p = conn.feed(piece)?;
            assert!(p.consumed > 0 || p.event.is_some(), "no progress");
            piece = &piece[p.consumed..];
            events.extend(p.event);
        }
    }
    Ok(events)
}

/// Splits `len` bytes at the given cut points (sorted, deduplicated, inside the range).
fn cuts(len: usize, raw: &[usize]) -> Vec<(usize, usize)> {
    let mut c: Vec<usize> = raw
        .iter()
        .map(|x| if len == 0 { 0 } else { x % len })
        .filter(|x| *x > 0)
        .collect();
    c.sort_unstable();
    c.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for x in c {
        out.push((start, x));
        start = x;
    }
    out.push((start, len));
    out
}

fn encode_fragmented(
    role: Role,
    op: Opcode,
    payload: &[u8],
    raw_cuts: &[usize],
    ping_every: usize,
    out: &mut Vec<u8>,
) {
    let parts = cuts(payload.len(), raw_cuts);
    let n = parts.len();
    for (i, (a, b)) in parts.into_iter().enumerate() {
        let opcode = if i == 0 { op } else { Opcode::Continuation };
        encode_into(role, opcode, i + 1 == n, &payload[a..b], out);
        if ping_every > 0 && i % ping_every == 0 && i + 1 < n {
            encode_into(role, Opcode::Ping, true, b"interleaved", out);
        }
    }
}

fn peer_of(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        _ => Role::Server,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn binary_round_trip(
        payload in prop::collection::vec(any::<u8>(), 0..70_000),
        raw_cuts in prop::collection::vec(any::<usize>(), 0..6),
        chunks in prop::collection::vec(1usize..5000, 1..8),
        client_sends in any::<bool>(),
        ping_every in 0usize..3,
    ) {
        let sender = if client_sends { Role::Client } else { Role::Server };
        let mut wire = Vec::new();
        encode_fragmented(sender, Opcode::Binary, &payload, &raw_cuts, ping_every, &mut wire);
        let mut conn = Connection::new(peer_of(sender), &Config::default());
        let events = feed_chunked(&mut conn, &wire, &chunks).unwrap();
        let data: Vec<Event> = events.into_iter().filter(|e| !matches!(e, Event::Ping(_))).collect();
        prop_assert_eq!(data, vec![Event::Binary(payload)]);
    }

    #[test]
    fn text_round_trip_with_cuts_inside_characters(
        text in ".{0,300}",
        raw_cuts in prop::collection::vec(any::<usize>(), 0..8),
        chunks in prop::collection::vec(1usize..64, 1..8),
    ) {
        let mut wire = Vec::new();
        encode_fragmented(Role::Client, Opcode::Text, text.as_bytes(), &raw_cuts, 1, &mut wire);
        let mut conn = Connection::new(Role::Server, &Config::default());
        let events = feed_chunked(&mut conn, &wire, &chunks).unwrap();
        let texts: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::Text(_))).collect();
        let want = Event::Text(text);
        prop_assert_eq!(texts, vec![&want]);
        // Every interleaved ping was answered.
        let pings = events.iter().filter(|e| matches!(e, Event::Ping(_))).count();
        let out = conn.take_output().unwrap_or_default();
        prop_assert_eq!(out.len(), pings * (2 + b"interleaved".len()));
    }

    #[test]
    fn many_messages_any_chunking(
        msgs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20),
        chunks in prop::collection::vec(1usize..700, 1..8),
    ) {
        let mut wire = Vec::new();
        for m in &msgs {
            encode_into(Role::Client, Opcode::Binary, true, m, &mut wire);
        }
        let mut conn = Connection::new(Role::Server, &Config::default());
        let events = feed_chunked(&mut conn, &wire, &chunks).unwrap();
        let want: Vec<Event> = msgs.into_iter().map(Event::Binary).collect();
        prop_assert_eq!(events, want);
    }

    /// `OutFrame` writes exactly what `encode_into` encodes (server role), whatever the writer
    /// takes per call and however often it says `WouldBlock`, and a client decodes it, fed in
    /// any chunking.
    #[test]
    fn out_frame_round_trip_through_partial_writes(
        msgs in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..70_000), any::<bool>()), 1..4),
        takes in prop::collection::vec(0usize..20_000, 1..6),
        chunks in prop::collection::vec(1usize..5000, 1..8),
    ) {
        let takes: Vec<usize> = if takes.iter().all(|t| *t == 0) { vec![1] } else { takes };
        let mut sock = Choppy { out: Vec::new(), takes: &takes, call: 0 };
        let mut want_wire = Vec::new();
        let mut want_events = Vec::new();
        for (payload, fin) in &msgs {
            // A non-final binary frame followed by an empty final continuation.
            let mut f = OutFrame::new(Opcode::Binary, *fin, &payload[..]);
            encode_into(Role::Server, Opcode::Binary, *fin, payload, &mut want_wire);
            let mut tries = 0;
            while let Err(e) = f.write_to(&mut sock) {
                prop_assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                tries += 1;
                prop_assert!(tries < 1_000_000);
            }
            prop_assert_eq!(f.remaining(), 0);
            if !*fin {
                let mut end = OutFrame::new(Opcode::Continuation, true, Vec::new());
                while end.write_to(&mut sock).is_err() {}
                encode_into(Role::Server, Opcode::Continuation, true, &[], &mut want_wire);
            }
            want_events.push(Event::Binary(payload.clone()));
        }
        prop_assert_eq!(&sock.out, &want_wire);
        let mut conn = Connection::new(Role::Client, &Config::default());
        prop_assert_eq!(feed_chunked(&mut conn, &sock.out, &chunks).unwrap(), want_events);
    }

    /// Hostile input never panics, and whatever happens, the buffered message stays within
    /// the bytes received.
    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2000), role in any::<bool>()) {
        let role = if role { Role::Server } else { Role::Client };
        let mut conn = Connection::new(role, &Config::default());
        let mut rest = &data[..];
        while !rest.is_empty() {
            match conn.feed(rest) {
                Ok(p) => rest = &rest[p.consumed..],
                Err(e) => {
                    prop_assert!(e.close_code().is_some());
                    break;
                }
            }
        }
    }
}

#[test]
fn tungstenite_decodes_our_frames_and_we_decode_theirs() {
    use tungstenite::protocol::frame::{coding::Data, coding::OpCode, Frame};
    // Ours → theirs.
    let payload: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
    let wire = ws::encode(Role::Server, Opcode::Binary, &payload);
    let mut cursor = std::io::Cursor::new(wire);
    let (header, len) = tungstenite::protocol::frame::FrameHeader::parse(&mut cursor)
        .unwrap()
        .unwrap();
    assert_eq!(header.opcode, OpCode::Data(Data::Binary));
    assert_eq!(len, payload.len() as u64);
    // Theirs (masked, as a client) → ours.
    let mut f = Frame::message(payload.clone(), OpCode::Data(Data::Binary), true);
    f.header_mut().mask = Some([0xde, 0xad, 0xbe, 0xef]);
    let mut out = Vec::new();
    f.format(&mut out).unwrap();
    let mut conn = Connection::new(Role::Server, &Config::default());
    let events = feed_chunked(&mut conn, &out, &[1000]).unwrap();
    assert_eq!(events, [Event::Binary(payload)]);
}
