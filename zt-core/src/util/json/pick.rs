//! Strict checking without building: a document is held to the rules of
//! [`parse_object`](super::parse_object) (no duplicate keys, bounded nesting, finite numbers)
//! while only the top-level members a caller names are built as values.
//!
//! A token's claim set is checked here on every new token, and what the decision needs from it
//! (registered claims, a posture claim) is picked out; the full tree is built only when someone
//! asks for it.

use super::{DEEP, DUP, StrictJsonError, classify};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// Objects with at most this many keys find a duplicate by a linear search; larger ones sort
/// their keys once at the end (no quadratic work on hostile input).
const LINEAR: usize = 16;

const NOT_OBJECT: &str = "zt:not-object";

/// Check `bytes` as a JSON object by [`parse_object`](super::parse_object)'s rules and return the
/// top-level members named in `wanted` (in that order), built; every other member is checked,
/// not built.
pub(crate) fn pick_members<const N: usize>(
    bytes: &[u8],
    max_depth: usize,
    wanted: [&str; N],
) -> Result<[Option<Value>; N], StrictJsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let picked = Pick {
        depth: max_depth,
        wanted,
    }
    .deserialize(&mut de)
    .map_err(|e| match e.to_string().starts_with(NOT_OBJECT) {
        true => StrictJsonError::NotObject,
        false => classify(e),
    })?;
    de.end().map_err(|_| StrictJsonError::Syntax)?;
    Ok(picked)
}

/// Whether `bytes` is a JSON object by [`parse_object`](super::parse_object)'s rules, building
/// nothing.
#[cfg(test)]
pub(crate) fn check_object(bytes: &[u8], max_depth: usize) -> Result<(), StrictJsonError> {
    pick_members(bytes, max_depth, []).map(|[]| ())
}

/// Keys seen in one object, for the duplicate check.
struct Keys<'de>(Vec<Cow<'de, str>>);

impl<'de> Keys<'de> {
    fn new() -> Self {
        Keys(Vec::new())
    }

    /// Record `key`; `false` when a linear search already finds it.
    fn add(&mut self, key: Cow<'de, str>) -> bool {
        if self.0.len() < LINEAR && self.0.contains(&key) {
            return false;
        }
        self.0.push(key);
        true
    }

    /// `false` when a large object has a duplicate the linear search did not cover.
    fn finish(mut self) -> bool {
        if self.0.len() <= LINEAR {
            return true;
        }
        self.0.sort_unstable();
        !self.0.windows(2).any(|w| w.first() == w.get(1))
    }
}

/// A key, borrowed from the document when it has no escapes.
pub(super) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The top level: an object whose `wanted` members are built.
struct Pick<'w, const N: usize> {
    depth: usize,
    wanted: [&'w str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for Pick<'_, N> {
    type Value = [Option<Value>; N];

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Pick<'_, N> {
    type Value = [Option<Value>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom(NOT_OBJECT))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        // Checked like any array first, so a broken one is reported as broken.
        Check { depth: self.depth }.visit_seq(seq)?;
        Err(de::Error::custom(NOT_OBJECT))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(depth) = self.depth.checked_sub(1) else {
            return Err(de::Error::custom(DEEP));
        };
        let mut out = [const { None }; N];
        let mut keys = Keys::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let slot = self.wanted.iter().position(|w| *w == key);
            if !keys.add(key) {
                return Err(de::Error::custom(DUP));
            }
            match slot.and_then(|i| out.get_mut(i)) {
                Some(slot) => *slot = Some(map.next_value_seed(super::Strict { depth })?),
                None => map.next_value_seed(Check { depth })?,
            }
        }
        if !keys.finish() {
            return Err(de::Error::custom(DUP));
        }
        Ok(out)
    }
}

/// Any value, checked and not built.
struct Check {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Check {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        match v.is_finite() {
            true => Ok(()),
            false => Err(E::custom("non-finite number")),
        }
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some(depth) = self.depth.checked_sub(1) else {
            return Err(de::Error::custom(DEEP));
        };
        while seq.next_element_seed(Check { depth })?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(depth) = self.depth.checked_sub(1) else {
            return Err(de::Error::custom(DEEP));
        };
        let mut keys = Keys::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if !keys.add(key) {
                return Err(de::Error::custom(DUP));
            }
            map.next_value_seed(Check { depth })?;
        }
        match keys.finish() {
            true => Ok(()),
            false => Err(de::Error::custom(DUP)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{MAX_DEPTH, parse_object};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn picks_named_members_only() {
        let doc = br#"{"iss":"a","n":{"x":[1,2]},"exp":5,"other":true}"#;
        let [iss, exp, missing] = pick_members(doc, MAX_DEPTH, ["iss", "exp", "nope"]).unwrap();
        assert_eq!(iss, Some(Value::from("a")));
        assert_eq!(exp, Some(Value::from(5)));
        assert_eq!(missing, None);
    }

    #[test]
    fn large_objects_find_duplicates_too() {
        let mut members: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        let ok = format!("{{{}}}", members.join(","));
        assert_eq!(check_object(ok.as_bytes(), MAX_DEPTH), Ok(()));
        members.push("\"k3\":0".to_owned());
        let dup = format!("{{\"o\":{{{}}}}}", members.join(","));
        assert_eq!(
            check_object(dup.as_bytes(), MAX_DEPTH),
            Err(StrictJsonError::DuplicateKey)
        );
    }

    /// Documents around the edges of the rules, as bytes.
    fn documents() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just("\"a\"".to_owned()),
            Just("\"\\u0061\"".to_owned()),
            Just("\"b\"".to_owned()),
            Just("1".to_owned()),
            Just("-2.5e3".to_owned()),
            Just("1e400".to_owned()),
            Just("null".to_owned()),
            Just(" ".to_owned()),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat().into_bytes())
    }

    proptest! {
        /// Checking accepts exactly what building accepts, at any depth limit.
        #[test]
        fn check_agrees_with_parse(doc in documents(), depth in 1usize..6) {
            let built = parse_object(&doc, depth).map(|_| ());
            let checked = check_object(&doc, depth);
            prop_assert_eq!(built.is_ok(), checked.is_ok(), "{:?}", String::from_utf8_lossy(&doc));
        }

        #[test]
        fn check_agrees_on_objects(
            m in proptest::collection::vec(("[ab]{1,2}", 0u8..3), 0..8)
        ) {
            let body: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let doc = format!("{{{}}}", body.join(","));
            prop_assert_eq!(
                parse_object(doc.as_bytes(), MAX_DEPTH).map(|_| ()),
                check_object(doc.as_bytes(), MAX_DEPTH)
            );
        }
    }
}
