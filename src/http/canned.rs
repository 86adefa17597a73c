//! Canned replies: the team's (admins keep them) and each staff member's own, offered in
//! the staff panels' message box as `/shortcut` (docs/support-guide.md). The rules are
//! `chat_core::policy::may_use_canned` and `may_manage_canned`.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody, Json};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chat_core::model::CannedReply;
use chat_core::policy::{may_manage_canned, may_use_canned};
use chat_core::validate::{canned_shortcut, canned_text};
use chat_core::{Actor, ChatError};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct CannedReplies {
    /// The team's replies and the signed-in staff member's own, by shortcut.
    pub replies: Vec<CannedReply>,
}

#[derive(Serialize, ToSchema)]
pub struct CannedReplyResponse {
    pub reply: CannedReply,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCannedReply {
    /// 1-32 of a-z, 0-9, `-`, `_`; a leading `/` is dropped, letters are lowercased.
    #[schema(
        example = "tyres",
        min_length = 1,
        max_length = 33,
        pattern = r"^/?[A-Za-z0-9_-]{1,32}$"
    )]
    pub shortcut: String,
    /// The reply, 1-4000 characters, stored as written. `{customer_name}` and
    /// `{worker_name}` are filled in by the panel when it is used.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub text: String,
    /// A team reply (admins only) instead of one's own.
    #[serde(default)]
    pub shared: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedReplyChange {
    pub id: i64,
    #[schema(
        example = "tyres",
        min_length = 1,
        max_length = 33,
        pattern = r"^/?[A-Za-z0-9_-]{1,32}$"
    )]
    pub shortcut: String,
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub text: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedReplyRef {
    pub id: i64,
}

/// The reply `id` as `who` may change it: another's personal reply is not found.
async fn managed(state: &AppState, who: &Actor, id: i64) -> ApiResult<CannedReply> {
    let reply = state
        .store
        .canned_reply(id)
        .await?
        .ok_or(ApiError::NotFound("canned reply"))?;
    may_manage_canned(who, &reply)?;
    Ok(reply)
}

/// GET /api/chat/canned_replies — the team's replies and one's own (staff only).
#[utoipa::path(get, path = "/api/chat/canned_replies", tag = "canned replies",
    responses((status = 200, body = CannedReplies), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(State(state): State<AppState>, who: Principal) -> ApiResult<Json<CannedReplies>> {
    may_use_canned(&who.actor)?;
    let replies = state.store.canned_replies(&who.actor).await?;
    Ok(Json(CannedReplies { replies }))
}

/// POST /api/chat/canned_replies — add a reply: one's own, or the team's (admins).
#[utoipa::path(post, path = "/api/chat/canned_replies", tag = "canned replies", request_body = NewCannedReply,
    responses((status = 201, body = CannedReplyResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<NewCannedReply>,
) -> ApiResult<(StatusCode, Json<CannedReplyResponse>)> {
    may_use_canned(&who.actor)?;
    if req.shared && !matches!(who.actor, Actor::Admin(_)) {
        return Err(ChatError::Forbidden(
            "team replies are kept by admins; add a personal one instead".into(),
        )
        .into());
    }
    let shortcut = canned_shortcut(&req.shortcut)?;
    let text = canned_text(&req.text)?;
    let owner = (!req.shared).then_some(&who.actor);
    let reply = state
        .store
        .create_canned_reply(owner, &shortcut, &text, OffsetDateTime::now_utc())
        .await?;
    Ok((StatusCode::CREATED, Json(CannedReplyResponse { reply })))
}

/// POST /api/chat/canned_replies/update — change a reply's shortcut and text: one's own,
/// or a team reply (admins).
#[utoipa::path(post, path = "/api/chat/canned_replies/update", tag = "canned replies", request_body = CannedReplyChange,
    responses((status = 200, body = CannedReplyResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<CannedReplyChange>,
) -> ApiResult<Json<CannedReplyResponse>> {
    managed(&state, &who.actor, req.id).await?;
    let shortcut = canned_shortcut(&req.shortcut)?;
    let text = canned_text(&req.text)?;
    let reply = state
        .store
        .update_canned_reply(req.id, &shortcut, &text, OffsetDateTime::now_utc())
        .await?
        .ok_or(ApiError::NotFound("canned reply"))?;
    Ok(Json(CannedReplyResponse { reply }))
}

/// POST /api/chat/canned_replies/delete — delete a reply: one's own, or a team reply
/// (admins).
#[utoipa::path(post, path = "/api/chat/canned_replies/delete", tag = "canned replies", request_body = CannedReplyRef,
    responses((status = 200, body = CannedReplyResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<CannedReplyRef>,
) -> ApiResult<Json<CannedReplyResponse>> {
    let reply = managed(&state, &who.actor, req.id).await?;
    if !state.store.delete_canned_reply(req.id).await? {
        return Err(ApiError::NotFound("canned reply"));
    }
    Ok(Json(CannedReplyResponse { reply }))
}
