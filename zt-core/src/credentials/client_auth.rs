//! How zt authenticates itself to an OAuth2 server's token or introspection endpoint:
//! `client_secret_basic` (RFC 6749 §2.3.1) or `private_key_jwt` (RFC 7523 §2.2, OpenID Connect
//! Core §9).

use crate::config::PrivateKeyJwtConfig;
use base64::Engine as _;

/// The client's authentication, ready to use on every call.
pub(crate) enum ClientAuth {
    /// `client_secret_basic`: the ready `Authorization` header value (marked sensitive).
    Basic(reqwest::header::HeaderValue),
    /// `private_key_jwt`: a fresh signed assertion per call.
    PrivateKeyJwt {
        key: jsonwebtoken::EncodingKey,
        header: Box<jsonwebtoken::Header>,
        audience: String,
    },
}

impl ClientAuth {
    /// From `client_secret_env` (the secret is read now) or `private_key_jwt` (the key is read
    /// now; the assertion's `aud` defaults to `default_audience`). An error names the member
    /// (`client_secret_env`, `private_key_jwt.key_file`) and the problem, never the secret.
    pub(crate) fn from_config(
        client_id: &str,
        secret_env: Option<&str>,
        private_key_jwt: Option<&PrivateKeyJwtConfig>,
        default_audience: &str,
    ) -> Result<Self, (&'static str, String)> {
        match (secret_env, private_key_jwt) {
            (Some(var), _) => {
                let secret = std::env::var(var).map_err(|_| {
                    (
                        "client_secret_env",
                        format!("environment variable `{var}` is not set or not UTF-8"),
                    )
                })?;
                if secret.is_empty() {
                    return Err((
                        "client_secret_env",
                        format!("environment variable `{var}` is empty"),
                    ));
                }
                // RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
                let pair = format!("{}:{}", form(client_id), form(&secret));
                let value = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                );
                let mut header = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                    (
                        "client_secret_env",
                        "the client credentials do not form a header".to_owned(),
                    )
                })?;
                header.set_sensitive(true);
                Ok(ClientAuth::Basic(header))
            }
            (None, Some(pk)) => {
                let pem = std::fs::read(&pk.key_file).map_err(|e| {
                    (
                        "private_key_jwt.key_file",
                        format!("cannot read `{}`: {}", pk.key_file.display(), e.kind()),
                    )
                })?;
                let key = crate::algorithm::encoding_key(pk.algorithm, &pem).ok_or_else(|| {
                    (
                        "private_key_jwt.key_file",
                        format!(
                            "`{}` is not a PKCS#8 PEM private key for {}",
                            pk.key_file.display(),
                            pk.algorithm.as_str()
                        ),
                    )
                })?;
                let mut header = jsonwebtoken::Header::new(pk.algorithm.to_jwt());
                header.kid = pk.kid.clone();
                Ok(ClientAuth::PrivateKeyJwt {
                    key,
                    header: Box::new(header),
                    audience: pk
                        .audience
                        .clone()
                        .unwrap_or_else(|| default_audience.to_owned()),
                })
            }
            (None, None) => Err((
                "client_secret_env",
                "set one of `client_secret_env` and `private_key_jwt`".to_owned(),
            )),
        }
    }

    /// Authenticate a form POST: the Basic header, or `client_id` and the client assertion
    /// appended to `body` (which already holds the call's own parameters). `None` when the
    /// assertion cannot be made (no randomness, a signing failure).
    pub(crate) fn apply(
        &self,
        request: reqwest::RequestBuilder,
        body: &mut String,
        client_id: &str,
        now: u64,
    ) -> Option<reqwest::RequestBuilder> {
        match self {
            ClientAuth::Basic(value) => {
                Some(request.header(reqwest::header::AUTHORIZATION, value.clone()))
            }
            ClientAuth::PrivateKeyJwt {
                key,
                header,
                audience,
            } => {
                let assertion = assertion(key, header, client_id, audience, now)?;
                body.push_str("&client_id=");
                body.push_str(&form(client_id));
                body.push_str("&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=");
                body.push_str(&assertion);
                Some(request)
            }
        }
    }
}

/// A `private_key_jwt` client assertion (RFC 7523 §3): good for 60 s, unique `jti`.
fn assertion(
    key: &jsonwebtoken::EncodingKey,
    header: &jsonwebtoken::Header,
    client_id: &str,
    audience: &str,
    now: u64,
) -> Option<String> {
    let mut id = [0u8; 16];
    aws_lc_rs::rand::fill(&mut id).ok()?;
    let jti: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": audience,
        "iat": now, "exp": now + 60, "jti": jti,
    });
    jsonwebtoken::encode(header, &claims, key).ok()
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub(crate) fn form(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
