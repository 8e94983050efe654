//! Strict JSON for untrusted documents (token headers and claim sets, JWKS, discovery).
//!
//! `serde_json` alone keeps the last of two duplicate keys and allows 128 levels of nesting. Two
//! parsers that disagree on which duplicate wins are a classic token-confusion bug, so zt refuses
//! duplicates outright and caps nesting far lower.
//!
//! # Security
//! - Duplicate object keys are an error at every level.
//! - Nesting deeper than the given limit is an error (no deep recursion on hostile input).
//! - Errors carry no document content.

mod pick;
mod rego;

pub(crate) use pick::pick_members;
pub(crate) use rego::{parse_object_rego_picking, to_rego, value_to_rego};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Default nesting limit for token headers, claim sets and key sets.
pub(crate) const MAX_DEPTH: usize = 16;

/// Why strict parsing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrictJsonError {
    /// Not JSON, trailing data, or a number out of range.
    Syntax,
    /// An object has the same key twice.
    DuplicateKey,
    /// Nesting exceeds the limit.
    TooDeep,
    /// The top level is not an object.
    NotObject,
}

impl StrictJsonError {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StrictJsonError::Syntax => "not valid JSON",
            StrictJsonError::DuplicateKey => "an object has a duplicate key",
            StrictJsonError::TooDeep => "nesting is too deep",
            StrictJsonError::NotObject => "top level is not an object",
        }
    }
}

const DUP: &str = "zt:duplicate-key";
const DEEP: &str = "zt:too-deep";

/// Parse `bytes` as a JSON object, refusing duplicate keys and nesting deeper than `max_depth`.
pub(crate) fn parse_object(
    bytes: &[u8],
    max_depth: usize,
) -> Result<Map<String, Value>, StrictJsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { depth: max_depth }
        .deserialize(&mut de)
        .map_err(classify)?;
    de.end().map_err(|_| StrictJsonError::Syntax)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(StrictJsonError::NotObject),
    }
}

fn classify(e: serde_json::Error) -> StrictJsonError {
    let msg = e.to_string();
    if msg.starts_with(DUP) {
        StrictJsonError::DuplicateKey
    } else if msg.starts_with(DEEP) || msg.starts_with("recursion limit exceeded") {
        StrictJsonError::TooDeep
    } else {
        StrictJsonError::Syntax
    }
}

struct Strict {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Some(depth) = self.depth.checked_sub(1) else {
            return Err(de::Error::custom(DEEP));
        };
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict { depth })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Some(depth) = self.depth.checked_sub(1) else {
            return Err(de::Error::custom(DEEP));
        };
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // One lookup per key: a duplicate is found by the same search that inserts.
            match out.entry(key) {
                serde_json::map::Entry::Occupied(_) => return Err(de::Error::custom(DUP)),
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(map.next_value_seed(Strict { depth })?);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, Result<(), StrictJsonError>)] = &[
            ("plain object", r#"{"a":1,"b":[1,2,{"c":null}]}"#, Ok(())),
            ("whitespace", " {\n\t\"a\" : true } ", Ok(())),
            (
                "duplicate top",
                r#"{"a":1,"a":2}"#,
                Err(StrictJsonError::DuplicateKey),
            ),
            (
                "duplicate nested",
                r#"{"a":{"b":1,"b":1}}"#,
                Err(StrictJsonError::DuplicateKey),
            ),
            (
                "duplicate via escape",
                r#"{"a":1,"\u0061":2}"#,
                Err(StrictJsonError::DuplicateKey),
            ),
            ("array top", "[1]", Err(StrictJsonError::NotObject)),
            ("string top", "\"x\"", Err(StrictJsonError::NotObject)),
            ("trailing", "{} {}", Err(StrictJsonError::Syntax)),
            ("garbage", "{a:1}", Err(StrictJsonError::Syntax)),
            ("huge float", r#"{"a":1e400}"#, Err(StrictJsonError::Syntax)),
            ("empty", "", Err(StrictJsonError::Syntax)),
        ];
        for (name, input, want) in cases {
            let got = parse_object(input.as_bytes(), MAX_DEPTH).map(|_| ());
            assert_eq!(&got, want, "case {name}");
        }
    }

    #[test]
    fn depth_limit() {
        let ok = format!(
            "{}{}",
            "{\"a\":".repeat(15),
            "1".to_owned() + &"}".repeat(15)
        );
        assert!(parse_object(ok.as_bytes(), 16).is_ok());
        let deep = format!("{}1{}", "{\"a\":".repeat(17), "}".repeat(17));
        assert_eq!(
            parse_object(deep.as_bytes(), 16),
            Err(StrictJsonError::TooDeep)
        );
        let very_deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            parse_object(very_deep.as_bytes(), 16),
            Err(StrictJsonError::TooDeep)
        );
    }
}
