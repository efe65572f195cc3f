//! Fragmented input is reassembled; pings between fragments are answered; invalid UTF-8
//! across fragments closes 1007.

mod common;
use common::*;

use bridge::Data;

#[test]
fn fragments_are_reassembled_with_a_ping_in_between() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let mut c = Raw::connect(server.port(), "/");
    next(&rx);
    c.frame(false, 0x1, b"Hel");
    c.frame(true, 0x9, b"p");
    c.frame(false, 0x0, b"lo, ");
    c.frame(true, 0x0, "wörld".as_bytes());
    assert_eq!(c.read_frame(), (true, 0xA, b"p".to_vec()));
    assert_eq!(next(&rx), Rec::Message(Data::Text("Hello, wörld".into())));
    assert_eq!(
        c.read_frame(),
        (true, 0x1, "Hello, wörld".as_bytes().to_vec())
    );
    // Binary in many pieces, byte by byte on the wire.
    let mut bytes = Vec::new();
    bytes.extend(masked(false, 0x2, &[1, 2]));
    bytes.extend(masked(false, 0x0, &[3]));
    bytes.extend(masked(true, 0x0, &[4, 5]));
    for b in bytes {
        std::io::Write::write_all(&mut c.s, &[b]).unwrap();
    }
    assert_eq!(next(&rx), Rec::Message(Data::Binary(vec![1, 2, 3, 4, 5])));
    server.stop();
    rt.shutdown();
}

#[test]
fn invalid_utf8_split_across_fragments_closes_1007() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let mut c = Raw::connect(server.port(), "/");
    next(&rx);
    c.frame(false, 0x1, &[0xce]);
    c.frame(true, 0x0, &[0x28]);
    let (_, op, p) = c.read_frame();
    assert_eq!((op, &p[..2]), (0x8, &1007u16.to_be_bytes()[..]));
    assert_eq!(
        until(&rx, |r| matches!(r, Rec::Close { .. })),
        Rec::Close {
            code: 1007,
            reason: ws::Error::InvalidUtf8.to_string()
        }
    );
    server.stop();
    rt.shutdown();
}
