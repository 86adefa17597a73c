//! What a request does, top to bottom: validate, write through the store (whose writer
//! asks the policy on the chat as locked inside its transaction), wake the hub. Shared by the HTTP
//! handlers and the WebSocket connection, so both follow the same rules.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use chat_core::model::{
    Chat, ChatRating, ChatSummary, NewMessage, NewRating, ReadPosition, SendOutcome,
};
use chat_core::policy::{self, ChatAction};
use chat_core::{ChatId, MessageId, validate};
use time::OffsetDateTime;

/// The chat, if the principal may see it; "not found" otherwise.
pub async fn visible_chat(state: &AppState, who: &Principal, id: ChatId) -> ApiResult<Chat> {
    let chat = state
        .store
        .chat(id)
        .await?
        .ok_or(ApiError::NotFound("chat"))?;
    if policy::can_view(&who.actor, &chat) {
        Ok(chat)
    } else {
        Err(ApiError::NotFound("chat"))
    }
}

/// The chat as the principal sees it in lists.
pub async fn summary(state: &AppState, who: &Principal, id: ChatId) -> ApiResult<ChatSummary> {
    state
        .store
        .chat_summary(id, &who.actor)
        .await?
        .ok_or(ApiError::NotFound("chat"))
}

/// Send a message, or a private note for the staff (`private`), with files uploaded for
/// this chat (`attachments`, their ids; the text is then an optional caption). A retried
/// `client_id` returns the stored message (`Duplicate`).
pub async fn send_message(
    state: &AppState,
    who: &Principal,
    chat_id: ChatId,
    text: Option<&str>,
    client_id: Option<&str>,
    private: bool,
    attachments: &[String],
) -> ApiResult<(SendOutcome, Chat)> {
    let text = match text {
        None if !attachments.is_empty() => String::new(),
        t => validate::message_text(t.unwrap_or_default())?,
    };
    let client_id = client_id.map(validate::client_id).transpose()?;
    // The files are marked sent by the writer, in the message's own transaction
    // (`WriteTx::mark_files_sent`): a refused message leaves them unsent, a crash cannot
    // split the two.
    let files = crate::attachments::for_message(state, who, chat_id, attachments).await?;
    // No read first: the rule runs in the writer on the chat as locked there, and says
    // "not found" to anyone who may not see it.
    let new = NewMessage {
        chat_id,
        sender: who.actor,
        sender_name: who.name.clone(),
        text,
        client_id,
        private,
        attachments: files,
    };
    let action = if private {
        ChatAction::Note
    } else {
        ChatAction::Message
    };
    let out = state
        .store
        .send_message(
            new,
            policy::rule(who.actor, &who.name, action),
            OffsetDateTime::now_utc(),
        )
        .await?;
    state.hub.notify();
    Ok(out)
}

/// Take a chat action (assign, close, escalate, reopen, unassign).
pub async fn act(
    state: &AppState,
    who: &Principal,
    chat_id: ChatId,
    action: ChatAction,
) -> ApiResult<Chat> {
    let chat = state
        .store
        .update_chat(
            chat_id,
            policy::rule(who.actor, &who.name, action),
            OffsetDateTime::now_utc(),
        )
        .await?;
    state.hub.notify();
    Ok(chat)
}

/// The customer rates a closed chat, once (the rule: `policy::may_rate`, asked by the
/// writer on the chat as locked).
pub async fn rate(
    state: &AppState,
    who: &Principal,
    chat_id: ChatId,
    stars: i64,
    comment: Option<&str>,
) -> ApiResult<ChatRating> {
    let (stars, comment) = validate::rating(stars, comment)?;
    let rating = NewRating {
        chat_id,
        rater: who.actor,
        rater_name: who.name.clone(),
        stars,
        comment,
    };
    let out = state
        .store
        .rate_chat(rating, OffsetDateTime::now_utc())
        .await?;
    state.hub.notify();
    Ok(out)
}

/// Mark the chat read up to a message (or all of it).
pub async fn mark_read(
    state: &AppState,
    who: &Principal,
    chat_id: ChatId,
    up_to: Option<MessageId>,
) -> ApiResult<ReadPosition> {
    let chat = visible_chat(state, who, chat_id).await?;
    policy::authorize(&who.actor, &chat, &ChatAction::Read)?;
    let pos = state
        .store
        .mark_read(chat_id, &who.actor, up_to, OffsetDateTime::now_utc())
        .await?;
    state.hub.notify();
    Ok(pos)
}
