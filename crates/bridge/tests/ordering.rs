//! Answers to messages go out before a close that follows them at once (the peer's close, or
//! a protocol error), as the Autobahn cases 3.2 and 5.15 check.

mod common;
use common::*;

#[test]
fn the_echo_precedes_the_failing_close() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let mut c = Raw::connect(server.port(), "/");
    next(&rx);
    let mut bytes = masked(true, 0x1, b"first");
    bytes.extend(masked(true, 0x1 | 0x20, b"rsv set")); // RSV2: a protocol error
    std::io::Write::write_all(&mut c.s, &bytes).unwrap();
    assert_eq!(c.read_frame(), (true, 0x1, b"first".to_vec()));
    let (_, op, p) = c.read_frame();
    assert_eq!((op, u16::from_be_bytes([p[0], p[1]])), (0x8, 1002));
    server.stop();
    rt.shutdown();
}

#[test]
fn the_echo_precedes_the_close_echo() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let server = bridge::serve(&rt, h, 0, opts()).unwrap();
    let mut c = Raw::connect(server.port(), "/");
    next(&rx);
    let mut bytes = masked(true, 0x2, &[1, 2, 3]);
    bytes.extend(masked(true, 0x8, &4000u16.to_be_bytes()));
    std::io::Write::write_all(&mut c.s, &bytes).unwrap();
    assert_eq!(c.read_frame(), (true, 0x2, vec![1, 2, 3]));
    assert_eq!(c.read_frame(), (true, 0x8, 4000u16.to_be_bytes().to_vec()));
    server.stop();
    rt.shutdown();
}
