//! Parsing a JWKS document into accepted verification keys, refusing weak or unsuitable ones.

use super::prepared::PreparedKeys;
use crate::algorithm::{Algorithm, Family};
use crate::error::{JwksError, KeyProblem};
use crate::util::json;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Most keys accepted in one key set.
const MAX_KEYS: usize = 256;

/// One parsed, accepted verification key.
pub(crate) struct VerificationKey {
    pub(crate) family: Family,
    /// The JWK's `alg`, when it declares one.
    pub(crate) alg: Option<Algorithm>,
    /// The key as loaded (PEM, JWK components, secret); checks use `prepared`.
    key: DecodingKey,
    /// Identifies the key material, so a cached verification can check its key still exists.
    pub(crate) fingerprint: u64,
    /// The key parsed once per algorithm it verifies.
    prepared: PreparedKeys,
}

impl VerificationKey {
    pub(crate) fn new(
        family: Family,
        alg: Option<Algorithm>,
        key: DecodingKey,
        fingerprint: u64,
    ) -> Self {
        Self {
            family,
            alg,
            key,
            fingerprint,
            prepared: PreparedKeys::default(),
        }
    }

    pub(crate) fn hmac(secret: &[u8]) -> Self {
        Self::new(
            Family::Hmac,
            None,
            DecodingKey::from_secret(secret),
            fingerprint(Family::Hmac, &[secret]),
        )
    }

    /// Whether `signature` over `message` verifies under `alg` (a key of another type never
    /// does; callers check [`VerificationKey::fits`] first to tell the two apart).
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.prepared.verify(&self.key, alg, message, signature)
    }

    /// The length of a shared secret (0 for a public key).
    pub(crate) fn secret_len(&self) -> usize {
        match self.family {
            Family::Hmac => self.key.try_get_as_bytes().map_or(0, <[u8]>::len),
            _ => 0,
        }
    }

    /// Whether this key may verify `alg`.
    pub(crate) fn fits(&self, alg: Algorithm) -> bool {
        self.family == alg.family() && self.alg.is_none_or(|a| a == alg)
    }
}

fn fingerprint(family: Family, parts: &[&[u8]]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (family as u8).hash(&mut h);
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

/// A parsed key set: accepted keys by `kid`, plus why any others were refused.
pub struct KeySet {
    by_kid: HashMap<String, Result<Arc<VerificationKey>, KeyProblem>>,
    without_kid: Vec<Arc<VerificationKey>>,
    pub(super) fetched_at_ms: u64,
    pub(super) fresh_until_ms: u64,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.by_kid.keys().collect();
        kids.sort();
        f.debug_struct("KeySet")
            .field("kids", &kids)
            .field("without_kid", &self.without_kid.len())
            .finish()
    }
}

/// The result of looking a key up.
pub(crate) enum Lookup {
    Found(Arc<VerificationKey>),
    Rejected(KeyProblem),
    NotFound,
}

impl KeySet {
    /// Parse a JWKS document (`{"keys": [...]}`).
    pub(crate) fn parse(bytes: &[u8], source_name: &str) -> Result<Self, JwksError> {
        let malformed = |detail: &'static str| JwksError::Malformed {
            source_name: source_name.to_owned(),
            what: "JWKS",
            detail,
        };
        let doc = json::parse_object(bytes, json::MAX_DEPTH).map_err(|e| malformed(e.as_str()))?;
        let Some(Value::Array(keys)) = doc.get("keys") else {
            return Err(malformed("`keys` is missing or not an array"));
        };
        if keys.len() > MAX_KEYS {
            return Err(malformed("more than 256 keys"));
        }
        let mut set = KeySet {
            by_kid: HashMap::new(),
            without_kid: Vec::new(),
            fetched_at_ms: 0,
            fresh_until_ms: u64::MAX,
        };
        let mut usable = 0usize;
        for jwk in keys {
            let Value::Object(jwk) = jwk else { continue };
            let parsed = parse_jwk(jwk).map(Arc::new);
            usable += usize::from(parsed.is_ok());
            match jwk.get("kid") {
                Some(Value::String(kid)) => {
                    if set.by_kid.contains_key(kid) {
                        // INVARIANT: an ambiguous kid never selects either key.
                        set.by_kid
                            .insert(kid.clone(), Err(KeyProblem::DuplicateKid));
                    } else {
                        set.by_kid.insert(kid.clone(), parsed);
                    }
                }
                None => {
                    if let Ok(key) = parsed {
                        set.without_kid.push(key);
                    }
                }
                Some(_) => {}
            }
        }
        let usable_after_dups =
            set.by_kid.values().filter(|k| k.is_ok()).count() + set.without_kid.len();
        if usable == 0 || usable_after_dups == 0 {
            return Err(JwksError::NoUsableKeys {
                source_name: source_name.to_owned(),
            });
        }
        Ok(set)
    }

    /// Find the key for a token's `kid` and algorithm.
    ///
    /// Without a `kid`, a key is chosen only when exactly one key of the set fits the algorithm.
    pub(crate) fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(Ok(key)) => Lookup::Found(key.clone()),
                Some(Err(problem)) => Lookup::Rejected(*problem),
                None => Lookup::NotFound,
            },
            None => {
                let mut fitting = self
                    .without_kid
                    .iter()
                    .chain(self.by_kid.values().filter_map(|k| k.as_ref().ok()))
                    .filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Lookup::Found(key.clone()),
                    _ => Lookup::NotFound,
                }
            }
        }
    }

    /// The key ids in this set that were accepted, sorted.
    pub fn key_ids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self
            .by_kid
            .iter()
            .filter(|(_, k)| k.is_ok())
            .map(|(kid, _)| kid.as_str())
            .collect();
        kids.sort_unstable();
        kids
    }
}

fn b64_member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KeyProblem> {
    match jwk.get(name) {
        Some(Value::String(s)) => URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .map_err(|_| KeyProblem::Invalid),
        _ => Err(KeyProblem::Invalid),
    }
}

pub(crate) fn parse_jwk(jwk: &Map<String, Value>) -> Result<VerificationKey, KeyProblem> {
    const PRIVATE: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];
    let kty = match jwk.get("kty") {
        Some(Value::String(k)) => k.as_str(),
        _ => return Err(KeyProblem::Invalid),
    };
    if kty == "oct" {
        return Err(KeyProblem::Symmetric);
    }
    if PRIVATE.iter().any(|p| jwk.contains_key(*p)) || jwk.contains_key("k") {
        return Err(KeyProblem::PrivateParts);
    }
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err(KeyProblem::NotForVerification),
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|o| o.as_str() == Some("verify")) => {}
        Some(_) => return Err(KeyProblem::NotForVerification),
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(
            a.parse::<Algorithm>()
                .map_err(|_| KeyProblem::AlgInconsistent)?,
        ),
        Some(_) => return Err(KeyProblem::Invalid),
    };
    let crv = jwk.get("crv").and_then(Value::as_str);
    let key = match kty {
        "RSA" => {
            let n = b64_member(jwk, "n")?;
            let e = b64_member(jwk, "e")?;
            check_rsa(&n, &e)?;
            VerificationKey::new(
                Family::Rsa,
                alg,
                DecodingKey::from_rsa_raw_components(&n, &e),
                fingerprint(Family::Rsa, &[&n, &e]),
            )
        }
        "EC" => {
            let (family, len) = match crv {
                Some("P-256") => (Family::EcP256, 32),
                Some("P-384") => (Family::EcP384, 48),
                Some(_) => return Err(KeyProblem::Unsupported),
                None => return Err(KeyProblem::Invalid),
            };
            let x = b64_member(jwk, "x")?;
            let y = b64_member(jwk, "y")?;
            if x.len() != len || y.len() != len {
                return Err(KeyProblem::EcPoint);
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            VerificationKey::new(
                family,
                alg,
                DecodingKey::from_ec_der(&point),
                fingerprint(family, &[&point]),
            )
        }
        "OKP" => {
            if crv != Some("Ed25519") {
                return Err(KeyProblem::Unsupported);
            }
            let x = b64_member(jwk, "x")?;
            if x.len() != 32 {
                return Err(KeyProblem::EcPoint);
            }
            VerificationKey::new(
                Family::Ed25519,
                alg,
                DecodingKey::from_ed_der(&x),
                fingerprint(Family::Ed25519, &[&x]),
            )
        }
        _ => return Err(KeyProblem::Unsupported),
    };
    if alg.is_some_and(|a| a.family() != key.family) {
        return Err(KeyProblem::AlgInconsistent);
    }
    Ok(key)
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b.get(first..).unwrap_or_default()
}

fn check_rsa(n: &[u8], e: &[u8]) -> Result<(), KeyProblem> {
    let n = strip_zeros(n);
    let bits = match n.first() {
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    };
    if !(2048..=16384).contains(&bits) {
        return Err(KeyProblem::RsaSize);
    }
    let e = strip_zeros(e);
    // e must be odd, > 1, and fit in 32 bits (every real key uses 65537 or 3).
    let odd = e.last().is_some_and(|b| b & 1 == 1);
    if e.is_empty() || e.len() > 4 || !odd || e == [1] {
        return Err(KeyProblem::RsaExponent);
    }
    if has_roca_fingerprint(n) {
        return Err(KeyProblem::RsaRoca);
    }
    Ok(())
}

/// Detect moduli generated by the vulnerable Infineon library (ROCA, CVE-2017-15361): their
/// residues modulo each small prime lie in the subgroup generated by 65537.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = n
            .iter()
            .fold(0u32, |acc, b| (acc * 256 + u32::from(*b)) % p);
        let generator = 65_537 % p;
        let mut x = 1u32;
        // Walk the cyclic subgroup <65537> mod p (at most p-1 steps).
        for _ in 0..p {
            if x == residue {
                return true;
            }
            x = x * generator % p;
            if x == 1 {
                break;
            }
        }
        false
    })
}

/// Read and parse a JWKS file with the size limit.
pub(crate) fn load_file(path: &std::path::Path, max_bytes: u64) -> Result<KeySet, JwksError> {
    use std::io::Read as _;
    let name = path.display().to_string();
    let io = |e: std::io::Error| JwksError::Io {
        path: path.to_path_buf(),
        kind: e.kind().to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(JwksError::TooLarge {
            source_name: name,
            limit: usize::try_from(max_bytes).unwrap_or(usize::MAX),
        });
    }
    KeySet::parse(&bytes, &name)
}
