//! Error types and the stable reason codes every surface reports.
//!
//! Errors caused by untrusted input (a token, a JWKS document served by an issuer) are kept apart
//! from errors caused by the operator (a broken configuration file). Every token rejection maps to
//! one [`Reason`], a stable `snake_case` code that decision logs, metrics and bindings expose.
//!
//! # Security
//! - No message contains a token, a secret or a claim value. Messages name *which* check failed
//!   and, for configuration errors, the key and the file.
//!
//! Each error enum lives with its `code()` (a stable snake_case string that bindings map to
//! exception classes in Python and `error.code` in Node; messages may be reworded, codes never
//! change meaning) and its JSON form. docs/configuration.md lists every code; a test below checks
//! that codes are unique.

/// `{"code": …, "message": …}` plus the structured parts that apply, for bindings and JSON output.
macro_rules! serialize_error {
    ($t:ty $(, $field:literal => $get:expr)* $(,)?) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap as _;
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("code", self.code())?;
                m.serialize_entry("message", &self.to_string())?;
                $(
                    #[allow(clippy::redundant_closure_call)]
                    if let Some(v) = ($get)(self) {
                        m.serialize_entry($field, &v)?;
                    }
                )*
                m.end()
            }
        }
    };
}

mod config;
mod jwks;
mod policy;
mod report;
mod runtime;
mod token;

pub use config::{BuildError, ConfigError};
pub use jwks::{JwksError, KeyProblem};
pub use policy::{BundleSignatureError, PolicyError};
pub use report::ReportError;
pub use runtime::{ChainError, RequestError, RuntimeError};
pub use token::{IntrospectionProblem, Malformed, TokenError};

/// Every error code with a sample error, for the docs/configuration.md contract test.
#[cfg(test)]
pub(crate) fn all_error_codes() -> Vec<&'static str> {
    let cfg = |e: ConfigError| e.code();
    let jw = |e: JwksError| e.code();
    let pol = |e: PolicyError| e.code();
    let s = String::new;
    let mut codes = vec![
        cfg(ConfigError::Io {
            path: "f".into(),
            kind: s(),
        }),
        cfg(ConfigError::UnknownFormat { path: "f".into() }),
        cfg(ConfigError::Parse {
            file: None,
            key: s(),
            message: s(),
        }),
        cfg(ConfigError::OutOfRange {
            file: None,
            key: s(),
            value: 0,
            min: 0,
            max: 0,
        }),
        cfg(ConfigError::Invalid {
            file: None,
            key: s(),
            message: s(),
        }),
        cfg(ConfigError::Jwks {
            file: None,
            key: s(),
            source: JwksError::WorkerStopped,
        }),
        jw(JwksError::Request { url: s() }),
        jw(JwksError::Timeout {
            url: s(),
            timeout_ms: 0,
        }),
        jw(JwksError::Status {
            url: s(),
            status: 0,
        }),
        jw(JwksError::TooLarge {
            source_name: s(),
            limit: 0,
        }),
        jw(JwksError::Malformed {
            source_name: s(),
            what: "",
            detail: "",
        }),
        jw(JwksError::NoUsableKeys { source_name: s() }),
        jw(JwksError::IssuerMismatch { url: s() }),
        jw(JwksError::InsecureUrl { url: s() }),
        jw(JwksError::Io {
            path: "f".into(),
            kind: s(),
        }),
        jw(JwksError::WorkerStopped),
        pol(PolicyError::Io {
            path: s(),
            kind: s(),
        }),
        pol(PolicyError::TooLarge {
            file: s(),
            limit: 0,
        }),
        pol(PolicyError::Bundle { detail: s() }),
        pol(PolicyError::Manifest { detail: s() }),
        pol(PolicyError::Parse {
            file: s(),
            message: s(),
        }),
        pol(PolicyError::OutsideRoots {
            file: s(),
            path: s(),
        }),
        pol(PolicyError::Compile { message: s() }),
        pol(PolicyError::TestsFailed { failed: Vec::new() }),
        pol(PolicyError::UnknownRevision { revision: s() }),
        pol(PolicyError::RolledBack { revision: s() }),
        pol(PolicyError::EntrypointMissing {
            entrypoint: s(),
            packages: Vec::new(),
        }),
        pol(PolicyError::Signature {
            problem: BundleSignatureError::Missing,
        }),
        RuntimeError::Thread {
            name: "t",
            kind: s(),
        }
        .code(),
        RuntimeError::AsyncRuntime.code(),
        RuntimeError::HttpClient.code(),
        RuntimeError::Histograms.code(),
        BuildError::NoPolicy.code(),
        BuildError::DecisionLog {
            path: "f".into(),
            kind: s(),
        }
        .code(),
        BuildError::NoCallback.code(),
        BuildError::CallbackUnused.code(),
        ChainError::Io(s()).code(),
        ChainError::Malformed { line: 1 }.code(),
        ChainError::HashMismatch { line: 1 }.code(),
        ChainError::BrokenLink { line: 1 }.code(),
        crate::algorithm::UnknownAlgorithm.code(),
        "x".parse::<crate::codes::Outcome>()
            .map_or_else(|e| e.code(), |_| ""),
        RequestError::Invalid {
            field: s(),
            message: s(),
        }
        .code(),
        ReportError::Io {
            path: s(),
            kind: s(),
        }
        .code(),
        ReportError::Bundle(PolicyError::Bundle { detail: s() }).code(),
        ReportError::Memory.code(),
    ];
    codes.extend(
        [
            KeyProblem::PrivateParts,
            KeyProblem::Symmetric,
            KeyProblem::Unsupported,
            KeyProblem::RsaSize,
            KeyProblem::RsaExponent,
            KeyProblem::RsaRoca,
            KeyProblem::EcPoint,
            KeyProblem::NotForVerification,
            KeyProblem::AlgInconsistent,
            KeyProblem::Invalid,
            KeyProblem::DuplicateKid,
            KeyProblem::SecretTooShort,
        ]
        .iter()
        .map(KeyProblem::code),
    );
    codes
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::Reason;

    #[test]
    fn every_reason_code_is_documented_in_the_manual() {
        let manual = include_str!("../../../docs/configuration.md");
        for r in Reason::ALL {
            assert!(
                manual.contains(&format!("| `{r}` |")),
                "docs/configuration.md lacks {r}"
            );
        }
    }

    #[test]
    fn error_codes_are_unique_snake_case_and_documented() {
        let manual = include_str!("../../../docs/configuration.md");
        let mut seen: std::collections::HashSet<&str> =
            Reason::ALL.iter().map(|r| r.as_str()).collect();
        for code in all_error_codes() {
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert!(
                manual.contains(&format!("| `{code}` |")),
                "docs/configuration.md lacks {code}"
            );
        }
        // Token errors report their reason code; build errors their inner error's.
        assert_eq!(TokenError::Expired.code(), "token_expired");
        let e = BuildError::from(ConfigError::Invalid {
            file: None,
            key: "k".into(),
            message: "m".into(),
        });
        assert_eq!((e.code(), e.key()), ("config_invalid", Some("k")));
    }

    #[test]
    fn errors_serialise_with_code_message_and_parts() {
        let e = ConfigError::OutOfRange {
            file: Some("zt.toml".into()),
            key: "jwks.ttl_s".into(),
            value: 1,
            min: 60,
            max: 86400,
        };
        assert_eq!(
            serde_json::to_value(BuildError::from(e)).unwrap(),
            serde_json::json!({
                "code": "config_out_of_range",
                "message": "in `zt.toml`: `jwks.ttl_s` = 1 is out of range: allowed 60..=86400",
                "key": "jwks.ttl_s", "file": "zt.toml",
            })
        );
        let p = PolicyError::UnknownRevision {
            revision: "r1".into(),
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"code": "policy_unknown_revision",
                "message": "revision `r1` is not among the kept revisions", "revision": "r1"})
        );
        assert_eq!(
            serde_json::to_value(TokenError::Expired).unwrap(),
            serde_json::json!({"code": "token_expired", "message": "token has expired", "reason": "token_expired"})
        );
        assert_eq!(
            serde_json::to_value(ChainError::BrokenLink { line: 3 }).unwrap()["line"],
            3
        );
    }

    #[test]
    fn messages_are_lowercase_without_final_period() {
        let errors = [
            TokenError::Expired.to_string(),
            TokenError::Malformed(Malformed::Claim("exp")).to_string(),
            TokenError::KeyRejected(KeyProblem::RsaSize).to_string(),
            ConfigError::OutOfRange {
                file: Some("zt.toml".into()),
                key: "jwks.ttl_s".into(),
                value: 1,
                min: 60,
                max: 86400,
            }
            .to_string(),
        ];
        for e in errors {
            assert!(!e.ends_with('.'), "{e}");
            assert!(e.chars().next().is_some_and(|c| !c.is_uppercase()), "{e}");
        }
    }
}
