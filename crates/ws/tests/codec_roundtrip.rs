//! Property tests: any payload, any fragmentation, any read chunking round-trips through
//! `encode_into` and `Connection::feed`, in both roles, with pings interleaved.

use proptest::prelude::*;
use ws::{encode_into, Config, Connection, Event, Opcode, Role};

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
