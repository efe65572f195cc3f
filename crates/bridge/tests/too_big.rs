//! Messages and frames over the limits close with 1009, before the payload is buffered.

mod common;
use common::*;

#[test]
fn a_message_over_the_limit_closes_1009() {
    let rt = rt();
    let (h, rx) = Recorder::new();
    let o = bridge::Options {
        max_message_size: 1000,
        max_frame_size: 600,
        ..opts()
    };
    let server = bridge::serve(&rt, h, 0, o).unwrap();

    // One frame over max_frame_size: refused from its header.
    let mut c = Raw::connect(server.port(), "/");
    next(&rx);
    c.frame(true, 0x2, &[7u8; 601]);
    let (_, op, p) = c.read_frame();
    assert_eq!((op, u16::from_be_bytes([p[0], p[1]])), (0x8, 1009));
    assert!(matches!(
        until(&rx, |r| matches!(r, Rec::Close { .. })),
        Rec::Close { code: 1009, .. }
    ));

    // Fragments each under the frame limit, together over the message limit.
    let mut c = Raw::connect(server.port(), "/");
    next(&rx);
    c.frame(false, 0x2, &[7u8; 500]);
    c.frame(false, 0x0, &[7u8; 500]);
    c.frame(true, 0x0, &[7u8; 10]);
    let (_, op, p) = c.read_frame();
    assert_eq!((op, u16::from_be_bytes([p[0], p[1]])), (0x8, 1009));
    assert!(matches!(
        until(&rx, |r| matches!(r, Rec::Close { .. })),
        Rec::Close { code: 1009, .. }
    ));

    // A header claiming 2^62 bytes.
    let mut c = Raw::connect(server.port(), "/");
    next(&rx);
    let mut f = vec![0x82, 0x80 | 127];
    f.extend_from_slice(&(1u64 << 62).to_be_bytes());
    f.extend_from_slice(&[1, 2, 3, 4]);
    std::io::Write::write_all(&mut c.s, &f).unwrap();
    let (_, op, p) = c.read_frame();
    assert_eq!((op, u16::from_be_bytes([p[0], p[1]])), (0x8, 1009));
    server.stop();
    rt.shutdown();
}
