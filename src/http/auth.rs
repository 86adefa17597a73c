//! Sign-in, sign-out and "who am I".

use crate::auth::{GUEST_COOKIE, Principal, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult, ErrorBody, Json};
use crate::http::{ClientIp, session_cookie};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use chat_core::model::Account;
use chat_core::secret::{self, SESSION_PREFIX};
use chat_core::{AccountRole, Actor, Role, validate};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(max_length = 254)]
    pub email: String,
    #[schema(max_length = 1024)]
    pub password: String,
    /// Needed only when the same email has accounts in several roles.
    pub role: Option<AccountRole>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer`; the panels use the `nati_session` cookie instead.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub account: Account,
}

/// POST /api/auth/login — password sign-in for users, admins and workers.
///
/// Sets the HttpOnly `nati_session` cookie and returns the same token for API clients.
/// Rate-limited per client address.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    state.limits.login(ip)?;
    let email = validate::email(&req.email).map_err(|_| ApiError::InvalidCredentials)?;
    let roles: Vec<AccountRole> = match req.role {
        Some(r) => vec![r],
        None => AccountRole::ALL.to_vec(),
    };
    // Roles whose password sign-in is off are not even looked at for the password, so
    // that the answer never tells whether a password would have been right.
    let (roles, disabled): (Vec<AccountRole>, Vec<AccountRole>) = roles
        .into_iter()
        .partition(|r| state.settings.password_login.allows(*r));
    let mut matches = Vec::new();
    for role in roles {
        if let Some((account, hash)) = state.store.account_by_email(role, &email).await? {
            matches.push((account, hash));
        }
    }
    // Spend the same time whether or not the email exists.
    let password = req.password.clone();
    let candidates: Vec<(Account, String)> = matches;
    let verified = state
        .hashing
        .run(move || {
            if candidates.is_empty() {
                secret::verify_password(&password, secret::dummy_hash());
                return Vec::new();
            }
            candidates
                .into_iter()
                .filter(|(_, h)| secret::verify_password(&password, h))
                .map(|(a, _)| a)
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let account = match verified.as_slice() {
        [] => {
            // Say "sign in through the site" to someone whose role signs in only there.
            for role in disabled {
                if state.store.account_by_email(role, &email).await?.is_some() {
                    return Err(ApiError::PasswordLoginDisabled(role));
                }
            }
            return Err(ApiError::InvalidCredentials);
        }
        [one] => one.clone(),
        _ => {
            return Err(ApiError::Conflict(
                "this email has accounts in several roles; say which with `role`".into(),
            ));
        }
    };
    if !account.active {
        return Err(ApiError::Unauthenticated(
            "this account is deactivated".into(),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let ttl = state.settings.session_ttl_secs;
    let expires_at = now + Duration::seconds(ttl as i64);
    let token = secret::new_token(SESSION_PREFIX);
    state
        .store
        .create_session(
            &secret::hash_token(&token),
            account.role,
            account.id,
            expires_at,
            now,
        )
        .await?;
    let jar = jar.add(session_cookie(&state, SESSION_COOKIE, token.clone(), ttl));
    Ok((
        jar,
        Json(LoginResponse {
            token,
            expires_at,
            account,
        }),
    )
        .into_response())
}

/// POST /api/auth/logout — end this session and clear its cookie. For a guest this ends
/// the guest session for good (its open chats close, as when it expires).
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204, description = "signed out"), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    who: Principal,
    jar: CookieJar,
) -> ApiResult<Response> {
    match who.actor {
        Actor::Guest(g) => {
            // A guest has one session: leaving ends it (its chats close, as on expiry).
            crate::jobs::expiry::expire(&state, g).await?;
        }
        _ => state.store.delete_session(&who.token_hash).await?,
    }
    // Sockets opened under this session close too.
    state.hub.disconnect(who.actor, Some(&who.token_hash));
    let jar = jar
        .remove(Cookie::build(SESSION_COOKIE).path("/"))
        .remove(Cookie::build(GUEST_COOKIE).path("/"));
    Ok((StatusCode::NO_CONTENT, jar).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub role: Role,
    /// The id in the role's own table (`guest_id` for guests).
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
}

/// GET /api/me — the signed-in account or guest.
#[utoipa::path(get, path = "/api/me", tag = "auth",
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn me(who: Principal) -> Json<MeResponse> {
    Json(MeResponse {
        role: who.role(),
        id: who.actor.raw_id(),
        name: who.name.clone(),
        email: who
            .account
            .as_ref()
            .map(|a| a.email.clone())
            .or_else(|| who.guest.as_ref().and_then(|g| g.email.clone())),
        avatar_url: who.account.as_ref().and_then(|a| a.avatar_url.clone()),
    })
}

/// How the caller wants the session: `cookie` (the panels: also sets `nati_session`) or
/// `bearer` (the token in the body only; the embedded chat in another site's page).
#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    #[default]
    Cookie,
    Bearer,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HostLoginRequest {
    /// The HS256 JWT the host site's back end signed (docs/integration.md).
    #[schema(min_length = 1, max_length = 8192)]
    pub token: String,
    /// `cookie` (default) or `bearer`.
    #[serde(default)]
    pub mode: SessionMode,
}

#[derive(Serialize, ToSchema)]
pub struct HostLoginResponse {
    /// Send as `Authorization: Bearer`.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub account: Account,
    /// True when this sign-in created the account.
    pub created: bool,
}

/// POST /api/auth/host — sign in with a token signed by the host site's back end.
///
/// The token is an HS256 JWT (`kid`, `iss`, `aud`, `role`, `sub`, `name`, `email`, `iat`,
/// `exp`, `jti`; see docs/integration.md), good for one sign-in. The person is identified by
/// (role, `sub`): the first sign-in creates the account, later ones refresh its name, email
/// and avatar. Every refusal is 401 with a `token_*` code (400 `token_malformed` for a
/// string that is not a JWT) and creates nothing. Rate-limited per client address
/// (`host_sign_in_rate_per_minute`: every page of the site that embeds the chat signs in).
#[utoipa::path(post, path = "/api/auth/host", tag = "auth", request_body = HostLoginRequest,
    responses((status = 200, body = HostLoginResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn host(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    Json(req): Json<HostLoginRequest>,
) -> ApiResult<Response> {
    state.limits.host_sign_in(ip)?;
    let s = crate::hostauth::sign_in(&state, &req.token).await?;
    let jar = match req.mode {
        SessionMode::Cookie => jar.add(session_cookie(
            &state,
            SESSION_COOKIE,
            s.token.clone(),
            state.settings.host_session_ttl_secs,
        )),
        SessionMode::Bearer => jar,
    };
    Ok((
        jar,
        Json(HostLoginResponse {
            token: s.token,
            expires_at: s.expires_at,
            account: s.account,
            created: s.created,
        }),
    )
        .into_response())
}
