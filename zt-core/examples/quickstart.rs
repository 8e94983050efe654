//! Quickstart: zt deciding real requests with no external service.
//!
//! 1. Creates an issuer signing key (ES256, fresh on every run) and serves the issuer's OpenID
//!    discovery document and JWKS on 127.0.0.1 (ephemeral port), next to a second, RS256 key.
//! 2. Builds an `Authorizer` that finds those keys through discovery and decides with the sample
//!    policy bundle in `examples/policies/` (RBAC by group, device posture, admin step-up),
//!    writing a hash-chained decision log to a temporary file.
//! 3. Mints tokens for a few personas and prints a table of decisions with their reasons.
//! 4. Prints latency percentiles of `authorize` over a short loop, and verifies the log chain.
//! 5. Replays the log against a candidate policy without the developers' grants (`zt replay`)
//!    and prints which decisions would flip.
//! 6. Reports on the log (`zt report`): prints the KPIs and the least-privilege review, and
//!    writes the HTML page next to the log.
//!
//! Run: `cargo run --release --example quickstart`

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm as JwtAlg, EncodingKey, Header};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zt_core::{Authorizer, AuthorizerConfig, Request};
use zt_testkit::{PersonaToken, healthy_developers, quickstart_personas, tamper};

fn alg_of(name: &str) -> JwtAlg {
    if name == "ES256" {
        JwtAlg::ES256
    } else {
        JwtAlg::RS256
    }
}

const RSA_PEM: &str = include_str!("../tests/data/keys/rsa2048-a.pem");
const RSA_JWK: &str = include_str!("../tests/data/keys/rsa2048-a.jwk.json");

type BoxError = Box<dyn std::error::Error>;

/// A freshly generated P-256 issuer key: the signing key and its public JWK.
fn create_issuer_key() -> Result<(EncodingKey, Value), BoxError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| "cannot generate a key")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| "cannot load the generated key")?;
    // Uncompressed point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    let (x, y) = (
        point.get(1..33).ok_or("short point")?,
        point.get(33..65).ok_or("short point")?,
    );
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "quickstart-es256", "use": "sig",
                     "alg": "ES256", "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)});
    Ok((EncodingKey::from_ec_der(pkcs8.as_ref()), jwk))
}

struct Signer {
    es256: EncodingKey,
    rs256: EncodingKey,
}

impl Signer {
    fn sign(&self, alg: JwtAlg, claims: &Value) -> Result<String, BoxError> {
        let (key, kid) = match alg {
            JwtAlg::ES256 => (&self.es256, "quickstart-es256"),
            _ => (&self.rs256, "rsa2048-a"),
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        header.typ = Some("at+jwt".to_owned());
        Ok(jsonwebtoken::encode(&header, claims, key)?)
    }
}

fn percentiles(mut v: Vec<u128>) -> (f64, f64, f64) {
    v.sort_unstable();
    let pct = |p: f64| {
        let i = ((v.len().saturating_sub(1)) as f64 * p) as usize;
        v.get(i).copied().unwrap_or_default() as f64 / 1000.0
    };
    (pct(0.50), pct(0.95), pct(0.99))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let idp = serve_idp().await?;
    let bundle = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
    let log = std::env::temp_dir().join(format!("zt-quickstart-{}.jsonl", std::process::id()));
    let authz = build_authorizer(&idp.issuer, &bundle, &log).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    decide_personas(&authz, &idp, now).await?;
    measure_latency(&authz, &idp, now)?;
    authz.flush();
    let stats = authz.metrics().decision_log;
    let (records, last) = zt_core::verify_chain(&log)?;
    println!(
        "\ndecision log: {records} records written ({} dropped by the bounded queue), hash chain verified, last hash {}…",
        stats.dropped,
        last.get(..16).unwrap_or_default()
    );
    // Replay must know which fields of the log hold `"[masked]"`: the default mask here.
    replay_candidate(&bundle, &log, zt_core::DecisionLogConfig::default().mask)?;
    report_summary(&bundle, &log)?;
    let _ = idp.stop.send(());
    idp.server.await??;
    Ok(())
}

/// The loopback identity provider: its signing keys, its issuer URL and how to stop it.
struct Idp {
    signer: Signer,
    issuer: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// 1. An identity provider on loopback: discovery + JWKS with a fresh ES256 key.
async fn serve_idp() -> Result<Idp, BoxError> {
    let (es256, es_jwk) = create_issuer_key()?;
    let signer = Signer {
        es256,
        rs256: EncodingKey::from_rsa_pem(RSA_PEM.as_bytes())?,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let jwks = json!({"keys": [es_jwk, serde_json::from_str::<Value>(RSA_JWK)?]});
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { axum::Json(discovery) }),
        )
        .route("/jwks", get(move || async move { axum::Json(jwks) }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::time::timeout(Duration::from_secs(120), stopped).await;
            })
            .await
    });
    Ok(Idp {
        signer,
        issuer,
        stop,
        server,
    })
}

/// 2. The authorizer: issuer via discovery, the sample bundle, a hash-chained decision log.
async fn build_authorizer(
    issuer: &str,
    bundle: &std::path::Path,
    log: &std::path::Path,
) -> Result<Authorizer, BoxError> {
    let config = AuthorizerConfig::from_toml_str(&format!(
        r#"
        service = "orders-api"

        [[issuers]]
        issuer = "{issuer}"
        audiences = ["orders-api"]
        algorithms = ["RS256", "ES256"]
        discovery = true
        token_type = "at+jwt"

        [posture]
        source = "claims"
        claim = "device"
        max_age_s = 900

        [policy]
        bundle = {bundle:?}

        [decision_log]
        sink = "hash_chained_file"
        path = {log:?}
        # mask: the default, OpenID Connect's personal claims (e-mail, names, phone, ...)
        "#
    ))?;
    let authz = Authorizer::new(config)?;
    authz.verifier().ready().await?;
    println!(
        "issuer {issuer} · policy revision {} · decision log {}\n",
        &authz.policy().active_revision(),
        log.display()
    );
    Ok(authz)
}

/// 3. Personas (shared with the replay tests through the test kit): a table of decisions.
async fn decide_personas(authz: &Authorizer, idp: &Idp, now: u64) -> Result<(), BoxError> {
    let mut personas: Vec<(&str, &str, &str, Option<String>)> = Vec::new();
    for p in quickstart_personas(&idp.issuer, now) {
        let token = match &p.token {
            PersonaToken::Signed { alg, claims } => Some(idp.signer.sign(alg_of(alg), claims)?),
            PersonaToken::Tampered { signed_as, forged } => {
                Some(tamper(&idp.signer.sign(JwtAlg::ES256, signed_as)?, forged))
            }
            _ => None,
        };
        personas.push((p.name, p.method, p.path, token));
    }
    println!(
        "{:<34} {:<20} {:<8} reasons",
        "persona", "request", "outcome"
    );
    println!("{}", "-".repeat(110));
    for (name, method, path, token) in &personas {
        let mut request = Request::new(*method, *path);
        if let Some(t) = token {
            request = request.bearer(t.as_str());
        }
        let d = authz.authorize(&request).await;
        let mut reasons: Vec<String> = d.reasons.iter().map(|r| r.to_string()).collect();
        reasons.extend(d.policy_reasons.iter().map(|r| format!("policy:{r}")));
        if let Some(s) = &d.step_up {
            reasons.push(format!(
                "acr_values={} max_age={}",
                s.acr_values.as_deref().unwrap_or("-"),
                s.max_age.unwrap_or_default()
            ));
        }
        println!(
            "{name:<34} {:<20} {:<8} {}",
            format!("{method} {path}"),
            d.outcome.as_str().to_uppercase(),
            reasons.join(", ")
        );
    }
    Ok(())
}

/// 4. Latency over a short loop: tokens seen before (verified-token cache), and new tokens.
fn measure_latency(authz: &Authorizer, idp: &Idp, now: u64) -> Result<(), BoxError> {
    let fresh = |alg: JwtAlg, n: usize| -> Result<Vec<String>, BoxError> {
        healthy_developers(&idp.issuer, now, n)
            .iter()
            .map(|c| idp.signer.sign(alg, c))
            .collect()
    };
    let mut rows = Vec::new();
    for (label, alg) in [
        ("new RS256 token", JwtAlg::RS256),
        ("new ES256 token", JwtAlg::ES256),
    ] {
        let tokens = fresh(alg, 2_000)?;
        let mut ns = Vec::with_capacity(tokens.len());
        for t in &tokens {
            let request = Request::new("GET", "/orders/42").bearer(t.as_str());
            let start = Instant::now();
            let d = authz.authorize_sync(&request);
            ns.push(start.elapsed().as_nanos());
            if !d.is_allowed() {
                return Err(format!("unexpected decision {:?}", d.reasons).into());
            }
        }
        rows.push((label, ns));
    }
    let cached = fresh(JwtAlg::RS256, 100)?;
    let requests: Vec<Request> = cached
        .iter()
        .map(|t| Request::new("GET", "/orders/42").bearer(t.as_str()))
        .collect();
    let mut ns = Vec::with_capacity(20_000);
    for r in requests.iter().cycle().take(20_000) {
        let start = Instant::now();
        let d = authz.authorize_sync(r);
        ns.push(start.elapsed().as_nanos());
        if !d.is_allowed() {
            return Err(format!("unexpected decision {:?}", d.reasons).into());
        }
    }
    rows.push(("token seen before", ns));
    println!("\nauthorize (token + posture + input + policy + log enqueue), this machine:");
    for (label, ns) in rows {
        let n = ns.len();
        let (p50, p95, p99) = percentiles(ns);
        println!("  {label:<18} n={n:<6} p50={p50:>7.2} µs  p95={p95:>7.2} µs  p99={p99:>7.2} µs");
    }
    let m = authz.metrics();
    let policy = m.latency.get("policy").copied().unwrap_or_default();
    println!(
        "  policy stage p50={:.2} µs · verified-token cache hit rate {:.1} % · {} decisions",
        policy.p50_ns as f64 / 1000.0,
        m.token_cache_hit_rate() * 100.0,
        m.decisions
    );
    Ok(())
}

/// 5. Before changing the policy: replay the log against a candidate that takes the `dev`
///    group's grants away, and see which decisions it would flip.
fn replay_candidate(
    bundle: &std::path::Path,
    log: &std::path::Path,
    mask: Vec<String>,
) -> Result<(), BoxError> {
    let mut data: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("zt/config/data.json"))?)?;
    if let Some(grants) = data.pointer_mut("/grants").and_then(Value::as_object_mut) {
        grants.remove("dev");
    }
    let files = vec![
        (
            "zt/authz.rego".to_owned(),
            std::fs::read(bundle.join("zt/authz.rego"))?,
        ),
        ("zt/config/data.json".to_owned(), serde_json::to_vec(&data)?),
    ];
    let mut policy = zt_core::PolicyConfig::default();
    policy.run_tests_on_load = false;
    let candidate = zt_core::CompiledBundle::from_files(files, &policy)?;
    let mut opts = zt_core::ReplayOptions::default();
    opts.mask = mask;
    let report = zt_core::replay(
        std::io::BufReader::new(std::fs::File::open(log)?),
        &candidate,
        &opts,
    );
    println!(
        "\nreplay (`zt replay`) of that log against a candidate without the dev grants: {} records, {} re-evaluated, {} would flip ({} records/s)",
        report.records,
        report.replayed,
        report.flips,
        report.records_per_second()
    );
    for (dim, groups) in &report.groups {
        let top: Vec<String> = groups
            .iter()
            .take(3)
            .map(|g| format!("{} {} ×{}", g.key, g.kind, g.count))
            .collect();
        let omitted = report.groups_omitted.get(dim).copied().unwrap_or(0) as usize;
        let more = groups.len().saturating_sub(3) + omitted;
        let more = if more > 0 {
            format!(" (+{more} more)")
        } else {
            String::new()
        };
        println!("  by {dim:<8} {}{more}", top.join(" · "));
    }
    Ok(())
}

/// 6. The report (`zt report`) of that log: its KPIs and least-privilege review, and the HTML
///    page written next to the log.
fn report_summary(bundle: &std::path::Path, log: &std::path::Path) -> Result<(), BoxError> {
    let opts = zt_core::ReportOptions::new(None, None, Some(bundle.to_owned()));
    let r = zt_core::report_files(&[log.to_owned()], &opts)?;
    let reasons: Vec<String> = r
        .reasons
        .iter()
        .take(3)
        .map(|c| format!("{} ×{}", c.code, c.count))
        .collect();
    println!(
        "
report (`zt report`) of that log: {} decisions, deny rate {:.1} %, latency p50 {} µs, p99 {} µs; top reasons: {}",
        r.decisions,
        r.deny_rate * 100.0,
        r.latency_us.p50,
        r.latency_us.p99,
        reasons.join(" · ")
    );
    if let Some(lp) = &r.least_privilege {
        let who: Vec<String> = lp
            .entries
            .iter()
            .filter(|e| !e.unused_privileged.is_empty())
            .map(|e| format!("{} ({})", e.subject, e.unused_privileged.join(", ")))
            .collect();
        println!(
            "  least privilege: {} of {} subjects hold a privileged entitlement they did not use{}",
            lp.subjects_with_unused_privileged,
            lp.subjects,
            if who.is_empty() {
                String::new()
            } else {
                format!(": {}", who.join(", "))
            }
        );
    }
    let page = log.with_extension("html");
    std::fs::write(&page, r.to_html())?;
    println!(
        "  the log is {} and its report {} (open it in a browser; `zt report --log {} --bundle examples/policies --format html` makes the same)",
        log.display(),
        page.display(),
        log.display()
    );
    Ok(())
}
