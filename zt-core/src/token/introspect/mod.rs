//! Token introspection (RFC 7662) for opaque access tokens, with a safe cache.
//!
//! An opaque token (anything that is not a compact JWS or JWE, see `is_opaque`) goes to the one issuer
//! configured with `introspection`. Its answer is cached under a keyed hash of the token
//! (HMAC-SHA-256 with a per-process random key: the token itself is never stored, and a cache
//! dump cannot be matched against tokens without that key):
//! - an active token for min(`ttl_s`, until its `exp`);
//! - an inactive token, or an active one zt refuses (expired, another audience, a `token_type`
//!   that is not an access token's), for `inactive_ttl_s`;
//! - a failed call not at all.
//!
//! Concurrent lookups of one token share one call. Calls to the endpoint pass a token bucket
//! (`rate_per_s`, `burst`) and a circuit breaker (`failure_threshold` consecutive failures
//! open it for `open_s`, then one trial call decides), so a storm of unknown tokens or an
//! identity provider in trouble costs the provider at most the configured rate.
//!
//! # Security
//! - Fail closed: no answer, a refused call, an answer that is not an introspection response
//!   (no boolean `active`, an `iss` of another issuer, too large, duplicate keys) and anything
//!   zt's claim checks refuse are denies.
//! - The token is sent only to the configured endpoint, in a POST body, never in a URL; the
//!   client never follows redirects and ignores proxy variables.
//! - The client secret is read from the environment at build time and never logged or echoed.

mod gate;

use super::VerifiedClaims;
use super::claims::{ClaimRules, Registered, Source, validate_with};
use crate::config::{IntrospectionConfig, IssuerConfig};
use crate::credentials::client_auth::{ClientAuth, form};
use crate::error::{ConfigError, IntrospectionProblem, TokenError};
use crate::util::clock::Clock;
use crate::util::json;
use base64::Engine as _;
use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use gate::{Gate, Ticket};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The cache key: HMAC-SHA-256 of the token under the process's random key.
type Key = [u8; 32];

/// One call's result, as shared by every waiter.
type Lookup = Shared<BoxFuture<'static, Result<Cached, IntrospectionProblem>>>;

/// What the cache remembers about one token.
#[derive(Clone)]
pub(super) enum Cached {
    /// Active and accepted: these claims, until `until_ms`.
    Active {
        claims: VerifiedClaims,
        until_ms: u64,
    },
    /// Inactive, or refused by zt's checks, until `until_ms`.
    Refused { error: TokenError, until_ms: u64 },
}

/// Introspection counters and the breaker's state, for `status()` and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct IntrospectionStats {
    /// Calls made to the endpoint.
    pub calls: u64,
    /// Calls answered with an introspection response (active or not).
    pub successes: u64,
    /// Calls that failed (no answer, timeout, a status other than 200, not a response).
    pub failures: u64,
    /// Decisions answered from the cache.
    pub cache_hits: u64,
    /// Lookups that joined a call already in flight for the same token.
    pub shared: u64,
    /// Lookups refused by the rate limit.
    pub rate_limited: u64,
    /// Lookups refused because the circuit breaker was open.
    pub circuit_refused: u64,
    /// Whether the circuit breaker is open now.
    pub circuit_open: bool,
}

pub(crate) struct Introspector {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    endpoint: String,
    client_id: String,
    auth: ClientAuth,
    audiences: Vec<String>,
    leeway_s: u64,
    max_token_age_s: u64,
    require_token_type: bool,
    ttl_ms: u64,
    inactive_ttl_ms: u64,
    timeout: Duration,
    max_bytes: usize,
    hash_key: aws_lc_rs::hmac::Key,
    /// Keyed by a MAC under a secret key, so no caller can aim at a hash bucket: the fast
    /// non-cryptographic hasher is safe here.
    cache: moka::sync::Cache<Key, Cached, rustc_hash::FxBuildHasher>,
    /// Calls in flight, with the cache generation they started in.
    inflight: Mutex<HashMap<Key, (u64, Lookup)>>,
    gate: Mutex<Gate>,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    calls: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    /// Bumped by `clear()`: a call started before it does not fill the cache after it.
    generation: AtomicU64,
    cache_hits: AtomicU64,
    shared: AtomicU64,
    rate_limited: AtomicU64,
    circuit_refused: AtomicU64,
}

/// Whether a presented token is opaque: not a compact JWS (three parts, the first a
/// base64url JSON object) nor a compact JWE (five such parts, refused by the JWT path rather
/// than sent to the endpoint). JWTs, however their header is laid out, are never sent.
pub(super) fn is_opaque(token: &str) -> bool {
    let dots = token.bytes().filter(|b| *b == b'.').count();
    if dots != 2 && dots != 4 {
        return true;
    }
    let header = token.split('.').next().unwrap_or_default();
    let json_object = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .is_ok_and(|h| h.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'));
    !json_object
}

/// RFC 6750 `b64token`: the only characters an opaque token may hold.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

impl Introspector {
    pub(super) fn new(
        index: usize,
        issuer: &IssuerConfig,
        config: &IntrospectionConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let key = |name: &str| format!("issuers[{index}].introspection.{name}");
        let invalid = |name: &str, message: String| ConfigError::Invalid {
            file: None,
            key: key(name),
            message,
        };
        let auth = ClientAuth::from_config(
            &config.client_id,
            config.client_secret_env.as_deref(),
            config.private_key_jwt.as_ref(),
            &issuer.issuer,
        )
        .map_err(|(member, message)| invalid(member, message))?;
        Self::with_auth(issuer, config, clock, auth).map_err(|message| invalid("endpoint", message))
    }

    fn with_auth(
        issuer: &IssuerConfig,
        config: &IntrospectionConfig,
        clock: Arc<dyn Clock>,
        auth: ClientAuth,
    ) -> Result<Self, String> {
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = crate::util::poll::post_client(config.timeout_ms)
            .map_err(|_| "the HTTP client could not be built".to_owned())?;
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret)
            .map_err(|_| "no randomness for the cache key".to_owned())?;
        let now = Instant::now();
        Ok(Self {
            inner: Arc::new(Inner {
                issuer: issuer.issuer.clone(),
                endpoint: config.endpoint.clone(),
                client_id: config.client_id.clone(),
                auth,
                audiences: issuer.audiences.clone(),
                leeway_s: issuer.leeway_s,
                max_token_age_s: issuer.max_token_age_s,
                require_token_type: config.require_token_type,
                ttl_ms: config.ttl_s.saturating_mul(1000),
                inactive_ttl_ms: config.inactive_ttl_s.saturating_mul(1000),
                timeout,
                max_bytes: usize::try_from(config.max_response_bytes).unwrap_or(usize::MAX),
                hash_key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
                cache: moka::sync::Cache::builder()
                    .max_capacity(config.cache_entries)
                    .time_to_live(Duration::from_millis(
                        config.ttl_s.max(config.inactive_ttl_s).max(1) * 1000,
                    ))
                    .build_with_hasher(rustc_hash::FxBuildHasher),
                inflight: Mutex::new(HashMap::new()),
                gate: Mutex::new(Gate {
                    tokens: config.burst as f64,
                    refilled: now,
                    rate_per_s: config.rate_per_s as f64,
                    burst: config.burst as f64,
                    failures: 0,
                    failure_threshold: config.failure_threshold,
                    open_for: Duration::from_secs(config.open_s),
                    open_until: None,
                    trial: None,
                    tickets: 0,
                    opened_at: 0,
                }),
                client,
                clock,
                calls: AtomicU64::new(0),
                successes: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                generation: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
                shared: AtomicU64::new(0),
                rate_limited: AtomicU64::new(0),
                circuit_refused: AtomicU64::new(0),
            }),
        })
    }

    /// Decide from the cache only; on a miss, start a lookup in the background on `runtime`
    /// and answer `introspection_pending` (or `introspection_unavailable` when the rate limit
    /// or the breaker refuses the call).
    pub(super) fn check_cached(
        &self,
        token: &str,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Result<VerifiedClaims, TokenError> {
        let key = self.prepare(token)?;
        if let Some(hit) = self.cached(&key) {
            return hit;
        }
        match self
            .start(token, key, runtime)
            .map_err(TokenError::IntrospectionUnavailable)?
        {
            Started::Ready(cached) => self.inner.use_cached(&cached),
            // The call runs on the worker whether or not anyone awaits it.
            Started::Wait(_) => Err(TokenError::IntrospectionPending),
        }
    }

    /// Decide from the cache, or await one bounded call (shared with concurrent callers).
    pub(super) async fn check(
        &self,
        token: &str,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Result<VerifiedClaims, TokenError> {
        let key = self.prepare(token)?;
        if let Some(hit) = self.cached(&key) {
            return hit;
        }
        let lookup = match self
            .start(token, key, runtime)
            .map_err(TokenError::IntrospectionUnavailable)?
        {
            Started::Ready(cached) => return self.inner.use_cached(&cached),
            Started::Wait(lookup) => lookup,
        };
        // The call is bounded by `timeout_ms` on the worker runtime, and a stopped worker
        // cancels it (`Stopped`), so this wait is bounded. No timer here: the caller may run
        // on any async runtime, not only tokio.
        match lookup.await {
            Ok(cached) => self.inner.use_cached(&cached),
            Err(p) => Err(TokenError::IntrospectionUnavailable(p)),
        }
    }

    pub(crate) fn stats(&self) -> IntrospectionStats {
        let i = &*self.inner;
        let open = i.gate.lock().unwrap_or_else(|p| p.into_inner()).is_open();
        IntrospectionStats {
            calls: i.calls.load(Ordering::Relaxed),
            successes: i.successes.load(Ordering::Relaxed),
            failures: i.failures.load(Ordering::Relaxed),
            cache_hits: i.cache_hits.load(Ordering::Relaxed),
            shared: i.shared.load(Ordering::Relaxed),
            rate_limited: i.rate_limited.load(Ordering::Relaxed),
            circuit_refused: i.circuit_refused.load(Ordering::Relaxed),
            circuit_open: open,
        }
    }

    /// Drop every cached result (and the results of calls still in flight).
    pub(crate) fn clear(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        self.inner.cache.invalidate_all();
    }

    fn prepare(&self, token: &str) -> Result<Key, TokenError> {
        if !is_b64token(token) {
            return Err(TokenError::Malformed(crate::error::Malformed::Segments));
        }
        let tag = aws_lc_rs::hmac::sign(&self.inner.hash_key, token.as_bytes());
        <Key>::try_from(tag.as_ref())
            .map_err(|_| TokenError::IntrospectionUnavailable(IntrospectionProblem::Request))
    }

    fn cached(&self, key: &Key) -> Option<Result<VerifiedClaims, TokenError>> {
        let inner = &*self.inner;
        let entry = inner.cache.get(key)?;
        if !inner.fresh(&entry) {
            inner.cache.invalidate(key);
            return None;
        }
        inner.cache_hits.fetch_add(1, Ordering::Relaxed);
        Some(inner.use_cached(&entry))
    }

    /// Join the call in flight for this token, or start one if the gate admits it.
    fn start(
        &self,
        token: &str,
        key: Key,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Result<Started, IntrospectionProblem> {
        let inner = &self.inner;
        // A stopped worker runs nothing: no call in flight can finish after it.
        let runtime = runtime.ok_or(IntrospectionProblem::Stopped)?;
        let generation = inner.generation.load(Ordering::SeqCst);
        let mut inflight = inner.inflight.lock().unwrap_or_else(|p| p.into_inner());
        // A call started before a `clear()` is not joined: its answer predates the clear.
        if let Some((g, l)) = inflight.get(&key)
            && *g == generation
        {
            inner.shared.fetch_add(1, Ordering::Relaxed);
            return Ok(Started::Wait(l.clone()));
        }
        // A call may have landed between the caller's cache miss and this lock (its task
        // fills the cache, then leaves the in-flight map): look again under the lock.
        if let Some(entry) = inner.cache.get(&key)
            && inner.fresh(&entry)
        {
            inner.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Started::Ready(entry));
        }
        let admitted = inner
            .gate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(Instant::now());
        let ticket = match admitted {
            Ok(t) => t,
            Err(p) => {
                let counter = match p {
                    IntrospectionProblem::RateLimited => &inner.rate_limited,
                    _ => &inner.circuit_refused,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                return Err(p);
            }
        };
        let (tx, rx) = futures::channel::oneshot::channel();
        let lookup = async move { rx.await.unwrap_or(Err(IntrospectionProblem::Stopped)) }
            .boxed()
            .shared();
        inflight.insert(key, (generation, lookup.clone()));
        // Spawned after the lock is released: a runtime that is shutting down may drop the
        // task at once, on this thread, and its guard takes the lock.
        drop(inflight);
        // Settles the call even if its task panics or is cancelled (a stopped worker): the
        // gate hears a failure and the in-flight entry goes, and the dropped sender resolves
        // every waiter with `Stopped`, so nothing waits on it forever.
        let mut guard = Settle {
            inner: inner.clone(),
            key,
            generation,
            ticket,
            ok: false,
        };
        let token = token.to_owned();
        drop(runtime.spawn(async move {
            let me = guard.inner.clone();
            let answer = me.call(&token).await;
            guard.ok = answer.is_ok();
            let result = answer.map(|doc| me.interpret(doc));
            if let Ok(cached) = &result
                && me.generation.load(Ordering::SeqCst) == generation
            {
                me.cache.insert(key, cached.clone());
                // A `clear()` between the check and the insert: undo the insert.
                if me.generation.load(Ordering::SeqCst) != generation {
                    me.cache.invalidate(&key);
                }
            }
            drop(guard);
            let _ = tx.send(result);
        }));
        Ok(Started::Wait(lookup))
    }
}

/// What `start` found or did.
enum Started {
    /// The answer landed in the cache meanwhile.
    Ready(Cached),
    /// A call (joined or new) is under way.
    Wait(Lookup),
}

/// Settles one call when dropped: the outcome to the gate and the counters, and the token's
/// in-flight entry removed (after the cache was filled, so a later caller finds one of the two).
struct Settle {
    inner: Arc<Inner>,
    key: Key,
    generation: u64,
    ticket: Ticket,
    ok: bool,
}

impl Drop for Settle {
    fn drop(&mut self) {
        let i = &self.inner;
        let counter = if self.ok { &i.successes } else { &i.failures };
        counter.fetch_add(1, Ordering::Relaxed);
        i.gate.lock().unwrap_or_else(|p| p.into_inner()).record(
            self.ticket,
            self.ok,
            Instant::now(),
        );
        let mut inflight = i.inflight.lock().unwrap_or_else(|p| p.into_inner());
        // Only its own entry: a call started after a `clear()` may hold the key now.
        if inflight
            .get(&self.key)
            .is_some_and(|(g, _)| *g == self.generation)
        {
            inflight.remove(&self.key);
        }
    }
}

impl Inner {
    /// Whether a cache entry may still be used (before its `until_ms`).
    fn fresh(&self, entry: &Cached) -> bool {
        let until = match entry {
            Cached::Active { until_ms, .. } | Cached::Refused { until_ms, .. } => *until_ms,
        };
        self.clock.now_unix_ms() < until
    }

    fn use_cached(&self, entry: &Cached) -> Result<VerifiedClaims, TokenError> {
        match entry {
            Cached::Active { claims, .. } => {
                // INVARIANT: a cached active result is never used past the token's `exp`.
                let now = self.clock.now_unix_ms() / 1000;
                if now >= claims.expires_at().saturating_add(self.leeway_s) {
                    Err(TokenError::Expired)
                } else {
                    Ok(claims.clone())
                }
            }
            Cached::Refused { error, .. } => Err(error.clone()),
        }
    }

    /// One call: POST the token, read a bounded JSON object.
    async fn call(&self, token: &str) -> Result<Map<String, Value>, IntrospectionProblem> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut body = format!("token={}&token_type_hint=access_token", form(token));
        let request = self
            .client
            .post(&self.endpoint)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        let now = self.clock.now_unix_ms() / 1000;
        let request = self
            .auth
            .apply(request, &mut body, &self.client_id, now)
            .ok_or(IntrospectionProblem::ClientAuth)?;
        let send = async {
            let mut resp = request.body(body).send().await.map_err(|e| {
                if e.is_timeout() {
                    IntrospectionProblem::Timeout
                } else {
                    IntrospectionProblem::Request
                }
            })?;
            if resp.status() != reqwest::StatusCode::OK {
                return Err(IntrospectionProblem::Status);
            }
            if resp
                .content_length()
                .is_some_and(|l| l > self.max_bytes as u64)
            {
                return Err(IntrospectionProblem::Response);
            }
            let mut bytes = Vec::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        if bytes.len() + chunk.len() > self.max_bytes {
                            return Err(IntrospectionProblem::Response);
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) if e.is_timeout() => return Err(IntrospectionProblem::Timeout),
                    Err(_) => return Err(IntrospectionProblem::Request),
                }
            }
            parse_answer(&bytes)
        };
        match tokio::time::timeout(self.timeout, send).await {
            Ok(r) => r,
            Err(_) => Err(IntrospectionProblem::Timeout),
        }
    }

    /// Whether an active answer is about an access token. A refresh token is active too but
    /// is no credential here. Providers say which kind in different members: `token_type`
    /// (RFC 7662; `Bearer` or `DPoP` for access tokens), `token_use` (`access_token`), or
    /// Keycloak's `typ` (`Bearer`). Any of them naming another kind refuses the token, and
    /// with `require_token_type` (the default) one of them must be there.
    fn access_token(&self, doc: &Map<String, Value>) -> Result<(), TokenError> {
        let is = |v: &Value, kinds: &[&str]| {
            v.as_str()
                .is_some_and(|t| kinds.iter().any(|k| t.eq_ignore_ascii_case(k)))
        };
        let mut evidence = false;
        for (member, kinds) in [
            ("token_type", &["bearer", "dpop"][..]),
            ("token_use", &["access_token"][..]),
            ("typ", &["bearer", "dpop"][..]),
        ] {
            if let Some(v) = doc.get(member) {
                if !is(v, kinds) {
                    return Err(TokenError::TypeInvalid);
                }
                evidence = true;
            }
        }
        if !evidence && self.require_token_type {
            return Err(TokenError::TypeInvalid);
        }
        // A DPoP token must say which key it is bound to, or it would pass as a bearer token.
        let dpop = ["token_type", "typ"]
            .iter()
            .any(|m| doc.get(*m).is_some_and(|v| is(v, &["dpop"])));
        let jkt = doc
            .get("cnf")
            .and_then(|c| c.get("jkt"))
            .is_some_and(Value::is_string);
        if dpop && !jkt {
            return Err(TokenError::TypeInvalid);
        }
        Ok(())
    }

    /// The cache entry for an endpoint's answer.
    fn interpret(&self, mut doc: Map<String, Value>) -> Cached {
        let now_ms = self.clock.now_unix_ms();
        let refused = |error| Cached::Refused {
            error,
            until_ms: now_ms.saturating_add(self.inactive_ttl_ms),
        };
        if doc.get("active") != Some(&Value::Bool(true)) {
            return refused(TokenError::Inactive);
        }
        // An answer about another issuer's token (a multi-tenant provider) is a refusal of
        // that token, not a failure of the endpoint.
        match doc.get("iss") {
            None => {}
            Some(Value::String(iss)) if *iss == self.issuer => {}
            Some(_) => return refused(TokenError::UnknownIssuer),
        }
        if let Err(e) = self.access_token(&doc) {
            return refused(e);
        }
        doc.remove("active");
        doc.entry("iss")
            .or_insert_with(|| Value::String(self.issuer.clone()));
        let rules = ClaimRules {
            audiences: &self.audiences,
            leeway_s: self.leeway_s,
            max_token_age_s: self.max_token_age_s,
        };
        let registered = Registered::from_map(&doc);
        let how = (None, None, None);
        match validate_with(
            &rules,
            how,
            registered,
            Source::Introspected,
            Some(doc),
            now_ms / 1000,
        ) {
            Ok(claims) => {
                // Until `exp` (+ leeway, as `use_cached` and the JWT path allow), which is
                // after now: the claims checks passed.
                let exp_ms = claims
                    .expires_at()
                    .saturating_add(self.leeway_s)
                    .saturating_mul(1000);
                Cached::Active {
                    until_ms: now_ms.saturating_add(self.ttl_ms).min(exp_ms),
                    claims,
                }
            }
            Err(e) => refused(e),
        }
    }
}

/// An introspection response: a JSON object (no duplicate keys, bounded depth) with a boolean
/// `active` (RFC 7662 §2.2: REQUIRED).
fn parse_answer(bytes: &[u8]) -> Result<Map<String, Value>, IntrospectionProblem> {
    let doc =
        json::parse_object(bytes, json::MAX_DEPTH).map_err(|_| IntrospectionProblem::Response)?;
    if !matches!(doc.get("active"), Some(Value::Bool(_))) {
        return Err(IntrospectionProblem::Response);
    }
    Ok(doc)
}

/// Fuzzing: any bytes as the endpoint's answer, judged for a fixed issuer (`aud` `api`).
pub(crate) fn judge_answer_for_fuzzing(bytes: &[u8]) {
    static JUDGE: std::sync::OnceLock<Option<Introspector>> = std::sync::OnceLock::new();
    let judge = JUDGE.get_or_init(|| {
        let mut issuer = IssuerConfig::new("https://idp.example.com", ["api"], []);
        let config = IntrospectionConfig {
            endpoint: "https://idp.example.com/introspect".to_owned(),
            client_id: "fuzz".to_owned(),
            client_secret_env: None,
            private_key_jwt: None,
            ttl_s: 60,
            inactive_ttl_s: 5,
            require_token_type: true,
            timeout_ms: 1000,
            cache_entries: 100,
            rate_per_s: 1,
            burst: 1,
            failure_threshold: 1,
            open_s: 1,
            max_response_bytes: 65536,
        };
        issuer.introspection = Some(config.clone());
        let clock = Arc::new(crate::util::clock::ManualClock::at_unix(1_800_000_000));
        Introspector::with_auth(
            &issuer,
            &config,
            clock,
            ClientAuth::Basic(reqwest::header::HeaderValue::from_static(
                "Basic Zm96ejpmdXp6",
            )),
        )
        .ok()
    });
    if let Some(j) = judge
        && let Ok(doc) = parse_answer(bytes)
    {
        let cached = j.inner.interpret(doc);
        let _ = j.inner.use_cached(&cached);
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
#[cfg(test)]
mod tests;
