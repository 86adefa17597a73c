//! The seed's seven `/api/chat/*` endpoints and the ones the panels need besides
//! (details, escalate, reopen, unassign, mark read).

use crate::auth::{GUEST_COOKIE, MaybePrincipal, Principal};
use crate::error::{ApiError, ApiResult, ErrorBody, Json, Query};
use crate::http::{ClientIp, session_cookie};
use crate::service;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use chat_core::model::{
    ChatFilter, ChatRating, ChatSummary, Guest, Message, NewChat, Page, ReadPosition, SendOutcome,
};
use chat_core::policy::{self, ChatAction};
use chat_core::secret::{self, GUEST_PREFIX};
use chat_core::{
    AccountRole, Actor, ChatId, ChatStatus, GuestId, MessageId, UserId, WorkerId, validate,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// What the chat is about. Optional.
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub topic: Option<String>,
    /// The first message. Optional.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub message: Option<String>,
    /// Guests only: how to address them.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: Option<String>,
    /// Guests only: where to send follow-up.
    #[schema(format = Email, max_length = 254, pattern = r"^[^\s@\u0000-\u001F\u007F-\u009F]+@[^\s@.\u0000-\u001F\u007F-\u009F][^\s@\u0000-\u001F\u007F-\u009F]*\.[^\s@\u0000-\u001F\u007F-\u009F]*[^\s@.\u0000-\u001F\u007F-\u009F]$")]
    pub email: Option<String>,
    /// Your id for this start: a retry with the same id returns the same chat.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    pub client_id: Option<String>,
    /// Guests with an email: send me the transcript when a chat closes.
    pub transcript: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct GuestSession {
    pub guest_id: GuestId,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The session ends after this many seconds without activity.
    pub expires_after_idle_secs: u64,
}

#[derive(Serialize, ToSchema)]
pub struct StartResponse {
    pub chat: ChatSummary,
    /// The first message, if one was sent.
    pub message: Option<Message>,
    /// The guest session, when a guest started the chat.
    pub guest: Option<GuestSession>,
    /// Returned once, when a new guest session is created: keep it, it is the guest's
    /// only key (send it as `Authorization: Bearer`).
    pub guest_token: Option<String>,
}

fn guest_session(g: &Guest, idle: u64) -> GuestSession {
    GuestSession {
        guest_id: g.guest_id,
        name: g.name.clone(),
        email: g.email.clone(),
        expires_after_idle_secs: idle,
    }
}

/// POST /api/chat/start — a customer starts a chat.
///
/// Signed-in users start a chat as themselves. Without credentials, a guest session is
/// created (optional `name` and `email`) and its token returned once; a guest that already
/// has a token starts another chat in the same session. Staff do not start chats.
#[utoipa::path(post, path = "/api/chat/start", tag = "chat", request_body = StartRequest,
    responses((status = 201, body = StartResponse), (status = 200, description = "a retried start (same client_id)", body = StartResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    MaybePrincipal(who): MaybePrincipal,
    jar: CookieJar,
    Json(req): Json<StartRequest>,
) -> ApiResult<Response> {
    let topic = validate::topic(req.topic.as_deref().unwrap_or(""))?;
    let first = req
        .message
        .as_deref()
        .map(validate::message_text)
        .transpose()?;
    let client_id = req
        .client_id
        .as_deref()
        .map(validate::client_id)
        .transpose()?;
    let now = OffsetDateTime::now_utc();
    let idle = state.settings.guest_inactivity_secs;
    let (who, new_token) = match who {
        Some(p) if p.actor.is_staff() => {
            return Err(ApiError::Forbidden(
                "staff do not start chats; customers do".into(),
            ));
        }
        Some(p) => {
            // "Signed-in customers only" holds for guests who started before it was set.
            if matches!(p.actor, Actor::Guest(_)) && !state.settings.guests_allowed {
                return Err(ApiError::GuestsNotAllowed);
            }
            if matches!(p.actor, Actor::User(_))
                && (req.name.is_some() || req.email.is_some() || req.transcript.is_some())
            {
                return Err(ApiError::Unprocessable(
                    "name and email are for guests; a signed-in user has them already".into(),
                ));
            }
            (p, None)
        }
        None => {
            if !state.settings.guests_allowed {
                return Err(ApiError::GuestsNotAllowed);
            }
            state.limits.guest_start(ip)?;
            let name = req
                .name
                .as_deref()
                .filter(|n| !n.trim().is_empty())
                .map(validate::name)
                .transpose()?;
            let email = req
                .email
                .as_deref()
                .filter(|e| !e.trim().is_empty())
                .map(validate::email)
                .transpose()?;
            if req.transcript == Some(true) && email.is_none() {
                return Err(ApiError::Unprocessable(
                    "transcript: give an email to receive the transcript".into(),
                ));
            }
            let token = secret::new_token(GUEST_PREFIX);
            let guest = state
                .store
                .create_guest(
                    &secret::hash_token(&token),
                    name.as_deref(),
                    email.as_deref(),
                    now,
                )
                .await?;
            if req.transcript == Some(true) {
                state
                    .store
                    .set_guest_transcript(guest.guest_id, true)
                    .await?;
            }
            let p = Principal {
                actor: Actor::Guest(guest.guest_id),
                name: guest.display_name(),
                account: None,
                guest: Some(guest),
                token_hash: secret::hash_token(&token),
            };
            (p, Some(token))
        }
    };
    let new = NewChat {
        customer: who.actor,
        customer_name: who.name.clone(),
        topic,
        first_message: first,
        client_id,
    };
    let started = state.store.create_chat(&new, now).await?;
    state.hub.notify();
    let (chat, message) = (started.chat, started.first_message);
    let body = StartResponse {
        chat: service::summary(&state, &who, chat.chat_id).await?,
        message,
        guest: who.guest.as_ref().map(|g| guest_session(g, idle)),
        guest_token: new_token.clone(),
    };
    let status = if started.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let jar = match new_token {
        Some(t) => jar.add(session_cookie(&state, GUEST_COOKIE, t, idle)),
        None => jar,
    };
    Ok((status, jar, Json(body)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub chat_id: ChatId,
    /// 1 to 4000 characters after trimming; stored exactly as sent. Required, unless the
    /// message carries `attachments` (it is then their caption, and may be left out).
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub message: Option<String>,
    /// Your id for this message: a retry with the same id is stored once.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    pub client_id: Option<String>,
    /// A private note for the staff: admins and the chat's worker see it, the customer
    /// never does (not in their history, socket, unread count, emails or webhooks). Staff
    /// only: a customer gets 403. A note changes nothing else in the chat.
    #[serde(default)]
    pub private: bool,
    /// Files for the message: ids from `POST /api/chat/attachments`, uploaded by the sender
    /// for this chat; at most 10, together at most `attachment_message_max_bytes`.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub attachments: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SendResponse {
    pub message: Message,
    /// The chat's status after the message.
    pub chat_status: ChatStatus,
    /// True when this was a retry of a message already stored.
    pub duplicate: bool,
}

/// POST /api/chat/send_message — any participant writes in a chat; staff may write a
/// private note (`private: true`).
#[utoipa::path(post, path = "/api/chat/send_message", tag = "chat", request_body = SendRequest,
    responses((status = 201, body = SendResponse), (status = 200, description = "a retry of a stored message", body = SendResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn send_message(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<SendRequest>,
) -> ApiResult<Response> {
    let (out, chat) = service::send_message(
        &state,
        &who,
        req.chat_id,
        req.message.as_deref(),
        req.client_id.as_deref(),
        req.private,
        &req.attachments,
    )
    .await?;
    let (status, duplicate) = match out {
        SendOutcome::Created(_) => (StatusCode::CREATED, false),
        SendOutcome::Duplicate(_) => (StatusCode::OK, true),
    };
    let body = SendResponse {
        message: out.message().clone(),
        chat_status: chat.status,
        duplicate,
    };
    Ok((status, Json(body)).into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    pub chat_id: ChatId,
    /// Only messages older than this id.
    pub before: Option<MessageId>,
    /// Only messages newer than this id (oldest first from there).
    pub after: Option<MessageId>,
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct MessagesResponse {
    /// Oldest first.
    pub messages: Vec<Message>,
    /// More messages exist beyond this page (older without `after`, newer with it).
    pub has_more: bool,
}

/// GET /api/chat/messages?chat_id= — a page of a chat's history, newest page by default.
#[utoipa::path(get, path = "/api/chat/messages", tag = "chat", params(MessagesQuery),
    responses((status = 200, body = MessagesResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn messages(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<MessagesQuery>,
) -> ApiResult<Json<MessagesResponse>> {
    let limit = validate::page_limit(q.limit)?;
    service::visible_chat(&state, &who, q.chat_id).await?;
    let mut messages = state
        .store
        .messages(
            q.chat_id,
            Page {
                before: q.before,
                after: q.after,
                limit: limit + 1,
                private_notes: policy::sees_private_notes(&who.actor),
            },
        )
        .await?;
    let has_more = messages.len() as i64 > limit;
    if has_more {
        if q.after.is_some() {
            messages.pop();
        } else {
            messages.remove(0);
        }
    }
    Ok(Json(MessagesResponse { messages, has_more }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub chat_id: ChatId,
    pub worker_id: WorkerId,
}

#[derive(Serialize, ToSchema)]
pub struct ChatResponse {
    pub chat: ChatSummary,
}

/// POST /api/chat/assign_worker — an admin assigns or reassigns a worker.
#[utoipa::path(post, path = "/api/chat/assign_worker", tag = "chat", request_body = AssignRequest,
    responses((status = 200, body = ChatResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn assign_worker(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<AssignRequest>,
) -> ApiResult<Json<ChatResponse>> {
    // Who may assign is the policy's call; check it before revealing anything about workers.
    let chat = service::visible_chat(&state, &who, req.chat_id).await?;
    let probe = ChatAction::Assign {
        worker: req.worker_id,
        worker_name: String::new(),
    };
    policy::authorize(&who.actor, &chat, &probe)?;
    let worker = state
        .store
        .account(AccountRole::Worker, req.worker_id.0)
        .await?
        .ok_or(ApiError::NotFound("worker"))?;
    if !worker.active {
        return Err(ApiError::Conflict(format!(
            "{} is deactivated",
            worker.name
        )));
    }
    let action = ChatAction::Assign {
        worker: req.worker_id,
        worker_name: worker.name,
    };
    let chat = service::act(&state, &who, req.chat_id, action).await?;
    Ok(Json(ChatResponse {
        chat: service::summary(&state, &who, chat.chat_id).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatIdRequest {
    pub chat_id: ChatId,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    pub chat_id: ChatId,
    /// Why an admin is needed (optional): kept as a private note from the asker, which
    /// admins and the chat's worker see and the customer never does.
    #[schema(
        max_length = 500,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub reason: Option<String>,
}

async fn act_and_show(
    state: &AppState,
    who: &Principal,
    id: ChatId,
    action: ChatAction,
) -> ApiResult<Json<ChatResponse>> {
    let chat = service::act(state, who, id, action).await?;
    // A worker who escalates still sees the chat; one whose chat moved away does not.
    let summary = match service::summary(state, who, chat.chat_id).await {
        Ok(s) => s,
        Err(e) => return Err(e),
    };
    Ok(Json(ChatResponse { chat: summary }))
}

/// POST /api/chat/close — close ("mark resolved"): admins, the assigned worker, the user.
#[utoipa::path(post, path = "/api/chat/close", tag = "chat", request_body = ChatIdRequest,
    responses((status = 200, body = ChatResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn close(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<ChatIdRequest>,
) -> ApiResult<Json<ChatResponse>> {
    act_and_show(&state, &who, req.chat_id, ChatAction::Close).await
}

/// POST /api/chat/escalate — "need admin": the assigned worker or an admin.
#[utoipa::path(post, path = "/api/chat/escalate", tag = "chat", request_body = EscalateRequest,
    responses((status = 200, body = ChatResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn escalate(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<EscalateRequest>,
) -> ApiResult<Json<ChatResponse>> {
    if let Some(r) = &req.reason {
        if r.chars().count() > 500 {
            return Err(ApiError::Unprocessable(
                "reason: at most 500 characters".into(),
            ));
        }
        if r.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(ApiError::Unprocessable(
                "reason: control characters are not allowed".into(),
            ));
        }
    }
    act_and_show(
        &state,
        &who,
        req.chat_id,
        ChatAction::Escalate { reason: req.reason },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    pub chat_id: ChatId,
    /// 1 (poor) to 5 (excellent).
    #[schema(minimum = 1, maximum = 5)]
    pub stars: i64,
    /// Anything to add (optional): at most 1000 characters, no control characters except
    /// new lines and tabs; stored trimmed, as text.
    #[schema(
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]*$"
    )]
    pub comment: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RateResponse {
    pub rating: ChatRating,
}

/// POST /api/chat/rate — the customer rates a closed chat, once: 1-5 stars and an
/// optional comment. The chat's story gets a line saying so, which its staff see live.
#[utoipa::path(post, path = "/api/chat/rate", tag = "chat", request_body = RateRequest,
    responses((status = 201, body = RateResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn rate(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<RateRequest>,
) -> ApiResult<(StatusCode, Json<RateResponse>)> {
    let rating =
        service::rate(&state, &who, req.chat_id, req.stars, req.comment.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(RateResponse { rating })))
}

#[derive(Serialize, ToSchema)]
pub struct QueueResponse {
    /// Waiting chats (no worker, waiting or open), oldest first (at most 100).
    pub queue: Vec<crate::http::admin::QueuedChat>,
    /// Whether workers may take them (`POST /api/chat/take`).
    pub workers_may_take: bool,
}

/// GET /api/chat/queue — the waiting chats: admins, and workers when admins let workers
/// take chats.
#[utoipa::path(get, path = "/api/chat/queue", tag = "chat",
    responses((status = 200, body = QueueResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn queue(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<QueueResponse>> {
    let settings = state.store.routing_settings().await?;
    let allowed = match who.actor {
        Actor::Admin(_) => true,
        Actor::Worker(_) => settings.workers_may_take,
        _ => false,
    };
    if !allowed {
        return Err(ApiError::Forbidden(
            "the queue is for admins, and for workers when admins let them take chats".into(),
        ));
    }
    Ok(Json(QueueResponse {
        queue: crate::http::admin::queue(&state).await?,
        workers_may_take: settings.workers_may_take,
    }))
}

/// POST /api/chat/take — a worker takes a waiting chat, when admins allow it and the
/// worker has room (the same capacity as automatic assignment).
#[utoipa::path(post, path = "/api/chat/take", tag = "chat", request_body = ChatIdRequest,
    responses((status = 200, body = ChatResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn take(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<ChatIdRequest>,
) -> ApiResult<Json<ChatResponse>> {
    let Actor::Worker(worker) = who.actor else {
        return Err(ApiError::Forbidden("only workers take chats".into()));
    };
    let settings = state.store.routing_settings().await?;
    state
        .store
        .auto_assign_chat(
            req.chat_id,
            worker,
            &who.name,
            settings,
            true,
            OffsetDateTime::now_utc(),
        )
        .await?;
    state.hub.notify();
    Ok(Json(ChatResponse {
        chat: service::summary(&state, &who, req.chat_id).await?,
    }))
}

/// POST /api/chat/reopen — reopen a closed chat, or hand an escalated one back: staff.
#[utoipa::path(post, path = "/api/chat/reopen", tag = "chat", request_body = ChatIdRequest,
    responses((status = 200, body = ChatResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn reopen(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<ChatIdRequest>,
) -> ApiResult<Json<ChatResponse>> {
    act_and_show(&state, &who, req.chat_id, ChatAction::Reopen).await
}

/// POST /api/chat/assign_to_me — an admin takes a chat themselves: out of the queue (and
/// from its worker, if any) until they put it back (`unassign`) or assign a worker.
#[utoipa::path(post, path = "/api/chat/assign_to_me", tag = "chat", request_body = ChatIdRequest,
    responses((status = 200, body = ChatResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn assign_to_me(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<ChatIdRequest>,
) -> ApiResult<Json<ChatResponse>> {
    act_and_show(&state, &who, req.chat_id, ChatAction::AssignToMe).await
}

/// POST /api/chat/unassign — an admin takes the worker off a chat (or puts a chat they
/// took back in the queue).
#[utoipa::path(post, path = "/api/chat/unassign", tag = "chat", request_body = ChatIdRequest,
    responses((status = 200, body = ChatResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn unassign(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<ChatIdRequest>,
) -> ApiResult<Json<ChatResponse>> {
    act_and_show(&state, &who, req.chat_id, ChatAction::Unassign).await
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DetailsQuery {
    pub chat_id: ChatId,
}

/// GET /api/chat/details?chat_id= — one chat with names and the asker's unread count.
#[utoipa::path(get, path = "/api/chat/details", tag = "chat", params(DetailsQuery),
    responses((status = 200, body = ChatResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn details(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<DetailsQuery>,
) -> ApiResult<Json<ChatResponse>> {
    service::visible_chat(&state, &who, q.chat_id).await?;
    Ok(Json(ChatResponse {
        chat: service::summary(&state, &who, q.chat_id).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkReadRequest {
    pub chat_id: ChatId,
    /// Read up to this message; the newest when absent.
    pub message_id: Option<MessageId>,
}

#[derive(Serialize, ToSchema)]
pub struct MarkReadResponse {
    pub position: ReadPosition,
    /// The reader's unread messages in all their chats, after this.
    pub unread_total: i64,
}

/// POST /api/chat/mark_read — move the asker's read position forward.
#[utoipa::path(post, path = "/api/chat/mark_read", tag = "chat", request_body = MarkReadRequest,
    responses((status = 200, body = MarkReadResponse), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn mark_read(
    State(state): State<AppState>,
    who: Principal,
    Json(req): Json<MarkReadRequest>,
) -> ApiResult<Json<MarkReadResponse>> {
    let position = service::mark_read(&state, &who, req.chat_id, req.message_id).await?;
    let counts = state
        .store
        .unread_counts(policy::scope_for(&who.actor), &who.actor)
        .await?;
    Ok(Json(MarkReadResponse {
        position,
        unread_total: counts.iter().map(|(_, n)| n).sum(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open`, `pending`, `escalated` or `closed`.
    pub status: Option<ChatStatus>,
    /// Admins: only this worker's chats.
    pub worker_id: Option<WorkerId>,
    /// Admins: only chats without a worker.
    pub unassigned: Option<bool>,
    /// Admins: only this user's chats.
    pub user_id: Option<UserId>,
    /// Admins: only this guest's chats.
    pub guest_id: Option<GuestId>,
    /// Search customer name and email, topic and message text.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64)]
    pub cursor: Option<String>,
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ListResponse {
    /// Most recently active first.
    pub chats: Vec<ChatSummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn parse_cursor(c: &str) -> ApiResult<(OffsetDateTime, ChatId)> {
    let bad = || ApiError::BadRequest("cursor: not a cursor from this API".into());
    let (t, id) = c.rsplit_once('~').ok_or_else(bad)?;
    let t = OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad())?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    Ok((t, ChatId(id)))
}

/// GET /api/chat/list — the chats the asker may see: admins all (with filters), workers
/// their assigned chats, users and guests their own.
#[utoipa::path(get, path = "/api/chat/list", tag = "chat", params(ListQuery),
    responses((status = 200, body = ListResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<ListResponse>> {
    let limit = validate::page_limit(q.limit)?;
    let admin_filters = q.worker_id.is_some()
        || q.user_id.is_some()
        || q.guest_id.is_some()
        || q.unassigned == Some(true);
    if admin_filters {
        policy::require_admin(&who.actor).map_err(|_| {
            ApiError::Forbidden("only admins filter by worker, user or guest".into())
        })?;
    }
    let query = match q.q.as_deref().map(str::trim) {
        Some("") | None => None,
        Some(s) if s.chars().count() > 200 => {
            return Err(ApiError::Unprocessable("q: at most 200 characters".into()));
        }
        Some(s) => Some(s.to_owned()),
    };
    let filter = ChatFilter {
        status: q.status,
        worker_id: q.worker_id,
        unassigned: q.unassigned.unwrap_or(false),
        user_id: q.user_id,
        guest_id: q.guest_id,
        query,
        before_updated: q.cursor.as_deref().map(parse_cursor).transpose()?,
        limit: limit + 1,
    };
    let mut chats = state
        .store
        .list_chats(policy::scope_for(&who.actor), &filter, &who.actor)
        .await?;
    let next_cursor = if chats.len() as i64 > limit {
        chats.truncate(limit as usize);
        chats.last().map(|c| {
            let t = c
                .chat
                .updated_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            format!("{t}~{}", c.chat.chat_id)
        })
    } else {
        None
    };
    Ok(Json(ListResponse { chats, next_cursor }))
}

#[derive(Serialize, ToSchema)]
pub struct ChatUnread {
    pub chat_id: ChatId,
    pub unread: i64,
}

#[derive(Serialize, ToSchema)]
pub struct UnreadResponse {
    /// For the bell.
    pub total: i64,
    /// Chats with unread messages (others are left out).
    pub chats: Vec<ChatUnread>,
}

/// GET /api/chat/unread_count — the asker's unread messages, in total and per chat.
#[utoipa::path(get, path = "/api/chat/unread_count", tag = "chat",
    responses((status = 200, body = UnreadResponse), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn unread_count(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<UnreadResponse>> {
    let counts = state
        .store
        .unread_counts(policy::scope_for(&who.actor), &who.actor)
        .await?;
    Ok(Json(UnreadResponse {
        total: counts.iter().map(|(_, n)| n).sum(),
        chats: counts
            .into_iter()
            .map(|(chat_id, unread)| ChatUnread { chat_id, unread })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestResumeRequest {
    /// The `resume` parameter of the link in a guest's email.
    #[schema(min_length = 1, max_length = 2048)]
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct GuestResumeResponse {
    /// The guest's new token (the old one stops working). Send it as `Authorization: Bearer`.
    pub guest_token: String,
    pub guest: GuestSession,
}

/// POST /api/chat/guest_resume — continue a guest's conversation from the signed, expiring
/// link in their email, on any device: the guest gets a fresh token. A link works once.
#[utoipa::path(post, path = "/api/chat/guest_resume", tag = "chat", request_body = GuestResumeRequest,
    responses((status = 200, body = GuestResumeResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn guest_resume(
    State(state): State<AppState>,
    jar: CookieJar,
    Json(req): Json<GuestResumeRequest>,
) -> ApiResult<Response> {
    if !state.settings.guests_allowed {
        return Err(ApiError::GuestsNotAllowed);
    }
    let now = OffsetDateTime::now_utc();
    let guest_id = state
        .links
        .verify_guest_resume(&req.token, now)
        .map_err(|e| ApiError::Unauthenticated(format!("resume link refused: {e}")))?;
    let guest = state
        .store
        .guest(guest_id)
        .await?
        .ok_or(ApiError::GuestExpired)?;
    crate::auth::require_live_guest(&state, &guest, now).await?;
    // A link works once: remembered (by its hash, with the host tokens' used ids) for as
    // long as any link could still be valid, so a second use is refused.
    let remember_until = now + time::Duration::seconds(state.settings.guest_link_ttl_secs as i64);
    let link_id = format!("resume:{}", secret::hash_token(&req.token));
    if !state
        .store
        .use_token_id(&link_id, remember_until, now)
        .await?
    {
        return Err(ApiError::Unauthenticated(
            "resume link refused: it was used already (a link works once; the newest email has a fresh one)"
                .into(),
        ));
    }
    let token = secret::new_token(GUEST_PREFIX);
    if !state
        .store
        .rotate_guest_token(guest_id, &secret::hash_token(&token), now)
        .await?
    {
        return Err(ApiError::GuestExpired);
    }
    // Sockets opened with the old token close; the new token opens new ones.
    state.hub.disconnect(Actor::Guest(guest_id), None);
    let idle_secs = state.settings.guest_inactivity_secs;
    let body = GuestResumeResponse {
        guest_token: token.clone(),
        guest: guest_session(&guest, idle_secs),
    };
    let jar = jar.add(session_cookie(&state, GUEST_COOKIE, token, idle_secs));
    Ok((jar, Json(body)).into_response())
}
