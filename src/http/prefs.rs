//! Notification preferences of the signed-in account.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody, Json};
use crate::state::AppState;
use axum::extract::State;
use chat_core::AccountRole;
use chat_core::model::Preferences;
use time::OffsetDateTime;

fn account_of(who: &Principal) -> ApiResult<(AccountRole, i64)> {
    who.account.as_ref().map(|a| (a.role, a.id)).ok_or_else(|| {
        ApiError::Forbidden(
            "guests have no preferences; give an email when starting a chat instead".into(),
        )
    })
}

/// GET /api/me/preferences — the account's notification preferences.
#[utoipa::path(get, path = "/api/me/preferences", tag = "preferences",
    responses((status = 200, body = Preferences), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn get(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Preferences>> {
    let (role, id) = account_of(&who)?;
    Ok(Json(state.store.preferences(role, id).await?))
}

/// The rules for preferences: delay up to a week, quiet hours 0-23 and both or neither, in
/// a known time zone.
fn check(p: &Preferences) -> ApiResult<()> {
    if !(0..=7 * 24 * 3600).contains(&p.email_delay_secs) {
        return Err(ApiError::Unprocessable(
            "email_delay_secs: between 0 and 604800".into(),
        ));
    }
    if !chat_core::notify::known_time_zone(&p.time_zone) {
        return Err(ApiError::Unprocessable(
            "time_zone: an IANA time zone name such as \"Europe/Berlin\" or \"UTC\"".into(),
        ));
    }
    match (p.quiet_start_hour, p.quiet_end_hour) {
        (None, None) => Ok(()),
        (Some(a), Some(b)) if (0..24).contains(&a) && (0..24).contains(&b) => Ok(()),
        _ => Err(ApiError::Unprocessable(
            "quiet_start_hour and quiet_end_hour: both 0-23, or both null".into(),
        )),
    }
}

/// PUT /api/me/preferences — replace the account's notification preferences.
#[utoipa::path(put, path = "/api/me/preferences", tag = "preferences", request_body = Preferences,
    responses((status = 200, body = Preferences), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn put(
    State(state): State<AppState>,
    who: Principal,
    Json(p): Json<Preferences>,
) -> ApiResult<Json<Preferences>> {
    let (role, id) = account_of(&who)?;
    check(&p)?;
    Ok(Json(
        state
            .store
            .set_preferences(role, id, &p, OffsetDateTime::now_utc())
            .await?,
    ))
}
