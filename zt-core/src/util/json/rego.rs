//! JSON as regorus values, the policy's own representation: strict parsing straight from bytes
//! (one tree, no `serde_json` tree in between) and direct conversion of a `serde_json` value.
//!
//! Numbers map the way regorus's deserialiser maps them: unsigned, then signed integers, then
//! finite floats (JSON has no others).

use super::pick::KeySeed;
use super::{DEEP, DUP, StrictJsonError, classify};
use regorus::Value as RegoValue;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;

/// Parse `bytes` as a JSON object straight into a regorus value, by
/// [`parse_object`](super::parse_object)'s rules (no duplicate keys, bounded nesting).
#[cfg(test)]
pub(crate) fn parse_object_rego(
    bytes: &[u8],
    max_depth: usize,
) -> Result<RegoValue, StrictJsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictRego {
        depth: max_depth,
        pick: None,
    }
    .deserialize(&mut de)
    .map_err(classify)?;
    de.end().map_err(|_| StrictJsonError::Syntax)?;
    match value {
        RegoValue::Object(_) => Ok(value),
        _ => Err(StrictJsonError::NotObject),
    }
}

/// A JSON object as a regorus value, converted directly (no serde round trip, no key interning:
/// about twice as fast as regorus's own deserialiser on a claim set).
pub(crate) fn to_rego(m: &Map<String, Value>) -> RegoValue {
    if m.is_empty() {
        return RegoValue::new_object();
    }
    // `serde_json::Map` iterates in key order, which is regorus's order for string keys, so the
    // map below is built from sorted input.
    let map: BTreeMap<RegoValue, RegoValue> = m
        .iter()
        .map(|(k, v)| (RegoValue::from(k.as_str()), value_to_rego(v)))
        .collect();
    RegoValue::from(map)
}

/// Any JSON value as a regorus value (see [`to_rego`]).
pub(crate) fn value_to_rego(v: &Value) -> RegoValue {
    match v {
        Value::Null => RegoValue::Null,
        Value::Bool(b) => RegoValue::from(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => RegoValue::from(u),
            (None, Some(i), _) => RegoValue::from(i),
            (None, None, Some(f)) => RegoValue::from(f),
            (None, None, None) => RegoValue::Undefined,
        },
        Value::String(s) => RegoValue::from(s.as_str()),
        Value::Array(a) => RegoValue::from(a.iter().map(value_to_rego).collect::<Vec<_>>()),
        Value::Object(o) => to_rego(o),
    }
}

/// [`parse_object_rego`], and also the top-level members named in `wanted` (in that order) as
/// `serde_json` values, exactly as [`parse_object`](super::parse_object) would give them: one
/// pass over the bytes for both.
pub(crate) fn parse_object_rego_picking(
    bytes: &[u8],
    max_depth: usize,
    wanted: &[&str],
) -> Result<(RegoValue, Vec<Option<Value>>), StrictJsonError> {
    let mut picked = vec![None; wanted.len()];
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictRego {
        depth: max_depth,
        pick: Some((wanted, &mut picked)),
    }
    .deserialize(&mut de)
    .map_err(classify)?;
    de.end().map_err(|_| StrictJsonError::Syntax)?;
    match value {
        RegoValue::Object(_) => Ok((value, picked)),
        _ => Err(StrictJsonError::NotObject),
    }
}

struct StrictRego<'p> {
    depth: usize,
    /// At the top level only: names to pick and where to put them.
    pick: Option<(&'p [&'p str], &'p mut Vec<Option<Value>>)>,
}

impl<'de> DeserializeSeed<'de> for StrictRego<'_> {
    type Value = RegoValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RegoValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictRego<'_> {
    type Value = RegoValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RegoValue, E> {
        Ok(RegoValue::from(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RegoValue, E> {
        Ok(RegoValue::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RegoValue, E> {
        Ok(RegoValue::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RegoValue, E> {
        match v.is_finite() {
            true => Ok(RegoValue::from(v)),
            false => Err(E::custom("non-finite number")),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RegoValue, E> {
        Ok(RegoValue::from(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<RegoValue, E> {
        Ok(RegoValue::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RegoValue, A::Error> {
        let Some(depth) = self.depth.checked_sub(1) else {
            return Err(de::Error::custom(DEEP));
        };
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictRego { depth, pick: None })? {
            out.push(v);
        }
        Ok(RegoValue::from(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RegoValue, A::Error> {
        let Some(depth) = self.depth.checked_sub(1) else {
            return Err(de::Error::custom(DEEP));
        };
        let mut out = BTreeMap::new();
        let mut pick = self.pick;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let picked = pick.as_mut().and_then(|(wanted, picked)| {
                let i = wanted.iter().position(|w| **w == *key)?;
                picked.get_mut(i)
            });
            // One search per key: a duplicate is found by the same search that inserts.
            match out.entry(RegoValue::from(&*key)) {
                Entry::Occupied(_) => return Err(de::Error::custom(DUP)),
                Entry::Vacant(slot) => match picked {
                    Some(picked) => {
                        let v = map.next_value_seed(super::Strict { depth })?;
                        slot.insert(value_to_rego(&v));
                        *picked = Some(v);
                    }
                    None => {
                        slot.insert(map.next_value_seed(StrictRego { depth, pick: None })?);
                    }
                },
            }
        }
        Ok(RegoValue::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MAX_DEPTH, parse_object};
    use super::*;
    use proptest::prelude::*;

    /// regorus's own deserialiser: what the conversions must agree with.
    fn reference(m: &Map<String, Value>) -> RegoValue {
        use serde::Deserialize as _;
        RegoValue::deserialize(m).unwrap_or(RegoValue::Undefined)
    }

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn direct_conversion_matches_regorus(
            m in proptest::collection::btree_map("\\PC{0,6}", json(), 0..8)
        ) {
            let m: Map<String, Value> = m.into_iter().collect();
            prop_assert_eq!(to_rego(&m), reference(&m));
        }

        /// Parsing straight into regorus values gives what parsing into `serde_json` and
        /// converting gives, and accepts exactly the same documents.
        #[test]
        fn parse_matches_parse_then_convert(
            m in proptest::collection::btree_map("\\PC{0,6}", json(), 0..8)
        ) {
            let m: Map<String, Value> = m.into_iter().collect();
            let text = serde_json::to_vec(&m).unwrap_or_default();
            let via_json = parse_object(&text, MAX_DEPTH).map(|m| to_rego(&m));
            prop_assert_eq!(parse_object_rego(&text, MAX_DEPTH), via_json);
        }

        /// Picking gives the members `parse_object` gives, and the same tree.
        #[test]
        fn picking_matches_parse(
            m in proptest::collection::btree_map("[a-c]{0,2}", json(), 0..8)
        ) {
            let m: Map<String, Value> = m.into_iter().collect();
            let text = serde_json::to_vec(&m).unwrap_or_default();
            let wanted = ["a", "b", "", "zz"];
            // Compared with the text parsed, not with `m`: serde_json's float parsing may differ
            // from the printed value in the last place.
            let m = parse_object(&text, MAX_DEPTH).map_err(|e| TestCaseError::fail(e.as_str()))?;
            let (tree, picked) = parse_object_rego_picking(&text, MAX_DEPTH, &wanted)
                .map_err(|e| TestCaseError::fail(e.as_str()))?;
            prop_assert_eq!(tree, to_rego(&m));
            for (name, got) in wanted.iter().zip(picked) {
                prop_assert_eq!(got.as_ref(), m.get(*name));
            }
        }
    }

    #[test]
    fn direct_conversion_edge_cases() {
        let doc = serde_json::json!({
            "": 0, "z": [], "a": {}, "é": -1, "big": u64::MAX, "min": i64::MIN,
            "f": 1.5, "e": 1e300, "nested": {"b": [1, "x", null, {"c": true}]},
        });
        let Value::Object(m) = doc else {
            unreachable!()
        };
        assert_eq!(to_rego(&m), reference(&m));
        assert_eq!(to_rego(&Map::new()), reference(&Map::new()));
        let text = serde_json::to_vec(&m).unwrap_or_default();
        assert_eq!(parse_object_rego(&text, MAX_DEPTH), Ok(reference(&m)));
    }

    #[test]
    fn strict_rules_hold() {
        for (doc, want) in [
            (&br#"{"a":1,"\u0061":2}"#[..], StrictJsonError::DuplicateKey),
            (br#"{"a":{"b":1,"b":1}}"#, StrictJsonError::DuplicateKey),
            (b"[1]", StrictJsonError::NotObject),
            (b"{} {}", StrictJsonError::Syntax),
            (br#"{"a":1e400}"#, StrictJsonError::Syntax),
        ] {
            assert_eq!(parse_object_rego(doc, MAX_DEPTH), Err(want));
        }
        let deep = format!("{}1{}", "{\"a\":".repeat(17), "}".repeat(17));
        assert_eq!(
            parse_object_rego(deep.as_bytes(), 16),
            Err(StrictJsonError::TooDeep)
        );
    }
}
