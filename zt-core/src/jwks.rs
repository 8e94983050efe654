//! Issuer keys: sources, parsing, the per-issuer cache, refresh and the unknown-`kid` cooldown.
//!
//! Key sources are an inline JWKS, a JWKS file, a `jwks_uri`, or OpenID Connect discovery
//! (`{issuer}/.well-known/openid-configuration`, whose `issuer` must equal the configured one).
//!
//! Each issuer holds one immutable, parsed [`KeySet`] behind an `RwLock<Arc<_>>`: the hot path
//! takes a read lock, clones an `Arc` and looks the `kid` up in a hash map, with no I/O and no
//! write lock. The cache is time-based on the injected [`Clock`](crate::Clock), not on a
//! time-to-live inside a cache library, because stale-if-error must keep serving entries past
//! their TTL and tests must move time without sleeping.
//!
//! - **TTL**: a set is fresh for `ttl_s`, or the server's `Cache-Control: max-age` clamped to
//!   `min_ttl_s..=max_ttl_s`. After three quarters of that, the next lookup starts a refresh in
//!   the background and keeps using the current set.
//! - **Stale-if-error**: when refreshes fail, the last good set keeps serving until
//!   `max_stale_s` past its TTL; after that lookups fail with `jwks_unavailable`.
//! - **Unknown `kid`**: at most one refetch per issuer per `unknown_kid_cooldown_s`. Concurrent
//!   callers share one in-flight fetch (single flight).
//! - Fetches run on a private single-threaded runtime owned by zt, so refreshes work from plain
//!   synchronous callers and from inside any async runtime.
//!
//! # Security
//! - Keys come only from the configured source, never from token headers (`jku`, `x5u`, `jwk`,
//!   `x5c`).
//! - Refused keys: private parts, symmetric (`oct`) keys, RSA below 2048 bits or with a bad
//!   exponent or the ROCA fingerprint, unsupported curves, `use` other than `sig`, `key_ops`
//!   without `verify`, a `kid` used twice. A token naming such a key fails with `key_rejected`.
//! - Documents are size-limited while streaming and parsed with duplicate-key and depth checks.
//! - Plain `http` only for loopback hosts; no proxy from the environment is used.

use crate::algorithm::{Algorithm, Family};
use crate::clock::Clock;
use crate::config::JwksConfig;
use crate::error::{JwksError, KeyProblem};
use crate::json;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Most keys accepted in one key set.
const MAX_KEYS: usize = 256;

/// Is `url` an allowed key-set or discovery URL: `https`, or `http` on a loopback host.
pub(crate) fn url_allowed(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.scheme() {
        "https" => parsed.host().is_some(),
        "http" => match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

/// One parsed, accepted verification key.
pub(crate) struct VerificationKey {
    pub(crate) family: Family,
    /// The JWK's `alg`, when it declares one.
    pub(crate) alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
    /// Identifies the key material, so a cached verification can check its key still exists.
    pub(crate) fingerprint: u64,
}

impl VerificationKey {
    pub(crate) fn hmac(secret: &[u8]) -> Self {
        Self {
            family: Family::Hmac,
            alg: None,
            key: DecodingKey::from_secret(secret),
            fingerprint: fingerprint(Family::Hmac, &[secret]),
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
    fetched_at_ms: u64,
    fresh_until_ms: u64,
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

fn parse_jwk(jwk: &Map<String, Value>) -> Result<VerificationKey, KeyProblem> {
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
            VerificationKey {
                family: Family::Rsa,
                alg,
                fingerprint: fingerprint(Family::Rsa, &[&n, &e]),
                key: DecodingKey::from_rsa_raw_components(&n, &e),
            }
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
            VerificationKey {
                family,
                alg,
                fingerprint: fingerprint(family, &[&point]),
                key: DecodingKey::from_ec_der(&point),
            }
        }
        "OKP" => {
            if crv != Some("Ed25519") {
                return Err(KeyProblem::Unsupported);
            }
            let x = b64_member(jwk, "x")?;
            if x.len() != 32 {
                return Err(KeyProblem::EcPoint);
            }
            VerificationKey {
                family: Family::Ed25519,
                alg,
                fingerprint: fingerprint(Family::Ed25519, &[&x]),
                key: DecodingKey::from_ed_der(&x),
            }
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

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Inline: never refreshed, never stale.
    Inline,
    /// A file, re-read when the TTL passes.
    File(PathBuf),
    /// A URL.
    Uri(String),
    /// Discovery from the issuer URL.
    Discovery,
}

type SharedFetch = Shared<BoxFuture<'static, Result<(), JwksError>>>;

#[derive(Default)]
struct FetchState {
    inflight: Option<SharedFetch>,
    /// When the last unknown-`kid` refetch started (ms).
    last_forced_ms: Option<u64>,
    /// No background retry before this time after a failure (ms).
    retry_after_ms: u64,
    last_error: Option<JwksError>,
    discovered_jwks_uri: Option<String>,
}

/// Shared machinery: HTTP client, worker runtime, clock, limits.
pub(crate) struct Env {
    pub(crate) config: JwksConfig,
    pub(crate) clock: Arc<dyn Clock>,
    client: Option<reqwest::Client>,
    worker: Option<Worker>,
}

impl Env {
    pub(crate) fn new(
        config: JwksConfig,
        clock: Arc<dyn Clock>,
        needs_worker: bool,
    ) -> Result<Self, String> {
        let (client, worker) = if needs_worker {
            let timeout = Duration::from_millis(config.timeout_ms);
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout)
                .no_proxy()
                .redirect(reqwest::redirect::Policy::custom(|attempt| {
                    if attempt.previous().len() >= 3 || !url_allowed(attempt.url().as_str()) {
                        attempt.stop()
                    } else {
                        attempt.follow()
                    }
                }))
                .user_agent(concat!("zt/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|_| "cannot build the HTTP client".to_owned())?;
            (Some(client), Some(Worker::start()?))
        } else {
            (None, None)
        };
        Ok(Self {
            config,
            clock,
            client,
            worker,
        })
    }
}

/// A private single-threaded tokio runtime on its own thread. Dropping the last handle lets
/// the thread finish; it is never joined, so dropping zt from inside any runtime (or from a
/// task on this one) cannot deadlock or panic.
struct Worker {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Worker {
    fn start() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|_| "cannot start the key fetch runtime".to_owned())?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("zt-jwks".to_owned())
            .spawn(move || {
                // Returns when the sender is dropped; pending fetches are then cancelled.
                let _ = runtime.block_on(stopped);
            })
            .map_err(|_| "cannot start the key fetch thread".to_owned())?;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }
}

/// One issuer's keys and fetch state.
pub(crate) struct IssuerKeys {
    weak_self: std::sync::Weak<IssuerKeys>,
    issuer: Arc<str>,
    source: Source,
    env: Arc<Env>,
    current: RwLock<Option<Arc<KeySet>>>,
    state: Mutex<FetchState>,
    fetches: AtomicU64,
    fetch_failures: AtomicU64,
    lookup_hits: AtomicU64,
    lookup_misses: AtomicU64,
}

/// Why a fetch is wanted (decides which rate limit applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    UnknownKid,
    Refresh,
}

/// What a lookup found, before any fetch.
pub(crate) enum KeyAnswer {
    Key(Arc<VerificationKey>),
    Rejected(KeyProblem),
    Unknown,
    Unavailable,
}

impl IssuerKeys {
    pub(crate) fn new(
        issuer: Arc<str>,
        source: Source,
        env: Arc<Env>,
        initial: Option<KeySet>,
    ) -> Arc<Self> {
        let this = Arc::new_cyclic(|weak_self| Self {
            weak_self: weak_self.clone(),
            issuer,
            source,
            env,
            current: RwLock::new(None),
            state: Mutex::new(FetchState::default()),
            fetches: AtomicU64::new(0),
            fetch_failures: AtomicU64::new(0),
            lookup_hits: AtomicU64::new(0),
            lookup_misses: AtomicU64::new(0),
        });
        if let Some(mut set) = initial {
            let now = this.env.clock.now_unix_ms();
            set.fetched_at_ms = now;
            set.fresh_until_ms = match this.source {
                Source::Inline => u64::MAX,
                _ => now.saturating_add(this.env.config.ttl_s * 1000),
            };
            this.install(set);
        }
        this
    }

    fn install(&self, set: KeySet) {
        let set = Arc::new(set);
        match self.current.write() {
            Ok(mut g) => *g = Some(set),
            Err(poisoned) => *poisoned.into_inner() = Some(set),
        }
    }

    fn snapshot(&self) -> Option<Arc<KeySet>> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, FetchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of fetches started for this issuer (tests and metrics).
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetches that failed (tests and metrics).
    pub(crate) fn fetch_failure_count(&self) -> u64 {
        self.fetch_failures.load(Ordering::Relaxed)
    }

    /// Key lookups answered from the cached set, and lookups that found no usable key.
    pub(crate) fn lookup_counts(&self) -> (u64, u64) {
        (
            self.lookup_hits.load(Ordering::Relaxed),
            self.lookup_misses.load(Ordering::Relaxed),
        )
    }

    /// Whether a key set is loaded (fresh or stale).
    pub(crate) fn has_keys(&self) -> bool {
        self.snapshot().is_some()
    }

    /// Accepted key ids of the current set.
    pub(crate) fn key_ids(&self) -> Vec<String> {
        self.snapshot()
            .map(|s| s.key_ids().into_iter().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// The last fetch error, if the last fetch failed.
    pub(crate) fn last_error(&self) -> Option<JwksError> {
        self.lock_state().last_error.clone()
    }

    /// The hot path: look up a key without I/O. May start a background refresh.
    pub(crate) fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> KeyAnswer {
        let answer = self.lookup_inner(kid, alg);
        let counter = match answer {
            KeyAnswer::Key(_) => &self.lookup_hits,
            _ => &self.lookup_misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        answer
    }

    fn lookup_inner(&self, kid: Option<&str>, alg: Algorithm) -> KeyAnswer {
        let now = self.env.clock.now_unix_ms();
        let Some(set) = self.snapshot() else {
            self.start_fetch(Trigger::Refresh, now);
            return KeyAnswer::Unavailable;
        };
        if set.fresh_until_ms != u64::MAX {
            let ttl = set.fresh_until_ms.saturating_sub(set.fetched_at_ms);
            let refresh_at = set.fetched_at_ms.saturating_add(ttl / 4 * 3);
            if now >= refresh_at {
                self.start_fetch(Trigger::Refresh, now);
            }
            let stale_limit = set
                .fresh_until_ms
                .saturating_add(self.env.config.max_stale_s * 1000);
            if now > stale_limit {
                return KeyAnswer::Unavailable;
            }
        }
        match set.lookup(kid, alg) {
            Lookup::Found(k) => KeyAnswer::Key(k),
            Lookup::Rejected(p) => KeyAnswer::Rejected(p),
            Lookup::NotFound => KeyAnswer::Unknown,
        }
    }

    /// For an unknown `kid`: start (or join) a refetch if the cooldown allows.
    pub(crate) fn refetch_for_unknown_kid(self: &Arc<Self>) -> Option<SharedFetch> {
        let now = self.env.clock.now_unix_ms();
        self.start_fetch(Trigger::UnknownKid, now)
    }

    /// When no usable key set is loaded: start (or join) a fetch if the retry backoff allows.
    pub(crate) fn fetch_if_unavailable(&self) -> Option<SharedFetch> {
        let now = self.env.clock.now_unix_ms();
        self.start_fetch(Trigger::Refresh, now)
    }

    /// Start a fetch now regardless of rate limits, or join one in flight.
    pub(crate) fn force_fetch(&self) -> Option<SharedFetch> {
        let now = self.env.clock.now_unix_ms();
        let mut state = self.lock_state();
        if let Some(f) = &state.inflight {
            return Some(f.clone());
        }
        self.spawn_fetch(&mut state, now)
    }

    fn start_fetch(&self, trigger: Trigger, now: u64) -> Option<SharedFetch> {
        if matches!(self.source, Source::Inline) {
            return None;
        }
        let mut state = self.lock_state();
        if let Some(f) = &state.inflight {
            return Some(f.clone());
        }
        match trigger {
            Trigger::UnknownKid => {
                let cooldown = self.env.config.unknown_kid_cooldown_s * 1000;
                if state
                    .last_forced_ms
                    .is_some_and(|t| now < t.saturating_add(cooldown))
                {
                    return None;
                }
                state.last_forced_ms = Some(now);
            }
            Trigger::Refresh => {
                if now < state.retry_after_ms {
                    return None;
                }
            }
        }
        self.spawn_fetch(&mut state, now)
    }

    fn spawn_fetch(&self, state: &mut FetchState, now: u64) -> Option<SharedFetch> {
        let (Some(worker), Some(client)) = (&self.env.worker, &self.env.client) else {
            return None;
        };
        // Block further background attempts until this one finishes or backs off.
        state.retry_after_ms = now.saturating_add(self.env.config.unknown_kid_cooldown_s * 1000);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let job = FetchJob {
            issuer: self.issuer.clone(),
            source: self.source.clone(),
            client: client.clone(),
            config: self.env.config.clone(),
            discovered: state.discovered_jwks_uri.clone(),
        };
        let this = self.self_arc()?;
        let task = worker.handle.spawn(async move {
            let result = job.run().await;
            let now = this.env.clock.now_unix_ms();
            let mut state = this.lock_state();
            state.inflight = None;
            match result {
                Ok((mut set, max_age, discovered)) => {
                    let c = &this.env.config;
                    let ttl_s = max_age.map_or(c.ttl_s, |m| m.clamp(c.min_ttl_s, c.max_ttl_s));
                    set.fetched_at_ms = now;
                    set.fresh_until_ms = now.saturating_add(ttl_s * 1000);
                    this.install(set);
                    state.last_error = None;
                    state.retry_after_ms = 0;
                    if discovered.is_some() {
                        state.discovered_jwks_uri = discovered;
                    }
                    Ok(())
                }
                Err(e) => {
                    this.fetch_failures.fetch_add(1, Ordering::Relaxed);
                    state.last_error = Some(e.clone());
                    state.retry_after_ms =
                        now.saturating_add(this.env.config.unknown_kid_cooldown_s * 1000);
                    // A failed jwks_uri from discovery is looked up again next time.
                    state.discovered_jwks_uri = None;
                    Err(e)
                }
            }
        });
        let fut: SharedFetch = async move { task.await.unwrap_or(Err(JwksError::WorkerStopped)) }
            .boxed()
            .shared();
        state.inflight = Some(fut.clone());
        Some(fut)
    }

    fn self_arc(&self) -> Option<Arc<Self>> {
        self.weak_self.upgrade()
    }
}

struct FetchJob {
    issuer: Arc<str>,
    source: Source,
    client: reqwest::Client,
    config: JwksConfig,
    discovered: Option<String>,
}

type Fetched = (KeySet, Option<u64>, Option<String>);

impl FetchJob {
    async fn run(self) -> Result<Fetched, JwksError> {
        // Bound the whole job (discovery + key set) even if a server trickles bytes.
        let limit = Duration::from_millis(self.config.timeout_ms.saturating_mul(2));
        let what = match &self.source {
            Source::Uri(u) => u.clone(),
            _ => self.issuer.to_string(),
        };
        match tokio::time::timeout(limit, self.run_inner()).await {
            Ok(r) => r,
            Err(_) => Err(JwksError::Timeout {
                url: what,
                timeout_ms: self.config.timeout_ms.saturating_mul(2),
            }),
        }
    }

    async fn run_inner(&self) -> Result<Fetched, JwksError> {
        match &self.source {
            Source::Inline => Err(JwksError::WorkerStopped),
            Source::File(path) => {
                let set = load_file(path, self.config.max_response_bytes)?;
                Ok((set, None, None))
            }
            Source::Uri(uri) => {
                let (bytes, max_age) = self.get(uri).await?;
                Ok((KeySet::parse(&bytes, uri)?, max_age, None))
            }
            Source::Discovery => {
                let jwks_uri = match &self.discovered {
                    Some(u) => u.clone(),
                    None => self.discover().await?,
                };
                let (bytes, max_age) = self.get(&jwks_uri).await?;
                let set = KeySet::parse(&bytes, &jwks_uri)?;
                Ok((set, max_age, Some(jwks_uri)))
            }
        }
    }

    async fn discover(&self) -> Result<String, JwksError> {
        let url = discovery_url(&self.issuer);
        let (bytes, _) = self.get(&url).await?;
        parse_discovery(&bytes, &self.issuer, &url)
    }

    /// GET `url` with the size limit applied while streaming. Returns the body and the
    /// `Cache-Control: max-age` in seconds, if any.
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<u64>), JwksError> {
        if !url_allowed(url) {
            return Err(JwksError::InsecureUrl {
                url: url.to_owned(),
            });
        }
        let limit = usize::try_from(self.config.max_response_bytes).unwrap_or(usize::MAX);
        let map_err = |e: reqwest::Error| {
            if e.is_timeout() {
                JwksError::Timeout {
                    url: url.to_owned(),
                    timeout_ms: self.config.timeout_ms,
                }
            } else {
                JwksError::Request {
                    url: url.to_owned(),
                }
            }
        };
        let mut resp = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(map_err)?;
        if !resp.status().is_success() {
            return Err(JwksError::Status {
                url: url.to_owned(),
                status: resp.status().as_u16(),
            });
        }
        let too_large = || JwksError::TooLarge {
            source_name: url.to_owned(),
            limit,
        };
        if resp.content_length().is_some_and(|l| l > limit as u64) {
            return Err(too_large());
        }
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age);
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(map_err)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }
}

/// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4).
/// Check an OpenID discovery document served at `url` for `issuer`; returns its `jwks_uri`.
pub(crate) fn parse_discovery(bytes: &[u8], issuer: &str, url: &str) -> Result<String, JwksError> {
    let malformed = |detail: &'static str| JwksError::Malformed {
        source_name: url.to_owned(),
        what: "OpenID discovery document",
        detail,
    };
    let doc = json::parse_object(bytes, json::MAX_DEPTH).map_err(|e| malformed(e.as_str()))?;
    match doc.get("issuer") {
        Some(Value::String(iss)) if iss.as_str() == issuer => {}
        Some(Value::String(_)) => {
            return Err(JwksError::IssuerMismatch {
                url: url.to_owned(),
            });
        }
        _ => return Err(malformed("`issuer` is missing or not a string")),
    }
    match doc.get("jwks_uri") {
        Some(Value::String(u)) if url_allowed(u) => Ok(u.clone()),
        Some(Value::String(u)) => Err(JwksError::InsecureUrl { url: u.clone() }),
        _ => Err(malformed("`jwks_uri` is missing or not a string")),
    }
}

pub(crate) fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// The `max-age` of a `Cache-Control` value; `no-store`/`no-cache` count as 0.
fn parse_max_age(value: &str) -> Option<u64> {
    let mut max_age = None;
    for directive in value.split(',') {
        let d = directive.trim();
        let lower = d.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            max_age = v.trim_matches('"').parse::<u64>().ok();
        }
    }
    max_age
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

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(v: serde_json::Value) -> Result<VerificationKey, KeyProblem> {
        let Value::Object(m) = v else { unreachable!() };
        parse_jwk(&m)
    }

    #[test]
    fn url_rules() {
        let cases = [
            ("https://idp.example.com/jwks", true),
            ("http://127.0.0.1:8080/jwks", true),
            ("http://127.9.9.9/jwks", true),
            ("http://[::1]:9/jwks", true),
            ("http://localhost/jwks", true),
            ("http://idp.example.com/jwks", false),
            ("http://10.0.0.1/jwks", false),
            ("file:///etc/passwd", false),
            ("ftp://x/y", false),
            ("not a url", false),
        ];
        for (url, want) in cases {
            assert_eq!(url_allowed(url), want, "{url}");
        }
    }

    #[test]
    fn max_age_parsing() {
        let cases = [
            ("max-age=300", Some(300)),
            ("public, max-age=120, must-revalidate", Some(120)),
            ("Max-Age=\"60\"", Some(60)),
            ("no-store", Some(0)),
            ("private", None),
            ("max-age=abc", None),
        ];
        for (v, want) in cases {
            assert_eq!(parse_max_age(v), want, "{v}");
        }
    }

    #[test]
    fn jwk_table() {
        let rsa: Value =
            serde_json::from_str(include_str!("../tests/data/keys/rsa2048-a.jwk.json")).unwrap();
        let ec: Value =
            serde_json::from_str(include_str!("../tests/data/keys/ec-p256.jwk.json")).unwrap();
        let weak: Value =
            serde_json::from_str(include_str!("../tests/data/keys/rsa1024.jwk.json")).unwrap();
        let with = |base: &Value, k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        let cases: Vec<(&str, Value, Result<(), KeyProblem>)> = vec![
            ("rsa ok", rsa.clone(), Ok(())),
            ("ec ok", ec.clone(), Ok(())),
            ("rsa 1024", weak, Err(KeyProblem::RsaSize)),
            (
                "private d",
                with(&rsa, "d", "AQAB".into()),
                Err(KeyProblem::PrivateParts),
            ),
            (
                "oct",
                serde_json::json!({"kty":"oct","k":"AAAA"}),
                Err(KeyProblem::Symmetric),
            ),
            (
                "use enc",
                with(&rsa, "use", "enc".into()),
                Err(KeyProblem::NotForVerification),
            ),
            (
                "key_ops encrypt",
                with(&rsa, "key_ops", serde_json::json!(["encrypt"])),
                Err(KeyProblem::NotForVerification),
            ),
            (
                "key_ops verify",
                with(&rsa, "key_ops", serde_json::json!(["verify"])),
                Ok(()),
            ),
            (
                "alg mismatch",
                with(&rsa, "alg", "ES256".into()),
                Err(KeyProblem::AlgInconsistent),
            ),
            (
                "alg unknown",
                with(&rsa, "alg", "RSA-OAEP".into()),
                Err(KeyProblem::AlgInconsistent),
            ),
            (
                "ec alg wrong curve",
                with(&ec, "alg", "ES384".into()),
                Err(KeyProblem::AlgInconsistent),
            ),
            (
                "ec p-521",
                with(&ec, "crv", "P-521".into()),
                Err(KeyProblem::Unsupported),
            ),
            (
                "ec short x",
                with(&ec, "x", "AAAA".into()),
                Err(KeyProblem::EcPoint),
            ),
            (
                "exponent 1",
                with(&rsa, "e", "AQ".into()),
                Err(KeyProblem::RsaExponent),
            ),
            (
                "exponent even",
                with(&rsa, "e", "AQAA".into()),
                Err(KeyProblem::RsaExponent),
            ),
            (
                "n not base64",
                with(&rsa, "n", "!!!".into()),
                Err(KeyProblem::Invalid),
            ),
            (
                "n number",
                with(&rsa, "n", 5.into()),
                Err(KeyProblem::Invalid),
            ),
            (
                "unknown kty",
                with(&rsa, "kty", "XYZ".into()),
                Err(KeyProblem::Unsupported),
            ),
        ];
        for (name, v, want) in cases {
            assert_eq!(jwk(v).map(|_| ()), want, "case {name}");
        }
    }

    #[test]
    fn duplicate_kid_is_rejected_not_chosen() {
        let rsa: Value =
            serde_json::from_str(include_str!("../tests/data/keys/rsa2048-a.jwk.json")).unwrap();
        let ec: Value =
            serde_json::from_str(include_str!("../tests/data/keys/ec-p256.jwk.json")).unwrap();
        let mut ec_dup = ec.clone();
        ec_dup["kid"] = rsa["kid"].clone();
        let doc = serde_json::json!({"keys": [rsa, ec_dup, ec]}).to_string();
        let set = KeySet::parse(doc.as_bytes(), "t").unwrap();
        assert!(matches!(
            set.lookup(Some("rsa2048-a"), Algorithm::RS256),
            Lookup::Rejected(KeyProblem::DuplicateKid)
        ));
        assert!(matches!(
            set.lookup(Some("ec-p256"), Algorithm::ES256),
            Lookup::Found(_)
        ));
        assert_eq!(set.key_ids(), vec!["ec-p256"]);
    }

    #[test]
    fn malformed_sets() {
        let cases: &[(&str, &str)] = &[
            ("not json", "nope"),
            ("no keys", "{}"),
            ("keys not array", r#"{"keys": {}}"#),
            ("empty", r#"{"keys": []}"#),
            (
                "only bad",
                r#"{"keys": [{"kty":"oct","k":"AAAA","kid":"x"}]}"#,
            ),
            ("dup member", r#"{"keys": [], "keys": []}"#),
        ];
        for (name, doc) in cases {
            assert!(KeySet::parse(doc.as_bytes(), "t").is_err(), "case {name}");
        }
    }
}
