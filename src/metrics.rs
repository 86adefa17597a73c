//! Prometheus metrics: `GET /metrics` in the Prometheus text format (the `metrics` facade and
//! its Prometheus exporter; nothing hand-written).
//!
//! What is recorded where:
//! - `nati_http_requests_total{route,method,status}`, `nati_http_request_duration_seconds`:
//!   every request, by its route pattern ([`track`], a layer on the whole app);
//! - `nati_sockets_open{role}`: open WebSockets (`realtime/ws.rs`);
//! - `nati_messages_stored_total`, `nati_write_batch_size`, `nati_write_batch_seconds`,
//!   `nati_write_ack_seconds`, `nati_write_commands_total{result}`: the write path
//!   (`chat_core::write::queue`);
//! - `nati_emails_total{outcome}`: the email job;
//! - `nati_webhook_deliveries{endpoint,status}`: the webhook outbox, read from the database at
//!   each scrape (so several nodes report the same shared numbers);
//! - `nati_event_log_lag_events`: events in the shared log this node's hub has not published
//!   yet (written through other nodes, or not read yet), at each scrape.
//!
//! Who may read it: with `metrics_token` set, a request with `Authorization: Bearer <token>`;
//! without one, only a client on this machine (a loopback peer, and no `X-Forwarded-For`:
//! a request through a reverse proxy is refused even when the proxy runs here).

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use (one per process: tests run several
/// servers in one process, and they share it).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ];
            let sizes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full("nati_write_batch_size".into()), &sizes)
                })
                .and_then(|b| b.install_recorder());
            match built {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics will be empty");
                    None
                }
            }
        })
        .as_ref()
}

/// Keep histograms bounded between scrapes (the exporter's upkeep), every few seconds.
pub fn spawn_upkeep() {
    if let Some(h) = handle() {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                h.run_upkeep();
            }
        });
    }
}

/// Count and time every request by its route pattern (bounded labels: `/assets/{*path}`,
/// not each file; `unmatched` for the fallback).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("nati_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("nati_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    resp
}

fn allowed(state: &AppState, req: &Request) -> bool {
    let headers = req.headers();
    match state
        .settings
        .metrics_token
        .as_deref()
        .filter(|t| !t.is_empty())
    {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            // Compared as hashes: the time taken says nothing about the token.
            .is_some_and(|given| {
                chat_core::secret::hash_token(given) == chat_core::secret::hash_token(token)
            }),
        None => {
            let local = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .is_some_and(|c| c.0.ip().is_loopback());
            local && !headers.contains_key("x-forwarded-for") && !headers.contains_key("forwarded")
        }
    }
}

/// GET /metrics.
pub async fn page(State(state): State<AppState>, req: Request) -> Response {
    if !allowed(&state, &req) {
        return match state
            .settings
            .metrics_token
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            Some(_) => ApiError::Unauthenticated(
                "metrics: send Authorization: Bearer <metrics_token>".into(),
            )
            .into_response(),
            None => ApiError::NoRoute.into_response(),
        };
    }
    let Some(h) = handle() else {
        return ApiError::NoRoute.into_response();
    };
    // The shared outboxes, as the database has them now.
    match state.store.webhook_counts().await {
        Ok(counts) => {
            for c in counts {
                metrics::gauge!("nati_webhook_deliveries", "endpoint" => c.endpoint.clone(), "status" => c.status.clone())
                    .set(c.count as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: webhook counts not read"),
    }
    match state.store.email_counts().await {
        Ok(counts) => {
            for (status, n) in counts {
                metrics::gauge!("nati_email_outbox", "status" => status).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: email outbox not read"),
    }
    // The database connection pools: open, idle (so busy = open - idle) and the most allowed.
    for p in state.store.pool_stats() {
        metrics::gauge!("nati_db_pool_connections", "pool" => p.name, "state" => "idle")
            .set(f64::from(p.idle));
        metrics::gauge!("nati_db_pool_connections", "pool" => p.name, "state" => "busy")
            .set(f64::from(p.open.saturating_sub(p.idle)));
        metrics::gauge!("nati_db_pool_max_connections", "pool" => p.name).set(f64::from(p.max));
    }
    // How far this node's hub is behind the shared event log: events committed (here or on
    // another node) that its sockets have not been sent yet.
    match state.store.last_event_id().await {
        Ok(last) => {
            metrics::gauge!("nati_event_log_lag_events")
                .set((last - state.hub.published()).max(0) as f64);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: event log not read"),
    }
    h.run_upkeep();
    let mut resp = h.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
