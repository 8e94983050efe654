#![no_main]
//! zt-tower's request extraction: arbitrary request target and headers.
use std::sync::LazyLock;
use zt_core::{Authorizer, AuthorizerConfig};

static AUTHZ: LazyLock<Authorizer> = LazyLock::new(|| {
    let key = include_str!("../../zt-core/tests/data/keys/ec-p256.jwk.json");
    let config = AuthorizerConfig::from_json_str(&format!(
        r#"{{"issuers": [{{"issuer": "https://idp.example.com", "audiences": ["api"],
             "algorithms": ["ES256"], "jwks": {{"keys": [{key}]}}}}],
            "request": {{"headers": ["x-request-id", "x-tenant"]}},
            "decision_log": {{"sink": "none"}}}}"#
    ))
    .unwrap();
    Authorizer::builder(config)
        .policy_files(vec![("p.rego".into(), b"package zt.authz\ndecision := true\n".to_vec())])
        .build()
        .unwrap()
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| zt_tower::internal::fuzz_extract(&AUTHZ, data));
