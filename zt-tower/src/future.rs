//! The response future of [`Zt`](crate::Zt).

use crate::body::ZtBody;
use http::HeaderValue;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

type Boxed<B, E> = Pin<Box<dyn Future<Output = Result<http::Response<ZtBody<B>>, E>> + Send>>;

pin_project_lite::pin_project! {
    /// Resolves to the inner service's response, or to zt's denial.
    ///
    /// Not boxed when the decision is made at once (the usual case: cached keys): it is then
    /// a ready denial or the inner service's future. Only a request that waits for a key
    /// refresh is driven by a boxed future.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Ready { response: Option<Result<http::Response<ZtBody<B>>, E>> },
        Inner {
            #[pin]
            fut: F,
            response_headers: Option<serde_json::Value>,
            answer_headers: Vec<(http::HeaderName, HeaderValue)>,
        },
        Waiting { fut: Boxed<B, E> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn ready(response: Result<http::Response<ZtBody<B>>, E>) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    pub(crate) fn inner(
        fut: F,
        response_headers: Option<serde_json::Value>,
        answer_headers: Vec<(http::HeaderName, HeaderValue)>,
    ) -> Self {
        Self {
            state: State::Inner {
                fut,
                response_headers,
                answer_headers,
            },
        }
    }

    pub(crate) fn waiting(fut: Boxed<B, E>) -> Self {
        Self {
            state: State::Waiting { fut },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<ZtBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Ready { response } => match response.take() {
                Some(r) => Poll::Ready(r),
                // Polled after completion: stay pending rather than panic.
                None => Poll::Pending,
            },
            StateProj::Inner {
                fut,
                response_headers,
                answer_headers,
            } => {
                let resp = match fut.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(r)) => r,
                };
                Poll::Ready(Ok(crate::response::finish_response(
                    resp,
                    response_headers.as_ref(),
                    std::mem::take(answer_headers),
                )))
            }
            StateProj::Waiting { fut } => fut.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> std::fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture { .. }")
    }
}
