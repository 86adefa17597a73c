//! The server-to-server API for the host site's back end, under `/api/host/v1/`, and the
//! admin endpoints that manage its API keys.
//!
//! A key (`nk_...`, shown once, stored as its SHA-256) is sent as `Authorization: Bearer`.
//! Unknown or revoked: 401. Valid but without the call's scope: 403 `missing_scope`.
//! People are named as the host names them: (role, host id), the `sub` of its tokens.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Query};
use crate::http::chat::{ChatUnread, UnreadResponse};
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use chat_core::hosttoken::HostProfile;
use chat_core::model::{Account, ApiKey, ApiScope, ChatFilter, ChatSummary, NewApiKey};
use chat_core::policy::{self, require_admin};
use chat_core::secret::{self, API_KEY_PREFIX};
use chat_core::{AccountRole, ChatError, Store, validate};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// A request authenticated by an API key.
pub struct ApiKeyAuth(pub ApiKey);

impl ApiKeyAuth {
    /// Refuse with 403 unless the key has `scope`.
    pub fn require(&self, scope: ApiScope) -> ApiResult<()> {
        if self.0.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::MissingScope(scope.as_str()))
        }
    }
}

impl FromRequestParts<AppState> for ApiKeyAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, k)| k.trim())
            .filter(|k| k.starts_with(API_KEY_PREFIX))
            .ok_or_else(|| {
                ApiError::Unauthenticated("send an API key: `Authorization: Bearer nk_...`".into())
            })?;
        match state
            .store
            .api_key_by_hash(&secret::hash_token(key))
            .await?
        {
            Some(k) if k.revoked_at.is_none() => Ok(ApiKeyAuth(k)),
            _ => Err(ApiError::Unauthenticated(
                "unknown or revoked API key".into(),
            )),
        }
    }
}

/// Validate and store a new key: shared by the admin API and `nati-chat api-key create`.
/// Returns the key itself (shown once) and its record.
pub async fn create_api_key(
    store: &dyn Store,
    name: &str,
    scopes: &[ApiScope],
) -> ApiResult<(String, ApiKey)> {
    let name = validate::name(name)?;
    if scopes.is_empty() {
        return Err(ChatError::invalid(
            "scopes",
            "give at least one of unread:read, chats:read, accounts:write",
        )
        .into());
    }
    let mut scopes = scopes.to_vec();
    scopes.sort_by_key(|s| s.as_str());
    scopes.dedup();
    let key = secret::new_token(API_KEY_PREFIX);
    let record = store
        .create_api_key(
            &NewApiKey {
                name,
                key_hash: secret::hash_token(&key),
                prefix: key.chars().take(API_KEY_PREFIX.len() + 4).collect(),
                scopes,
            },
            OffsetDateTime::now_utc(),
        )
        .await?;
    Ok((key, record))
}

// ---- admin: manage keys ------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
pub struct ApiKeysResponse {
    /// Newest first; the keys themselves are never shown again.
    pub api_keys: Vec<ApiKey>,
}

/// GET /api/admin/api-keys — the server-to-server API keys (admins only).
#[utoipa::path(get, path = "/api/admin/api-keys", tag = "admin",
    responses((status = 200, body = ApiKeysResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<ApiKeysResponse>> {
    require_admin(&who.actor)?;
    Ok(Json(ApiKeysResponse {
        api_keys: state.store.list_api_keys().await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// What the key is for ("shop back end").
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    #[schema(min_items = 1)]
    pub scopes: Vec<ApiScope>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKeyResponse {
    /// The key: shown this once, stored only as its SHA-256.
    pub key: String,
    pub api_key: ApiKey,
}

/// POST /api/admin/api-keys — create a key (admins only). The key is in this answer only.
#[utoipa::path(post, path = "/api/admin/api-keys", tag = "admin", request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKeyResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<CreateKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKeyResponse>)> {
    require_admin(&who.actor)?;
    let (key, api_key) = create_api_key(state.store.as_ref(), &req.name, &req.scopes).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKeyResponse { key, api_key }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    pub id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyResponse {
    pub api_key: ApiKey,
}

/// POST /api/admin/api-keys/revoke — revoke a key for good (admins only).
#[utoipa::path(post, path = "/api/admin/api-keys/revoke", tag = "admin", request_body = KeyRef,
    responses((status = 200, body = ApiKeyResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    who: Principal,
    Json(r): Json<KeyRef>,
) -> ApiResult<Json<ApiKeyResponse>> {
    require_admin(&who.actor)?;
    let api_key = state
        .store
        .revoke_api_key(r.id, OffsetDateTime::now_utc())
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    Ok(Json(ApiKeyResponse { api_key }))
}

// ---- the host's back end ------------------------------------------------------------------

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PersonQuery {
    pub role: AccountRole,
    /// The host's id for the person (the `sub` of its sign-in tokens).
    #[param(min_length = 1, max_length = 191, pattern = r"\S")]
    pub host_id: String,
    /// Chats: 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

async fn person(state: &AppState, role: AccountRole, host_id: &str) -> ApiResult<Option<Account>> {
    Ok(state.store.account_by_host_id(role, host_id.trim()).await?)
}

#[derive(Serialize, ToSchema)]
pub struct HostUnreadResponse {
    /// The person's chat account; null if they never signed in to the chat (then 0 unread).
    pub account: Option<Account>,
    #[serde(flatten)]
    pub unread: UnreadResponse,
}

/// GET /api/host/v1/unread — a person's unread messages, for the site's own bell
/// (scope `unread:read`).
#[utoipa::path(get, path = "/api/host/v1/unread", tag = "host", params(PersonQuery),
    responses((status = 200, body = HostUnreadResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn unread(
    State(state): State<AppState>,
    key: ApiKeyAuth,
    Query(q): Query<PersonQuery>,
) -> ApiResult<Json<HostUnreadResponse>> {
    key.require(ApiScope::UnreadRead)?;
    let account = person(&state, q.role, &q.host_id).await?;
    let counts = match &account {
        Some(a) => {
            let actor = a.actor();
            state
                .store
                .unread_counts(policy::scope_for(&actor), &actor)
                .await?
        }
        None => Vec::new(),
    };
    Ok(Json(HostUnreadResponse {
        account,
        unread: UnreadResponse {
            total: counts.iter().map(|(_, n)| n).sum(),
            chats: counts
                .into_iter()
                .map(|(chat_id, unread)| ChatUnread { chat_id, unread })
                .collect(),
        },
    }))
}

#[derive(Serialize, ToSchema)]
pub struct HostChatsResponse {
    pub account: Option<Account>,
    /// Most recently updated first, as the person sees them (with their unread counts).
    pub chats: Vec<ChatSummary>,
}

/// GET /api/host/v1/chats — a person's recent chats (scope `chats:read`).
#[utoipa::path(get, path = "/api/host/v1/chats", tag = "host", params(PersonQuery),
    responses((status = 200, body = HostChatsResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn chats(
    State(state): State<AppState>,
    key: ApiKeyAuth,
    Query(q): Query<PersonQuery>,
) -> ApiResult<Json<HostChatsResponse>> {
    key.require(ApiScope::ChatsRead)?;
    let limit = validate::page_limit(q.limit)?;
    let account = person(&state, q.role, &q.host_id).await?;
    let chats = match &account {
        Some(a) => {
            let actor = a.actor();
            let filter = ChatFilter {
                limit,
                ..ChatFilter::default()
            };
            state
                .store
                .list_chats(policy::scope_for(&actor), &filter, &actor)
                .await?
        }
        None => Vec::new(),
    };
    Ok(Json(HostChatsResponse { account, chats }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertPersonRequest {
    pub role: AccountRole,
    #[schema(min_length = 1, max_length = 191, pattern = r"\S")]
    pub host_id: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    #[schema(format = Email, max_length = 254, pattern = r"^[^\s@\u0000-\u001F\u007F-\u009F]+@[^\s@.\u0000-\u001F\u007F-\u009F][^\s@\u0000-\u001F\u007F-\u009F]*\.[^\s@\u0000-\u001F\u007F-\u009F]*[^\s@.\u0000-\u001F\u007F-\u009F]$")]
    pub email: String,
    /// An http(s) URL, or empty for none.
    #[schema(max_length = 2048, pattern = "^(https?://.*)?$")]
    pub avatar_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HostAccountResponse {
    pub account: Account,
}

/// PUT /api/host/v1/accounts — create or refresh a person's account by host id, before
/// they ever open the chat (scope `accounts:write`). Same rules as a host sign-in.
#[utoipa::path(put, path = "/api/host/v1/accounts", tag = "host", request_body = UpsertPersonRequest,
    responses((status = 200, body = HostAccountResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn upsert_account(
    State(state): State<AppState>,
    key: ApiKeyAuth,
    Json(r): Json<UpsertPersonRequest>,
) -> ApiResult<Json<HostAccountResponse>> {
    key.require(ApiScope::AccountsWrite)?;
    let host_id = r.host_id.trim();
    if host_id.is_empty() || host_id.chars().count() > 191 {
        return Err(ChatError::invalid("host_id", "1 to 191 characters").into());
    }
    let avatar_url = match r.avatar_url.filter(|u| !u.is_empty()) {
        Some(u) if (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= 2048 => {
            Some(u)
        }
        Some(_) => {
            return Err(ChatError::invalid(
                "avatar_url",
                "an http(s) URL, at most 2048 characters",
            )
            .into());
        }
        None => None,
    };
    let profile = HostProfile {
        name: validate::name(&r.name)?,
        email: validate::email(&r.email)?,
        avatar_url,
    };
    let account = state
        .store
        .upsert_host_account(r.role, host_id, &profile, OffsetDateTime::now_utc())
        .await?;
    Ok(Json(HostAccountResponse { account }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonRef {
    pub role: AccountRole,
    #[schema(min_length = 1, max_length = 191, pattern = r"\S")]
    pub host_id: String,
}

async fn set_active(
    state: &AppState,
    r: &PersonRef,
    active: bool,
) -> ApiResult<Json<HostAccountResponse>> {
    let found = person(state, r.role, &r.host_id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    let account = state
        .store
        .set_account_active(r.role, found.id, active, OffsetDateTime::now_utc())
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    if !active {
        state.hub.disconnect(account.actor(), None);
    }
    Ok(Json(HostAccountResponse { account }))
}

/// POST /api/host/v1/accounts/deactivate — deactivate a person's account by host id: their
/// sessions end and host sign-in is refused until reactivated (scope `accounts:write`).
#[utoipa::path(post, path = "/api/host/v1/accounts/deactivate", tag = "host", request_body = PersonRef,
    responses((status = 200, body = HostAccountResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn deactivate(
    State(state): State<AppState>,
    key: ApiKeyAuth,
    Json(r): Json<PersonRef>,
) -> ApiResult<Json<HostAccountResponse>> {
    key.require(ApiScope::AccountsWrite)?;
    set_active(&state, &r, false).await
}

/// POST /api/host/v1/accounts/activate — reactivate a person's account by host id
/// (scope `accounts:write`).
#[utoipa::path(post, path = "/api/host/v1/accounts/activate", tag = "host", request_body = PersonRef,
    responses((status = 200, body = HostAccountResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn activate(
    State(state): State<AppState>,
    key: ApiKeyAuth,
    Json(r): Json<PersonRef>,
) -> ApiResult<Json<HostAccountResponse>> {
    key.require(ApiScope::AccountsWrite)?;
    set_active(&state, &r, true).await
}
