//! Policy errors: [`PolicyError`] (loading, compiling, testing, evaluating a bundle) and
//! [`BundleSignatureError`] (why a bundle signature was refused).

/// A policy bundle that cannot be loaded, compiled or activated. The active policy is never
/// replaced by a bundle that produced one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A file or directory could not be read.
    #[error("cannot read `{path}`: {kind}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error kind.
        kind: String,
    },
    /// A file or the whole bundle exceeds its size limit.
    #[error("`{file}` is larger than {limit} bytes")]
    TooLarge {
        /// The file (or `bundle` for the total).
        file: String,
        /// The limit.
        limit: u64,
    },
    /// The bundle's structure is invalid (archive, links, file count, no policy).
    #[error("invalid bundle: {detail}")]
    Bundle {
        /// What is wrong.
        detail: String,
    },
    /// The `.manifest` is invalid.
    #[error("invalid `.manifest`: {detail}")]
    Manifest {
        /// What is wrong.
        detail: String,
    },
    /// A policy or data file does not parse.
    #[error("`{file}`: {message}")]
    Parse {
        /// The file inside the bundle.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A package or data path lies outside the manifest's roots.
    #[error("`{file}`: `{path}` is outside the manifest roots")]
    OutsideRoots {
        /// The file (or `data`).
        file: String,
        /// The offending package or data path.
        path: String,
    },
    /// The policy does not compile for the entrypoint (unknown builtin, type error, ...).
    #[error("policy does not compile: {message}")]
    Compile {
        /// The compiler's message.
        message: String,
    },
    /// One or more of the bundle's `test_` rules did not evaluate to true.
    #[error("{} policy test(s) failed: {}", failed.len(), failed.join(", "))]
    TestsFailed {
        /// The failing tests as `package.rule` (with the error, when evaluation failed).
        failed: Vec<String>,
    },
    /// Rollback to a revision that is not kept.
    #[error("revision `{revision}` is not among the kept revisions")]
    UnknownRevision {
        /// The requested revision.
        revision: String,
    },
    /// The revision was rolled back by the rollout gate; it is not rolled out again.
    #[error("revision `{revision}` was rolled back by the rollout gate; load a changed bundle")]
    RolledBack {
        /// The refused revision.
        revision: String,
    },
    /// Bundle signing is configured and the bundle's signature is missing, invalid or does not
    /// match its files: the bundle is refused before anything in it is parsed.
    #[error("bundle signature: {problem}")]
    Signature {
        /// What is wrong ([`BundleSignatureError::code`] is the machine-readable part).
        problem: BundleSignatureError,
    },
    /// The entrypoint names no rule of the bundle.
    #[error("entrypoint `{entrypoint}` is not defined; the bundle's packages are: {}", if packages.is_empty() { "none".to_owned() } else { packages.join(", ") })]
    EntrypointMissing {
        /// The entrypoint that was asked for.
        entrypoint: String,
        /// The packages the bundle defines (`data.zt.authz`, ...).
        packages: Vec<String>,
    },
}

impl PolicyError {
    /// The stable code (`policy_compile`, ...).
    pub const fn code(&self) -> &'static str {
        match self {
            PolicyError::Io { .. } => "policy_io",
            PolicyError::TooLarge { .. } => "policy_too_large",
            PolicyError::Bundle { .. } => "policy_bundle_invalid",
            PolicyError::Manifest { .. } => "policy_manifest_invalid",
            PolicyError::Parse { .. } => "policy_parse",
            PolicyError::OutsideRoots { .. } => "policy_outside_roots",
            PolicyError::Compile { .. } => "policy_compile",
            PolicyError::TestsFailed { .. } => "policy_tests_failed",
            PolicyError::UnknownRevision { .. } => "policy_unknown_revision",
            PolicyError::RolledBack { .. } => "policy_rolled_back",
            PolicyError::EntrypointMissing { .. } => "policy_entrypoint_missing",
            PolicyError::Signature { .. } => "policy_signature_invalid",
        }
    }

    /// The file inside the bundle (or the path on disk) the problem is in, when known.
    pub fn file(&self) -> Option<&str> {
        match self {
            PolicyError::Io { path, .. } => Some(path),
            PolicyError::TooLarge { file, .. }
            | PolicyError::Parse { file, .. }
            | PolicyError::OutsideRoots { file, .. } => Some(file),
            PolicyError::Signature { problem } => problem.file(),
            _ => None,
        }
    }

    /// For `policy_signature_invalid`: what is wrong with the signature
    /// ([`BundleSignatureError::code`]), serialised as `reason`.
    pub const fn signature_reason(&self) -> Option<&'static str> {
        match self {
            PolicyError::Signature { problem } => Some(problem.code()),
            _ => None,
        }
    }

    /// The revision the problem is about (`rollback` to an unknown revision).
    pub fn revision(&self) -> Option<&str> {
        match self {
            PolicyError::UnknownRevision { revision } | PolicyError::RolledBack { revision } => {
                Some(revision)
            }
            _ => None,
        }
    }
}

serialize_error!(PolicyError,
"file" => |e: &PolicyError| e.file().map(str::to_owned),
"revision" => |e: &PolicyError| e.revision().map(str::to_owned),
"reason" => |e: &PolicyError| match e {
    PolicyError::Signature { problem } => Some(problem.code()),
    _ => None,
});

/// Why a signed bundle (OPA's `.signatures.json`) was refused. Never echoes key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleSignatureError {
    /// The bundle has no `.signatures.json`.
    #[error("the bundle has no `.signatures.json` and `policy.signing` requires one")]
    Missing,
    /// The configured verification keys cannot be loaded (a key file vanished, ...).
    #[error("the verification keys cannot be loaded: {detail}")]
    Keys {
        /// What is wrong (names the key, never its material).
        detail: String,
    },
    /// `.signatures.json` or the signature's payload is not what OPA's format prescribes.
    #[error("`.signatures.json` is invalid: {detail}")]
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// The signature names no key id and none is configured.
    #[error("the signature names no key id (`kid`) and `policy.signing.keyid` is not set")]
    NoKeyId,
    /// The key id is not among `policy.signing.keys`.
    #[error("key id `{keyid}` is not among `policy.signing.keys`")]
    UnknownKey {
        /// The key id the signature (or config) named.
        keyid: String,
    },
    /// The signature's `alg` is not the configured key's algorithm (or is not supported).
    #[error("the signature's algorithm `{alg}` is not key `{keyid}`'s algorithm `{expected}`")]
    AlgorithmNotAllowed {
        /// The key id.
        keyid: String,
        /// The signature's `alg`.
        alg: String,
        /// The key's configured algorithm.
        expected: String,
    },
    /// The JWS does not verify with the key.
    #[error("the signature does not verify with key `{keyid}`")]
    SignatureInvalid {
        /// The key id.
        keyid: String,
    },
    /// The signature's `scope` is not the configured one.
    #[error("the signature's scope {found:?} is not the configured scope {expected:?}")]
    ScopeMismatch {
        /// `policy.signing.scope`.
        expected: Option<String>,
        /// The signature's `scope`.
        found: Option<String>,
    },
    /// A file of the bundle is not listed in the signature (added after signing).
    #[error("`{file}` is in the bundle but not in its signature")]
    FileNotSigned {
        /// The file.
        file: String,
    },
    /// A file listed in the signature is not in the bundle (removed after signing).
    #[error("`{file}` is in the signature but not in the bundle")]
    FileMissing {
        /// The file.
        file: String,
    },
    /// A file's digest does not match the signed one (changed after signing).
    #[error("`{file}` does not match its signed digest")]
    DigestMismatch {
        /// The file.
        file: String,
    },
    /// A file's hash algorithm is not SHA-256, SHA-384 or SHA-512.
    #[error("`{file}`: hash algorithm `{algorithm}` is not accepted (SHA-256, SHA-384, SHA-512)")]
    HashUnsupported {
        /// The file.
        file: String,
        /// The algorithm named.
        algorithm: String,
    },
    /// Signing a bundle (`zt policy sign`): the key cannot sign with the algorithm.
    #[error("the signing key cannot be used: {detail}")]
    SigningKey {
        /// What is wrong (never the key's material).
        detail: String,
    },
}

impl BundleSignatureError {
    /// A stable snake_case code for what is wrong (`digest_mismatch`, ...).
    pub const fn code(&self) -> &'static str {
        match self {
            BundleSignatureError::Missing => "missing",
            BundleSignatureError::Keys { .. } => "keys",
            BundleSignatureError::Malformed { .. } => "malformed",
            BundleSignatureError::NoKeyId => "no_key_id",
            BundleSignatureError::UnknownKey { .. } => "unknown_key",
            BundleSignatureError::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            BundleSignatureError::SignatureInvalid { .. } => "signature_invalid",
            BundleSignatureError::ScopeMismatch { .. } => "scope_mismatch",
            BundleSignatureError::FileNotSigned { .. } => "file_not_signed",
            BundleSignatureError::FileMissing { .. } => "file_missing",
            BundleSignatureError::DigestMismatch { .. } => "digest_mismatch",
            BundleSignatureError::HashUnsupported { .. } => "hash_unsupported",
            BundleSignatureError::SigningKey { .. } => "signing_key",
        }
    }

    /// The bundle file concerned, when there is one.
    pub fn file(&self) -> Option<&str> {
        match self {
            BundleSignatureError::FileNotSigned { file }
            | BundleSignatureError::FileMissing { file }
            | BundleSignatureError::DigestMismatch { file }
            | BundleSignatureError::HashUnsupported { file, .. } => Some(file),
            _ => None,
        }
    }
}
