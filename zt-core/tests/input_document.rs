//! The policy input document: field names against DESIGN.md, and claim extraction.

#![cfg(test)]

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use zt_core::{
    Algorithm, AuthorizerConfig, DeviceInput, InputContext, IssuerConfig, ManualClock, PolicyInput,
    RequestInfo, TokenVerifier,
};
use zt_testkit::{ISS, NOW, jwks, mint};

/// The input document of DESIGN.md ("Policy input document"), copied here; when the shared
/// DESIGN.md is next to the checkout it is read from there instead, so drift in either shows.
const DESIGN_INPUT: &str = r#"{
  "subject":  {"id": "sub", "issuer": "iss", "audience": ["..."], "groups": [], "roles": [],
               "scopes": [], "acr": null, "amr": [], "auth_time": null, "claims": {}},
  "request":  {"method": "POST", "path": "/admin/deploy", "segments": ["admin", "deploy"],
               "host": null, "headers": {}, "source_ip": null},
  "device":   {"id": null, "managed": false, "os": null, "os_version": null,
               "patch_age_days": null, "disk_encrypted": null, "firewall_enabled": null,
               "edr_running": null, "screen_lock_enabled": null, "jailbroken": null,
               "assessed_at": 0, "age_s": 0, "source": "claims"},
  "workload": {"spiffe_id": null},
  "resource": {},
  "context":  {"now": 0, "service": null}
}"#;

fn design_input() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/DESIGN.md");
    if let Ok(text) = std::fs::read_to_string(path) {
        let start = text.find("### Policy input document").expect("section");
        let rest = &text[start..];
        let open = rest.find("```json").expect("json block") + "```json".len();
        let close = rest[open..].find("```").expect("end of block");
        return serde_json::from_str(&rest[open..open + close]).expect("DESIGN.md input is JSON");
    }
    serde_json::from_str(DESIGN_INPUT).unwrap()
}

/// Paths of object keys, two levels deep (claims/resource/headers contents are free-form).
fn key_paths(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Value::Object(top) = v {
        for (k, inner) in top {
            out.insert(k.clone());
            if let Value::Object(m) = inner {
                for k2 in m.keys() {
                    out.insert(format!("{k}.{k2}"));
                }
            }
        }
    }
    out
}

fn verified() -> zt_core::VerifiedClaims {
    let mut issuer = IssuerConfig::new(ISS, ["api"], [Algorithm::ES256]);
    issuer.jwks = Some(jwks(&["ec-p256"]));
    let v = TokenVerifier::with_clock(
        &AuthorizerConfig::new(vec![issuer]),
        Arc::new(ManualClock::at_unix(NOW)),
    )
    .unwrap();
    let claims = json!({
        "iss": ISS, "sub": "alice", "aud": ["api", "other"], "iat": NOW, "exp": NOW + 60,
        "groups": ["dev", "dev", "oncall"], "roles": "auditor", "realm_access": {"roles": ["admin"]},
        "scope": "orders:read  orders:write", "scp": ["orders:read", "extra"],
        "acr": "urn:mfa", "amr": ["pwd", "otp"], "auth_time": NOW - 30, "email": "a@example.com"
    });
    v.verify(&mint("ec-p256", "ES256", &claims)).unwrap()
}

#[test]
fn field_names_match_design() {
    let mut device = DeviceInput::default();
    device.source = "claims".into();
    let mut request = RequestInfo::new("POST", "/admin/deploy");
    request.headers = vec![("X-Request-Id".into(), "r1".into())];
    let doc = PolicyInput::build(
        &verified(),
        &request,
        Some(&device),
        None,
        &Default::default(),
        &InputContext::default(),
    )
    .to_json();
    let mut ours = key_paths(&doc);
    // `device.extra` keeps posture fields zt does not model (an addition to DESIGN.md's shape).
    assert!(ours.remove("device.extra"));
    // `subject.confirmation` (issue 16: how the token is bound, DPoP or mTLS) is an addition
    // DESIGN.md's input section has not caught up with yet.
    assert!(ours.remove("subject.confirmation"));
    let design = key_paths(&design_input());
    // Free-form maps: their keys are data, not contract.
    ours.remove("request.x-request-id");
    assert_eq!(ours, design);
}

#[test]
fn claims_become_subject_fields_and_secrets_stay_out() {
    let mut request = RequestInfo::new("GET", "/orders//42/?q=1#frag");
    request.host = Some("api.example.com".into());
    request.source_ip = Some("192.0.2.1".into());
    request.headers = vec![
        ("X-Request-Id".into(), "r1".into()),
        ("Authorization".into(), "Bearer secret-token".into()),
        ("Cookie".into(), "session=secret".into()),
    ];
    let mut resource = serde_json::Map::new();
    resource.insert("owner".into(), json!("alice"));
    let ctx = InputContext::new(NOW, Some("orders".into()));
    let doc = PolicyInput::build(
        &verified(),
        &request,
        None,
        Some("spiffe://acme/ns/x/sa/y"),
        &resource,
        &ctx,
    )
    .to_json();
    let s = &doc["subject"];
    assert_eq!(s["id"], "alice");
    assert_eq!(s["issuer"], ISS);
    assert_eq!(s["audience"], json!(["api", "other"]));
    assert_eq!(s["groups"], json!(["dev", "oncall"]));
    assert_eq!(s["roles"], json!(["auditor", "admin"]));
    assert_eq!(s["scopes"], json!(["orders:read", "orders:write", "extra"]));
    assert_eq!(s["acr"], "urn:mfa");
    assert_eq!(s["amr"], json!(["pwd", "otp"]));
    assert_eq!(s["auth_time"], NOW - 30);
    assert_eq!(s["claims"]["email"], "a@example.com");
    let r = &doc["request"];
    assert_eq!(r["path"], "/orders//42/");
    assert_eq!(r["segments"], json!(["orders", "42"]));
    assert_eq!(r["headers"], json!({"x-request-id": "r1"}));
    assert_eq!(r["host"], "api.example.com");
    assert_eq!(doc["device"], Value::Null);
    assert_eq!(doc["workload"]["spiffe_id"], "spiffe://acme/ns/x/sa/y");
    assert_eq!(doc["resource"]["owner"], "alice");
    assert_eq!(doc["context"], json!({"now": NOW, "service": "orders"}));
    assert!(!doc.to_string().contains("secret"), "{doc}");
}
