//! Strict compact-JWS parsing: three segments, canonical unpadded base64url, JSON objects
//! without duplicate keys or deep nesting, and a header zt understands.

use crate::algorithm::Algorithm;
use crate::error::{Malformed, TokenError};
use crate::util::json;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The header parameters zt reads.
pub(super) struct Header {
    pub(super) alg: Algorithm,
    pub(super) kid: Option<String>,
    pub(super) typ: Option<String>,
    /// The embedded `jwk`: ignored for access tokens, the proof's own key for DPoP.
    pub(super) jwk: Option<Value>,
}

/// The longest signature zt can check: RSA-8192 (aws-lc's `RSA_*_2048_8192_*` bound).
const MAX_SIGNATURE: usize = 1024;

/// A decoded signature, on the stack. A longer one (valid base64url, but longer than any key
/// zt verifies with can have signed) is kept as empty: it never verifies.
pub(super) struct Signature {
    buf: [u8; MAX_SIGNATURE],
    len: usize,
}

impl Signature {
    pub(super) fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// A compact JWS split and decoded (the signature is not yet checked).
pub(super) struct Parsed<'a> {
    pub(super) header: Header,
    pub(super) payload: Vec<u8>,
    pub(super) signing_input: &'a str,
    pub(super) signature: Signature,
}

pub(super) fn b64(segment: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(segment.as_bytes())
        .map_err(|_| TokenError::Malformed(Malformed::Base64))
}

pub(super) fn parse_compact(token: &str) -> Result<Parsed<'_>, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(Malformed::Segments));
    };
    if h.is_empty() || s.is_empty() {
        return Err(TokenError::Malformed(Malformed::Segments));
    }
    // The header first: a refused header (`crit`, `b64`) is reported as such even when the
    // payload is not base64url (RFC 7797 unencoded payloads).
    let header = parse_header(&b64(h)?)?;
    let payload = b64(p)?;
    // Decoded once, into a stack buffer, and checked here so non-canonical signatures are
    // malformed. Longer ones are decoded on the heap only to tell malformed from too long.
    let mut signature = Signature {
        buf: [0u8; MAX_SIGNATURE],
        len: 0,
    };
    match URL_SAFE_NO_PAD.decode_slice(s.as_bytes(), &mut signature.buf) {
        Ok(len) => signature.len = len,
        Err(_) => {
            b64(s)?;
        }
    }
    let signing_input = token
        .get(..h.len() + 1 + p.len())
        .ok_or(TokenError::Malformed(Malformed::Segments))?;
    Ok(Parsed {
        header,
        payload,
        signing_input,
        signature,
    })
}

/// The header members zt reads or refuses; any other is checked, not built.
const HEADER_MEMBERS: [&str; 9] = [
    "alg", "kid", "typ", "jwk", "cty", "crit", "b64", "zip", "enc",
];

fn parse_header(bytes: &[u8]) -> Result<Header, TokenError> {
    let [alg, kid, typ, jwk, cty, crit, b64, zip, enc] =
        json::pick_members(bytes, json::MAX_DEPTH, HEADER_MEMBERS)
            .map_err(|_| TokenError::Malformed(Malformed::Header))?;
    // INVARIANT: zt implements no JWS extension, so any `crit` must be refused (RFC 7515 §4.1.11).
    for (refused, present) in [("crit", &crit), ("b64", &b64), ("zip", &zip), ("enc", &enc)] {
        if present.is_some() {
            return Err(TokenError::HeaderUnsupported(refused));
        }
    }
    if let Some(cty) = cty
        && cty.as_str().is_none_or(|c| normalise_typ(c) == "jwt")
    {
        return Err(TokenError::HeaderUnsupported("cty"));
    }
    let alg = match alg {
        Some(Value::String(a)) => a.parse().map_err(|_| TokenError::AlgorithmNotAllowed)?,
        _ => return Err(TokenError::Malformed(Malformed::Claim("alg"))),
    };
    let opt_str = |v: Option<Value>, name: &'static str| match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenError::Malformed(Malformed::Claim(name))),
    };
    Ok(Header {
        alg,
        kid: opt_str(kid, "kid")?,
        typ: opt_str(typ, "typ")?,
        jwk,
    })
}

/// `at+jwt`, `AT+JWT` and `application/at+jwt` are the same type (RFC 7515 §4.1.9).
pub(super) fn normalise_typ(t: &str) -> String {
    let lower = t.to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}
