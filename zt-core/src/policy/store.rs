//! [`PolicyStore`]: the active bundle behind an atomic swap, kept revisions, a shadow candidate.

use super::bundle::{self, Bundle};
use super::compile::CompiledBundle;
use super::output::{PolicyFailure, PolicyOutput};
use crate::config::PolicyConfig;
use crate::error::PolicyError;
use crate::input::PolicyInput;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

/// One evaluation: which revision answered and what it said.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PolicyEvaluation {
    /// The revision that produced the result.
    pub revision: String,
    /// The result, or why there is none (a deny).
    pub result: Result<PolicyOutput, PolicyFailure>,
}

/// The active bundle, kept revisions, and an optional shadow candidate.
pub struct PolicyStore {
    pub(super) opts: PolicyConfig,
    active: RwLock<Arc<CompiledBundle>>,
    kept: Mutex<VecDeque<Arc<CompiledBundle>>>,
    shadow: RwLock<Option<Arc<CompiledBundle>>>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore")
            .field("active", &self.active_revision())
            .finish_non_exhaustive()
    }
}

impl PolicyStore {
    /// Load, compile, test and activate the bundle at `path` (directory or `.tar.gz`).
    pub fn load(path: &Path, opts: PolicyConfig) -> Result<Self, PolicyError> {
        let first = Self::candidate(bundle::load(path, opts.limits())?, &opts)?;
        Ok(Self::with_active(first, opts))
    }

    /// Load the bundle named by the `[policy]` section of a configuration.
    pub fn from_config(config: &crate::config::PolicyConfig) -> Result<Self, PolicyError> {
        let Some(path) = &config.bundle else {
            return Err(PolicyError::Bundle {
                detail: "`policy.bundle` is not set".to_owned(),
            });
        };
        Self::load(path, config.clone())
    }

    /// The same from in-memory files `(path inside the bundle, bytes)`.
    pub fn from_files(
        files: Vec<(String, Vec<u8>)>,
        opts: PolicyConfig,
    ) -> Result<Self, PolicyError> {
        let first = Self::candidate(bundle::from_files(files, opts.limits())?, &opts)?;
        Ok(Self::with_active(first, opts))
    }

    fn with_active(first: Arc<CompiledBundle>, opts: PolicyConfig) -> Self {
        Self {
            opts,
            kept: Mutex::new(VecDeque::from([first.clone()])),
            active: RwLock::new(first),
            shadow: RwLock::new(None),
        }
    }

    pub(super) fn candidate(
        b: Bundle,
        opts: &PolicyConfig,
    ) -> Result<Arc<CompiledBundle>, PolicyError> {
        let compiled = CompiledBundle::compile(b, opts, opts.run_tests_on_load)?;
        let failed: Vec<String> = compiled
            .tests
            .iter()
            .filter(|t| !t.passed)
            .map(|t| match &t.error {
                Some(e) => format!("{} ({e})", t.name),
                None => t.name.clone(),
            })
            .collect();
        if !failed.is_empty() {
            return Err(PolicyError::TestsFailed { failed });
        }
        Ok(Arc::new(compiled))
    }

    /// Load a new bundle through the gate and activate it; on any error the active bundle is
    /// unchanged. Returns the new revision.
    pub fn reload(&self, path: &Path) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::load(path, self.opts.limits())?, &self.opts)?;
        Ok(self.activate(c))
    }

    /// [`PolicyStore::reload`] from in-memory files.
    pub fn reload_files(&self, files: Vec<(String, Vec<u8>)>) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::from_files(files, self.opts.limits())?, &self.opts)?;
        Ok(self.activate(c))
    }

    pub(super) fn activate(&self, c: Arc<CompiledBundle>) -> String {
        let rev = c.revision.clone();
        {
            let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.retain(|k| k.revision != rev);
            kept.push_back(c.clone());
            while kept.len() > self.opts.keep_revisions_usize() {
                kept.pop_front();
            }
        }
        *self.active.write().unwrap_or_else(|p| p.into_inner()) = c;
        rev
    }

    /// Make a kept revision active again.
    pub fn rollback(&self, revision: &str) -> Result<(), PolicyError> {
        let found = self
            .kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|k| k.revision == revision)
            .cloned();
        match found {
            Some(c) => {
                *self.active.write().unwrap_or_else(|p| p.into_inner()) = c;
                Ok(())
            }
            None => Err(PolicyError::UnknownRevision {
                revision: revision.to_owned(),
            }),
        }
    }

    /// The kept revisions, oldest first.
    pub fn revisions(&self) -> Vec<String> {
        self.kept
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|k| k.revision.clone())
            .collect()
    }

    /// The active revision.
    pub fn active_revision(&self) -> String {
        self.active().revision.clone()
    }

    /// The active compiled bundle.
    pub fn active(&self) -> Arc<CompiledBundle> {
        self.active
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Set (or clear) the shadow candidate from in-memory files; it passes the same gate.
    pub fn set_shadow_files(
        &self,
        files: Option<Vec<(String, Vec<u8>)>>,
    ) -> Result<Option<String>, PolicyError> {
        let c = match files {
            Some(f) => Some(Self::candidate(
                bundle::from_files(f, self.opts.limits())?,
                &self.opts,
            )?),
            None => None,
        };
        let rev = c.as_ref().map(|c| c.revision.clone());
        *self.shadow.write().unwrap_or_else(|p| p.into_inner()) = c;
        Ok(rev)
    }

    /// Set the shadow candidate from a directory or archive.
    pub fn set_shadow(&self, path: &Path) -> Result<String, PolicyError> {
        let c = Self::candidate(bundle::load(path, self.opts.limits())?, &self.opts)?;
        let rev = c.revision.clone();
        *self.shadow.write().unwrap_or_else(|p| p.into_inner()) = Some(c);
        Ok(rev)
    }

    /// Evaluate the active bundle.
    pub fn evaluate(&self, input: &PolicyInput) -> PolicyEvaluation {
        let active = self.active();
        PolicyEvaluation {
            revision: active.revision.clone(),
            result: active.evaluate(input),
        }
    }

    /// Evaluate the shadow candidate, if one is set (never enforced).
    pub fn evaluate_shadow(&self, input: &PolicyInput) -> Option<PolicyEvaluation> {
        let shadow = self
            .shadow
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        Some(PolicyEvaluation {
            revision: shadow.revision.clone(),
            result: shadow.evaluate(input),
        })
    }
}
