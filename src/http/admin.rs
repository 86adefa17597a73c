//! Account management for admins: create, list, deactivate and reactivate.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chat_core::model::{Account, NewAccount};
use chat_core::policy::require_admin;
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
