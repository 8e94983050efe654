use super::fetch::parse_max_age;
use super::keyset::parse_jwk;
use super::*;
use crate::algorithm::Algorithm;
use crate::util::poll::url_allowed;
use serde_json::Value;

fn jwk(v: serde_json::Value) -> Result<VerificationKey, KeyProblem> {
    let Value::Object(m) = v else { unreachable!() };
    parse_jwk(&m)
}

#[test]
fn url_rules() {
    let cases = [
        ("https://idp.example.com/jwks", true),
        ("http://127.0.0.1:8080/jwks", true),
        ("http://127.9.9.9/jwks", true),
        ("http://[::1]:9/jwks", true),
        ("http://localhost/jwks", true),
        ("http://idp.example.com/jwks", false),
        ("http://10.0.0.1/jwks", false),
        ("file:///etc/passwd", false),
        ("ftp://x/y", false),
        ("not a url", false),
    ];
    for (url, want) in cases {
        assert_eq!(url_allowed(url), want, "{url}");
    }
}

#[test]
fn max_age_parsing() {
    let cases = [
        ("max-age=300", Some(300)),
        ("public, max-age=120, must-revalidate", Some(120)),
        ("Max-Age=\"60\"", Some(60)),
        ("no-store", Some(0)),
        ("private", None),
        ("max-age=abc", None),
    ];
    for (v, want) in cases {
        assert_eq!(parse_max_age(v), want, "{v}");
    }
}

#[test]
fn jwk_table() {
    let rsa: Value =
        serde_json::from_str(include_str!("../../tests/data/keys/rsa2048-a.jwk.json")).unwrap();
    let ec: Value =
        serde_json::from_str(include_str!("../../tests/data/keys/ec-p256.jwk.json")).unwrap();
    let weak: Value =
        serde_json::from_str(include_str!("../../tests/data/keys/rsa1024.jwk.json")).unwrap();
    let with = |base: &Value, k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases: Vec<(&str, Value, Result<(), KeyProblem>)> = vec![
        ("rsa ok", rsa.clone(), Ok(())),
        ("ec ok", ec.clone(), Ok(())),
        ("rsa 1024", weak, Err(KeyProblem::RsaSize)),
        (
            "private d",
            with(&rsa, "d", "AQAB".into()),
            Err(KeyProblem::PrivateParts),
        ),
        (
            "oct",
            serde_json::json!({"kty":"oct","k":"AAAA"}),
            Err(KeyProblem::Symmetric),
        ),
        (
            "use enc",
            with(&rsa, "use", "enc".into()),
            Err(KeyProblem::NotForVerification),
        ),
        (
            "key_ops encrypt",
            with(&rsa, "key_ops", serde_json::json!(["encrypt"])),
            Err(KeyProblem::NotForVerification),
        ),
        (
            "key_ops verify",
            with(&rsa, "key_ops", serde_json::json!(["verify"])),
            Ok(()),
        ),
        (
            "alg mismatch",
            with(&rsa, "alg", "ES256".into()),
            Err(KeyProblem::AlgInconsistent),
        ),
        (
            "alg unknown",
            with(&rsa, "alg", "RSA-OAEP".into()),
            Err(KeyProblem::AlgInconsistent),
        ),
        (
            "ec alg wrong curve",
            with(&ec, "alg", "ES384".into()),
            Err(KeyProblem::AlgInconsistent),
        ),
        (
            "ec p-521",
            with(&ec, "crv", "P-521".into()),
            Err(KeyProblem::Unsupported),
        ),
        (
            "ec short x",
            with(&ec, "x", "AAAA".into()),
            Err(KeyProblem::EcPoint),
        ),
        (
            "exponent 1",
            with(&rsa, "e", "AQ".into()),
            Err(KeyProblem::RsaExponent),
        ),
        (
            "exponent even",
            with(&rsa, "e", "AQAA".into()),
            Err(KeyProblem::RsaExponent),
        ),
        (
            "n not base64",
            with(&rsa, "n", "!!!".into()),
            Err(KeyProblem::Invalid),
        ),
        (
            "n number",
            with(&rsa, "n", 5.into()),
            Err(KeyProblem::Invalid),
        ),
        (
            "unknown kty",
            with(&rsa, "kty", "XYZ".into()),
            Err(KeyProblem::Unsupported),
        ),
    ];
    for (name, v, want) in cases {
        assert_eq!(jwk(v).map(|_| ()), want, "case {name}");
    }
}

#[test]
fn duplicate_kid_is_rejected_not_chosen() {
    let rsa: Value =
        serde_json::from_str(include_str!("../../tests/data/keys/rsa2048-a.jwk.json")).unwrap();
    let ec: Value =
        serde_json::from_str(include_str!("../../tests/data/keys/ec-p256.jwk.json")).unwrap();
    let mut ec_dup = ec.clone();
    ec_dup["kid"] = rsa["kid"].clone();
    let doc = serde_json::json!({"keys": [rsa, ec_dup, ec]}).to_string();
    let set = KeySet::parse(doc.as_bytes(), "t").unwrap();
    assert!(matches!(
        set.lookup(Some("rsa2048-a"), Algorithm::RS256),
        Lookup::Rejected(KeyProblem::DuplicateKid)
    ));
    assert!(matches!(
        set.lookup(Some("ec-p256"), Algorithm::ES256),
        Lookup::Found(_)
    ));
    assert_eq!(set.key_ids(), vec!["ec-p256"]);
}

#[test]
fn malformed_sets() {
    let cases: &[(&str, &str)] = &[
        ("not json", "nope"),
        ("no keys", "{}"),
        ("keys not array", r#"{"keys": {}}"#),
        ("empty", r#"{"keys": []}"#),
        (
            "only bad",
            r#"{"keys": [{"kty":"oct","k":"AAAA","kid":"x"}]}"#,
        ),
        ("dup member", r#"{"keys": [], "keys": []}"#),
    ];
    for (name, doc) in cases {
        assert!(KeySet::parse(doc.as_bytes(), "t").is_err(), "case {name}");
    }
}
