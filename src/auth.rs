//! Who is asking. A request is authenticated by, in this order: an
//! `Authorization: Bearer` token, the `nati_session` cookie (staff and users), or the
//! `nati_guest` cookie. Tokens are looked up by their SHA-256; `ns_` tokens are login
//! sessions, `ng_` tokens guest sessions.
//!
//! Cookie-authenticated writes must come from this server's own origin (`Origin`, or
//! `Sec-Fetch-Site: same-origin`), so another site cannot act for a signed-in admin.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum_extra::extract::CookieJar;
use chat_core::model::{Account, Guest};
use chat_core::secret::{self, GUEST_PREFIX, SESSION_PREFIX};
use chat_core::{Actor, Role};
use time::{Duration, OffsetDateTime};

pub const SESSION_COOKIE: &str = "nati_session";
pub const GUEST_COOKIE: &str = "nati_guest";

/// An authenticated party.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    /// The display name used in messages and the chat's story.
    pub name: String,
    pub account: Option<Account>,
    pub guest: Option<Guest>,
    pub token_hash: String,
}

impl Principal {
    pub fn role(&self) -> Role {
        self.actor.role()
    }

    /// A login session (staff, customer) or a guest session.
    pub fn session_kind(&self) -> SessionKind {
        if self.account.is_some() {
            SessionKind::Login
        } else {
            SessionKind::Guest
        }
    }
}

/// Like [`Principal`], but absent when the request carries no credentials at all (guest
/// start). Credentials that are present but wrong are still refused.
pub struct MaybePrincipal(pub Option<Principal>);

enum Source {
    Bearer,
    Cookie,
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn credentials(parts: &Parts) -> Option<(String, Source)> {
    if let Some(t) = bearer(parts) {
        return Some((t.to_owned(), Source::Bearer));
    }
    let jar = CookieJar::from_headers(&parts.headers);
    if let Some(c) = jar.get(SESSION_COOKIE) {
        return Some((c.value().to_owned(), Source::Cookie));
    }
    jar.get(GUEST_COOKIE)
        .map(|c| (c.value().to_owned(), Source::Cookie))
}

/// Is this cookie-authenticated request from our own pages?
fn same_origin(parts: &Parts, state: &AppState) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    if let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        return origin_is_ours(&parts.headers, origin, state);
    }
    matches!(
        parts
            .headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok()),
        Some("same-origin") | Some("none")
    )
}

/// Which kind of session a token or ticket stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A login session of a user, admin or worker (`ns_` tokens).
    Login,
    /// A guest session (`ng_` tokens).
    Guest,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Login => "session",
            SessionKind::Guest => "guest",
        }
    }

    pub fn parse(s: &str) -> Option<SessionKind> {
        match s {
            "session" => Some(SessionKind::Login),
            "guest" => Some(SessionKind::Guest),
            _ => None,
        }
    }
}

/// Resolve a raw token to a principal, expiring an idle guest on the way.
pub async fn resolve_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let kind = if token.starts_with(SESSION_PREFIX) {
        SessionKind::Login
    } else if token.starts_with(GUEST_PREFIX) {
        SessionKind::Guest
    } else {
        return Err(ApiError::Unauthenticated("not a Nati Chat token".into()));
    };
    resolve_hash(state, kind, &secret::hash_token(token)).await
}

/// Resolve a session by the hash of its token.
pub async fn resolve_hash(
    state: &AppState,
    kind: SessionKind,
    token_hash: &str,
) -> Result<Principal, ApiError> {
    let now = OffsetDateTime::now_utc();
    let token_hash = token_hash.to_owned();
    match kind {
        SessionKind::Login => {
            let account = state
                .store
                .session_account(&token_hash, now)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthenticated(
                        "the session has ended or the account is deactivated; sign in again".into(),
                    )
                })?;
            Ok(Principal {
                actor: account.actor(),
                name: account.name.clone(),
                account: Some(account),
                guest: None,
                token_hash,
            })
        }
        SessionKind::Guest => {
            let guest = state
                .store
                .guest_by_token(&token_hash)
                .await?
                .ok_or_else(|| ApiError::Unauthenticated("unknown guest session".into()))?;
            require_live_guest(state, &guest, now).await?;
            // Record activity, at most about once a second per guest.
            if now - guest.last_seen_at >= Duration::seconds(1) {
                state.store.touch_guest(guest.guest_id, now).await?;
            }
            Ok(Principal {
                actor: Actor::Guest(guest.guest_id),
                name: guest.display_name(),
                account: None,
                guest: Some(guest),
                token_hash,
            })
        }
    }
}

/// Is this session still usable, read-only (no activity recorded)? What a socket checks
/// again while it stays open, since a session can end on another node (signed out there,
/// account deactivated, guest expired by another node's job).
pub async fn session_alive(
    state: &AppState,
    kind: SessionKind,
    token_hash: &str,
) -> Result<bool, ApiError> {
    let now = OffsetDateTime::now_utc();
    Ok(match kind {
        SessionKind::Login => state
            .store
            .session_account(token_hash, now)
            .await?
            .is_some(),
        SessionKind::Guest => match state.store.guest_by_token(token_hash).await? {
            None => false,
            Some(g) => !guest_ended(state, &g, now),
        },
    })
}

/// Has this guest session ended: expired, or `guest_inactivity_secs` without activity?
/// (The expiry job expires the latter on its next sweep.)
pub fn guest_ended(state: &AppState, guest: &Guest, now: OffsetDateTime) -> bool {
    let idle = Duration::seconds(state.settings.guest_inactivity_secs as i64);
    guest.expired_at.is_some() || guest.last_seen_at + idle <= now
}

/// Refuse a guest session that has ended. One that ran out of time just now is expired
/// at once (its chats close), not left for the sweep.
pub async fn require_live_guest(
    state: &AppState,
    guest: &Guest,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    if guest.expired_at.is_none() && guest_ended(state, guest, now) {
        crate::jobs::expiry::expire(state, guest.guest_id).await?;
    }
    if guest_ended(state, guest, now) {
        return Err(ApiError::GuestExpired);
    }
    Ok(())
}

/// Does this `Origin` belong to this server (its public URL, or the Host it was reached at)?
pub fn origin_is_ours(headers: &axum::http::HeaderMap, origin: &str, state: &AppState) -> bool {
    if let Some(public) = &state.settings.public_url
        && public.trim_end_matches('/').eq_ignore_ascii_case(origin)
    {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin.eq_ignore_ascii_case(&format!("http://{host}"))
        || origin.eq_ignore_ascii_case(&format!("https://{host}"))
}

/// Authenticate a WebSocket upgrade by bearer header or cookie. A browser always sends
/// `Origin` on a WebSocket; with a cookie it must be ours (cross-site WebSocket hijacking).
pub async fn authenticate_socket(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<Principal>, ApiError> {
    let Some((token, source)) = credentials(parts) else {
        return Ok(None);
    };
    if matches!(source, Source::Cookie)
        && let Some(origin) = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        && !origin_is_ours(&parts.headers, origin, state)
    {
        return Err(ApiError::CrossSite);
    }
    resolve_token(state, &token).await.map(Some)
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Principal>, ApiError> {
    let Some((token, source)) = credentials(parts) else {
        return Ok(None);
    };
    if matches!(source, Source::Cookie) && !same_origin(parts, state) {
        return Err(ApiError::CrossSite);
    }
    resolve_token(state, &token).await.map(Some)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state)
            .await?
            .ok_or_else(ApiError::unauthenticated)
    }
}

impl FromRequestParts<AppState> for MaybePrincipal {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(MaybePrincipal)
    }
}
