//! How bundles are loaded and evaluated.

use super::bundle::Limits;

/// How bundles are loaded and evaluated.
#[derive(Debug, Clone)]
pub struct PolicyStoreOptions {
    /// The rule evaluated per request.
    pub entrypoint: String,
    /// Run the bundle's `test_` rules before activating it.
    pub run_tests_on_load: bool,
    /// Instruction limit per evaluation.
    pub max_instructions: usize,
    /// Largest policy or data file.
    pub max_file_bytes: u64,
    /// Largest bundle (sum of files).
    pub max_bundle_bytes: u64,
    /// Revisions kept for rollback (the active one included).
    pub keep_revisions: usize,
}

impl Default for PolicyStoreOptions {
    /// The defaults of the `[policy]` configuration section.
    fn default() -> Self {
        Self::from_config(&crate::config::PolicyConfig::default())
    }
}

impl PolicyStoreOptions {
    /// Options from the `[policy]` section of a configuration.
    pub fn from_config(c: &crate::config::PolicyConfig) -> Self {
        Self {
            entrypoint: c.entrypoint.clone(),
            run_tests_on_load: c.run_tests_on_load,
            max_instructions: usize::try_from(c.max_instructions).unwrap_or(usize::MAX),
            max_file_bytes: c.max_file_bytes,
            max_bundle_bytes: c.max_bundle_bytes,
            keep_revisions: usize::try_from(c.keep_revisions).unwrap_or(5),
        }
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.max_file_bytes,
            max_bundle_bytes: self.max_bundle_bytes,
        }
    }
}
