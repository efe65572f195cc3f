//! Frame decoder (`Connection::feed`) on hostile bytes, in both roles, with small limits and
//! arbitrary read chunking. Invariants: no panic; every call makes progress or ends; an error
//! always maps to a close code and queues a close frame (unless already closing); the
//! reassembled data never exceeds the configured limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws::{Config, Connection, Event, Role};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let role = if ctl & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    // Small limits so the 1009 paths are reached; chunk sizes 1..=32.
    let config = Config {
        max_frame_size: 300,
        max_message_size: 1000,
        ..Config::default()
    };
    let chunk = usize::from(ctl >> 3) + 1;
    let mut conn = Connection::new(role, &config);
    for piece in rest.chunks(chunk) {
        let mut input = piece;
        while !input.is_empty() {
            match conn.feed(input) {
                Ok(p) => {
                    assert!(p.consumed <= input.len());
                    assert!(p.consumed > 0 || p.event.is_some(), "no progress");
                    input = &input[p.consumed..];
                    match p.event {
                        Some(Event::Text(t)) => assert!(t.len() <= config.max_message_size),
                        Some(Event::Binary(b)) => assert!(b.len() <= config.max_message_size),
                        Some(Event::Ping(p)) | Some(Event::Pong(p)) => assert!(p.len() <= 125),
                        Some(Event::Close { code, .. }) => {
                            assert!(code == 1005 || ws::is_valid_close_code(code))
                        }
                        _ => {}
                    }
                }
                Err(e) => {
                    assert!(e.close_code().is_some(), "{e}");
                    assert!(conn.is_closed());
                    return;
                }
            }
        }
        let _ = conn.take_output();
    }
});
