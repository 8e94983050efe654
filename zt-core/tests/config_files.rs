//! Loading configuration files: formats, relative paths, and errors naming key, file and range.

#![cfg(test)]

use std::path::PathBuf;
use std::sync::Arc;
use zt_core::{AuthorizerConfig, ConfigError, ManualClock, TokenVerifier};
use zt_testkit::{NOW, jwks, mint};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zt-config-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn three_formats_with_a_relative_jwks_file() {
    let dir = temp_dir("formats");
    std::fs::write(dir.join("keys.json"), jwks(&["ec-p256"]).to_string()).unwrap();
    let docs = [
        (
            "zt.toml",
            "[[issuers]]\nissuer = \"https://idp.example.com\"\naudiences = [\"api\"]\nalgorithms = [\"ES256\"]\njwks_file = \"keys.json\"\n",
        ),
        (
            "zt.yaml",
            "issuers:\n  - issuer: https://idp.example.com\n    audiences: [api]\n    algorithms: [ES256]\n    jwks_file: keys.json\n",
        ),
        (
            "zt.json",
            r#"{"issuers":[{"issuer":"https://idp.example.com","audiences":["api"],"algorithms":["ES256"],"jwks_file":"keys.json"}]}"#,
        ),
    ];
    let claims = serde_json::json!({"iss": "https://idp.example.com", "sub": "a", "aud": "api", "iat": NOW, "exp": NOW + 60});
    let token = mint("ec-p256", "ES256", &claims);
    for (name, text) in docs {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let config = AuthorizerConfig::from_path(&path).unwrap();
        assert_eq!(
            config.issuers[0].jwks_file.as_deref(),
            Some(dir.join("keys.json").as_path()),
            "{name}"
        );
        let v = TokenVerifier::with_clock(&config, Arc::new(ManualClock::at_unix(NOW))).unwrap();
        v.verify(&token).unwrap();
    }
}

#[test]
fn errors_name_file_key_and_range() {
    let dir = temp_dir("errors");
    let base = "[[issuers]]\nissuer = \"https://idp.example.com\"\naudiences = [\"api\"]\nalgorithms = [\"RS256\"]\ndiscovery = true\n";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown key",
            format!("{base}[jwks]\nttl = 600\n"),
            "invalid config at `jwks.ttl`: unknown field `ttl`",
        ),
        (
            "range",
            format!("{base}[jwks]\nunknown_kid_cooldown_s = 0\n"),
            "`jwks.unknown_kid_cooldown_s` = 0 is out of range: allowed 1..=3600",
        ),
        (
            "leeway",
            base.replace("discovery = true", "discovery = true\nleeway_s = 900"),
            "`issuers[0].leeway_s` = 900 is out of range: allowed 0..=300",
        ),
        ("syntax", "[[issuers]\n".to_owned(), "invalid config at `.`"),
        (
            "missing issuers",
            "[jwks]\nttl_s = 600\n".to_owned(),
            "invalid config at `.`: missing field `issuers`",
        ),
        (
            "posture assertion without header",
            format!("{base}[posture]\nsource = \"assertion\"\n"),
            "`posture.header`: required",
        ),
    ];
    for (name, text, want) in cases {
        let path = dir.join("zt.toml");
        std::fs::write(&path, text).unwrap();
        let err = AuthorizerConfig::from_path(&path).unwrap_err().to_string();
        let prefix = format!("in `{}`: ", path.display());
        assert!(err.starts_with(&prefix), "{name}: {err}");
        assert!(err[prefix.len()..].starts_with(want), "{name}: {err}");
    }
    let err = AuthorizerConfig::from_path(dir.join("zt.ini")).unwrap_err();
    assert!(matches!(err, ConfigError::UnknownFormat { .. }));
    let err = AuthorizerConfig::from_path(dir.join("missing.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
}

#[test]
fn key_sources_and_secrets_fail_at_build_with_clear_errors() {
    let dir = temp_dir("build");
    let mut private = zt_testkit::jwk("rsa2048-a");
    private["d"] = serde_json::json!("AQAB");
    let inline_private = format!(
        "[[issuers]]\nissuer = \"https://a\"\naudiences = [\"api\"]\nalgorithms = [\"RS256\"]\njwks = {}\n",
        toml_inline(&serde_json::json!({"keys": [private]}))
    );
    let secret_file = dir.join("short.secret");
    std::fs::write(&secret_file, "too-short\n").unwrap();
    let cases = [
        ("inline key with private parts", inline_private, "`issuers[0].jwks`: `inline jwks` holds no usable signature key"),
        ("missing jwks file", "[[issuers]]\nissuer = \"https://a\"\naudiences = [\"api\"]\nalgorithms = [\"RS256\"]\njwks_file = \"nope.json\"\n".to_owned(), "`issuers[0].jwks_file`: cannot read"),
        ("unset secret env", "[[issuers]]\nissuer = \"https://a\"\naudiences = [\"api\"]\nalgorithms = [\"HS256\"]\nhmac_secret_env = \"ZT_TEST_SURELY_UNSET\"\n".to_owned(), "`issuers[0].hmac_secret_env`: environment variable `ZT_TEST_SURELY_UNSET` is not set"),
        ("short secret", format!("[[issuers]]\nissuer = \"https://a\"\naudiences = [\"api\"]\nalgorithms = [\"HS256\"]\nhmac_secret_file = \"{}\"\n", secret_file.display()), "`issuers[0].hmac_secret_file`: the shared secret must be at least 32 bytes"),
    ];
    for (name, text, want) in cases {
        let path = dir.join("zt.toml");
        std::fs::write(&path, &text).unwrap();
        let result = AuthorizerConfig::from_path(&path)
            .map_err(zt_core::BuildError::from)
            .and_then(|c| TokenVerifier::new(&c));
        let err = result.unwrap_err().to_string();
        assert!(err.contains(want), "{name}: {err}");
        assert!(!err.contains("too-short"), "{name}: secret echoed: {err}");
    }
}

fn toml_inline(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{k} = {}", toml_inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        serde_json::Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}
