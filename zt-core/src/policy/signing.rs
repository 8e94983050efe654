//! Signed bundles in OPA's format: `.signatures.json` holds `{"signatures": ["<JWS>"]}`, one
//! compact JWS whose payload is `{"files": [{"name", "hash", "algorithm"}], "keyid"?,
//! "scope"?}`. The bundle is accepted only when the JWS verifies with a configured key and
//! algorithm and the bundle's files are exactly the listed files with the listed digests.
//!
//! Digests follow OPA: the raw bytes for policy and other files; for structured documents
//! (`data.json`, `data.yaml`, `data.yml`, `.manifest`) the digest of a canonical form, so that
//! whitespace and key order do not matter: objects as `{` sorted `"key":value` pairs joined by
//! `,` `}`, arrays as `[` values joined by `,` `]`, strings JSON-encoded as Go does without HTML
//! escaping, numbers as written.
//!
//! # Security
//! - The JWS goes through the token parser's strict checks (canonical base64url, no duplicate
//!   keys, `crit` refused, `none` unrepresentable); its `alg` must be the configured algorithm
//!   of the chosen key, so RS/HS confusion and algorithm substitution are refused.
//! - Embedded keys (`jwk`, `x5c`, `jku` headers) are never used; keys come only from config.
//! - Every file must be listed (an added file is refused) and every listed file present (a
//!   removed one is refused), except `exclude_files`, which are then never loaded.
//! - Only SHA-256, SHA-384 and SHA-512 digests are accepted, compared in constant time.

use crate::algorithm::{Algorithm, Family};
use crate::config::{BundleKeyConfig, BundleSigningConfig};
use crate::error::BundleSignatureError as E;
use crate::jwks::VerificationKey;
use crate::token::Jws;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The signatures file's name at the bundle root.
pub(crate) const SIGNATURES_FILE: &str = ".signatures.json";

/// Largest `.signatures.json` read (a bundle of 10,000 files lists ~1.2 MB of digests).
const MAX_SIGNATURES_BYTES: usize = 4 * 1024 * 1024;

/// A configured verification key.
struct Key {
    alg: Algorithm,
    key: Arc<VerificationKey>,
}

/// Verifies bundles against `[policy.signing]`.
pub(crate) struct Verifier {
    keys: HashMap<String, Key>,
    keyid: Option<String>,
    scope: Option<String>,
    exclude: globset::GlobSet,
}

impl Verifier {
    /// Build from config: reads key files and secrets. The error names the key, never its
    /// material.
    pub(crate) fn from_config(c: &BundleSigningConfig) -> Result<Self, String> {
        let exclude = c.check_shape()?;
        let mut keys = HashMap::new();
        for k in &c.keys {
            let key = load_key(k).map_err(|e| format!("key `{}`: {e}", k.keyid))?;
            let key = Key {
                alg: k.algorithm,
                key: Arc::new(key),
            };
            keys.insert(k.keyid.clone(), key);
        }
        Ok(Self {
            keys,
            keyid: c.keyid.clone(),
            scope: c.scope.clone(),
            exclude,
        })
    }

    /// Whether `name` is left out of verification (and of the bundle).
    pub(crate) fn excluded(&self, name: &str) -> bool {
        self.exclude.is_match(name)
    }

    /// Verify `files` (every file of the bundle, `.signatures.json` included, names relative to
    /// the bundle root without a leading `/`).
    pub(crate) fn verify(&self, files: &[(String, Vec<u8>)]) -> Result<(), E> {
        let Some((_, sig_bytes)) = files.iter().find(|(n, _)| n == SIGNATURES_FILE) else {
            return Err(E::Missing);
        };
        let signed = self.verify_signature(sig_bytes)?;
        let mut listed: BTreeMap<String, (String, String)> = BTreeMap::new();
        for f in signed {
            let name = super::bundle::normalise_name(&f.name);
            if listed.insert(name.clone(), (f.hash, f.algorithm)).is_some() {
                return Err(malformed(format!("`{name}` is listed twice")));
            }
        }
        for (name, bytes) in files {
            if name == SIGNATURES_FILE || self.excluded(name) {
                continue;
            }
            let Some((hash, algorithm)) = listed.remove(name) else {
                return Err(E::FileNotSigned { file: shown(name) });
            };
            let digest = digest_file(name, bytes, &algorithm)?;
            let expected = decode_hex(&hash)
                .ok_or_else(|| malformed(format!("the hash of `{name}` is not hexadecimal")))?;
            if aws_lc_rs::constant_time::verify_slices_are_equal(&digest, &expected).is_err() {
                return Err(E::DigestMismatch { file: name.clone() });
            }
        }
        // Listed files that are excluded need not be present (OPA drops them too).
        if let Some(name) = listed.into_keys().find(|n| !self.excluded(n)) {
            return Err(E::FileMissing { file: shown(&name) });
        }
        Ok(())
    }

    /// Check the JWS of `.signatures.json` and return its file list.
    fn verify_signature(&self, bytes: &[u8]) -> Result<Vec<SignedFile>, E> {
        if bytes.len() > MAX_SIGNATURES_BYTES {
            return Err(malformed(format!(
                "larger than {MAX_SIGNATURES_BYTES} bytes"
            )));
        }
        let doc = crate::util::json::parse_object(bytes, 4)
            .map_err(|e| malformed(format!("not a JSON object ({})", e.as_str())))?;
        if let Some(plugin) = doc.get("plugin")
            && plugin.as_str().is_none_or(|p| !p.is_empty())
        {
            return Err(malformed(
                "signature plugins are not supported (`plugin` is set)".to_owned(),
            ));
        }
        let jws = match doc.get("signatures") {
            Some(Value::Array(a)) => match a.as_slice() {
                [Value::String(s)] => s,
                [] => return Err(malformed("`signatures` is empty".to_owned())),
                [_] => return Err(malformed("`signatures` holds a non-string".to_owned())),
                _ => {
                    return Err(malformed(
                        "`signatures` holds more than one JWS (OPA expects exactly one)".to_owned(),
                    ));
                }
            },
            _ => return Err(malformed("`signatures` is not an array".to_owned())),
        };
        let jws = Jws::parse(jws).map_err(|e| match e {
            crate::TokenError::AlgorithmNotAllowed => E::AlgorithmNotAllowed {
                keyid: self.keyid.clone().unwrap_or_default(),
                alg: "(unsupported)".to_owned(),
                expected: "a configured key's algorithm".to_owned(),
            },
            other => malformed(format!("the JWS is malformed: {other}")),
        })?;
        let payload = crate::util::json::parse_object(jws.payload(), 8).map_err(|e| {
            malformed(format!(
                "the JWS payload is not a JSON object ({})",
                e.as_str()
            ))
        })?;
        let claim_keyid = match payload.get("keyid") {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(malformed("`keyid` is not a string".to_owned())),
        };
        // The configured key id pins the key; otherwise the header's `kid`, then the
        // deprecated `keyid` claim, choose it.
        let keyid = self
            .keyid
            .as_deref()
            .or(jws.kid().filter(|k| !k.is_empty()))
            .or(claim_keyid.filter(|k| !k.is_empty()))
            .ok_or(E::NoKeyId)?;
        let key = self.keys.get(keyid).ok_or_else(|| E::UnknownKey {
            keyid: shown(keyid),
        })?;
        if jws.alg() != key.alg {
            return Err(E::AlgorithmNotAllowed {
                keyid: keyid.to_owned(),
                alg: jws.alg().to_string(),
                expected: key.alg.to_string(),
            });
        }
        jws.verify(&key.key).map_err(|_| E::SignatureInvalid {
            keyid: keyid.to_owned(),
        })?;
        // Only a verified payload is read further.
        let scope = match payload.get("scope") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
            Some(_) => return Err(malformed("`scope` is not a string".to_owned())),
        };
        if scope != self.scope.clone().filter(|s| !s.is_empty()) {
            return Err(E::ScopeMismatch {
                expected: self.scope.clone(),
                found: scope,
            });
        }
        signed_files(&payload)
    }
}

/// A key that signs bundles as `opa sign` does ([`sign_bundle`]).
pub struct BundleSigner {
    alg: Algorithm,
    key: jsonwebtoken::EncodingKey,
    keyid: Option<String>,
    scope: Option<String>,
}

impl std::fmt::Debug for BundleSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleSigner")
            .field("alg", &self.alg)
            .field("keyid", &self.keyid)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl BundleSigner {
    /// A signer for `alg` from `key`: a PEM private key (RSA for RS*/PS*, EC P-256/P-384 for
    /// ES256/ES384, Ed25519 for EdDSA, PKCS#8; RSA also PKCS#1), or for HS256/HS384/HS512 the
    /// shared secret's bytes (at least as long as the hash). `keyid` goes into the JWS header
    /// (`kid`), `scope` into the payload, as `opa sign --signing-key … --scope …` writes them.
    ///
    /// ```
    /// use zt_core::{Algorithm, BundleSigner, sign_bundle};
    /// let signer = BundleSigner::new(Algorithm::HS256, &[7u8; 32], Some("ci".into()), None).unwrap();
    /// let files = vec![("authz.rego".to_owned(), b"package zt.authz\n".to_vec())];
    /// let sig = sign_bundle(&files, &signer).unwrap();
    /// assert!(String::from_utf8(sig).unwrap().starts_with(r#"{"signatures":["ey"#));
    /// // A PEM that is no key for the algorithm: a typed error that never echoes the key.
    /// let e = BundleSigner::new(Algorithm::RS256, b"-----BEGIN nonsense", None, None).unwrap_err();
    /// assert_eq!(e.code(), "policy_signature_invalid");
    /// ```
    pub fn new(
        alg: Algorithm,
        key: &[u8],
        keyid: Option<String>,
        scope: Option<String>,
    ) -> Result<Self, crate::PolicyError> {
        let bad = |detail: String| crate::PolicyError::Signature {
            problem: E::SigningKey { detail },
        };
        let key = if alg.family() == Family::Hmac {
            if key.len() < alg.min_secret_len() {
                return Err(bad(format!(
                    "an {alg} secret must be at least {} bytes",
                    alg.min_secret_len()
                )));
            }
            jsonwebtoken::EncodingKey::from_secret(key)
        } else {
            crate::algorithm::encoding_key(alg, key)
                .ok_or_else(|| bad(format!("not a PEM private key for {alg}")))?
        };
        Ok(Self {
            alg,
            key,
            keyid: keyid.filter(|k| !k.is_empty()),
            scope: scope.filter(|s| !s.is_empty()),
        })
    }
}

/// `.signatures.json` for a bundle's `files` (names relative to its root, every file the
/// verifier will read: a directory's hidden files too), as `opa sign` writes it: one JWS whose
/// payload lists each file's SHA-256 digest (of the canonical form for `data.json`,
/// `data.yaml` and `.manifest`). An existing `.signatures.json` among `files` is left out.
pub fn sign_bundle(
    files: &[(String, Vec<u8>)],
    signer: &BundleSigner,
) -> Result<Vec<u8>, crate::PolicyError> {
    let signature = |problem| crate::PolicyError::Signature { problem };
    let mut listed: Vec<Value> = Vec::with_capacity(files.len());
    let mut names: Vec<&(String, Vec<u8>)> = files
        .iter()
        .filter(|(n, _)| super::bundle::normalise_name(n) != SIGNATURES_FILE)
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, bytes) in names {
        let name = super::bundle::normalise_name(name);
        let digest = digest_file(&name, bytes, "SHA-256").map_err(signature)?;
        let hash: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        listed.push(serde_json::json!({"name": name, "hash": hash, "algorithm": "SHA-256"}));
    }
    let mut payload = Map::new();
    payload.insert("files".to_owned(), Value::Array(listed));
    if let Some(scope) = &signer.scope {
        payload.insert("scope".to_owned(), Value::String(scope.clone()));
    }
    let mut header = jsonwebtoken::Header::new(signer.alg.to_jwt());
    header.typ = None;
    header.kid.clone_from(&signer.keyid);
    let jws = jsonwebtoken::encode(&header, &payload, &signer.key).map_err(|e| {
        signature(E::SigningKey {
            detail: format!("signing failed ({:?})", e.kind()),
        })
    })?;
    let doc = serde_json::json!({"signatures": [jws]});
    Ok(doc.to_string().into_bytes())
}

/// One entry of the payload's `files`.
struct SignedFile {
    name: String,
    hash: String,
    algorithm: String,
}

fn signed_files(payload: &Map<String, Value>) -> Result<Vec<SignedFile>, E> {
    let Some(Value::Array(files)) = payload.get("files") else {
        return Err(malformed("the payload has no `files` array".to_owned()));
    };
    files
        .iter()
        .map(|f| {
            let field = |k: &str| match f.get(k) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                _ => Err(malformed(format!("a `files` entry lacks a string `{k}`"))),
            };
            Ok(SignedFile {
                name: field("name")?,
                hash: field("hash")?,
                algorithm: field("algorithm")?,
            })
        })
        .collect()
}

/// Untrusted text for an error message: at most 64 characters, control characters escaped.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

fn malformed(detail: String) -> E {
    E::Malformed { detail }
}

fn load_key(k: &BundleKeyConfig) -> Result<VerificationKey, String> {
    let alg = k.algorithm;
    match (&k.key_file, &k.jwk, &k.secret_env) {
        (Some(path), None, None) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read `{}`: {}", path.display(), e.kind()))?;
            if pem.windows(7).any(|w| w == b"PRIVATE") {
                return Err(format!(
                    "`{}` holds a private key; configure the public key",
                    path.display()
                ));
            }
            let bad = |_: jsonwebtoken::errors::Error| {
                format!("`{}` is not a PEM {alg} public key", path.display())
            };
            let key = match alg.family() {
                Family::Rsa => {
                    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&pem).map_err(bad)?;
                    let der = key.try_get_as_bytes().map_err(bad)?;
                    let bits = aws_lc_rs::signature::RsaParameters::public_modulus_len(der)
                        .map_err(|_| format!("`{}` is not an RSA public key", path.display()))?;
                    if !(2048..=16384).contains(&bits) {
                        return Err(format!(
                            "`{}`: RSA keys must have 2048 to 16384 bits (this one has {bits})",
                            path.display()
                        ));
                    }
                    key
                }
                Family::EcP256 | Family::EcP384 => {
                    jsonwebtoken::DecodingKey::from_ec_pem(&pem).map_err(bad)?
                }
                Family::Ed25519 => jsonwebtoken::DecodingKey::from_ed_pem(&pem).map_err(bad)?,
                Family::Hmac => return Err(format!("{alg} needs `secret_env`")),
            };
            Ok(VerificationKey::new(alg.family(), Some(alg), key, 0))
        }
        (None, Some(jwk), None) => {
            let key =
                crate::jwks::parse_jwk(jwk).map_err(|p| format!("the JWK is refused: {p}"))?;
            if !key.fits(alg) {
                return Err(format!("the JWK does not fit {alg}"));
            }
            Ok(key)
        }
        (None, None, Some(var)) => {
            let secret = std::env::var(var)
                .map_err(|_| format!("environment variable `{var}` is not set"))?;
            if secret.len() < alg.min_secret_len() {
                return Err(format!(
                    "the secret in `{var}` is shorter than {} bytes",
                    alg.min_secret_len()
                ));
            }
            Ok(VerificationKey::hmac(secret.as_bytes()))
        }
        _ => Err("set exactly one of `key_file`, `jwk`, `secret_env`".to_owned()),
    }
}

/// Whether OPA hashes `name` as a structured document.
fn structured(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    // As OPA's `IsStructuredDoc`: `data.yml` is hashed byte for byte.
    matches!(base, "data.json" | "data.yaml" | ".manifest")
}

fn digest_file(name: &str, bytes: &[u8], algorithm: &str) -> Result<Vec<u8>, E> {
    let alg = match algorithm {
        "SHA-256" => &aws_lc_rs::digest::SHA256,
        "SHA-384" => &aws_lc_rs::digest::SHA384,
        "SHA-512" => &aws_lc_rs::digest::SHA512,
        other => {
            return Err(E::HashUnsupported {
                file: name.to_owned(),
                algorithm: other.to_owned(),
            });
        }
    };
    if !structured(name) {
        return Ok(aws_lc_rs::digest::digest(alg, bytes).as_ref().to_vec());
    }
    let canonical = canonical_document(name, bytes).ok_or_else(|| E::DigestMismatch {
        file: name.to_owned(),
    })?;
    Ok(aws_lc_rs::digest::digest(alg, &canonical).as_ref().to_vec())
}

/// The canonical form OPA hashes; `None` when the document does not parse.
fn canonical_document(name: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let json;
    let text = match std::str::from_utf8(bytes) {
        // As OPA: a YAML file written as JSON keeps its numbers as written.
        Ok(t) if !name.ends_with(".yaml") || serde_json::from_str::<&RawValue>(t).is_ok() => t,
        _ => {
            // YAML proper: through its JSON form (numbers may be written differently from
            // OPA's Go encoding, e.g. `1.0`; sign such files as JSON to be safe).
            let v: Value = serde_yaml_ng::from_slice(bytes).ok()?;
            json = serde_json::to_string(&v).ok()?;
            json.as_str()
        }
    };
    // Validate once, so the recursion below only sees well-formed JSON.
    let mut de = serde_json::Deserializer::from_str(text);
    let _: &RawValue = serde::Deserialize::deserialize(&mut de).ok()?;
    de.end().ok()?;
    let mut out = Vec::with_capacity(text.len());
    canonical(text, &mut out, 0)?;
    Some(out)
}

/// Deepest nesting hashed (data files deeper than 64 are refused when loaded anyway).
const MAX_CANONICAL_DEPTH: usize = 128;

fn canonical(raw: &str, out: &mut Vec<u8>, depth: usize) -> Option<()> {
    if depth > MAX_CANONICAL_DEPTH {
        return None;
    }
    let raw = raw.trim_matches([' ', '\t', '\n', '\r']);
    match raw.as_bytes().first()? {
        b'{' => {
            let map: BTreeMap<String, &RawValue> = serde_json::from_str(raw).ok()?;
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                go_string(k, out);
                out.push(b':');
                canonical(v.get(), out, depth + 1)?;
            }
            out.push(b'}');
        }
        b'[' => {
            let items: Vec<&RawValue> = serde_json::from_str(raw).ok()?;
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(v.get(), out, depth + 1)?;
            }
            out.push(b']');
        }
        b'"' => {
            let s: String = serde_json::from_str(raw).ok()?;
            go_string(&s, out);
        }
        // Numbers keep their literal form (OPA decodes with `UseNumber`); true/false/null.
        _ => out.extend_from_slice(raw.as_bytes()),
    }
    Some(())
}

/// A string as Go's `encoding/json` writes it with HTML escaping off.
fn go_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c if (c as u32) < 0x20 => {
                let b = c as u32 as usize;
                out.extend_from_slice(b"\\u00");
                out.push(HEX.get(b >> 4).copied().unwrap_or(b'0'));
                out.push(HEX.get(b & 0xf).copied().unwrap_or(b'0'));
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        String::from_utf8(canonical_document("data.json", s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn canonical_form_sorts_keys_and_drops_whitespace() {
        assert_eq!(
            canon(r#" { "b" : [1, 2.50, {"z": null, "a": true}], "a": "x" } "#),
            r#"{"a":"x","b":[1,2.50,{"a":true,"z":null}]}"#
        );
        // Keys sort by bytes, as Go's sort.Strings does.
        assert_eq!(
            canon(r#"{"b":1,"B":2,"é":3,"a":4}"#),
            r#"{"B":2,"a":4,"b":1,"é":3}"#
        );
        // Numbers as written (1e3 is not rewritten to 1000).
        assert_eq!(canon(r#"{"n":1e3,"m":-0}"#), r#"{"m":-0,"n":1e3}"#);
    }

    #[test]
    fn strings_are_escaped_like_go_without_html_escaping() {
        assert_eq!(
            canon(r#"{"s":"<a&b> \"q\" \\ \n\t\r\b\f \u0001 \u2028 \u00e9 /"}"#),
            "{\"s\":\"<a&b> \\\"q\\\" \\\\ \\n\\t\\r\\b\\f \\u0001 \\u2028 \u{e9} /\"}"
        );
    }

    #[test]
    fn unparsable_or_deep_documents_have_no_canonical_form() {
        assert!(canonical_document("data.json", b"{\"a\":").is_none());
        assert!(canonical_document("data.json", b"{} {}").is_none());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(canonical_document("data.json", deep.as_bytes()).is_none());
    }

    #[test]
    fn yaml_data_is_hashed_through_its_json_form() {
        let c = canonical_document("x/data.yaml", b"b: 1\na: [x, y]\n").unwrap();
        assert_eq!(c, br#"{"a":["x","y"],"b":1}"#);
    }

    #[test]
    fn yaml_written_as_json_keeps_its_numbers_and_a_bom_is_ignored() {
        let c = canonical_document("data.yaml", b"\xEF\xBB\xBF{\"n\": 2.50}").unwrap();
        assert_eq!(c, br#"{"n":2.50}"#);
    }

    #[test]
    fn untrusted_names_are_cut_and_escaped() {
        assert_eq!(shown("a\nb"), "a\\nb");
        assert_eq!(shown(&"k".repeat(100)).chars().count(), 65);
    }

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
    }

    #[test]
    fn only_structured_names_are_canonicalised() {
        assert!(structured(".manifest"));
        assert!(!structured("data.yml"));
        assert!(structured("a/b/data.json"));
        assert!(!structured("policy.rego"));
        assert!(!structured("a/other.json"));
    }
}
