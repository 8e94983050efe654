//! [`Zt`]: the service that authorizes, then calls the inner service or answers a denial.

use crate::body::ZtBody;
use crate::extract::{is_grpc, zt_request};
use crate::future::ResponseFuture;
use crate::layer::{Shared, ZtLayer};
use crate::response::{Denial, apply_headers, render};
use http::HeaderValue;
use http::header::AUTHORIZATION;
use std::future::Future as _;
use std::sync::Arc;
use std::task::{Context, Poll};
use tracing::Instrument as _;
use zt_core::http::HttpAnswer;
use zt_core::{Authorizer, Decision};

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
    /// Wrap `inner` with the defaults of [`ZtLayer::new`] (realm `zt`, nothing skipped).
    pub fn new(inner: S, authz: Authorizer) -> Self {
        ZtLayer::new(authz).wrap(inner)
    }

    /// A layer that wraps services in `Zt` (the same as [`ZtLayer::new`]).
    pub fn layer(authz: Authorizer) -> ZtLayer {
        ZtLayer::new(authz)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwrap the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn skipped(&self, path: &str) -> bool {
        let s = &self.shared;
        s.skip_exact.iter().any(|p| p == path) || s.skip_prefix.iter().any(|p| path.starts_with(p))
    }
}

fn deny_response<B>(
    shared: &Shared,
    decision: &Decision,
    answer: HttpAnswer,
    grpc: bool,
) -> http::Response<ZtBody<B>> {
    let denial = Denial {
        decision,
        status: http::StatusCode::from_u16(answer.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        bearer_error: answer.bearer_error,
        grpc,
    };
    tracing::info!(status = answer.status, reasons = ?decision.reasons, "zt: denied");
    let custom = shared.on_deny.as_ref().and_then(|h| h(&denial));
    custom
        .unwrap_or_else(|| render(&answer, grpc))
        .map(ZtBody::full)
}

/// What to do with a request once its decision is known.
enum Next<ReqBody, ResBody> {
    /// Answer with zt's denial.
    Deny(http::Response<ZtBody<ResBody>>),
    /// Call the inner service with this request (obligations applied, decision in the
    /// extensions) inside this span, then apply these response headers.
    Proceed {
        req: http::Request<ReqBody>,
        span: tracing::Span,
        response_headers: Option<serde_json::Value>,
        answer_headers: Vec<(http::HeaderName, HeaderValue)>,
    },
}

fn after_decision<ReqBody, ResBody>(
    shared: &Shared,
    decision: Decision,
    grpc: bool,
    mut req: http::Request<ReqBody>,
) -> Next<ReqBody, ResBody> {
    let span = tracing::info_span!(
        "zt",
        decision_id = %decision.id,
        outcome = decision.evaluated.as_str(),
        total_ns = decision.timings.total_ns,
    );
    let answer = HttpAnswer::with_mode(&decision, &shared.realm, shared.mode);
    if !answer.proceed {
        let resp = span.in_scope(|| deny_response(shared, &decision, answer, grpc));
        return Next::Deny(resp);
    }
    // zt's own headers for the response (the warn marker, a fresh DPoP nonce).
    let answer_headers = answer
        .headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                http::HeaderName::from_bytes(k.as_bytes()).ok()?,
                HeaderValue::from_str(v).ok()?,
            ))
        })
        .collect();
    apply_headers(
        req.headers_mut(),
        decision.obligations.get("request_headers"),
    );
    let response_headers = decision.obligations.get("response_headers").cloned();
    if let Some(claims) = decision.claims.clone() {
        req.extensions_mut().insert(claims);
    }
    req.extensions_mut().insert::<Decision>(decision);
    Next::Proceed {
        req,
        span,
        response_headers,
        answer_headers,
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
    type Future = ResponseFuture<tracing::instrument::Instrumented<S::Future>, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        // The ready service handles this request; a fresh clone waits for the next poll_ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if self.skipped(req.uri().path()) {
            let fut = inner.call(req).instrument(tracing::Span::none());
            return ResponseFuture::inner(fut, None, Vec::new());
        }
        let shared = &self.shared;
        let grpc = is_grpc(req.headers());
        // Every request is decided, a malformed `Authorization` header included, so that it
        // is counted and logged like any other.
        let zreq = zt_request(&req, &shared.authz);
        if let Some(v) = req.headers_mut().get_mut(AUTHORIZATION) {
            v.set_sensitive(true);
        }
        // Decide at once when the decision needs no key fetch (cached keys): one poll with a
        // no-op waker. Otherwise drop that attempt and await the decision in a boxed future;
        // the key fetch the attempt started is joined, not repeated.
        let now = {
            let attempt = std::pin::pin!(shared.authz.authorize(&zreq));
            match attempt.poll(&mut Context::from_waker(std::task::Waker::noop())) {
                Poll::Ready(d) => Some(d),
                Poll::Pending => None,
            }
        };
        if let Some(decision) = now {
            drop(zreq);
            return respond(shared, decision, grpc, req, inner);
        }
        let shared = shared.clone();
        ResponseFuture::waiting(Box::pin(async move {
            let decision = shared.authz.authorize(&zreq).await;
            drop(zreq);
            respond(&shared, decision, grpc, req, inner).await
        }))
    }
}

/// The response future for a decided request: a ready denial, or the inner service's future
/// (called here, inside the decision's span) with the response headers to apply.
fn respond<S, ReqBody, ResBody>(
    shared: &Shared,
    decision: Decision,
    grpc: bool,
    req: http::Request<ReqBody>,
    mut inner: S,
) -> ResponseFuture<tracing::instrument::Instrumented<S::Future>, ResBody, S::Error>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
{
    match after_decision(shared, decision, grpc, req) {
        Next::Deny(resp) => ResponseFuture::ready(Ok(resp)),
        Next::Proceed {
            req,
            span,
            response_headers,
            answer_headers,
        } => {
            let fut = span.in_scope(|| inner.call(req)).instrument(span);
            ResponseFuture::inner(fut, response_headers, answer_headers)
        }
    }
}
