//! Fixtures shared by the criterion benches and the `latency` / `allocs` binaries: one
//! authorizer setup, the tokens, the request, and the raw regorus VM on the same input, so
//! every number in `benches/README.md` comes from the same inputs.

#![expect(clippy::expect_used, reason = "bench setup fails loudly")]
#![expect(clippy::indexing_slicing, reason = "fixture JSON")]

use jsonwebtoken::Algorithm as JwtAlg;
use serde_json::json;
use std::sync::Arc;
use zt_core::{Authorizer, AuthorizerConfig, ManualClock, Request};
use zt_testkit::{AUD, ISS, NOW, jwk, mint, sample_bundle_dir};

/// The one-line policy of the "policy cost is zero" rows.
pub const ONE_LINE_POLICY: &str = "package zt.authz\ndecision := true\n";

/// Which policy an authorizer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The sample bundle (`examples/bundle`).
    Sample,
    /// [`ONE_LINE_POLICY`].
    OneLine,
}

/// An authorizer on the fixed bench clock: RS256 and ES256 keys inline, the given verified-token
/// cache size, decision-log sink (`none`, `file`, `callback`, ...) and policy. A `file` sink
/// writes to `log_path`.
pub fn authorizer(
    cache_entries: u64,
    sink: &str,
    policy: Policy,
    log_path: Option<&std::path::Path>,
) -> Authorizer {
    let mut cfg = json!({
        "issuers": [{"issuer": ISS, "audiences": [AUD],
                     "algorithms": ["RS256", "ES256"],
                     "jwks": {"keys": [jwk("rsa2048-a"), jwk("ec-p256")]}}],
        "token": {"cache_entries": cache_entries},
        "policy": {"bundle": sample_bundle_dir()},
        "decision_log": {"sink": sink},
    });
    if let Some(p) = log_path {
        cfg["decision_log"]["path"] = json!(p);
        cfg["decision_log"]["queue_capacity"] = json!(65_536);
    }
    if let Some(url) = sink.strip_prefix("service=") {
        // Upload to a collector at `url` (`POST {url}/logs`).
        cfg["decision_log"] = json!({"sink": "service", "queue_capacity": 65_536,
                                     "service": {"url": url, "max_delay_ms": 1000}});
    }
    let cfg = AuthorizerConfig::from_json_str(&cfg.to_string()).expect("config");
    let mut b = Authorizer::builder(cfg).clock(Arc::new(ManualClock::at_unix(NOW)));
    if policy == Policy::OneLine {
        b = b.policy_files(vec![("p.rego".into(), ONE_LINE_POLICY.as_bytes().to_vec())]);
    }
    if sink == "callback" {
        b = b.log_callback(|line| {
            std::hint::black_box(line);
        });
    }
    b.build().expect("authorizer")
}

/// The claims of subject `i`: a developer on a healthy, managed device.
pub fn claims(i: usize) -> serde_json::Value {
    json!({
        "iss": ISS, "sub": format!("user-{i}"), "aud": AUD,
        "iat": NOW, "exp": NOW + 900, "groups": ["dev"], "scope": "orders:read",
        "device": {"id": "d1", "managed": true, "disk_encrypted": true, "jailbroken": false,
                   "patch_age_days": 3, "assessed_at": NOW - 60},
    })
}

/// `n` tokens for subjects `0..n`, signed with the testkit's RSA (`RS256`) or P-256 (`ES256`) key.
pub fn tokens(alg: JwtAlg, n: usize) -> Vec<String> {
    let key = if alg == JwtAlg::ES256 {
        "ec-p256"
    } else {
        "rsa2048-a"
    };
    (0..n).map(|i| mint(key, alg, &claims(i))).collect()
}

/// `GET /orders/42` with a bearer token.
pub fn request(token: &str) -> Request {
    Request::new("GET", "/orders/42").bearer(token)
}

/// The input document zt builds for [`request`] with the token of subject 1, as JSON.
pub fn input_document() -> serde_json::Value {
    json!({
        "subject": {"id": "user-1", "issuer": ISS, "audience": [AUD],
                    "groups": ["dev"], "roles": [], "scopes": ["orders:read"], "acr": null,
                    "amr": [], "auth_time": null,
                    "confirmation": {"method": null, "jkt": null, "x5t#S256": null},
                    "claims": claims(1)},
        "request": {"method": "GET", "path": "/orders/42", "segments": ["orders", "42"],
                    "host": null, "headers": {}, "source_ip": null},
        "device": {"id": "d1", "managed": true, "os": null, "os_version": null,
                   "patch_age_days": 3, "disk_encrypted": true, "firewall_enabled": null,
                   "edr_running": null, "screen_lock_enabled": null, "jailbroken": false,
                   "assessed_at": NOW - 60, "age_s": 60, "source": "claims", "extra": {}},
        "workload": {"spiffe_id": null}, "resource": {},
        "context": {"now": NOW, "service": null},
    })
}

/// Regorus with the same program zt runs (the sample bundle's entrypoint, or the one-line
/// policy), data loaded: the engine, its compiled entrypoint and an RVM with the compiled
/// program: the raw-dependency baselines.
pub fn raw_regorus(
    policy: Policy,
) -> (
    regorus::Engine,
    regorus::CompiledPolicy,
    regorus::rvm::RegoVM,
) {
    let mut engine = regorus::Engine::new();
    match policy {
        Policy::Sample => {
            for f in ["zt/authz.rego", "zt/authz_test.rego"] {
                engine
                    .add_policy_from_file(sample_bundle_dir().join(f))
                    .expect("policy");
            }
            let data = std::fs::read_to_string(sample_bundle_dir().join("zt/config/data.json"))
                .expect("data");
            engine
                .add_data(
                    regorus::Value::from_json_str(&format!(r#"{{"zt": {{"config": {data}}}}}"#))
                        .expect("json"),
                )
                .expect("data");
        }
        Policy::OneLine => {
            engine
                .add_policy("p.rego".into(), ONE_LINE_POLICY.into())
                .expect("policy");
        }
    }
    let entry: regorus::Rc<str> = "data.zt.authz.decision".into();
    let compiled = engine.compile_with_entrypoint(&entry).expect("compile");
    let program = regorus::languages::rego::compiler::Compiler::compile_from_policy(
        &compiled,
        &["data.zt.authz.decision"],
    )
    .expect("rvm");
    let mut vm = regorus::rvm::RegoVM::new();
    vm.load_program(program);
    vm.set_data(engine.get_data()).expect("data");
    (engine, compiled, vm)
}

/// The RVM of [`raw_regorus`].
pub fn raw_vm(policy: Policy) -> regorus::rvm::RegoVM {
    raw_regorus(policy).2
}

/// Keys for the raw `jsonwebtoken::decode` baseline, with the validation zt applies.
pub fn raw_decoding(alg: JwtAlg) -> (jsonwebtoken::DecodingKey, jsonwebtoken::Validation) {
    let key = if alg == JwtAlg::ES256 {
        let j = jwk("ec-p256");
        jsonwebtoken::DecodingKey::from_ec_components(
            j["x"].as_str().expect("x"),
            j["y"].as_str().expect("y"),
        )
    } else {
        let j = jwk("rsa2048-a");
        jsonwebtoken::DecodingKey::from_rsa_components(
            j["n"].as_str().expect("n"),
            j["e"].as_str().expect("e"),
        )
    }
    .expect("decoding key");
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_audience(&[AUD]);
    validation.set_issuer(&[ISS]);
    // The tokens are minted at the fixed bench time; zt checks `exp` against its fixed clock.
    validation.validate_exp = false;
    (key, validation)
}

/// A signature check: message, signature.
pub type Check = Box<dyn Fn(&[u8], &[u8]) -> bool>;

/// A signature check with the key parsed once, straight on aws-lc-rs.
pub fn parsed_key_check(alg: jsonwebtoken::Algorithm, key: &str, secret: &[u8]) -> Check {
    use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
    use base64::Engine as _;
    use jsonwebtoken::Algorithm as J;
    let b64 = |v: &serde_json::Value, m: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v[m].as_str().expect("member"))
            .expect("base64url")
    };
    if alg == J::HS256 {
        let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        return Box::new(move |m, s| aws_lc_rs::hmac::verify(&k, m, s).is_ok());
    }
    let j = jwk(key);
    let parsed = match alg {
        J::RS256 | J::PS256 => {
            let (n, e) = (b64(&j, "n"), b64(&j, "e"));
            let params = if alg == J::RS256 {
                &signature::RSA_PKCS1_2048_8192_SHA256
            } else {
                &signature::RSA_PSS_2048_8192_SHA256
            };
            RsaPublicKeyComponents { n: &n, e: &e }.to_parsed_public_key(params)
        }
        J::ES256 => {
            let mut point = vec![4u8];
            point.extend(b64(&j, "x"));
            point.extend(b64(&j, "y"));
            ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
        }
        _ => ParsedPublicKey::new(&signature::ED25519, b64(&j, "x")),
    }
    .expect("parsed key");
    Box::new(move |m, s| parsed.verify_sig(m, s).is_ok())
}

/// How a generated route table writes its routes (OPA's documented styles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteStyle {
    /// `input.request.path == "/api/r7"`.
    Equality,
    /// `input.request.segments = ["api", "r7", _]`.
    Segments,
    /// `glob.match("/api/r7/*", ["/"], input.request.path)`.
    Glob,
}

impl RouteStyle {
    /// All three, for benches.
    pub const ALL: [Self; 3] = [Self::Equality, Self::Segments, Self::Glob];

    /// A short name for bench ids.
    pub fn name(self) -> &'static str {
        match self {
            Self::Equality => "equality",
            Self::Segments => "segments",
            Self::Glob => "glob",
        }
    }
}

/// A route table of `n` `allow` definitions (method, path in `style`, a group), in files of
/// at most 1,000 routes (one file of 10,000 would pass `policy.max_file_bytes`).
pub fn route_table(style: RouteStyle, n: usize) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut i = 0;
    while i < n || files.is_empty() {
        let mut s = String::from("package zt.authz\nimport rego.v1\n");
        if files.is_empty() {
            s.push_str("default allow := false\ndecision := {\"allow\": allow}\n");
        }
        let end = (i + 1000).min(n);
        for r in i..end {
            let path = match style {
                RouteStyle::Equality => format!("input.request.path == \"/api/r{r}\""),
                RouteStyle::Segments => {
                    format!("input.request.segments = [\"api\", \"r{r}\", _]")
                }
                RouteStyle::Glob => {
                    format!("glob.match(\"/api/r{r}/*\", [\"/\"], input.request.path)")
                }
            };
            s.push_str(&format!(
                "allow if {{\n  input.request.method == \"GET\"\n  {path}\n  \"dev\" in input.subject.groups\n}}\n"
            ));
        }
        files.push((format!("routes{}.rego", files.len()), s.into_bytes()));
        i = end;
    }
    files
}

/// The input that matches route `r` of a [`route_table`] (for `Equality`, `/api/r{r}`; for the
/// others, `/api/r{r}/x`).
pub fn route_input(style: RouteStyle, r: usize) -> serde_json::Value {
    let path = match style {
        RouteStyle::Equality => format!("/api/r{r}"),
        RouteStyle::Segments | RouteStyle::Glob => format!("/api/r{r}/x"),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    serde_json::json!({"subject": {"groups": ["dev"]},
                       "request": {"method": "GET", "path": path, "segments": segments}})
}

/// regorus's compiled VM on the whole of a [`route_table`] (no index), as zt compiles it.
pub fn raw_route_vm(files: &[(String, Vec<u8>)]) -> regorus::rvm::RegoVM {
    let mut engine = regorus::Engine::new();
    for (name, text) in files {
        engine
            .add_policy(name.clone(), String::from_utf8_lossy(text).into_owned())
            .expect("policy");
    }
    let entry: regorus::Rc<str> = "data.zt.authz.decision".into();
    let compiled = engine.compile_with_entrypoint(&entry).expect("compile");
    let program = regorus::languages::rego::compiler::Compiler::compile_from_policy(
        &compiled,
        &["data.zt.authz.decision"],
    )
    .expect("rvm");
    let mut vm = regorus::rvm::RegoVM::new();
    vm.load_program(program);
    vm.set_max_instructions(10_000_000);
    vm
}
