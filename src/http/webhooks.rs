//! The webhook delivery log for admins: the configured endpoints with their counts, the
//! deliveries with status and last error, and "retry now" for a failed one.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Query};
use crate::state::AppState;
use axum::extract::State;
use chat_core::policy::require_admin;
use chat_core::validate;
use chat_core::webhook::{Delivery, STATUSES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// A configured endpoint (its secrets are never shown) and its deliveries per status.
#[derive(Serialize, ToSchema)]
pub struct EndpointInfo {
    pub name: String,
    pub url: String,
    /// The event types it takes; empty means all.
    pub events: Vec<String>,
    /// How many secrets sign its deliveries (two during a rotation).
    pub secrets: usize,
    /// Deliveries per status (`pending`, `sending`, `delivered`, `failed`, `cancelled`).
    pub counts: BTreeMap<String, i64>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointsResponse {
    pub endpoints: Vec<EndpointInfo>,
}

/// GET /api/admin/webhooks — the configured webhook endpoints and how many deliveries
/// each has in each status (admins only). Endpoints that are no longer configured but
/// still have deliveries are listed with an empty URL.
#[utoipa::path(get, path = "/api/admin/webhooks", tag = "admin",
    responses((status = 200, body = EndpointsResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn endpoints(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<EndpointsResponse>> {
    require_admin(&who.actor)?;
    let mut out: Vec<EndpointInfo> = state
        .settings
        .webhooks
        .iter()
        .map(|e| EndpointInfo {
            name: e.name.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            secrets: e.secrets.len(),
            counts: STATUSES.iter().map(|s| ((*s).to_owned(), 0)).collect(),
        })
        .collect();
    for c in state.store.webhook_counts().await? {
        let i = match out.iter().position(|e| e.name == c.endpoint) {
            Some(i) => i,
            None => {
                out.push(EndpointInfo {
                    name: c.endpoint.clone(),
                    url: String::new(),
                    events: Vec::new(),
                    secrets: 0,
                    counts: STATUSES.iter().map(|s| ((*s).to_owned(), 0)).collect(),
                });
                out.len() - 1
            }
        };
        out[i].counts.insert(c.status, c.count);
    }
    Ok(Json(EndpointsResponse { endpoints: out }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// `pending`, `sending`, `delivered`, `failed` or `cancelled`.
    #[param(pattern = "^(pending|sending|delivered|failed|cancelled)$")]
    pub status: Option<String>,
    /// Only this endpoint (its name).
    #[param(max_length = 64)]
    pub endpoint: Option<String>,
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveriesResponse {
    /// Newest first.
    pub deliveries: Vec<Delivery>,
}

/// GET /api/admin/webhooks/deliveries — the webhook delivery log, newest first, e.g.
/// `?status=failed` (admins only).
#[utoipa::path(get, path = "/api/admin/webhooks/deliveries", tag = "admin", params(DeliveriesQuery),
    responses((status = 200, body = DeliveriesResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<DeliveriesQuery>,
) -> ApiResult<Json<DeliveriesResponse>> {
    require_admin(&who.actor)?;
    let limit = validate::page_limit(q.limit)?;
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::Unprocessable(format!(
            "status: one of {}",
            STATUSES.join(", ")
        )));
    }
    if let Some(e) = &q.endpoint
        && (e.chars().count() > 100 || e.chars().any(char::is_control))
    {
        return Err(ApiError::Unprocessable(
            "endpoint: a configured endpoint's name".into(),
        ));
    }
    Ok(Json(DeliveriesResponse {
        deliveries: state
            .store
            .list_webhooks(q.status.as_deref(), q.endpoint.as_deref(), limit)
            .await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// A delivery in status `failed`.
    pub id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RetryResponse {
    /// True: the delivery is pending again, due now, with a fresh age limit.
    pub queued: bool,
}

/// POST /api/admin/webhooks/deliveries/retry — put a failed delivery back in the queue
/// now (admins only). 404 when there is no failed delivery with that id.
#[utoipa::path(post, path = "/api/admin/webhooks/deliveries/retry", tag = "admin", request_body = RetryRequest,
    responses((status = 200, body = RetryResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    who: Principal,
    Json(r): Json<RetryRequest>,
) -> ApiResult<Json<RetryResponse>> {
    require_admin(&who.actor)?;
    let now = OffsetDateTime::now_utc();
    let age =
        time::Duration::seconds(state.settings.webhook_max_age_secs.min(i64::MAX as u64) as i64);
    if !state.store.retry_webhook(r.id, now + age, now).await? {
        return Err(ApiError::NotFound("failed delivery"));
    }
    Ok(Json(RetryResponse { queued: true }))
}
