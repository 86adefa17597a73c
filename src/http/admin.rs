//! Account management for admins: create, list, deactivate and reactivate.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chat_core::model::{Account, NewAccount};
use chat_core::policy::require_admin;
use chat_core::routing::{RoutingMode, RoutingSettings, SilenceTarget};
use chat_core::{AccountRole, secret, validate};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountsQuery {
    /// Only this role.
    pub role: Option<AccountRole>,
}

#[derive(Serialize, ToSchema)]
pub struct AccountsResponse {
    pub accounts: Vec<Account>,
}

/// GET /api/admin/accounts — list accounts (admins only).
#[utoipa::path(get, path = "/api/admin/accounts", tag = "admin", params(AccountsQuery),
    responses((status = 200, body = AccountsResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<AccountsQuery>,
) -> ApiResult<Json<AccountsResponse>> {
    require_admin(&who.actor)?;
    Ok(Json(AccountsResponse {
        accounts: state.store.list_accounts(q.role).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    pub role: AccountRole,
    #[schema(format = Email, max_length = 254, pattern = r"^[^\s@\u0000-\u001F\u007F-\u009F]+@[^\s@.\u0000-\u001F\u007F-\u009F][^\s@\u0000-\u001F\u007F-\u009F]*\.[^\s@\u0000-\u001F\u007F-\u009F]*[^\s@.\u0000-\u001F\u007F-\u009F]$")]
    pub email: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct AccountResponse {
    pub account: Account,
}

/// Validate and create an account: shared by the API and the `account create` command.
pub async fn create_account(
    store: &dyn chat_core::Store,
    hashing: &crate::hashing::Hashing,
    role: AccountRole,
    email: &str,
    name: &str,
    password: &str,
) -> ApiResult<Account> {
    let email = validate::email(email)?;
    let name = validate::name(name)?;
    validate::password(password)?;
    let pw = password.to_owned();
    let password_hash = hashing
        .run(move || secret::hash_password(&pw))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let account = store
        .create_account(
            &NewAccount {
                role,
                email,
                name,
                password_hash,
            },
            OffsetDateTime::now_utc(),
        )
        .await
        .map_err(|e| match e {
            chat_core::StoreError::Duplicate(_) => {
                ApiError::Conflict(format!("a {role} with this email already exists"))
            }
            other => other.into(),
        })?;
    Ok(account)
}

/// POST /api/admin/accounts — create a worker, user or admin (admins only).
#[utoipa::path(post, path = "/api/admin/accounts", tag = "admin", request_body = CreateAccountRequest,
    responses((status = 201, body = AccountResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<CreateAccountRequest>,
) -> ApiResult<(StatusCode, Json<AccountResponse>)> {
    require_admin(&who.actor)?;
    let account = create_account(
        state.store.as_ref(),
        &state.hashing,
        req.role,
        &req.email,
        &req.name,
        &req.password,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(AccountResponse { account })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountRef {
    pub role: AccountRole,
    pub id: i64,
}

async fn set_active(
    state: &AppState,
    who: &Principal,
    r: &AccountRef,
    active: bool,
) -> ApiResult<Json<AccountResponse>> {
    require_admin(&who.actor)?;
    if !active && who.actor == r.role.actor(r.id) {
        return Err(ApiError::Conflict(
            "you cannot deactivate your own account".into(),
        ));
    }
    let account = state
        .store
        .set_account_active(r.role, r.id, active, OffsetDateTime::now_utc())
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    if !active {
        // A deactivated account's open sockets close now, not at their next request.
        state.hub.disconnect(account.actor(), None);
    }
    Ok(Json(AccountResponse { account }))
}

/// POST /api/admin/accounts/deactivate — deactivate an account and end its sessions.
#[utoipa::path(post, path = "/api/admin/accounts/deactivate", tag = "admin", request_body = AccountRef,
    responses((status = 200, body = AccountResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    who: Principal,
    Json(r): Json<AccountRef>,
) -> ApiResult<Json<AccountResponse>> {
    set_active(&state, &who, &r, false).await
}

/// POST /api/admin/accounts/activate — reactivate an account.
#[utoipa::path(post, path = "/api/admin/accounts/activate", tag = "admin", request_body = AccountRef,
    responses((status = 200, body = AccountResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    who: Principal,
    Json(r): Json<AccountRef>,
) -> ApiResult<Json<AccountResponse>> {
    set_active(&state, &who, &r, true).await
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EmailsQuery {
    /// `pending`, `sending`, `sent`, `cancelled` or `failed`.
    #[param(pattern = "^(pending|sending|sent|cancelled|failed)$")]
    pub status: Option<String>,
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailsResponse {
    /// Newest first.
    pub emails: Vec<chat_core::model::OutboxEmail>,
}

/// GET /api/admin/emails — the missed-message email outbox, e.g. `?status=failed` for the
/// emails that could not be delivered (admins only).
#[utoipa::path(get, path = "/api/admin/emails", tag = "admin", params(EmailsQuery),
    responses((status = 200, body = EmailsResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn emails(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<EmailsQuery>,
) -> ApiResult<Json<EmailsResponse>> {
    require_admin(&who.actor)?;
    let limit = validate::page_limit(q.limit)?;
    if let Some(s) = &q.status
        && !["pending", "sending", "sent", "cancelled", "failed"].contains(&s.as_str())
    {
        return Err(ApiError::Unprocessable(
            "status: pending, sending, sent, cancelled or failed".into(),
        ));
    }
    Ok(Json(EmailsResponse {
        emails: state.store.list_emails(q.status.as_deref(), limit).await?,
    }))
}

/// A chat in the queue, with how long it has waited.
#[derive(Serialize, ToSchema)]
pub struct QueuedChat {
    pub chat_id: chat_core::ChatId,
    pub topic: String,
    pub status: chat_core::ChatStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Seconds since the chat was started.
    pub waiting_secs: i64,
}

/// A worker as the router sees them.
#[derive(Serialize, ToSchema)]
pub struct WorkerLoad {
    pub worker_id: chat_core::WorkerId,
    pub name: String,
    /// A panel open and not set to Away: may be given chats.
    pub available: bool,
    /// Open (not closed) chats assigned to them.
    pub open_chats: i64,
    /// The most they are given automatically (their own, or the settings' `capacity`).
    pub capacity: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RoutingResponse {
    pub settings: RoutingSettings,
    /// Waiting chats (no worker, waiting or open), oldest first (at most 100).
    pub queue: Vec<QueuedChat>,
    /// Active workers, by name.
    pub workers: Vec<WorkerLoad>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRequest {
    pub mode: RoutingMode,
    /// 1 to 50.
    #[schema(minimum = 1, maximum = 50)]
    pub capacity: i64,
    /// Take a chat from a worker who has not answered the customer for this many seconds
    /// (0, the default: never; at most 86400).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 86400)]
    pub silence_secs: i64,
    /// Where such a chat goes: `queue` (the default) or `admins`.
    #[serde(default)]
    pub on_silence: SilenceTarget,
    /// Workers may take waiting chats themselves (default false).
    #[serde(default)]
    pub workers_may_take: bool,
    /// Each worker's own capacity, by worker id (0 to 50); others have `capacity`.
    #[serde(default)]
    pub capacities: std::collections::BTreeMap<i64, i64>,
}

/// The waiting chats, oldest first (at most 100), with their waiting time.
pub async fn queue(state: &AppState) -> ApiResult<Vec<QueuedChat>> {
    let now = OffsetDateTime::now_utc();
    Ok(state
        .store
        .waiting_chats(100)
        .await?
        .into_iter()
        .map(|c| QueuedChat {
            chat_id: c.chat_id,
            topic: c.topic,
            status: c.status,
            created_at: c.created_at,
            waiting_secs: (now - c.created_at).whole_seconds().max(0),
        })
        .collect())
}

async fn routing_view(state: &AppState) -> ApiResult<RoutingResponse> {
    let store = &state.store;
    let settings = store.routing_settings().await?;
    let queue = queue(state).await?;
    let online = state.hub.staff_online();
    let open: std::collections::HashMap<_, _> =
        store.open_chats_per_worker().await?.into_iter().collect();
    let mut workers: Vec<WorkerLoad> = store
        .list_accounts(Some(AccountRole::Worker))
        .await?
        .into_iter()
        .filter(|a| a.active)
        .map(|a| {
            let id = chat_core::WorkerId(a.id);
            WorkerLoad {
                worker_id: id,
                available: online.contains(&chat_core::Actor::Worker(id)),
                open_chats: open.get(&id).copied().unwrap_or(0),
                capacity: settings.capacity_of(id),
                name: a.name,
            }
        })
        .collect();
    workers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(RoutingResponse {
        settings,
        queue,
        workers,
    })
}

/// GET /api/admin/routing — the queue (waiting chats with their waiting time), the
/// workers with their availability and open chats, and how chats are assigned (admins).
#[utoipa::path(get, path = "/api/admin/routing", tag = "admin",
    responses((status = 200, body = RoutingResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn routing(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<RoutingResponse>> {
    require_admin(&who.actor)?;
    Ok(Json(routing_view(&state).await?))
}

/// PUT /api/admin/routing — how chats are assigned: `manual`, `round_robin` or
/// `least_busy`, each worker's capacity, and when a silent worker's chat is taken back
/// (admins). Waiting chats are given out at once.
#[utoipa::path(put, path = "/api/admin/routing", tag = "admin", request_body = RoutingRequest,
    responses((status = 200, body = RoutingResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn set_routing(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<RoutingRequest>,
) -> ApiResult<Json<RoutingResponse>> {
    require_admin(&who.actor)?;
    let settings = RoutingSettings {
        mode: req.mode,
        capacity: req.capacity,
        silence_secs: req.silence_secs,
        on_silence: req.on_silence,
        workers_may_take: req.workers_may_take,
        capacities: req.capacities,
    }
    .validate()?;
    state
        .store
        .set_routing_settings(&settings, OffsetDateTime::now_utc())
        .await?;
    crate::jobs::router::route(&state).await?;
    Ok(Json(routing_view(&state).await?))
}
