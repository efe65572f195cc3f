//! `Json.encode` / `Json.decode`: maps (string or atom keys), lists, strings, numbers,
//! booleans and nil. Decoding input is hostile: nesting is bounded by [`MAX_DEPTH`] and the
//! decoder never allocates more than the input's size.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::value::Value;
use crate::vm::{short, Trap};

/// How deeply arrays and objects may nest.
pub(crate) const MAX_DEPTH: usize = 128;

pub(crate) fn encode(v: &Value, out: &mut String, depth: usize) -> Result<(), Trap> {
    if depth > MAX_DEPTH {
        return Err(Trap::Error("value nested too deeply to encode".into()));
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Float(x) if x.is_finite() => {
            let s = format!("{x}");
            out.push_str(&s);
            if !s.contains(['.', 'e', 'E']) {
                out.push_str(".0");
            }
        }
        Value::Str(s) => encode_str(s, out),
        Value::Atom(a) => encode_str(&a.name(), out),
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode(x, out, depth + 1)?;
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match k {
                    Value::Str(s) => encode_str(s, out),
                    Value::Atom(a) => encode_str(&a.name(), out),
                    other => {
                        return Err(Trap::Error(format!(
                            "JSON object keys must be strings or atoms, got {}",
                            short(other)
                        )))
                    }
                }
                out.push(':');
                encode(x, out, depth + 1)?;
            }
            out.push('}');
        }
        other => {
            return Err(Trap::Error(format!(
                "cannot encode {} as JSON",
                short(other)
            )))
        }
    }
    Ok(())
}

fn encode_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Decodes a JSON text; objects become maps with string keys.
pub(crate) fn decode(s: &str) -> Result<Value, String> {
    let mut d = Decoder {
        b: s.as_bytes(),
        i: 0,
    };
    d.ws();
    let v = d.value(0)?;
    d.ws();
    if d.i != d.b.len() {
        return Err(format!("unexpected data at byte {}", d.i));
    }
    Ok(v)
}

struct Decoder<'a> {
    b: &'a [u8],
    i: usize,
}

impl Decoder<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.i))
    }

    fn lit(&mut self, word: &str, v: Value) -> Result<Value, String> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("invalid literal")
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return self.err("nested too deeply");
        }
        match self.b.get(self.i) {
            None => self.err("unexpected end"),
            Some(b'n') => self.lit("null", Value::Nil),
            Some(b't') => self.lit("true", Value::Bool(true)),
            Some(b'f') => self.lit("false", Value::Bool(false)),
            Some(b'"') => Ok(Value::str(self.string()?)),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::list(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::list(items));
                        }
                        _ => return self.err("expected `,` or `]`"),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::Map(Arc::new(m)));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return self.err("expected a string key");
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return self.err("expected `:`");
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    m.insert(Value::str(k), v);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Map(Arc::new(m)));
                        }
                        _ => return self.err("expected `,` or `}`"),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("unexpected character"),
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        let mut float = false;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'0'..=b'9' => {}
                b'.' | b'e' | b'E' | b'+' | b'-' => float = true,
                _ => break,
            }
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).map_err(|e| e.to_string())?;
        if !float {
            if let Ok(n) = text.parse::<i64>() {
                return Ok(Value::Int(n));
            }
        }
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Value::Float(x)),
            _ => Err(format!("invalid number `{text}` at byte {start}")),
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .ok_or("truncated \\u escape")?;
        let s = std::str::from_utf8(h).map_err(|_| "invalid \\u escape")?;
        let n = u32::from_str_radix(s, 16).map_err(|_| "invalid \\u escape")?;
        self.i += 4;
        Ok(n)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&c) = self.b.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.b[start..self.i]).map_err(|e| e.to_string())?);
            match self.b.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let e = self.b.get(self.i).copied();
                    self.i += 1;
                    match e {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return self.err("unpaired surrogate");
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err("invalid surrogate pair");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(c).ok_or("invalid code point")?);
                        }
                        _ => return self.err("invalid escape"),
                    }
                }
                Some(_) => return self.err("control character in string"),
                None => return self.err("unterminated string"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &str) -> String {
        let v = decode(s).unwrap();
        let mut out = String::new();
        encode(&v, &mut out, 0).unwrap();
        out
    }

    #[test]
    fn decode_and_encode() {
        assert_eq!(
            roundtrip(r#" {"a": [1, -2.5, true, null, "x\n\u00e9\ud83d\ude00"], "b": {}} "#),
            r#"{"a":[1,-2.5,true,null,"x\né😀"],"b":{}}"#
        );
        assert_eq!(roundtrip("1e3"), "1000.0");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]

        #[test]
        fn arbitrary_text_never_panics(s in "[\\[\\]{}:,\"0-9.eE+\\-a-z\\\\ ]{0,80}") {
            if let Ok(v) = decode(&s) {
                // what decodes re-encodes and decodes to the same value
                let mut out = String::new();
                encode(&v, &mut out, 0).unwrap();
                proptest::prop_assert_eq!(decode(&out).unwrap(), v);
            }
        }
    }

    #[test]
    fn hostile_input() {
        assert!(decode(&"[".repeat(100_000))
            .unwrap_err()
            .contains("too deeply"));
        assert!(decode("[1,]").is_err());
        assert!(decode("\"abc").is_err());
        assert!(decode("{\"a\" 1}").is_err());
        assert!(decode("1 2").is_err());
        assert!(decode("\"\\ud800\"").is_err());
        assert!(decode("nul").is_err());
        assert!(decode("").is_err());
    }
}
