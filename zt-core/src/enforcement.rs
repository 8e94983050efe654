//! Enforcement settings at runtime: three layers, resolved on every decision.
//!
//! 1. the operator's override: [`Authorizer::set_mode`](crate::Authorizer::set_mode),
//!    [`Authorizer::set_canary_percent`](crate::Authorizer::set_canary_percent), or the
//!    `enforcement.override_file` (whichever changed last);
//! 2. the active bundle's `data.zt.enforcement` (`{"mode": …, "canary_percent": …}`, either
//!    key optional), checked when the bundle is loaded;
//! 3. the `[enforcement]` section of the config.
//!
//! Each of `mode` and `canary_percent` comes from the first layer that sets it. The operator
//! layer is one atomic word and the bundle layer another, so a decision reads both with two
//! loads and is decided under exactly one resolved setting, which it records.
//!
//! ```
//! use zt_core::{EnforcementMode, EnforcementOverride};
//! let o = EnforcementOverride::from_json(&serde_json::json!({"mode": "log_only"})).unwrap();
//! assert_eq!(o.mode, Some(EnforcementMode::LogOnly));
//! assert_eq!(o.canary_percent, None);
//! assert!(EnforcementOverride::from_json(&serde_json::json!({"mode": "off"})).is_err());
//! ```

use crate::codes::{EnforcementMode, Outcome};
use crate::config::EnforcementConfig;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Values that replace the configured enforcement settings (each optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct EnforcementOverride {
    /// The mode, when overridden.
    pub mode: Option<EnforcementMode>,
    /// The canary percentage (0..=100), when overridden.
    pub canary_percent: Option<u64>,
}

impl EnforcementOverride {
    /// An override of both values.
    pub fn new(mode: Option<EnforcementMode>, canary_percent: Option<u64>) -> Self {
        Self {
            mode,
            canary_percent,
        }
    }

    /// Read `{"mode": "enforce" | "warn" | "log_only", "canary_percent": 0..=100}`; other keys,
    /// other types and out-of-range values are errors that say which.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        let obj = v.as_object().ok_or("must be an object")?;
        let mut out = Self::default();
        for (k, v) in obj {
            match k.as_str() {
                "mode" => {
                    out.mode = Some(match v.as_str() {
                        Some("enforce") => EnforcementMode::Enforce,
                        Some("warn") => EnforcementMode::Warn,
                        Some("log_only") => EnforcementMode::LogOnly,
                        _ => {
                            return Err(
                                "`mode` must be \"enforce\", \"warn\" or \"log_only\"".into()
                            );
                        }
                    });
                }
                "canary_percent" => match v.as_u64() {
                    Some(p) if p <= 100 => out.canary_percent = Some(p),
                    _ => return Err("`canary_percent` must be an integer in 0..=100".into()),
                },
                other => {
                    return Err(format!(
                        "unknown key `{other}` (allowed: mode, canary_percent)"
                    ));
                }
            }
        }
        Ok(out)
    }

    /// One word: bit 0 mode set, bits 1–2 mode, bit 3 canary set, bits 8–15 the percentage.
    pub(crate) fn pack(self) -> u64 {
        let mode = match self.mode {
            None => 0,
            Some(EnforcementMode::Enforce) => 1,
            Some(EnforcementMode::Warn) => 1 | (1 << 1),
            Some(EnforcementMode::LogOnly) => 1 | (2 << 1),
        };
        let canary = self
            .canary_percent
            .map_or(0, |p| (1 << 3) | (p.min(100) << 8));
        mode | canary
    }

    pub(crate) fn unpack(w: u64) -> Self {
        let mode = (w & 1 == 1).then_some(match (w >> 1) & 0b11 {
            1 => EnforcementMode::Warn,
            2 => EnforcementMode::LogOnly,
            _ => EnforcementMode::Enforce,
        });
        let canary_percent = (w & (1 << 3) != 0).then_some((w >> 8) & 0xff);
        Self {
            mode,
            canary_percent,
        }
    }
}

/// Where an enforcement value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EnforcementSource {
    /// The operator's override (API or override file).
    Override,
    /// The active bundle's `data.zt.enforcement`.
    Bundle,
    /// The `[enforcement]` section of the config.
    Config,
}

/// The enforcement settings in force and where each comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct EnforcementStatus {
    /// The mode in force.
    pub mode: EnforcementMode,
    /// Where `mode` comes from.
    pub mode_source: EnforcementSource,
    /// The canary percentage in force.
    pub canary_percent: u64,
    /// Where `canary_percent` comes from.
    pub canary_source: EnforcementSource,
    /// The operator's override as set.
    pub operator: EnforcementOverride,
    /// The override file, when configured.
    pub override_file: Option<PathBuf>,
    /// Why the override file was last refused (the previous settings stayed), if it was.
    pub override_file_error: Option<String>,
}

/// The operator layer and the config; the bundle layer lives with the policy store.
pub(crate) struct RuntimeEnforcement {
    mode: EnforcementMode,
    canary_percent: u64,
    operator: AtomicU64,
    file: Option<PathBuf>,
    file_error: Mutex<Option<String>>,
    /// The override file's last content seen (`None`: absent).
    file_seen: Mutex<Option<Vec<u8>>>,
    pub(crate) file_errors: AtomicU64,
}

impl RuntimeEnforcement {
    pub(crate) fn new(c: &EnforcementConfig) -> Self {
        Self {
            mode: c.mode,
            canary_percent: c.canary_percent,
            operator: AtomicU64::new(0),
            file: c.override_file.clone(),
            file_error: Mutex::new(None),
            file_seen: Mutex::new(None),
            file_errors: AtomicU64::new(0),
        }
    }

    /// The settings for one decision, given the active bundle's packed layer.
    pub(crate) fn current(&self, bundle: u64) -> Enforcement {
        let op = EnforcementOverride::unpack(self.operator.load(Ordering::Acquire));
        let b = EnforcementOverride::unpack(bundle);
        Enforcement::new(
            op.mode.or(b.mode).unwrap_or(self.mode),
            op.canary_percent
                .or(b.canary_percent)
                .unwrap_or(self.canary_percent),
        )
    }

    pub(crate) fn status(&self, bundle: u64) -> EnforcementStatus {
        let op = EnforcementOverride::unpack(self.operator.load(Ordering::Acquire));
        let b = EnforcementOverride::unpack(bundle);
        let pick = |o: bool, b: bool| match (o, b) {
            (true, _) => EnforcementSource::Override,
            (false, true) => EnforcementSource::Bundle,
            _ => EnforcementSource::Config,
        };
        let e = self.current(bundle);
        EnforcementStatus {
            mode: e.mode,
            mode_source: pick(op.mode.is_some(), b.mode.is_some()),
            canary_percent: e.canary_percent(),
            canary_source: pick(op.canary_percent.is_some(), b.canary_percent.is_some()),
            operator: op,
            override_file: self.file.clone(),
            override_file_error: self
                .file_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// Change the operator layer with `f` (atomic against concurrent changes).
    pub(crate) fn edit(&self, f: impl Fn(&mut EnforcementOverride)) {
        let _ = self
            .operator
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                let mut o = EnforcementOverride::unpack(w);
                f(&mut o);
                Some(o.pack())
            });
    }

    /// Read the override file and apply it when its content changed. Only a file that does
    /// not exist lifts the override; an empty file (an editor between truncating and writing),
    /// a file that cannot be read or does not parse changes nothing and is reported.
    pub(crate) fn poll_file(&self) {
        let Some(path) = &self.file else { return };
        let content = match read_small(path) {
            Ok(c) => c,
            Err(kind) => {
                self.refuse(format!("override file `{}`: {kind}", path.display()));
                return;
            }
        };
        let mut seen = self.file_seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == content {
            return;
        }
        let parsed = match &content {
            None => Ok(EnforcementOverride::default()),
            Some(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
                // Not remembered: the same bytes later (the editor's write) are applied.
                return;
            }
            Some(bytes) => parse_file(path, bytes),
        };
        *seen = content;
        drop(seen);
        let mut err = self.file_error.lock().unwrap_or_else(|p| p.into_inner());
        match parsed {
            Ok(o) => {
                self.operator.store(o.pack(), Ordering::Release);
                *err = None;
            }
            Err(e) => {
                self.file_errors.fetch_add(1, Ordering::Relaxed);
                *err = Some(e);
            }
        }
    }

    fn refuse(&self, why: String) {
        let mut err = self.file_error.lock().unwrap_or_else(|p| p.into_inner());
        if err.as_deref() != Some(why.as_str()) {
            self.file_errors.fetch_add(1, Ordering::Relaxed);
            *err = Some(why);
        }
    }

    pub(crate) fn watches_file(&self) -> bool {
        self.file.is_some()
    }
}

/// The file's bytes, `None` when it does not exist, or the I/O error's kind.
fn read_small(path: &Path) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read as _;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.kind().to_string()),
    };
    let mut buf = Vec::new();
    // An override is a few bytes; anything longer than 64 KiB is cut and then fails to parse.
    f.take(64 * 1024)
        .read_to_end(&mut buf)
        .map_err(|e| e.kind().to_string())?;
    Ok(Some(buf))
}

fn parse_file(path: &Path, bytes: &[u8]) -> Result<EnforcementOverride, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8".to_owned());
    let value: Result<serde_json::Value, String> =
        text.and_then(|t| match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => {
                toml::from_str(t).map_err(|e| crate::util::text::one_line(&e.to_string()))
            }
            _ => serde_json::from_str(t).map_err(|e| e.to_string()),
        });
    value
        .and_then(|v| EnforcementOverride::from_json(&v))
        .map_err(|e| format!("override file `{}`: {e}", path.display()))
}

/// Polls the override file until dropped.
pub(crate) struct OverrideWatcher {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl OverrideWatcher {
    pub(crate) fn start(state: &Arc<RuntimeEnforcement>, every: Duration) -> Option<Self> {
        if !state.watches_file() {
            return None;
        }
        state.poll_file();
        let stop = Arc::new(AtomicBool::new(false));
        let (st, flag) = (Arc::downgrade(state), stop.clone());
        let thread = std::thread::Builder::new()
            .name("zt-enforcement-watch".to_owned())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(every);
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    match st.upgrade() {
                        Some(s) => s.poll_file(),
                        None => break,
                    }
                }
            })
            .ok();
        Some(Self {
            stop,
            thread: Mutex::new(thread),
        })
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let t = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = t {
            t.thread().unpark();
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for OverrideWatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Enforcement settings resolved for quick use on the hot path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Enforcement {
    pub(crate) mode: EnforcementMode,
    /// Canary threshold in basis points (0..=10000).
    canary_bp: u64,
}

impl Enforcement {
    pub(crate) fn new(mode: EnforcementMode, canary_percent: u64) -> Self {
        Self {
            mode,
            canary_bp: canary_percent.min(100) * 100,
        }
    }

    /// The canary percentage.
    pub(crate) fn canary_percent(&self) -> u64 {
        self.canary_bp / 100
    }

    /// The mode for a request: `subject` is `Some((iss, sub))` only for a verified token.
    pub(crate) fn mode_for(&self, subject: Option<(&str, &str)>) -> EnforcementMode {
        if self.mode != EnforcementMode::Enforce || self.canary_bp >= 10_000 {
            return self.mode;
        }
        match subject {
            // INVARIANT: an unverified identity never picks its side of the canary.
            None => EnforcementMode::Enforce,
            Some((iss, sub)) if canary_bucket(iss, sub) < self.canary_bp => {
                EnforcementMode::Enforce
            }
            Some(_) => EnforcementMode::LogOnly,
        }
    }
}

/// A stable bucket in 0..10000 for an issuer and subject (FNV-1a 64).
pub fn canary_bucket(issuer: &str, subject: &str) -> u64 {
    fnv_bucket(b"", issuer, subject)
}

/// The rollout gate's bucket: the same hash salted, so that the subjects on a policy
/// candidate are not the same as those inside the enforcement canary.
pub(crate) fn rollout_bucket(issuer: &str, subject: &str) -> u64 {
    fnv_bucket(b"zt-rollout\0", issuer, subject)
}

fn fnv_bucket(salt: &[u8], issuer: &str, subject: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in salt
        .iter()
        .copied()
        .chain(issuer.bytes())
        .chain([0u8])
        .chain(subject.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h % 10_000
}

/// Apply the mode to an evaluated outcome: `(outcome, enforced)`.
pub(crate) fn enforce(evaluated: Outcome, mode: EnforcementMode) -> (Outcome, bool) {
    match mode {
        EnforcementMode::Enforce => (evaluated, true),
        EnforcementMode::Warn | EnforcementMode::LogOnly => {
            (Outcome::Allow, evaluated == Outcome::Allow)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        use EnforcementMode::*;
        for mode in [None, Some(Enforce), Some(Warn), Some(LogOnly)] {
            for canary in [None, Some(0), Some(5), Some(100)] {
                let o = EnforcementOverride::new(mode, canary);
                assert_eq!(EnforcementOverride::unpack(o.pack()), o);
            }
        }
        assert_eq!(EnforcementOverride::default().pack(), 0);
    }

    #[test]
    fn layers_resolve_per_field() {
        let r = RuntimeEnforcement::new(&EnforcementConfig::default());
        let bundle = EnforcementOverride::new(Some(EnforcementMode::Warn), None).pack();
        assert_eq!(r.current(bundle).mode, EnforcementMode::Warn);
        r.edit(|o| o.canary_percent = Some(10));
        let s = r.status(bundle);
        assert_eq!(
            (s.mode, s.mode_source, s.canary_percent, s.canary_source),
            (
                EnforcementMode::Warn,
                EnforcementSource::Bundle,
                10,
                EnforcementSource::Override
            )
        );
        r.edit(|o| o.mode = Some(EnforcementMode::LogOnly));
        assert_eq!(r.current(bundle).mode, EnforcementMode::LogOnly);
        r.edit(|o| *o = EnforcementOverride::default());
        assert_eq!(r.current(0).mode, EnforcementMode::Enforce);
    }

    #[test]
    fn enforce_table() {
        use EnforcementMode::*;
        use Outcome::*;
        let cases = [
            ("enforce allow", Allow, Enforce, Allow, true),
            ("enforce deny", Deny, Enforce, Deny, true),
            ("enforce step-up", StepUp, Enforce, StepUp, true),
            ("warn deny", Deny, Warn, Allow, false),
            ("warn allow", Allow, Warn, Allow, true),
            ("log_only step-up", StepUp, LogOnly, Allow, false),
        ];
        for (name, evaluated, mode, outcome, enforced) in cases {
            assert_eq!(enforce(evaluated, mode), (outcome, enforced), "{name}");
        }
    }

    #[test]
    fn canary_is_stable_and_fail_closed() {
        let e = Enforcement::new(EnforcementMode::Enforce, 0);
        assert_eq!(e.mode_for(None), EnforcementMode::Enforce);
        assert_eq!(e.mode_for(Some(("i", "s"))), EnforcementMode::LogOnly);
        let all = Enforcement::new(EnforcementMode::Enforce, 100);
        assert_eq!(all.mode_for(Some(("i", "s"))), EnforcementMode::Enforce);
        // Pinned values: the split must not change between releases.
        assert_eq!(canary_bucket("https://idp.example.com", "alice"), 7362);
        assert_eq!(canary_bucket("https://idp.example.com", "bob"), 3773);
        assert_eq!(canary_bucket("", ""), 7455);
        assert_ne!(canary_bucket("a", "bc"), canary_bucket("ab", "c"));
    }
}
