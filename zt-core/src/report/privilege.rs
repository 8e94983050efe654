//! The least-privilege review: per subject seen in the logs, the permissions it holds (the
//! bundle's `entitlements`, evaluated once per subject on its logged `input.subject`) against
//! those that allowed its requests (the policy's `grants`, logged with each decision).

use crate::config::PolicyConfig;
use crate::policy::CompiledBundle;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

/// Subjects tracked; later ones are counted in `not_tracked`.
const MAX_SUBJECTS: usize = 100_000;
/// Entries listed in the report.
const MAX_ENTRIES: usize = 1000;
/// Longest logged subject kept for the evaluation, and longest issuer, subject and grant name.
const MAX_SUBJECT_JSON: usize = 16 * 1024;
const MAX_NAME: usize = 256;
/// Grants remembered per subject.
const MAX_USED: usize = 1000;

/// `least_privilege`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct LeastPrivilege {
    /// Subjects seen (issuer and subject) in the window.
    pub subjects: u64,
    /// Of those, subjects holding a privileged entitlement they did not use.
    pub subjects_with_unused_privileged: u64,
    /// `subjects_with_unused_privileged` / `subjects`: the checklist's KPI.
    pub share: f64,
    /// The bundle's `privileged` set.
    pub privileged: Vec<String>,
    /// Subjects with an unused entitlement, those with unused privileged ones first (at most
    /// 1,000).
    pub entries: Vec<SubjectEntitlements>,
    /// Subjects whose `entitlements` could not be evaluated (counted as holding nothing).
    pub evaluation_errors: u64,
    /// Subjects beyond the 100,000 tracked (not in `subjects`).
    pub not_tracked: u64,
}

/// One subject of `least_privilege.entries`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct SubjectEntitlements {
    /// The token's issuer.
    pub issuer: String,
    /// The subject.
    pub subject: String,
    /// What it holds (`entitlements`).
    pub held: Vec<String>,
    /// What allowed its requests (`grants`), held or not.
    pub used: Vec<String>,
    /// Held and not used.
    pub unused: Vec<String>,
    /// Held, not used, and privileged.
    pub unused_privileged: Vec<String>,
}

struct Seen {
    /// The first logged `input.subject` (JSON text).
    subject: String,
    used: BTreeSet<String>,
}

/// What the reading pass collects per subject.
#[derive(Default)]
pub(super) struct Subjects {
    map: HashMap<(String, String), Seen>,
    not_tracked: u64,
}

impl Subjects {
    pub(super) fn seen(&mut self, issuer: &str, subject: &str, raw: &str, grants: &[&str]) {
        let clip = |s: &str| super::tally::clip(s, MAX_NAME);
        let key = (clip(issuer), clip(subject));
        // A subject too large to keep is evaluated as `{}` (it then holds what the bundle
        // grants to nobody in particular, usually nothing).
        let raw = if raw.len() <= MAX_SUBJECT_JSON {
            raw
        } else {
            "{}"
        };
        let len = self.map.len();
        let seen = match self.map.get_mut(&key) {
            Some(s) => s,
            None if len < MAX_SUBJECTS => self.map.entry(key).or_insert_with(|| Seen {
                subject: raw.to_owned(),
                used: BTreeSet::new(),
            }),
            None => {
                self.not_tracked += 1;
                return;
            }
        };
        for g in grants {
            if seen.used.len() >= MAX_USED {
                break;
            }
            if !seen.used.contains(*g) {
                seen.used.insert(clip(g));
            }
        }
    }
}

/// The bundle's `entitlements` and `privileged`, compiled.
pub(super) struct Review {
    entitlements: Arc<CompiledBundle>,
    privileged: BTreeSet<String>,
}

impl Review {
    /// Load `bundle` twice: with `entitlements` and with `privileged` (in the entrypoint's
    /// package) as the entrypoint. A bundle without `entitlements` is an error; without
    /// `privileged`, nothing counts as privileged.
    pub(super) fn load(bundle: &Path, policy: &PolicyConfig) -> Result<Self, super::ReportError> {
        let package = policy
            .entrypoint
            .rsplit_once('.')
            .map_or("data.zt.authz", |(p, _)| p);
        let with = |rule: &str| {
            let mut c = policy.clone();
            c.entrypoint = format!("{package}.{rule}");
            c.run_tests_on_load = false;
            c.indexing = false;
            CompiledBundle::load(bundle, &c)
        };
        let entitlements = with("entitlements")?;
        let privileged = match with("privileged") {
            Ok(b) => strings(b.eval_json(&serde_json::json!({})).ok().flatten()),
            Err(_) => BTreeSet::new(),
        };
        Ok(Self {
            entitlements,
            privileged,
        })
    }

    /// Evaluate `entitlements` once per subject and compare with what it used.
    pub(super) fn evaluate(self, subjects: Subjects) -> LeastPrivilege {
        let mut out = LeastPrivilege {
            subjects: subjects.map.len() as u64,
            privileged: self.privileged.iter().cloned().collect(),
            not_tracked: subjects.not_tracked,
            ..LeastPrivilege::default()
        };
        let mut entries = Vec::new();
        for ((issuer, subject), seen) in subjects.map {
            let input = serde_json::from_str::<serde_json::Value>(&seen.subject)
                .map(|s| serde_json::json!({ "subject": s }));
            let held = match input.map(|i| self.entitlements.eval_json(&i)) {
                Ok(Ok(v)) => strings(v),
                _ => {
                    out.evaluation_errors += 1;
                    BTreeSet::new()
                }
            };
            let unused: Vec<String> = held.difference(&seen.used).cloned().collect();
            let unused_privileged: Vec<String> = unused
                .iter()
                .filter(|p| self.privileged.contains(*p))
                .cloned()
                .collect();
            if !unused_privileged.is_empty() {
                out.subjects_with_unused_privileged += 1;
            }
            if !unused.is_empty() {
                entries.push(SubjectEntitlements {
                    issuer,
                    subject,
                    held: held.into_iter().collect(),
                    used: seen.used.into_iter().collect(),
                    unused,
                    unused_privileged,
                });
            }
        }
        entries.sort_by(|a, b| {
            b.unused_privileged
                .len()
                .cmp(&a.unused_privileged.len())
                .then_with(|| b.unused.len().cmp(&a.unused.len()))
                .then_with(|| (&a.issuer, &a.subject).cmp(&(&b.issuer, &b.subject)))
        });
        entries.truncate(MAX_ENTRIES);
        out.entries = entries;
        out.share = if out.subjects == 0 {
            0.0
        } else {
            out.subjects_with_unused_privileged as f64 / out.subjects as f64
        };
        out
    }
}

/// The strings of a JSON array (Rego sets come out as arrays); anything else is empty.
fn strings(v: Option<serde_json::Value>) -> BTreeSet<String> {
    match v {
        Some(serde_json::Value::Array(a)) => a
            .into_iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => BTreeSet::new(),
    }
}
