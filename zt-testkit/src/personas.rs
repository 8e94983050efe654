//! The quickstart's personas: who asks for what, with which claims and device. The quickstart
//! signs them with its own fresh keys; tests sign them with the fixture keys, so a decision log
//! written from them is the log the quickstart writes.

use serde_json::{Value, json};

/// How a persona's token is made.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PersonaToken {
    /// Signed with the algorithm (`RS256` or `ES256`) over these claims.
    Signed {
        /// `RS256` or `ES256`.
        alg: &'static str,
        /// The claims.
        claims: Value,
    },
    /// The token of `signed_as` with its payload replaced by `forged` (signature kept).
    Tampered {
        /// The claims actually signed.
        signed_as: Value,
        /// The payload swapped in.
        forged: Value,
    },
    /// No token at all.
    Missing,
}

/// One request of the quickstart.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Persona {
    /// Who, and what is special about them.
    pub name: &'static str,
    /// Request method.
    pub method: &'static str,
    /// Request path.
    pub path: &'static str,
    /// The token.
    pub token: PersonaToken,
}

/// Healthy, managed, encrypted laptop posture assessed two minutes before `now`.
pub fn healthy_device(now: u64) -> Value {
    json!({"id": "mbp-7", "managed": true, "os": "macOS", "disk_encrypted": true,
           "firewall_enabled": true, "jailbroken": false, "patch_age_days": 4,
           "assessed_at": now - 120})
}

/// Claims of a persona: `sub` in `groups` for audience `orders-api`, valid 15 minutes, with an
/// e-mail and a device; `extra` is merged in last.
pub fn persona_claims(
    issuer: &str,
    now: u64,
    sub: &str,
    groups: &[&str],
    device: &Value,
    extra: Value,
) -> Value {
    let mut c = json!({"iss": issuer, "sub": sub, "aud": "orders-api", "iat": now,
                       "exp": now + 900, "groups": groups, "email": format!("{sub}@example.com"),
                       "device": device});
    if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), extra) {
        c.extend(extra);
    }
    c
}

/// The quickstart's personas for `issuer` at `now` (Unix seconds).
pub fn quickstart_personas(issuer: &str, now: u64) -> Vec<Persona> {
    let healthy = healthy_device(now);
    let unencrypted = json!({"id": "tp-2", "managed": true, "os": "Linux", "disk_encrypted": false,
                             "jailbroken": false, "patch_age_days": 9, "assessed_at": now - 60});
    let stale = json!({"id": "mbp-9", "managed": true, "disk_encrypted": true,
                       "assessed_at": now - 7200});
    let claims = |sub, groups: &[&str], device: &Value, extra| {
        persona_claims(issuer, now, sub, groups, device, extra)
    };
    let mfa = json!({"acr": "urn:zt:acr:mfa", "amr": ["pwd", "mfa"], "auth_time": now - 30});
    let signed = |alg, claims| PersonaToken::Signed { alg, claims };
    let p = |name, method, path, token| Persona {
        name,
        method,
        path,
        token,
    };
    vec![
        p(
            "alice, admin, healthy laptop",
            "GET",
            "/orders/42",
            signed("RS256", claims("alice", &["admin"], &healthy, json!({}))),
        ),
        p(
            "alice, admin, no recent MFA",
            "POST",
            "/admin/deploy",
            signed("RS256", claims("alice", &["admin"], &healthy, json!({}))),
        ),
        p(
            "alice, admin, after MFA",
            "POST",
            "/admin/deploy",
            signed("RS256", claims("alice", &["admin"], &healthy, mfa)),
        ),
        p(
            "bob, developer, unencrypted disk",
            "GET",
            "/orders/42",
            signed("ES256", claims("bob", &["dev"], &unencrypted, json!({}))),
        ),
        p(
            "carol, expired token",
            "GET",
            "/orders/42",
            signed(
                "ES256",
                claims(
                    "carol",
                    &["dev"],
                    &healthy,
                    json!({"iat": now - 7200, "exp": now - 3600}),
                ),
            ),
        ),
        p(
            "dave, posture 2 h old",
            "GET",
            "/orders/42",
            signed("RS256", claims("dave", &["dev"], &stale, json!({}))),
        ),
        p(
            "vic, viewer, writes",
            "POST",
            "/orders",
            signed("ES256", claims("vic", &["viewer"], &healthy, json!({}))),
        ),
        p(
            "erin, unknown issuer",
            "GET",
            "/orders/42",
            signed(
                "RS256",
                claims(
                    "erin",
                    &["admin"],
                    &healthy,
                    json!({"iss": "https://evil.example"}),
                ),
            ),
        ),
        p(
            "mallory, tampered token",
            "GET",
            "/orders/42",
            PersonaToken::Tampered {
                signed_as: claims("bob", &["dev"], &unencrypted, json!({})),
                forged: claims("bob", &["admin"], &healthy, json!({})),
            },
        ),
        p(
            "anonymous, no token",
            "GET",
            "/orders/42",
            PersonaToken::Missing,
        ),
    ]
}

/// Developers on healthy laptops reading orders: the quickstart's latency loop (`user-0`, ...).
pub fn healthy_developers(issuer: &str, now: u64, n: usize) -> Vec<Value> {
    let device = healthy_device(now);
    (0..n)
        .map(|i| {
            persona_claims(
                issuer,
                now,
                &format!("user-{i}"),
                &["dev"],
                &device,
                json!({}),
            )
        })
        .collect()
}

/// A signed token with its payload replaced (the signature no longer matches).
pub fn tamper(token: &str, forged: &Value) -> String {
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
    let mut parts = token.split('.');
    let header = parts.next().unwrap_or_default();
    let signature = parts.nth(1).unwrap_or_default();
    format!("{header}.{payload}.{signature}")
}
