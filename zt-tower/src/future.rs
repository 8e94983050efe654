//! The response future of [`Zt`](crate::Zt).

use crate::body::ZtBody;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

type Inner<B, E> = Pin<Box<dyn Future<Output = Result<http::Response<ZtBody<B>>, E>> + Send>>;

/// Resolves to the inner service's response, or to zt's denial.
///
/// Boxed: authorization may await one bounded key refresh before the inner call.
pub struct ResponseFuture<B, E> {
    pub(crate) inner: Inner<B, E>,
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<http::Response<ZtBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B, E> std::fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture { .. }")
    }
}
