//! Access-token verification: compact JWS parsing, issuer and key selection, signature check,
//! claim validation, and the verified-token cache.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use zt_core::{AuthorizerConfig, TokenVerifier};
//!
//! let config = AuthorizerConfig::from_path("zt.toml")?;
//! let verifier = TokenVerifier::new(&config)?;
//! verifier.ready().await?; // wait for the first key fetch (optional)
//! # let token = "";
//! match verifier.verify_async(token).await {
//!     Ok(claims) => println!("subject {:?}", claims.subject()),
//!     Err(e) => println!("denied: {}", e.reason()),
//! }
//! # Ok(()) }
//! ```
//!
//! The order of checks: size, cache, segments and base64, header (`crit`, `b64`, `alg`), issuer
//! (by the unverified `iss`), algorithm allow-list, `typ`, key, signature, then `exp`, `nbf`,
//! `iat`, lifetime and `aud`. A forged token therefore fails on its signature before its claims
//! are trusted for anything but choosing the issuer.
//!
//! # Security
//! - Only this module builds [`VerifiedClaims`].
//! - The algorithm must be in the issuer's allow-list and fit the key (type, curve, JWK `alg`);
//!   `none` cannot be expressed. HMAC verifies only with a configured shared secret.
//! - `crit` (zt understands no extension), `b64`, `zip`, `enc` and nested tokens are refused;
//!   `jku`, `x5u`, `x5c` and `jwk` header parameters are ignored, never fetched or trusted.
//! - Base64url must be canonical and unpadded; JSON must have no duplicate keys and shallow
//!   nesting; the token size is checked before any decoding.
//! - A cached result is returned only for the byte-identical token, before its `exp`, within
//!   `token.cache_ttl_s`, and while its key is still in the issuer's key set.

use crate::algorithm::Algorithm;
use crate::config::{AuthorizerConfig, IssuerConfig};
use crate::error::{BuildError, ConfigError, KeyProblem, Malformed, TokenError};
use crate::jwks::{self, Env, IssuerKeys, KeyAnswer, KeySet, Source, VerificationKey};
use crate::util::clock::{Clock, SystemClock};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

mod claims;
mod introspect;
mod parse;

pub(crate) use claims::TokenDevice;
pub use claims::VerifiedClaims;
pub use introspect::IntrospectionStats;
pub(crate) use introspect::judge_answer_for_fuzzing;

use claims::{Registered, validate_claims};
use parse::{Header, Parsed, normalise_typ, parse_compact};

/// The state of one issuer's key cache, for operators and tests.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct JwksStatus {
    /// Fetches started (discovery + key set counts as one).
    pub fetches: u64,
    /// The error of the last fetch, if it failed.
    pub last_error: Option<crate::error::JwksError>,
    /// Accepted key ids in the current key set.
    pub key_ids: Vec<String>,
    /// Fetches that failed.
    pub fetch_failures: u64,
    /// Key lookups answered from the cached key set.
    pub lookup_hits: u64,
    /// Key lookups that found no usable key (unknown `kid`, refused key, no key set).
    pub lookup_misses: u64,
}

/// Verified-token cache counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TokenCacheStats {
    /// Verifications answered from the cache.
    pub hits: u64,
    /// Verifications that had to check the signature.
    pub misses: u64,
}

/// Verifies access tokens against the configured issuers. Cheap to clone and share.
///
/// # Example
///
/// ```
/// use zt_core::{AuthorizerConfig, Reason, TokenVerifier};
///
/// let config = AuthorizerConfig::from_toml_str(r#"
///     [[issuers]]
///     issuer = "https://idp.example.com"
///     audiences = ["api"]
///     algorithms = ["ES256"]
///     jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256",
///              x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
///              y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
/// "#)?;
/// let verifier = TokenVerifier::new(&config)?;
/// let err = verifier.verify("not-a-token").unwrap_err();
/// assert_eq!(err.reason(), Reason::TokenMalformed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut issuers: Vec<&str> = self.inner.issuers.keys().map(String::as_str).collect();
        issuers.sort_unstable();
        f.debug_struct("TokenVerifier")
            .field("issuers", &issuers)
            .finish_non_exhaustive()
    }
}

struct Inner {
    issuers: HashMap<String, IssuerRuntime>,
    env: Arc<Env>,
    max_bytes: usize,
    cache: Option<moka::sync::Cache<Box<str>, CacheEntry, rustc_hash::FxBuildHasher>>,
    cache_ttl_ms: u64,
    clock: Arc<dyn Clock>,
    cache_hits: crate::util::counters::ShardedCounter,
    cache_misses: crate::util::counters::ShardedCounter,
    /// Introspection for opaque tokens (at most one issuer sets it).
    introspector: Option<introspect::Introspector>,
    /// Claims besides the registered ones that decisions read (the posture claim and the device
    /// id claim), picked out when the payload is parsed.
    picked: Arc<[Box<str>]>,
}

struct IssuerRuntime {
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway_s: u64,
    max_token_age_s: u64,
    token_type: Option<String>,
    keys: Option<Arc<IssuerKeys>>,
    hmac: Option<Arc<VerificationKey>>,
}

#[derive(Clone)]
struct CacheEntry {
    claims: VerifiedClaims,
    fingerprint: u64,
    /// The issuer's key-set generation before the key was looked up (0 for HMAC).
    key_generation: u64,
    inserted_ms: u64,
}

/// One pass of verification either finishes or asks the caller to wait for a key fetch.
enum Step {
    Done(Result<VerifiedClaims, TokenError>),
    Wait(
        futures::future::Shared<futures::future::BoxFuture<'static, Result<(), crate::JwksError>>>,
    ),
}

impl TokenVerifier {
    /// Build a verifier using the system clock. Remote key sets start loading in the
    /// background at once; see [`TokenVerifier::ready`].
    pub fn new(config: &AuthorizerConfig) -> Result<Self, BuildError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Build a verifier with an injected clock.
    pub fn with_clock(
        config: &AuthorizerConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, BuildError> {
        config.validate()?;
        let needs_worker = config.issuers.iter().any(|i| {
            i.discovery
                || i.jwks_uri.is_some()
                || i.jwks_file.is_some()
                || i.introspection.is_some()
        });
        let env = Arc::new(Env::new(config.jwks.clone(), clock.clone(), needs_worker)?);
        let mut issuers = HashMap::new();
        let mut introspector = None;
        for (i, ic) in config.issuers.iter().enumerate() {
            let runtime = build_issuer(i, ic, &env, config.jwks.max_response_bytes)?;
            issuers.insert(ic.issuer.clone(), runtime);
            if let Some(intro) = &ic.introspection {
                introspector = Some(introspect::Introspector::new(i, ic, intro, clock.clone())?);
            }
        }
        let cache = (config.token.cache_entries > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(config.token.cache_entries)
                // One lifetime for every entry: moka's per-entry expiry (a timer wheel) cost
                // more than the rest of a new token's admission. `exp` is checked on every
                // hit, so an entry past its token's `exp` is never used, only kept until then.
                .time_to_live(Duration::from_millis(
                    config.token.cache_ttl_s.max(1) * 1000,
                ))
                .build_with_hasher(rustc_hash::FxBuildHasher)
        });
        Ok(Self {
            inner: Arc::new(Inner {
                issuers,
                env,
                max_bytes: usize::try_from(config.token.max_bytes).unwrap_or(usize::MAX),
                cache,
                cache_ttl_ms: config.token.cache_ttl_s * 1000,
                clock,
                cache_hits: Default::default(),
                cache_misses: Default::default(),
                introspector,
                picked: picked_claims(&config.posture),
            }),
        })
    }

    /// The introspector, when `token` is an opaque token (not a compact JWS) within the size
    /// limit and an issuer configures introspection.
    fn introspector_for(&self, token: &str) -> Option<&introspect::Introspector> {
        let i = self.inner.introspector.as_ref()?;
        (token.len() <= self.inner.max_bytes && introspect::is_opaque(token)).then_some(i)
    }

    /// Verify a token from cached keys only: no I/O, never blocks.
    ///
    /// For an unknown `kid` (or when no keys are loaded yet) this starts a background fetch,
    /// subject to the cooldown, and returns [`TokenError::UnknownKey`] (or
    /// [`TokenError::JwksUnavailable`]) at once.
    ///
    /// An opaque token (with `introspection` configured) is decided from the introspection
    /// cache only: on a miss a lookup starts in the background and this returns
    /// [`TokenError::IntrospectionPending`].
    pub fn verify(&self, token: &str) -> Result<VerifiedClaims, TokenError> {
        if let Some(i) = self.introspector_for(token) {
            return i.check_cached(token, self.inner.env.handle());
        }
        self.verify_signed(token)
    }

    /// Verify a token, awaiting at most one bounded key fetch when its `kid` is unknown (at
    /// most one fetch per issuer per `unknown_kid_cooldown_s`, shared by concurrent callers) or
    /// no keys are loaded yet. Works from any async runtime.
    ///
    /// An opaque token (with `introspection` configured) is decided from the introspection
    /// cache, or after one bounded call to the endpoint, shared with concurrent callers.
    pub async fn verify_async(&self, token: &str) -> Result<VerifiedClaims, TokenError> {
        if let Some(i) = self.introspector_for(token) {
            return i.check(token, self.inner.env.handle()).await;
        }
        self.verify_signed_async(token).await
    }

    /// [`TokenVerifier::verify_async`] on the calling thread: blocks for at most one bounded
    /// key fetch or introspection call, for one-shot tools (the CLI). Do not call it on an
    /// async runtime's worker thread.
    pub fn verify_blocking(&self, token: &str) -> Result<VerifiedClaims, TokenError> {
        futures::executor::block_on(self.verify_async(token))
    }

    /// [`TokenVerifier::verify`] for signed tokens only: an opaque token is malformed here,
    /// never introspected (posture assertions are JWTs, and are not sent anywhere).
    pub(crate) fn verify_signed(&self, token: &str) -> Result<VerifiedClaims, TokenError> {
        match self.step(token, false) {
            Step::Done(r) => r,
            Step::Wait(_) => Err(TokenError::UnknownKey),
        }
    }

    /// [`TokenVerifier::verify_async`] for signed tokens only (see `verify_signed`).
    pub(crate) async fn verify_signed_async(
        &self,
        token: &str,
    ) -> Result<VerifiedClaims, TokenError> {
        match self.step(token, true) {
            Step::Done(r) => r,
            Step::Wait(fetch) => {
                let _ = fetch.await;
                match self.step(token, false) {
                    Step::Done(r) => r,
                    Step::Wait(_) => Err(TokenError::UnknownKey),
                }
            }
        }
    }

    /// Wait until every issuer with a remote key source has completed a fetch (successful or
    /// not). Returns the first fetch error, if any issuer has no keys afterwards.
    pub async fn ready(&self) -> Result<(), crate::JwksError> {
        let mut first_err = None;
        for rt in self.inner.issuers.values() {
            let Some(keys) = &rt.keys else { continue };
            if keys.has_keys() {
                continue;
            }
            if let Some(f) = keys.force_fetch()
                && let Err(e) = f.await
            {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// [`TokenVerifier::ready`] for synchronous callers (blocks the calling thread; every fetch
    /// is bounded by `jwks.timeout_ms`).
    pub fn ready_blocking(&self) -> Result<(), crate::JwksError> {
        futures::executor::block_on(self.ready())
    }

    /// The key-cache state of an issuer.
    pub fn jwks_status(&self, issuer: &str) -> Option<JwksStatus> {
        let keys = self.inner.issuers.get(issuer)?.keys.as_ref()?;
        let (lookup_hits, lookup_misses) = keys.lookup_counts();
        Some(JwksStatus {
            fetches: keys.fetch_count(),
            last_error: keys.last_error(),
            key_ids: keys.key_ids(),
            fetch_failures: keys.fetch_failure_count(),
            lookup_hits,
            lookup_misses,
        })
    }

    /// Key counts and freshness per issuer (see `IssuerKeys::freshness`); `None` for an
    /// unknown issuer or one without a key source (HMAC).
    pub(crate) fn key_freshness(&self, issuer: &str) -> Option<crate::jwks::KeyFreshness> {
        Some(self.inner.issuers.get(issuer)?.keys.as_ref()?.freshness())
    }

    /// The configured issuers, sorted.
    pub fn issuers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.issuers.keys().cloned().collect();
        v.sort_unstable();
        v
    }

    /// A key lookup in an issuer's cached key set (benches): true when a usable key is found.
    pub(crate) fn key_lookup(&self, issuer: &str, kid: Option<&str>, alg: Algorithm) -> bool {
        let Some(rt) = self.inner.issuers.get(issuer) else {
            return false;
        };
        matches!(
            rt.keys.as_ref().map(|k| k.lookup(kid, alg)),
            Some(KeyAnswer::Key(_))
        )
    }

    /// Verified-token cache counters.
    pub fn cache_stats(&self) -> TokenCacheStats {
        TokenCacheStats {
            hits: self.inner.cache_hits.get(),
            misses: self.inner.cache_misses.get(),
        }
    }

    fn step(&self, token: &str, may_wait: bool) -> Step {
        let inner = &*self.inner;
        if token.len() > inner.max_bytes {
            return Step::Done(Err(TokenError::TooLarge {
                limit: inner.max_bytes,
            }));
        }
        let now_ms = inner.clock.now_unix_ms();
        if let Some(hit) = self.cache_get(token, now_ms) {
            inner.cache_hits.add(1);
            return Step::Done(Ok(hit));
        }
        inner.cache_misses.add(1);
        let parsed = match parse_compact(token) {
            Ok(p) => p,
            Err(e) => return Step::Done(Err(e)),
        };
        let claims = match Registered::pick(&parsed.payload, &inner.picked) {
            Ok(c) => c,
            Err(e) => return Step::Done(Err(e)),
        };
        let Some(issuer) = claims.issuer() else {
            return Step::Done(Err(TokenError::Malformed(Malformed::Claim("iss"))));
        };
        let Some(rt) = inner.issuers.get(issuer) else {
            return Step::Done(Err(TokenError::UnknownIssuer));
        };
        let header = &parsed.header;
        if !rt.algorithms.contains(&header.alg) {
            return Step::Done(Err(TokenError::AlgorithmNotAllowed));
        }
        if let Some(required) = &rt.token_type
            && header.typ.as_deref().map(normalise_typ).as_ref() != Some(required)
        {
            return Step::Done(Err(TokenError::TypeInvalid));
        }
        let key_generation = rt.keys.as_ref().map_or(0, |k| k.generation());
        let key = match select_key(rt, header, may_wait) {
            Ok(k) => k,
            Err(KeyWait::Fail(e)) => return Step::Done(Err(e)),
            Err(KeyWait::Wait(f)) => return Step::Wait(f),
        };
        if let Err(e) = check_signature(&parsed, &key) {
            return Step::Done(Err(e));
        }
        let result = validate_claims(rt, header, claims, parsed.payload, now_ms / 1000);
        if let Ok(verified) = &result {
            self.cache_put(token, verified, (key.fingerprint, key_generation), now_ms);
        }
        Step::Done(result)
    }

    fn cache_get(&self, token: &str, now_ms: u64) -> Option<VerifiedClaims> {
        let cache = self.inner.cache.as_ref()?;
        let entry = cache.get(token)?;
        let claims = &entry.claims;
        // INVARIANT: a cached result never outlives `exp`, the cache TTL, or its key.
        let fresh = now_ms < claims.expires_at().saturating_mul(1000)
            && now_ms < entry.inserted_ms.saturating_add(self.inner.cache_ttl_ms)
            && self.key_still_current(claims, &entry, now_ms);
        if fresh {
            Some(entry.claims)
        } else {
            cache.invalidate(token);
            None
        }
    }

    fn key_still_current(&self, claims: &VerifiedClaims, entry: &CacheEntry, now_ms: u64) -> bool {
        let Some(rt) = self.inner.issuers.get(claims.issuer()) else {
            return false;
        };
        let fingerprint = entry.fingerprint;
        let Some(alg) = claims.algorithm() else {
            return false;
        };
        if !alg.is_hmac()
            && let Some(keys) = &rt.keys
            && keys.unchanged_since(entry.key_generation, now_ms)
        {
            // The set that held the key has not changed and needs no refresh yet.
            return true;
        }
        if alg.is_hmac() {
            return rt
                .hmac
                .as_ref()
                .is_some_and(|k| k.fingerprint == fingerprint);
        }
        match rt.keys.as_ref().map(|k| k.lookup(claims.key_id(), alg)) {
            Some(KeyAnswer::Key(k)) => k.fingerprint == fingerprint,
            _ => false,
        }
    }

    fn cache_put(
        &self,
        token: &str,
        claims: &VerifiedClaims,
        (fingerprint, key_generation): (u64, u64),
        now_ms: u64,
    ) {
        let Some(cache) = &self.inner.cache else {
            return;
        };
        let exp_ms = claims.expires_at().saturating_mul(1000);
        if now_ms >= exp_ms {
            return;
        }
        cache.insert(
            token.into(),
            CacheEntry {
                claims: claims.clone(),
                fingerprint,
                key_generation,
                inserted_ms: now_ms,
            },
        );
    }

    /// Drop every cached verification and introspection result.
    pub fn clear_cache(&self) {
        self.clear_signed_cache();
        if let Some(i) = &self.inner.introspector {
            i.clear();
        }
    }

    /// Drop the cached verifications of signed tokens only (after a revocation change: the
    /// revocation lists are checked on every decision anyway, and dropping every introspection
    /// result would send every opaque token to the provider again).
    pub(crate) fn clear_signed_cache(&self) {
        if let Some(c) = &self.inner.cache {
            c.invalidate_all();
        }
    }

    /// Introspection counters and the circuit breaker's state; `None` without
    /// `introspection`.
    pub fn introspection_stats(&self) -> Option<IntrospectionStats> {
        self.inner.introspector.as_ref().map(|i| i.stats())
    }

    /// Stop the background key fetches (see [`Authorizer::shutdown`](crate::Authorizer::shutdown)):
    /// cached keys keep verifying, an unknown `kid` is `unknown_key` from then on (`jwks_unavailable`
    /// when no key set was ever loaded), and fetches
    /// in flight end with `jwks_worker_stopped`. Returns at once; idempotent.
    pub fn shutdown(&self) {
        self.inner.env.stop();
    }
}

fn build_issuer(
    i: usize,
    ic: &IssuerConfig,
    env: &Arc<Env>,
    max_bytes: u64,
) -> Result<IssuerRuntime, ConfigError> {
    let key = |name: &str| format!("issuers[{i}].{name}");
    let jwks_err = |name: &str, source| ConfigError::Jwks {
        file: None,
        key: key(name),
        source,
    };
    let wants_keys = ic.algorithms.iter().any(|a| !a.is_hmac());
    let keys = if !wants_keys {
        None
    } else if let Some(doc) = &ic.jwks {
        let bytes = serde_json::to_vec(doc).unwrap_or_default();
        let set = KeySet::parse(&bytes, "inline jwks").map_err(|e| jwks_err("jwks", e))?;
        Some(IssuerKeys::new(
            ic.issuer.as_str().into(),
            Source::Inline,
            env.clone(),
            Some(set),
        ))
    } else if let Some(path) = &ic.jwks_file {
        let set = jwks::load_file(path, max_bytes).map_err(|e| jwks_err("jwks_file", e))?;
        Some(IssuerKeys::new(
            ic.issuer.as_str().into(),
            Source::File(path.clone()),
            env.clone(),
            Some(set),
        ))
    } else {
        let source = match &ic.jwks_uri {
            Some(uri) => Source::Uri(uri.clone()),
            None => Source::Discovery,
        };
        let keys = IssuerKeys::new(ic.issuer.as_str().into(), source, env.clone(), None);
        // Start the first fetch now so the keys are usually there before the first request.
        let _ = keys.force_fetch();
        Some(keys)
    };
    let secret_key = if ic.hmac_secret_file.is_some() {
        "hmac_secret_file"
    } else {
        "hmac_secret_env"
    };
    let secret = load_secret(ic).map_err(|message| ConfigError::Invalid {
        file: None,
        key: key(secret_key),
        message,
    })?;
    Ok(IssuerRuntime {
        audiences: ic.audiences.clone(),
        algorithms: ic.algorithms.clone(),
        leeway_s: ic.leeway_s,
        max_token_age_s: ic.max_token_age_s,
        token_type: ic.token_type.as_deref().map(normalise_typ),
        keys,
        hmac: secret.map(|s| Arc::new(VerificationKey::hmac(&s))),
    })
}

fn load_secret(ic: &IssuerConfig) -> Result<Option<Vec<u8>>, String> {
    let secret = if let Some(s) = &ic.hmac_secret {
        s.expose().to_vec()
    } else if let Some(var) = &ic.hmac_secret_env {
        std::env::var_os(var)
            .ok_or_else(|| format!("environment variable `{var}` is not set"))?
            .into_encoded_bytes()
    } else if let Some(path) = &ic.hmac_secret_file {
        let mut bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read `{}`: {}", path.display(), e.kind()))?;
        if bytes.ends_with(b"\r\n") {
            bytes.truncate(bytes.len() - 2);
        } else if bytes.ends_with(b"\n") {
            bytes.truncate(bytes.len() - 1);
        }
        bytes
    } else {
        return Ok(None);
    };
    let needed = ic
        .algorithms
        .iter()
        .filter(|a| a.is_hmac())
        .map(|a| a.min_secret_len())
        .max()
        .unwrap_or(32);
    if secret.len() < needed {
        return Err(format!(
            "the shared secret must be at least {needed} bytes for the configured HS algorithms"
        ));
    }
    Ok(Some(secret))
}

enum KeyWait {
    Fail(TokenError),
    Wait(
        futures::future::Shared<futures::future::BoxFuture<'static, Result<(), crate::JwksError>>>,
    ),
}

fn select_key(
    rt: &IssuerRuntime,
    header: &Header,
    may_wait: bool,
) -> Result<Arc<VerificationKey>, KeyWait> {
    let alg = header.alg;
    let key = if alg.is_hmac() {
        rt.hmac
            .clone()
            .ok_or(KeyWait::Fail(TokenError::AlgorithmNotAllowed))?
    } else {
        let keys = rt
            .keys
            .as_ref()
            .ok_or(KeyWait::Fail(TokenError::AlgorithmNotAllowed))?;
        match keys.lookup(header.kid.as_deref(), alg) {
            KeyAnswer::Key(k) => k,
            KeyAnswer::Rejected(p) => return Err(KeyWait::Fail(TokenError::KeyRejected(p))),
            KeyAnswer::Unknown => {
                return Err(match keys.refetch_for_unknown_kid() {
                    Some(f) if may_wait => KeyWait::Wait(f),
                    _ => KeyWait::Fail(TokenError::UnknownKey),
                });
            }
            KeyAnswer::Unavailable => {
                return Err(match keys.fetch_if_unavailable() {
                    Some(f) if may_wait => KeyWait::Wait(f),
                    _ => KeyWait::Fail(TokenError::JwksUnavailable),
                });
            }
        }
    };
    if !key.fits(alg) {
        return Err(KeyWait::Fail(TokenError::KeyAlgorithmMismatch));
    }
    Ok(key)
}

fn check_signature(parsed: &Parsed<'_>, key: &VerificationKey) -> Result<(), TokenError> {
    let alg = parsed.header.alg;
    if alg.is_hmac() && key.secret_len() < alg.min_secret_len() {
        return Err(TokenError::KeyRejected(KeyProblem::SecretTooShort));
    }
    if key.verify(
        alg,
        parsed.signing_input.as_bytes(),
        parsed.signature.bytes(),
    ) {
        Ok(())
    } else {
        Err(TokenError::SignatureInvalid)
    }
}

/// Parse only: segments, base64url, header, and the claims parsed into the policy's tree with
/// the registered ones picked out, as for a new token (benches and fuzzing).
pub(crate) fn parse_only(token: &str) -> bool {
    static PICKED: std::sync::LazyLock<Arc<[Box<str>]>> =
        std::sync::LazyLock::new(|| picked_claims(&crate::config::PostureConfig::default()));
    parse_compact(token).is_ok_and(|p| Registered::pick(&p.payload, &PICKED).is_ok())
}

/// The claims a verifier picks out at parse besides the registered ones: those posture reads.
fn picked_claims(posture: &crate::config::PostureConfig) -> Arc<[Box<str>]> {
    [&posture.claim, &posture.device_id_claim]
        .into_iter()
        .map(|c| c.as_str().into())
        .collect()
}

/// Signature-layer verification for test vectors and fuzzing: parse and check a compact JWS
/// against a key set and/or shared secret, any supported algorithm, and return its payload.
/// Not a stable API.
#[doc(hidden)]
pub fn verify_jws_for_tests(
    token: &str,
    jwks: Option<&[u8]>,
    secret: Option<&[u8]>,
) -> Result<Vec<u8>, TokenError> {
    let parsed = parse_compact(token)?;
    let alg = parsed.header.alg;
    let key = if alg.is_hmac() {
        Arc::new(VerificationKey::hmac(
            secret.ok_or(TokenError::AlgorithmNotAllowed)?,
        ))
    } else {
        let bytes = jwks.ok_or(TokenError::AlgorithmNotAllowed)?;
        let set = KeySet::parse(bytes, "test").map_err(|_| TokenError::JwksUnavailable)?;
        match set.lookup(parsed.header.kid.as_deref(), alg) {
            jwks::Lookup::Found(k) => k,
            jwks::Lookup::Rejected(p) => return Err(TokenError::KeyRejected(p)),
            jwks::Lookup::NotFound => return Err(TokenError::UnknownKey),
        }
    };
    if !key.fits(alg) {
        return Err(TokenError::KeyAlgorithmMismatch);
    }
    check_signature(&parsed, &key)?;
    Ok(parsed.payload)
}

/// A compact JWS parsed with the token parser's strictness (canonical base64url, no duplicate
/// JSON keys, `crit`/`b64`/`zip`/`enc` refused, `none` unrepresentable), for other signed
/// documents zt reads (bundle signatures). The signature is not checked until
/// [`Jws::verify`].
pub(crate) struct Jws<'a> {
    parsed: Parsed<'a>,
}

impl<'a> Jws<'a> {
    pub(crate) fn parse(compact: &'a str) -> Result<Self, TokenError> {
        Ok(Self {
            parsed: parse_compact(compact)?,
        })
    }

    pub(crate) fn alg(&self) -> Algorithm {
        self.parsed.header.alg
    }

    pub(crate) fn kid(&self) -> Option<&str> {
        self.parsed.header.kid.as_deref()
    }

    pub(crate) fn payload(&self) -> &[u8] {
        &self.parsed.payload
    }

    /// The header `typ`, normalised (lower case, without `application/`).
    pub(crate) fn typ(&self) -> Option<String> {
        self.parsed.header.typ.as_deref().map(normalise_typ)
    }

    /// The header's embedded `jwk`, as given.
    pub(crate) fn jwk(&self) -> Option<&Value> {
        self.parsed.header.jwk.as_ref()
    }

    /// Check the signature with `key` (which must fit the header's algorithm).
    pub(crate) fn verify(&self, key: &VerificationKey) -> Result<(), TokenError> {
        if !key.fits(self.parsed.header.alg) {
            return Err(TokenError::KeyAlgorithmMismatch);
        }
        check_signature(&self.parsed, key)
    }
}
