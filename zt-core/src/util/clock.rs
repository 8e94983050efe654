//! The injected clock.
//!
//! Every time-dependent check in zt (token expiry, key-set TTL and staleness, the unknown-`kid`
//! cooldown, the verified-token cache) reads the time from a [`Clock`], so tests can move time
//! forward with a [`ManualClock`] instead of sleeping.
//!
//! ```
//! use std::time::Duration;
//! use zt_core::{Clock, ManualClock};
//!
//! let clock = ManualClock::at_unix(1_700_000_000);
//! clock.advance(Duration::from_secs(90));
//! assert_eq!(clock.now_unix(), 1_700_000_090);
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_unix_ms(&self) -> u64;

    /// Whole seconds since the Unix epoch.
    fn now_unix(&self) -> u64 {
        self.now_unix_ms() / 1000
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            // A clock before 1970 is a broken host; 0 makes every token look expired (fail closed).
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; cheap to clone (clones share the same time).
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    ms: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock set to `secs` seconds after the Unix epoch.
    pub fn at_unix(secs: u64) -> Self {
        Self {
            ms: Arc::new(AtomicU64::new(secs.saturating_mul(1000))),
        }
    }

    /// Set the time to `secs` seconds after the Unix epoch.
    pub fn set_unix(&self, secs: u64) {
        self.ms.store(secs.saturating_mul(1000), Ordering::SeqCst);
    }

    /// Move the time forward.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ms.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_ms(&self) -> u64 {
        self.ms.load(Ordering::SeqCst)
    }
}
