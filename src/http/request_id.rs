//! A request id for every request and socket: taken from a well-formed incoming
//! `X-Request-Id` (a proxy's), else made here; sent back as `X-Request-Id`, put in every
//! error body (`error.request_id`), and carried by the tracing span every log line of the
//! request (and of a socket opened by it) is written in.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A proxy's id is kept when it is short and plain (no header injection, no log noise).
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn fresh() -> String {
    let token = chat_core::secret::new_token("");
    token
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect()
}

pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map_or_else(fresh, str::to_owned);
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert("x-request-id", v);
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("", |p| p.as_str())
        .to_owned();
    let span = tracing::info_span!("request", id = %id, method = %req.method(), route = %route);
    let mut resp = REQUEST_ID
        .scope(id.clone(), next.run(req).instrument(span))
        .await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
