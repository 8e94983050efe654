//! DPoP proofs (RFC 9449) signed with fixture keys, and the RFC 7638 thumbprint a bound token
//! carries in `cnf.jkt`; written independently of zt-core's checker, so tests compare two
//! implementations.

use crate::Error;
use crate::keys::try_jwk;
use crate::token::{b64, try_sign_raw};
use serde_json::{Value, json};

/// The public JWK of fixture key `name` as a DPoP header carries it (`kid`, `alg`, `use`
/// dropped).
pub fn try_dpop_jwk(name: &str) -> Result<Value, Error> {
    let mut k = try_jwk(name)?;
    if let Some(m) = k.as_object_mut() {
        for member in ["kid", "alg", "use"] {
            m.remove(member);
        }
    }
    Ok(k)
}

/// The RFC 7638 thumbprint of fixture key `name` (the `cnf.jkt` of a token bound to it).
pub fn try_jkt(name: &str) -> Result<String, Error> {
    let k = try_dpop_jwk(name)?;
    let required: &[&str] = match k.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        _ => &["crv", "kty", "x"],
    };
    // serde_json's map keeps keys sorted, which is the order RFC 7638 asks for.
    let members: serde_json::Map<String, Value> = required
        .iter()
        .filter_map(|m| k.get(*m).map(|v| ((*m).to_owned(), v.clone())))
        .collect();
    let text = Value::Object(members).to_string();
    Ok(b64(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        text.as_bytes(),
    )
    .as_ref()))
}

/// A DPoP proof by fixture key `key` with `alg` for `htm` `htu` at `iat`, with `ath` for
/// `access_token` when given.
pub fn try_dpop_proof(
    key: &str,
    alg: &str,
    htm: &str,
    htu: &str,
    access_token: Option<&str>,
    iat: u64,
    jti: &str,
) -> Result<String, Error> {
    let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": try_dpop_jwk(key)?});
    let mut claims = serde_json::Map::new();
    claims.insert("jti".into(), json!(jti));
    claims.insert("htm".into(), json!(htm));
    claims.insert("htu".into(), json!(htu));
    claims.insert("iat".into(), json!(iat));
    if let Some(t) = access_token {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, t.as_bytes());
        claims.insert("ath".into(), json!(b64(digest.as_ref())));
    }
    let claims = Value::Object(claims);
    try_sign_raw(&header.to_string(), &claims.to_string(), key, alg)
}
