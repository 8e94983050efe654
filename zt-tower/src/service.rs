//! [`Zt`]: the service that authorizes, then calls the inner service or answers a denial.

use crate::body::ZtBody;
use crate::extract::{bearer, is_grpc, zt_request};
use crate::future::ResponseFuture;
use crate::layer::Shared;
use crate::response::{Denial, bearer_problem, classify, render};
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue};
use std::sync::Arc;
use std::task::{Context, Poll};
use tracing::Instrument as _;
use zt_core::{Decision, EnforcementMode, Outcome};

/// The middleware service made by [`ZtLayer`](crate::ZtLayer).
#[derive(Clone)]
pub struct Zt<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for Zt<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zt").finish_non_exhaustive()
    }
}

impl<S> Zt<S> {
    fn skipped(&self, path: &str) -> bool {
        let s = &self.shared;
        s.skip_exact.iter().any(|p| p == path) || s.skip_prefix.iter().any(|p| path.starts_with(p))
    }
}

fn deny_response<B>(
    shared: &Shared,
    denial: &Denial<'_>,
    description: &str,
) -> http::Response<ZtBody<B>> {
    let custom = shared.on_deny.as_ref().and_then(|h| h(denial));
    custom
        .unwrap_or_else(|| render(&shared.realm, denial, description))
        .map(ZtBody::full)
}

/// Apply an object of header name → string value; names or values that are not valid headers
/// are skipped (and traced).
fn apply_headers(headers: &mut http::HeaderMap, obligation: Option<&serde_json::Value>) {
    let Some(serde_json::Value::Object(map)) = obligation else {
        return;
    };
    for (k, v) in map {
        let value = v.as_str().and_then(|v| HeaderValue::from_str(v).ok());
        match (HeaderName::from_bytes(k.as_bytes()), value) {
            (Ok(name), Some(value)) => {
                headers.insert(name, value);
            }
            _ => {
                tracing::warn!(header = %k, "zt: obligation header is not a valid header, skipped")
            }
        }
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Zt<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = http::Response<ZtBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        // The ready service handles this request; a fresh clone waits for the next poll_ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        if self.skipped(req.uri().path()) {
            return ResponseFuture {
                inner: Box::pin(async move { inner.call(req).await.map(|r| r.map(ZtBody::inner)) }),
            };
        }
        let grpc = is_grpc(req.headers());
        let zreq = match bearer(req.headers(), req.uri()) {
            Ok(token) => zt_request(&req, token, &shared.authz),
            Err(problem) => {
                let (status, bearer_error, why) = bearer_problem(problem);
                // A missing token still goes through the authorizer, so it is logged and
                // counted like every other decision.
                if bearer_error.is_none() {
                    zt_core::Request::new(req.method().as_str(), req.uri().path())
                } else {
                    let denial = Denial {
                        decision: None,
                        status,
                        bearer_error,
                        grpc,
                    };
                    tracing::info!(status = status.as_u16(), why, "zt: malformed Authorization");
                    let resp = deny_response(&shared, &denial, why);
                    return ResponseFuture {
                        inner: Box::pin(async move { Ok(resp) }),
                    };
                }
            }
        };
        if let Some(v) = req.headers_mut().get_mut(AUTHORIZATION) {
            v.set_sensitive(true);
        }
        ResponseFuture {
            inner: Box::pin(async move {
                let decision = shared.authz.authorize(&zreq).await;
                drop(zreq);
                let span = tracing::info_span!(
                    "zt",
                    decision_id = %decision.id,
                    outcome = decision.evaluated.as_str(),
                    total_ns = decision.timings.total_ns,
                );
                let proceed = match shared.mode {
                    None => decision.is_allowed(),
                    Some(EnforcementMode::Enforce) => decision.evaluated == Outcome::Allow,
                    Some(EnforcementMode::Warn | EnforcementMode::LogOnly) => true,
                };
                if !proceed {
                    let (status, bearer_error) = classify(&decision);
                    span.in_scope(|| {
                        tracing::info!(status = status.as_u16(), reasons = ?decision.reasons, "zt: denied");
                    });
                    let denial = Denial {
                        decision: Some(&decision),
                        status,
                        bearer_error,
                        grpc,
                    };
                    let reasons: Vec<&str> = decision.reasons.iter().map(|r| r.as_str()).collect();
                    return Ok(deny_response(&shared, &denial, &reasons.join(", ")));
                }
                let warn = decision.evaluated != Outcome::Allow
                    && (decision.warning() || shared.mode == Some(EnforcementMode::Warn));
                apply_headers(
                    req.headers_mut(),
                    decision.obligations.get("request_headers"),
                );
                let response_headers = decision.obligations.get("response_headers").cloned();
                let would_deny = warn.then(|| {
                    decision
                        .reasons
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                if let Some(claims) = decision.claims.clone() {
                    req.extensions_mut().insert(claims);
                }
                req.extensions_mut().insert::<Decision>(decision);
                let mut resp = inner.call(req).instrument(span).await?.map(ZtBody::inner);
                apply_headers(resp.headers_mut(), response_headers.as_ref());
                if let Some(reasons) = would_deny
                    && let Ok(v) =
                        HeaderValue::from_str(if reasons.is_empty() { "deny" } else { &reasons })
                {
                    resp.headers_mut().insert(crate::WOULD_DENY_HEADER, v);
                }
                Ok(resp)
            }),
        }
    }
}
