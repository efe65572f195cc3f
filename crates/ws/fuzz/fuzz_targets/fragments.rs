//! Fragment reassembly (`FragmentState`) driven by a hostile sequence of operations.
//! Input: records of [op, len, data...]; op bits pick the opcode (continuation / text /
//! binary), FIN, and whether the frame is ended early. Invariants: no panic; a complete
//! message never exceeds the limit; text is valid UTF-8 (a `String`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ws::{Event, FragmentState, Opcode};

const MAX: usize = 512;

fuzz_target!(|data: &[u8]| {
    let mut f = FragmentState::new(MAX);
    let mut input = data;
    while let [op, len, rest @ ..] = input {
        let len = usize::from(*len).min(rest.len());
        let (payload, tail) = rest.split_at(len);
        input = tail;
        let opcode = match op & 3 {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            _ => Opcode::Ping, // not a data opcode: must be refused, never panic
        };
        let fin = op & 4 != 0;
        if f.begin_frame(opcode, fin, payload.len() as u64).is_err() {
            // A failed connection is dropped; start over like a new one would.
            f = FragmentState::new(MAX);
            continue;
        }
        // Push in two pieces to exercise incremental UTF-8 validation at any cut.
        let cut = usize::from(op >> 3) % (payload.len() + 1);
        if f.push(&payload[..cut])
            .and_then(|_| f.push(&payload[cut..]))
            .is_err()
        {
            f = FragmentState::new(MAX);
            continue;
        }
        match f.end_frame() {
            Ok(Some(Event::Text(t))) => assert!(t.len() <= MAX),
            Ok(Some(Event::Binary(b))) => assert!(b.len() <= MAX),
            Ok(_) => {}
            Err(_) => f = FragmentState::new(MAX),
        }
    }
});
