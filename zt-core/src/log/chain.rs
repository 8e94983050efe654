//! The hash chain of the `hash_chained_file` sink: each record carries `prev_hash` and `hash`
//! (SHA-256 of its bytes without the `,"hash":…` suffix); [`verify_chain`] checks a file.

use crate::error::ChainError;
use std::io::BufRead;
use std::path::Path;

/// The `prev_hash` of the first record of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut s = String::with_capacity(64);
    for b in digest.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Split a chained line into (body that was hashed, stated hash).
fn split_chained(line: &str) -> Option<(String, &str)> {
    const MARK: &str = ",\"hash\":\"";
    let at = line.rfind(MARK)?;
    let rest = line.get(at + MARK.len()..)?;
    let hash = rest.strip_suffix("\"}")?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut body = line.get(..at)?.to_owned();
    body.push('}');
    Some((body, hash))
}

/// Whether `line` is a hash-chained record (it ends in a `hash` member zt wrote).
pub(crate) fn is_chained(line: &str) -> bool {
    split_chained(line).is_some()
}

/// The hash to continue a chain from: the last line's, or the genesis hash for an empty file.
pub(crate) fn last_chain_hash(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.kind().to_string())?;
    let mut last = None;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| e.kind().to_string())?;
        if !line.trim().is_empty() {
            last = Some(line);
        }
    }
    match last {
        None => Ok(GENESIS_HASH.to_owned()),
        Some(l) => split_chained(&l)
            .map(|(_, h)| h.to_owned())
            .ok_or_else(|| "its last line is not a hash-chained record".to_owned()),
    }
}

/// Verify a hash-chained decision log. Returns the number of records and the last hash (keep
/// it elsewhere to detect truncation later).
///
/// ```
/// let dir = std::env::temp_dir().join(format!("zt-chain-doc-{}", std::process::id()));
/// std::fs::write(&dir, "").unwrap();
/// let (records, last) = zt_core::verify_chain(&dir).unwrap();
/// assert_eq!(records, 0);
/// assert_eq!(last, zt_core::GENESIS_HASH);
/// # std::fs::remove_file(&dir).ok();
/// ```
pub fn verify_chain(path: impl AsRef<Path>) -> Result<(usize, String), ChainError> {
    let file =
        std::fs::File::open(path.as_ref()).map_err(|e| ChainError::Io(e.kind().to_string()))?;
    let mut chain = ChainCheck::default();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| ChainError::Io(e.kind().to_string()))?;
        chain.line(i + 1, &line)?;
    }
    Ok((chain.records, chain.last))
}

/// A hash chain checked line by line, for readers that also do other work with each line
/// (`zt report`).
#[derive(Debug, Clone)]
pub(crate) struct ChainCheck {
    /// Records checked.
    pub(crate) records: usize,
    /// The last record's hash (the genesis hash before the first).
    pub(crate) last: String,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self {
            records: 0,
            last: GENESIS_HASH.to_owned(),
        }
    }
}

impl ChainCheck {
    /// Check the next line (blank lines are skipped): its hash covers its bytes, and its
    /// `prev_hash` (the record's last member, as zt writes it) is the previous record's hash.
    pub(crate) fn line(&mut self, line_no: usize, line: &str) -> Result<(), ChainError> {
        if line.trim().is_empty() {
            return Ok(());
        }
        let (body, stated) = split_chained(line).ok_or(ChainError::Malformed { line: line_no })?;
        if sha256_hex(body.as_bytes()) != stated {
            return Err(ChainError::HashMismatch { line: line_no });
        }
        const MARK: &str = ",\"prev_hash\":\"";
        let prev = body
            .rfind(MARK)
            .and_then(|at| body.get(at + MARK.len()..))
            .and_then(|rest| rest.strip_suffix("\"}"))
            .ok_or(ChainError::Malformed { line: line_no })?;
        if prev != self.last {
            return Err(ChainError::BrokenLink { line: line_no });
        }
        self.last = stated.to_owned();
        self.records += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_chained_table() {
        let h = "a".repeat(64);
        let good = format!("{{\"a\":1,\"hash\":\"{h}\"}}");
        assert_eq!(
            split_chained(&good),
            Some(("{\"a\":1}".to_owned(), h.as_str()))
        );
        assert_eq!(split_chained("{\"a\":1}"), None, "no hash");
        assert_eq!(
            split_chained("{\"a\":1,\"hash\":\"zz\"}"),
            None,
            "short hash"
        );
    }
}
