//! A request id on every request: taken from `X-Request-Id` when the caller
//! sends a sane one, generated otherwise; recorded on the request's span,
//! echoed in the response, and written on the jobs the request enqueues.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Request, Response, http::HeaderValue};
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

/// The id of the request being served.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

fn accepted(raw: &str) -> bool {
    (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Middleware body: wraps `next` in a span that carries the request id.
pub async fn with_request_id<E: Endpoint>(next: E, mut request: Request) -> poem::Result<Response> {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| accepted(v))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "http_request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        let mut response = next.call(request).await?.into_response();
        let status = response.status();
        let span = tracing::Span::current();
        span.record("status", status.as_u16());
        span.record("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
        if status.is_server_error() {
            tracing::error!("request failed");
        } else {
            tracing::info!("request served");
        }
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(HEADER, value);
        }
        Ok(response)
    }
    .instrument(span)
    .await
}
