//! Sign-in from the host site: a verified host token becomes an ordinary login session.
//!
//! The token rule itself (signature, `alg`, `kid`, claims, times) is
//! [`chat_core::hosttoken`]; this module adds what needs IO, in this order, so that a
//! refused token creates nothing: verify (no IO) → spend the `jti` (a replay stops here) →
//! create or refresh the account by (role, host id) → refuse a deactivated account →
//! open a session. Used by `POST /api/auth/host` (and so by the embedded widget and panels).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use chat_core::hosttoken::{self, HostTokenError};
use chat_core::model::Account;
use chat_core::secret::{self, SESSION_PREFIX};
use time::{Duration, OffsetDateTime};

/// A session opened for a host-verified account.
pub struct HostSession {
    pub token: String,
    pub expires_at: OffsetDateTime,
    pub account: Account,
    /// True when this sign-in created the account.
    pub created: bool,
}

/// Exchange a host token for a login session.
pub async fn sign_in(state: &AppState, token: &str) -> ApiResult<HostSession> {
    let now = OffsetDateTime::now_utc();
    let claims = hosttoken::verify(token, &state.settings.host_token_rules(), now)?;
    // Remember the token id for as long as the token is accepted: until `exp` plus the
    // clock leeway `verify` allows (remembering it only until `exp` would let a used token
    // in again during the leeway).
    let accepted_until =
        claims.expires_at + time::Duration::seconds(state.settings.host_token_leeway_secs.max(0));
    if !state
        .store
        .use_token_id(&claims.jti, accepted_until, now)
        .await?
    {
        return Err(HostTokenError::Replayed.into());
    }
    let existed = state
        .store
        .account_by_host_id(claims.role, &claims.host_id)
        .await?
        .is_some();
    let account = state
        .store
        .upsert_host_account(claims.role, &claims.host_id, &claims.profile, now)
        .await?;
    if !account.active {
        return Err(ApiError::Unauthenticated(
            "this account is deactivated".into(),
        ));
    }
    // Short: signing out on the host does not reach here, and the embedded chat asks the
    // page for a fresh token when it runs out.
    let ttl = state.settings.host_session_ttl_secs;
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
    tracing::info!(role = %account.role, id = account.id, host_id = ?account.host_id, created = !existed, "host sign-in");
    Ok(HostSession {
        token,
        expires_at,
        account,
        created: !existed,
    })
}
