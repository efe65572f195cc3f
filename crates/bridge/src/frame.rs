//! Encoding of the data frames the server sends (the `ws` encoder, server role: unmasked,
//! RFC 6455 §5.1), and close-reason trimming.

use ws::{Opcode, Role};

use crate::Payload;

/// One complete frame, header and payload in one buffer (one allocation).
pub(crate) fn encode_payload(msg: Payload<'_>) -> Vec<u8> {
    match msg {
        Payload::Text(s) => ws::encode(Role::Server, Opcode::Text, s.as_bytes()),
        Payload::Binary(b) => ws::encode(Role::Server, Opcode::Binary, b),
    }
}

/// RFC 6455 §5.5: a control frame payload is at most 125 bytes, 2 of them the code.
pub(crate) fn truncate_reason(reason: &str) -> &str {
    if reason.len() <= 123 {
        return reason;
    }
    let mut end = 123;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames_are_unmasked() {
        assert_eq!(
            encode_payload(Payload::Text("hi")),
            vec![0x81, 2, b'h', b'i']
        );
        let v = encode_payload(Payload::Binary(&[0; 200]));
        assert_eq!(&v[..4], &[0x82, 126, 0, 200]);
    }

    #[test]
    fn close_reason_is_cut_on_a_char_boundary() {
        let long = "é".repeat(100);
        let r = truncate_reason(&long);
        assert!(r.len() <= 123 && r.len() % 2 == 0);
    }
}
