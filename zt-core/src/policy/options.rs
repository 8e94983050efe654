//! What the policy lifecycle reads from the `[policy]` configuration section.

use super::bundle::Limits;
use crate::config::PolicyConfig;

impl PolicyConfig {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.max_file_bytes,
            max_bundle_bytes: self.max_bundle_bytes,
            all_files: false,
        }
    }

    pub(crate) fn max_instructions_usize(&self) -> usize {
        usize::try_from(self.max_instructions).unwrap_or(usize::MAX)
    }

    pub(crate) fn keep_revisions_usize(&self) -> usize {
        usize::try_from(self.keep_revisions).unwrap_or(5).max(1)
    }
}
