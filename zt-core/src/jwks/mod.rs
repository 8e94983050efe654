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

mod fetch;
mod keyset;
mod prepared;
mod worker;

pub(crate) use fetch::parse_discovery;
pub use keyset::KeySet;
pub(crate) use keyset::{Lookup, VerificationKey, load_file, parse_jwk};
pub(crate) use worker::Env;

use crate::algorithm::Algorithm;
use crate::error::{JwksError, KeyProblem};
use fetch::FetchJob;
use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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

/// An issuer's key set: how many keys, fetched when, fresh and usable until when (Unix ms).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct KeyFreshness {
    pub(crate) keys: usize,
    pub(crate) fetched_at_ms: Option<u64>,
    pub(crate) fresh_until_ms: Option<u64>,
    pub(crate) usable_until_ms: Option<u64>,
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
    lookup_hits: crate::util::counters::ShardedCounter,
    lookup_misses: crate::util::counters::ShardedCounter,
    /// Bumped after every installed key set (see [`IssuerKeys::unchanged_since`]).
    generation: AtomicU64,
    /// Until when the installed set needs no look at all: its refresh point or stale limit,
    /// whichever is first (`u64::MAX` for inline keys).
    quiet_until_ms: AtomicU64,
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
            lookup_hits: Default::default(),
            lookup_misses: Default::default(),
            generation: AtomicU64::new(0),
            quiet_until_ms: AtomicU64::new(0),
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
        let quiet_until = if set.fresh_until_ms == u64::MAX {
            u64::MAX
        } else {
            let ttl = set.fresh_until_ms.saturating_sub(set.fetched_at_ms);
            let refresh_at = set.fetched_at_ms.saturating_add(ttl / 4 * 3);
            let stale_limit = set
                .fresh_until_ms
                .saturating_add(self.env.config.max_stale_s * 1000);
            refresh_at.min(stale_limit)
        };
        let set = Arc::new(set);
        match self.current.write() {
            Ok(mut g) => *g = Some(set),
            Err(poisoned) => *poisoned.into_inner() = Some(set),
        }
        // Odd while the pair is being changed, like a sequence lock.
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.quiet_until_ms.store(quiet_until, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The key-set generation: even, and changed by every installed set.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether the key set is still the one of `generation` and needs neither a refresh nor
    /// the stale check at `now_ms`: then a key found in it is still current, without taking
    /// the key-set lock or touching a reference count shared with other cores.
    pub(crate) fn unchanged_since(&self, generation: u64, now_ms: u64) -> bool {
        if generation % 2 == 1 || self.generation.load(Ordering::Acquire) != generation {
            return false;
        }
        let quiet_until = self.quiet_until_ms.load(Ordering::Acquire);
        self.generation.load(Ordering::Acquire) == generation && now_ms < quiet_until
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
        (self.lookup_hits.get(), self.lookup_misses.get())
    }

    /// Whether a key set is loaded (fresh or stale).
    pub(crate) fn has_keys(&self) -> bool {
        self.snapshot().is_some()
    }

    /// The current set's size and times; the times are `None` for inline keys (and no set).
    pub(crate) fn freshness(&self) -> KeyFreshness {
        let Some(set) = self.snapshot() else {
            return KeyFreshness::default();
        };
        let keys = set.key_ids().len();
        if set.fresh_until_ms == u64::MAX {
            return KeyFreshness {
                keys,
                ..KeyFreshness::default()
            };
        }
        KeyFreshness {
            keys,
            fetched_at_ms: Some(set.fetched_at_ms),
            fresh_until_ms: Some(set.fresh_until_ms),
            usable_until_ms: Some(
                set.fresh_until_ms
                    .saturating_add(self.env.config.max_stale_s.saturating_mul(1000)),
            ),
        }
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
        counter.add(1);
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
        let (Some(handle), Some(client)) = (self.env.handle(), &self.env.client) else {
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
        let task = handle.spawn(async move {
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

#[cfg(test)]
mod tests;
