//! Close payloads (RFC 6455 §5.5.1, §7.4): which codes may travel on the wire, and parsing.

use crate::error::Error;

/// The code reported for a close frame with an empty payload (RFC 6455 §7.1.5). It is only
/// ever reported locally, never sent.
pub const NO_STATUS: u16 = 1005;

/// True for codes an endpoint may send and accept in a close frame: 1000-1003, 1007-1011 and
/// 3000-4999. 1004 is reserved; 1005, 1006 and 1015 must never be sent (RFC 6455 §7.4.1).
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// Parses a received close payload into `(code, reason)`. Empty → `(1005, "")`.
/// A 1-byte payload, a code that may not be sent, or a reason that is not UTF-8 → 1002.
pub fn parse_close_payload(payload: &[u8]) -> Result<(u16, String), Error> {
    match payload {
        [] => Ok((NO_STATUS, String::new())),
        // RFC 6455 §5.5.1: if there is a body, its first two bytes are the status code.
        [_] => Err(Error::Protocol {
            reason: "close payload of one byte",
        }),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(Error::InvalidCloseCode { code });
            }
            match std::str::from_utf8(reason) {
                Ok(r) => Ok((code, r.to_owned())),
                // The issue asks 1002 for a close reason that is not UTF-8.
                Err(_) => Err(Error::Protocol {
                    reason: "close reason is not UTF-8",
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_codes() {
        for c in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(is_valid_close_code(c), "{c}");
        }
        for c in [
            0, 999, 1004, 1005, 1006, 1012, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_close_code(c), "{c}");
        }
    }

    #[test]
    fn parse_rejections() {
        assert_eq!(parse_close_payload(&[]).unwrap(), (1005, String::new()));
        assert!(matches!(
            parse_close_payload(&[3]),
            Err(Error::Protocol { .. })
        ));
        assert!(matches!(
            parse_close_payload(&[0x03, 0xED]),
            Err(Error::InvalidCloseCode { code: 1005 })
        ));
        assert!(matches!(
            parse_close_payload(&[0x03, 0xE8, 0xff]),
            Err(Error::Protocol { .. })
        ));
        assert_eq!(
            parse_close_payload(b"\x03\xe8bye").unwrap(),
            (1000, "bye".to_owned())
        );
    }
}
