//! DPoP proofs (RFC 9449): a client proves it holds the key its access token is bound to
//! (`cnf.jkt`) by signing a short-lived JWT per request.
//!
//! A proof is accepted when, in this order:
//! 1. it parses as a compact JWS with the token parser's strictness (no `crit`, no `none`);
//! 2. `typ` is `dpop+jwt` and `alg` is in `[dpop] algorithms` (asymmetric only);
//! 3. the `jwk` header is a public key fitting `alg` (private parts, `oct` and weak keys are
//!    refused, as in key sets) and the signature verifies with it;
//! 4. `htm` is the request method, `htu` the request URL (compared after RFC 3986
//!    normalisation, without query and fragment), `iat` within `max_age_s` (± `leeway_s`),
//!    `ath` the base64url SHA-256 of the access token, and `jti` present;
//! 5. the key's RFC 7638 thumbprint is the token's `cnf.jkt`;
//! 6. with `[dpop] nonce_secret_env`/`nonce_secret_file`, its `nonce` is current (RFC 9449
//!    §9: minted by an instance sharing the secret, in this lifetime or the previous one);
//! 7. its `jti` was not seen with this key within the window (a bounded cache, and with
//!    `[dpop.replay_store]` the store every instance shares: [`store`]).
//!
//! This is the one place zt uses a key embedded in a JWS: it is the proof's own key, and it is
//! trusted only through the thumbprint the verified access token carries.

use crate::algorithm::Algorithm;
use crate::codes::Reason;
use crate::config::DpopConfig;
use crate::token::Jws;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

pub(crate) mod store;
pub use store::ReplayStoreStats;

/// A proof that passed every check of this instance.
#[derive(Debug)]
pub(crate) struct Checked {
    /// The nonce to hand out on the response, when the proof's is about to age out.
    pub(crate) next_nonce: Option<String>,
    /// With a shared store: the proof id still to record there before the proof counts.
    pub(crate) pending: Option<store::Pending>,
}

/// What a proof is checked against.
pub(crate) struct ProofContext<'a> {
    pub(crate) method: &'a str,
    /// The request URL (normalised by the checker).
    pub(crate) url: &'a str,
    pub(crate) access_token: &'a str,
    /// The token's `cnf.jkt`.
    pub(crate) jkt: &'a str,
    /// Unix seconds.
    pub(crate) now: u64,
}

/// Largest proof read (a proof with an RSA-4096 `jwk` is about 1.5 KB).
const MAX_PROOF_BYTES: usize = 8 * 1024;

/// Proof ids seen within their window, under a hard cap. When full, new proofs are refused
/// (fail closed) rather than forgetting ids still in their window, which would let a flood of
/// fresh proofs switch replay protection off.
struct ReplayCache {
    inner: std::sync::Mutex<Seen>,
    capacity: usize,
}

#[derive(Default)]
struct Seen {
    ids: std::collections::HashSet<[u8; 32]>,
    /// `(expires_at, id)` in insertion order (expiry is insertion time plus a constant).
    order: std::collections::VecDeque<(u64, [u8; 32])>,
}

enum Spent {
    Fresh,
    Seen,
    Full,
}

impl ReplayCache {
    fn spend(&self, id: [u8; 32], now: u64, expires_at: u64) -> Spent {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while s.order.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, old)) = s.order.pop_front() {
                s.ids.remove(&old);
            }
        }
        if s.ids.contains(&id) {
            return Spent::Seen;
        }
        if s.ids.len() >= self.capacity {
            return Spent::Full;
        }
        s.ids.insert(id);
        s.order.push_back((expires_at, id));
        Spent::Fresh
    }
}

/// Server nonces (RFC 9449 §9): `base64url(window ‖ HMAC-SHA-256(secret, label ‖ window)[..16])`
/// with `window = now / lifetime`. Stateless, so every instance holding the secret mints the
/// same nonce and accepts the others'; the current and the previous window are accepted.
pub(crate) struct Nonces {
    key: aws_lc_rs::hmac::Key,
    lifetime_s: u64,
}

impl Nonces {
    const LABEL: &'static [u8] = b"zt-dpop-nonce\0";

    pub(crate) fn new(secret: &[u8], lifetime_s: u64) -> Self {
        Self {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
            lifetime_s: lifetime_s.max(1),
        }
    }

    fn tag(&self, window: u64) -> [u8; 16] {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.key);
        ctx.update(Self::LABEL);
        ctx.update(&window.to_be_bytes());
        let mut out = [0u8; 16];
        for (o, b) in out.iter_mut().zip(ctx.sign().as_ref()) {
            *o = *b;
        }
        out
    }

    /// The nonce current at `now` (Unix seconds).
    pub(crate) fn current(&self, now: u64) -> String {
        let window = now / self.lifetime_s;
        let mut bytes = Vec::with_capacity(24);
        bytes.extend_from_slice(&window.to_be_bytes());
        bytes.extend_from_slice(&self.tag(window));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` was minted with this secret in the current or the previous window.
    #[cfg(test)]
    pub(crate) fn accepts(&self, nonce: &str, now: u64) -> bool {
        self.age(nonce, now).is_some()
    }

    /// `Some(0)` for a current nonce, `Some(1)` for the previous window's (still accepted,
    /// time to hand out the new one), `None` for anything else.
    fn age(&self, nonce: &str, now: u64) -> Option<u64> {
        if nonce.len() != 32 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        let (w, tag) = (bytes.get(..8)?, bytes.get(8..)?);
        let mut window = [0u8; 8];
        window.copy_from_slice(w);
        let window = u64::from_be_bytes(window);
        let age = (now / self.lifetime_s).checked_sub(window)?;
        (age <= 1
            && aws_lc_rs::constant_time::verify_slices_are_equal(tag, &self.tag(window)).is_ok())
        .then_some(age)
    }
}

/// Checks DPoP proofs; holds the replay cache.
pub(crate) struct DpopChecker {
    /// Server nonces, when required.
    pub(crate) nonces: Option<Nonces>,
    algorithms: Vec<Algorithm>,
    algs_text: std::sync::Arc<str>,
    max_age_s: u64,
    leeway_s: u64,
    pub(crate) base_url: Option<String>,
    seen: ReplayCache,
    /// The store shared between instances (`[dpop.replay_store]`).
    pub(crate) store: Option<store::ReplayStore>,
}

impl DpopChecker {
    /// The checker for `[dpop]`; an error names the config key (the nonce secret, or the
    /// replay store's password) and what is wrong with it.
    pub(crate) fn new(c: &DpopConfig) -> Result<Self, (&'static str, String)> {
        let secret_key = if c.nonce_secret_file.is_some() {
            "dpop.nonce_secret_file"
        } else {
            "dpop.nonce_secret_env"
        };
        let secret = if let Some(var) = &c.nonce_secret_env {
            Some(
                std::env::var_os(var)
                    .ok_or_else(|| {
                        (
                            secret_key,
                            format!("environment variable `{var}` is not set"),
                        )
                    })?
                    .into_encoded_bytes(),
            )
        } else if let Some(path) = &c.nonce_secret_file {
            let mut bytes = std::fs::read(path).map_err(|e| {
                (
                    secret_key,
                    format!("cannot read `{}`: {}", path.display(), e.kind()),
                )
            })?;
            if bytes.ends_with(b"\n") {
                bytes.pop();
                if bytes.ends_with(b"\r") {
                    bytes.pop();
                }
            }
            Some(bytes)
        } else {
            None
        };
        if secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err((
                secret_key,
                "the nonce secret must be at least 32 bytes".to_owned(),
            ));
        }
        Ok(Self {
            nonces: secret.map(|s| Nonces::new(&s, c.nonce_lifetime_s)),
            algorithms: c.algorithms.clone(),
            algs_text: c
                .algorithms
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(" ")
                .into(),
            max_age_s: c.max_age_s,
            leeway_s: c.leeway_s,
            base_url: c
                .base_url
                .as_deref()
                .map(|b| b.trim_end_matches('/').to_owned()),
            seen: ReplayCache {
                inner: std::sync::Mutex::default(),
                capacity: usize::try_from(c.replay_cache_entries).unwrap_or(100_000),
            },
            store: c
                .replay_store
                .as_ref()
                .map(store::ReplayStore::new)
                .transpose()
                .map_err(|m| ("dpop.replay_store", m))?,
        })
    }

    /// The algorithms for a `WWW-Authenticate: DPoP algs="..."` challenge.
    pub(crate) fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The same, space-separated, as the challenge's `algs` carries them.
    pub(crate) fn algs_text(&self) -> std::sync::Arc<str> {
        self.algs_text.clone()
    }

    /// Check `proof` for a request; `Ok` when every rule holds (and its `jti` is then spent
    /// here, and pending in the shared store if there is one), with the next nonce when the
    /// proof's is from the previous window (RFC 9449 §8.2: the server may hand out a new nonce
    /// on any response).
    pub(crate) fn check(&self, proof: &str, cx: &ProofContext<'_>) -> Result<Checked, Reason> {
        let invalid = Reason::DpopProofInvalid;
        if proof.len() > MAX_PROOF_BYTES {
            return Err(invalid);
        }
        let jws = Jws::parse(proof).map_err(|_| invalid)?;
        if jws.typ().as_deref() != Some("dpop+jwt") {
            return Err(invalid);
        }
        let alg = jws.alg();
        if alg.is_hmac() || !self.algorithms.contains(&alg) {
            return Err(invalid);
        }
        let Some(Value::Object(jwk)) = jws.jwk() else {
            return Err(invalid);
        };
        let key = crate::jwks::parse_jwk(jwk).map_err(|_| invalid)?;
        jws.verify(&key).map_err(|_| invalid)?;
        // Only a verified payload is read.
        let claims = crate::util::json::parse_object(jws.payload(), 4).map_err(|_| invalid)?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let jti = text("jti").filter(|j| !j.is_empty() && j.len() <= 256);
        let Some(jti) = jti else {
            return Err(invalid);
        };
        if text("htm") != Some(cx.method) {
            return Err(invalid);
        }
        let htu = text("htu").and_then(normalise_url);
        if htu.is_none() || htu != normalise_url(cx.url) {
            return Err(invalid);
        }
        let iat = claims.get("iat").and_then(Value::as_u64).ok_or(invalid)?;
        let earliest = cx
            .now
            .saturating_sub(self.max_age_s.saturating_add(self.leeway_s));
        if iat < earliest || iat > cx.now.saturating_add(self.leeway_s) {
            return Err(invalid);
        }
        let ath = sha256_b64(cx.access_token.as_bytes());
        let ath_ok = text("ath").is_some_and(|a| {
            aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), ath.as_bytes()).is_ok()
        });
        if !ath_ok {
            return Err(invalid);
        }
        let thumbprint = jwk_thumbprint(jwk).ok_or(invalid)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(
            thumbprint.as_bytes(),
            cx.jkt.as_bytes(),
        )
        .is_err()
        {
            return Err(Reason::DpopBindingMismatch);
        }
        // Last of the proof's own checks: `use_dpop_nonce` tells a client that everything but
        // the nonce was right, so a retry with the fresh nonce passes.
        let mut next_nonce = None;
        if let Some(n) = &self.nonces {
            match text("nonce").and_then(|nonce| n.age(nonce, cx.now)) {
                None => return Err(Reason::DpopNonceRequired),
                Some(0) => {}
                Some(_) => next_nonce = Some(n.current(cx.now)),
            }
        }
        // Spent only now, so that a proof failing a check above never burns its `jti`.
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(thumbprint.as_bytes());
        ctx.update(&[0]);
        ctx.update(jti.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        // Remembered until the proof can no longer be accepted (its latest acceptable time
        // is `iat + max_age + leeway`), plus two seconds for the rounding of `now`.
        let expires_at = iat
            .max(cx.now)
            .saturating_add(self.max_age_s)
            .saturating_add(self.leeway_s)
            .saturating_add(2);
        match self.seen.spend(key, cx.now, expires_at) {
            Spent::Fresh => Ok(Checked {
                next_nonce,
                pending: self.store.as_ref().map(|_| store::Pending {
                    id: key,
                    ttl_ms: expires_at.saturating_sub(cx.now).saturating_mul(1000),
                }),
            }),
            Spent::Seen | Spent::Full => Err(Reason::DpopReplayed),
        }
    }
}

fn sha256_b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

/// The RFC 7638 thumbprint of a public JWK (base64url SHA-256 of its required members in
/// lexicographic order), as `cnf.jkt` carries it; `None` for a key type zt does not know or a
/// key missing a member.
///
/// ```
/// // RFC 7638 §3.1's example key.
/// let jwk = serde_json::json!({
///     "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
///     "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
/// });
/// assert_eq!(
///     zt_core::jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
///     Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
/// );
/// ```
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str)? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, m) in members.iter().enumerate() {
        let v = jwk.get(*m).and_then(Value::as_str)?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&Value::from(*m).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(v).to_string());
    }
    canonical.push('}');
    Some(sha256_b64(canonical.as_bytes()))
}

/// A URL as `htu` is compared (RFC 9449 §4.3): scheme and host lower case, default port
/// dropped, dot segments resolved, percent-encoding normalised (unreserved characters decoded,
/// hex upper case), query and fragment dropped. `None` when it is not an http(s) URL.
pub(crate) fn normalise_url(url: &str) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return None;
    }
    u.set_query(None);
    u.set_fragment(None);
    let s = u.as_str();
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(c)) if c.is_ascii_alphanumeric() || b"-._~".contains(&c) => {
                out.push(char::from(c));
                i += 3;
            }
            (b'%', Some(c)) => {
                out.push_str(&format!("%{c:02X}"));
                i += 3;
            }
            _ => {
                out.push(char::from(b));
                i += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9449 §7.1 (Figure 13): a proof for `GET https://resource.example.org/protectedresource`
    /// with access token `Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU`, bound to the `jkt` of
    /// §6.1 (Figure 9).
    const RFC_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA";
    /// RFC 9449 §4.1 (Figure 2): a token-request proof (no `ath`).
    const RFC_TOKEN_REQUEST_PROOF: &str = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg";
    const RFC_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

    fn rfc_context(now: u64) -> ProofContext<'static> {
        ProofContext {
            method: "GET",
            url: "https://resource.example.org/protectedresource",
            access_token: RFC_TOKEN,
            jkt: RFC_JKT,
            now,
        }
    }

    #[test]
    fn the_rfc_9449_examples() {
        let checker = DpopChecker::new(&DpopConfig::default()).unwrap();
        // The resource request of §7.1 at its own time: accepted once, then a replay.
        assert_eq!(
            checker
                .check(RFC_PROOF, &rfc_context(1_562_262_618))
                .map(|c| c.next_nonce),
            Ok(None)
        );
        assert_eq!(
            checker
                .check(RFC_PROOF, &rfc_context(1_562_262_618))
                .map(|c| c.next_nonce),
            Err(Reason::DpopReplayed)
        );
        // Two minutes later it is stale; bound to another key it is a mismatch.
        let fresh = DpopChecker::new(&DpopConfig::default()).unwrap();
        assert_eq!(
            fresh
                .check(RFC_PROOF, &rfc_context(1_562_262_738))
                .map(|c| c.next_nonce),
            Err(Reason::DpopProofInvalid)
        );
        let mut other = rfc_context(1_562_262_618);
        other.jkt = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(
            fresh.check(RFC_PROOF, &other).map(|c| c.next_nonce),
            Err(Reason::DpopBindingMismatch)
        );
        // The token-request proof of §4.1 has no `ath`: not a proof for a resource request.
        let token_request = ProofContext {
            method: "POST",
            url: "https://server.example.com/token",
            ..rfc_context(1_562_262_616)
        };
        assert_eq!(
            fresh
                .check(RFC_TOKEN_REQUEST_PROOF, &token_request)
                .map(|c| c.next_nonce),
            Err(Reason::DpopProofInvalid)
        );
        // The proof's key has the RFC's thumbprint.
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"});
        assert_eq!(
            jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some(RFC_JKT)
        );
    }

    #[test]
    fn a_full_replay_cache_refuses_rather_than_forgets() {
        let c = ReplayCache {
            inner: std::sync::Mutex::default(),
            capacity: 2,
        };
        assert!(matches!(c.spend([1; 32], 100, 160), Spent::Fresh));
        assert!(matches!(c.spend([2; 32], 101, 161), Spent::Fresh));
        assert!(matches!(c.spend([1; 32], 102, 162), Spent::Seen));
        assert!(matches!(c.spend([3; 32], 102, 162), Spent::Full));
        // Once the first id's window has passed, there is room again.
        assert!(matches!(c.spend([3; 32], 160, 220), Spent::Fresh));
        assert!(matches!(c.spend([1; 32], 160, 220), Spent::Full));
    }

    #[test]
    fn concurrent_uses_of_one_proof_pass_once() {
        let checker = std::sync::Arc::new(DpopChecker::new(&DpopConfig::default()).unwrap());
        let passed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let c = checker.clone();
                    s.spawn(move || {
                        usize::from(c.check(RFC_PROOF, &rfc_context(1_562_262_618)).is_ok())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(passed, 1);
    }

    #[test]
    fn urls_are_normalised_before_comparison() {
        let n = |u: &str| normalise_url(u);
        assert_eq!(
            n("HTTPS://Server.Example.com:443/a/./b/../c?x=1#f"),
            n("https://server.example.com/a/c")
        );
        assert_eq!(n("https://s.example/%7euser"), n("https://s.example/~user"));
        assert_eq!(n("https://s.example/a%2fb"), n("https://s.example/a%2Fb"));
        assert_ne!(n("https://s.example/a"), n("https://s.example/b"));
        assert_ne!(n("https://s.example:8443/a"), n("https://s.example/a"));
        assert_eq!(n("ftp://s.example/a"), None);
        assert_eq!(n("/relative"), None);
    }

    #[test]
    fn thumbprints_need_the_required_members() {
        let ec = serde_json::json!({"kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        let with_extra = serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "k", "use": "sig",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        let a = jwk_thumbprint(ec.as_object().unwrap()).unwrap();
        assert_eq!(Some(a), jwk_thumbprint(with_extra.as_object().unwrap()));
        let missing = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "f83O"});
        assert_eq!(jwk_thumbprint(missing.as_object().unwrap()), None);
        let oct = serde_json::json!({"kty": "oct", "k": "c2VjcmV0"});
        assert_eq!(jwk_thumbprint(oct.as_object().unwrap()), None);
    }

    #[test]
    fn nonces_are_stateless_windowed_and_keyed() {
        let n = Nonces::new(b"0123456789abcdef0123456789abcdef", 60);
        let m = Nonces::new(b"0123456789abcdef0123456789abcdeX", 60);
        let t = 1_800_000_000;
        let nonce = n.current(t);
        assert_eq!(nonce.len(), 32);
        assert_eq!(
            nonce,
            Nonces::new(b"0123456789abcdef0123456789abcdef", 60).current(t)
        );
        assert!(n.accepts(&nonce, t));
        assert!(
            n.accepts(&nonce, t + 60),
            "the next window still accepts it"
        );
        assert!(
            !n.accepts(&nonce, t + 120 + 60),
            "two windows later it is stale"
        );
        assert!(
            !n.accepts(&nonce, t - 60),
            "a nonce from the future is refused"
        );
        assert!(!m.accepts(&nonce, t), "another secret");
        assert!(!n.accepts(&nonce[..31], t));
        assert!(!n.accepts("", t));
        assert!(!n.accepts(&"A".repeat(32), t));
    }
}
