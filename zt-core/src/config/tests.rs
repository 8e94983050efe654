use super::*;
use crate::error::ConfigError;

const BASE: &str = "[[issuers]]\nissuer = \"https://idp.example.com\"\naudiences = [\"api\"]\nalgorithms = [\"RS256\"]\ndiscovery = true\n";

#[test]
fn issuers_only_is_valid_with_defaults() {
    let c = AuthorizerConfig::from_toml_str(BASE).unwrap();
    assert_eq!(c.jwks.ttl_s, 600);
    assert_eq!(c.jwks.max_stale_s, 86_400);
    assert_eq!(c.jwks.unknown_kid_cooldown_s, 30);
    assert_eq!(c.token.max_bytes, 16_384);
    assert_eq!(c.policy.entrypoint, "data.zt.authz.decision");
    assert_eq!(c.enforcement.mode, EnforcementMode::Enforce);
}

#[test]
fn errors_name_the_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown top-level key",
            "colour = 1\n",
            "invalid config at `colour`: unknown field `colour`",
        ),
        (
            "unknown nested key",
            "[jwks]\nttl = 5\n",
            "invalid config at `jwks.ttl`: unknown field `ttl`",
        ),
        (
            "unknown issuer key",
            "",
            "invalid config at `issuers[0].audience`: unknown field `audience`",
        ),
        (
            "range",
            "[jwks]\nmax_stale_s = 99999999\n",
            "`jwks.max_stale_s` = 99999999 is out of range: allowed 0..=2592000",
        ),
        (
            "alg none",
            "",
            "invalid config at `issuers[1].algorithms[0]`: unknown algorithm `none`",
        ),
        (
            "canary",
            "[enforcement]\ncanary_percent = 101\n",
            "`enforcement.canary_percent` = 101 is out of range: allowed 0..=100",
        ),
        (
            "mode",
            "[enforcement]\nmode = \"yolo\"\n",
            "invalid config at `enforcement.mode`: unknown variant `yolo`",
        ),
    ];
    for (name, extra, want) in cases {
        let doc = match *name {
            "unknown issuer key" => BASE.replace("audiences", "audience"),
            "alg none" => format!(
                "{BASE}[[issuers]]\nissuer = \"b\"\naudiences = [\"a\"]\nalgorithms = [\"none\"]\n"
            ),
            _ => format!("{extra}{BASE}"),
        };
        let err = AuthorizerConfig::from_toml_str(&doc)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(want), "case {name}: got {err}");
    }
}

#[test]
fn cross_field_rules() {
    let base = || {
        let mut i = IssuerConfig::new("https://idp.example.com", ["api"], [Algorithm::RS256]);
        i.discovery = true;
        i
    };
    let cases: Vec<(&str, IssuerConfig, &str)> = vec![
        (
            "no key source",
            IssuerConfig::new("https://x", ["a"], [Algorithm::RS256]),
            "issuers[0].algorithms",
        ),
        (
            "two sources",
            {
                let mut i = base();
                i.jwks_uri = Some("https://x/jwks".into());
                i
            },
            "issuers[0].discovery",
        ),
        (
            "hmac without secret",
            {
                let mut i = base();
                i.algorithms.push(Algorithm::HS256);
                i
            },
            "issuers[0].algorithms",
        ),
        (
            "plain http",
            {
                let mut i = base();
                i.discovery = false;
                i.jwks_uri = Some("http://idp.example.com/jwks".into());
                i
            },
            "issuers[0].jwks_uri",
        ),
        (
            "no audience",
            {
                let mut i = base();
                i.audiences.clear();
                i
            },
            "issuers[0].audiences",
        ),
    ];
    for (name, issuer, key) in cases {
        let err = AuthorizerConfig::new(vec![issuer]).validate().unwrap_err();
        match err {
            ConfigError::Invalid { key: k, .. } => assert_eq!(k, key, "case {name}"),
            other => panic!("case {name}: {other}"),
        }
    }
    let mut loopback = base();
    loopback.discovery = false;
    loopback.jwks_uri = Some("http://127.0.0.1:8080/jwks".into());
    AuthorizerConfig::new(vec![loopback]).validate().unwrap();
}

#[test]
fn yaml_and_json_agree_with_toml() {
    let yaml = "issuers:\n  - issuer: https://idp.example.com\n    audiences: [api]\n    algorithms: [RS256]\n    discovery: true\njwks:\n  ttl_s: 120\n";
    let json = r#"{"issuers":[{"issuer":"https://idp.example.com","audiences":["api"],"algorithms":["RS256"],"discovery":true}],"jwks":{"ttl_s":120}}"#;
    let a = AuthorizerConfig::from_yaml_str(yaml).unwrap();
    let b = AuthorizerConfig::from_json_str(json).unwrap();
    assert_eq!(a.jwks.ttl_s, 120);
    assert_eq!(b.jwks.ttl_s, 120);
    let err = AuthorizerConfig::from_yaml_str(&yaml.replace("ttl_s", "ttl"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`jwks.ttl`"), "{err}");
    let err = AuthorizerConfig::from_json_str(&json.replace("\"ttl_s\":120", "\"ttl_s\":-1"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`jwks.ttl_s`"), "{err}");
}

#[test]
fn secret_is_redacted() {
    let mut i = IssuerConfig::new("https://x", ["a"], [Algorithm::HS256]);
    i.hmac_secret = Some(Secret::new(
        b"super-secret-value-super-secret-value".to_vec(),
    ));
    let dbg = format!("{i:?}");
    assert!(!dbg.contains("super-secret"), "{dbg}");
}

#[test]
fn oauth2_credentials_are_checked_where_they_are_set() {
    let err = |extra: &str| {
        AuthorizerConfig::from_toml_str(&format!("{BASE}{extra}"))
            .unwrap_err()
            .to_string()
    };
    let feed = "[revocation]\nurl = \"https://r.example.com/revoked.json\"\n";
    let good = format!(
        "{feed}oauth2 = {{ token_url = \"https://idp.example.com/token\", client_id = \"zt\", client_secret_env = \"S\", scopes = [\"a:read\"] }}\n"
    );
    let c = AuthorizerConfig::from_toml_str(&format!("{BASE}{good}")).unwrap();
    let o = c.revocation.unwrap().oauth2.unwrap();
    assert_eq!((o.timeout_ms, o.scopes), (5000, vec!["a:read".to_owned()]));
    let e = err(&format!(
        "{feed}bearer_token_env = \"T\"\noauth2 = {{ token_url = \"https://idp.example.com/token\", client_id = \"zt\", client_secret_env = \"S\" }}\n"
    ));
    assert!(
        e.contains("`revocation.oauth2`") && e.contains("only one"),
        "{e}"
    );
    let e = err(&format!(
        "{feed}oauth2 = {{ token_url = \"http://idp.example.com/token\", client_id = \"zt\", client_secret_env = \"S\" }}\n"
    ));
    assert!(e.contains("`revocation.oauth2.token_url`"), "{e}");
    let e = err(&format!(
        "{feed}oauth2 = {{ token_url = \"https://idp.example.com/token\", client_id = \"zt\" }}\n"
    ));
    assert!(e.contains("`revocation.oauth2.client_secret_env`"), "{e}");
    let e = err(&format!(
        "{feed}oauth2 = {{ token_url = \"https://idp.example.com/token\", client_id = \"zt\", client_secret_env = \"S\", scopes = [\"a b\"] }}\n"
    ));
    assert!(e.contains("`revocation.oauth2.scopes`"), "{e}");
    let e = err(
        "[decision_log]\nsink = \"service\"\nservice = { url = \"https://logs.example.com\", oauth2 = { token_url = \"https://idp.example.com/token\", client_id = \"\", client_secret_env = \"S\" } }\n",
    );
    assert!(e.contains("`decision_log.service.oauth2.client_id`"), "{e}");
    let e = err(
        "[policy]\nservice = { url = \"https://b.example.com\", path = \"b.tar.gz\", oauth2 = { token_url = \"https://idp.example.com/token\", client_id = \"zt\", private_key_jwt = { key_file = \"k.pem\", algorithm = \"HS256\" } } }\n",
    );
    assert!(
        e.contains("`policy.service.oauth2.private_key_jwt.algorithm`"),
        "{e}"
    );
}
