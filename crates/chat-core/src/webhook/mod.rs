//! Webhooks, the rules in one place: which stored event becomes which webhook event, what
//! its payload says, how a delivery is signed, and how long to wait before a retry.
//!
//! - **Events** ([`EventType`]): `chat.started`, `message.created` (people's messages, not
//!   system lines or private notes), `chat.assigned` (assigned or reassigned: new and previous worker),
//!   `chat.status_changed` (previous and new status), `message.missed` (when the
//!   missed-message email for that recipient is due, whatever their email switch says) and
//!   `guest.expired`. The chat events are derived from the stored event log by
//!   [`from_stored`], so a restart or a second node plans exactly the same ones.
//! - **Payload**: `{"type", "timestamp", "data": {...}}` with ids only, never message text.
//! - **Signing** ([`sign`]), the Standard Webhooks way: `v1,<base64 HMAC-SHA256 of
//!   "{id}.{timestamp}.{body}">` keyed with the bytes of a `whsec_<base64>` secret; with
//!   several secrets (a rotation), one signature per secret, space-separated.
//! - **Retries** ([`retry_delay`]): exponential backoff with jitter, capped.

use crate::actor::Actor;
use crate::ids::{ChatId, GuestId, MessageId, WorkerId};
use crate::model::{Chat, StoredEvent};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

mod delivery;
pub use delivery::*;

/// What can be wrong with webhook settings.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("a webhook secret must look like whsec_<base64>")]
    SecretPrefix,
    #[error("a webhook secret's part after whsec_ is not valid base64")]
    SecretBase64,
    #[error("a webhook secret must have at least 16 bytes")]
    SecretTooShort,
    #[error("unknown webhook event type `{0}`")]
    UnknownEvent(String),
    #[error("an endpoint needs at least one secret")]
    NoSecret,
}

/// The kinds of webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "chat.started")]
    ChatStarted,
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "chat.assigned")]
    ChatAssigned,
    #[serde(rename = "chat.status_changed")]
    ChatStatusChanged,
    #[serde(rename = "message.missed")]
    MessageMissed,
    #[serde(rename = "guest.expired")]
    GuestExpired,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::ChatStarted,
        EventType::MessageCreated,
        EventType::ChatAssigned,
        EventType::ChatStatusChanged,
        EventType::MessageMissed,
        EventType::GuestExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ChatStarted => "chat.started",
            EventType::MessageCreated => "message.created",
            EventType::ChatAssigned => "chat.assigned",
            EventType::ChatStatusChanged => "chat.status_changed",
            EventType::MessageMissed => "message.missed",
            EventType::GuestExpired => "guest.expired",
        }
    }

    pub fn parse(s: &str) -> Result<Self, WebhookError> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| WebhookError::UnknownEvent(s.to_owned()))
    }
}

/// A person in a payload: role and id in the chat, and the host site's id for them when
/// the account is linked to one (absent otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Party {
    /// `user`, `guest`, `admin` or `worker`.
    pub role: String,
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host_id: Option<String>,
}

impl Party {
    pub fn of(actor: &Actor) -> Party {
        Party {
            role: actor.sender_type().as_str().to_owned(),
            id: actor.raw_id(),
            host_id: None,
        }
    }
    pub fn actor(&self) -> Option<Actor> {
        Actor::from_parts(&self.role, self.id)
    }
}

/// One webhook event, ready to be queued for each endpoint that wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    pub event_type: EventType,
    /// Unique per event: with the endpoint, the outbox's idempotency key; hashed, the
    /// `webhook-id` receivers de-duplicate by.
    pub key: String,
    /// The chat whose deliveries are kept in order (none for `guest.expired`).
    pub chat_id: Option<ChatId>,
    /// When the event happened (for `message.missed`: when it became due).
    pub at: OffsetDateTime,
    /// Position in the chat's order: the event log id, times 4, plus which webhook event
    /// of it this is (`message.missed`: 3, right after its message).
    pub ord: i64,
    pub data: serde_json::Value,
}

impl WebhookEvent {
    /// The request body: `{"type", "timestamp", "data"}`.
    pub fn body(&self) -> String {
        let ts = self
            .at
            .to_offset(time::UtcOffset::UTC)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        serde_json::json!({"type": self.event_type.as_str(), "timestamp": ts, "data": self.data})
            .to_string()
    }

    /// The stable `webhook-id`: the same for every attempt and every node.
    pub fn webhook_id(&self) -> String {
        webhook_id(&self.key)
    }
}

/// `msg_` and 32 hex digits of SHA-256 of the event key.
pub fn webhook_id(key: &str) -> String {
    let h = Sha256::digest(key.as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

fn actor_of(role: Option<&str>, id: Option<i64>) -> Option<Actor> {
    Actor::from_parts(role?, id?)
}

/// The webhook events of one stored event. `previous` is the chat as it was before this
/// event (the payload of its previous `chat.created`/`chat.updated`); needed only for
/// `chat.updated`, which otherwise yields nothing.
pub fn from_stored(e: &StoredEvent, previous: Option<&Chat>) -> Vec<WebhookEvent> {
    let make = |t: EventType, sub: i64, data: serde_json::Value| WebhookEvent {
        event_type: t,
        key: format!("{}:{}", t.as_str(), e.event_id),
        chat_id: Some(e.chat_id),
        at: e.created_at,
        ord: e.event_id.saturating_mul(4) + sub,
        data,
    };
    match e.kind.as_str() {
        "chat.created" => {
            let customer = match (e.user_id, e.guest_id) {
                (Some(u), _) => Actor::User(u),
                (None, Some(g)) => Actor::Guest(g),
                _ => return Vec::new(),
            };
            vec![make(
                EventType::ChatStarted,
                0,
                serde_json::json!({"chat_id": e.chat_id, "customer": Party::of(&customer)}),
            )]
        }
        "message.created" => {
            let p = &e.payload;
            let Some(sender) = actor_of(p["sender_type"].as_str(), p["sender_id"].as_i64()) else {
                return Vec::new(); // a system note: told by the chat events
            };
            if p["is_private"].as_bool() == Some(true) {
                return Vec::new(); // a private note stays inside the team
            }
            let Some(message_id) = p["message_id"].as_i64() else {
                return Vec::new();
            };
            let mut data = serde_json::json!({"chat_id": e.chat_id, "message_id": message_id, "sender": Party::of(&sender)});
            // Files: what they are, never their bytes, nor their names (people's text, like
            // the message's own, which webhooks never carry).
            if let Some(files) = p["attachments"].as_array().filter(|f| !f.is_empty()) {
                data["attachments"] = files
                    .iter()
                    .map(|f| {
                        serde_json::json!({"id": f["id"], "kind": f["kind"], "mime": f["mime"],
                            "size": f["size"]})
                    })
                    .collect();
            }
            vec![make(EventType::MessageCreated, 0, data)]
        }
        "chat.updated" => {
            let (Some(before), Ok(now)) =
                (previous, serde_json::from_value::<Chat>(e.payload.clone()))
            else {
                return Vec::new();
            };
            let mut out = Vec::new();
            if now.worker_id != before.worker_id
                && let Some(w) = now.worker_id
            {
                let worker = |w: WorkerId| Party::of(&Actor::Worker(w));
                out.push(make(
                    EventType::ChatAssigned,
                    0,
                    serde_json::json!({
                        "chat_id": e.chat_id,
                        "worker": worker(w),
                        "previous_worker": before.worker_id.map(worker),
                        "assigned_by": now.assigned_by.map(|a| Party::of(&Actor::Admin(a))),
                    }),
                ));
            }
            if now.status != before.status {
                out.push(make(
                    EventType::ChatStatusChanged,
                    1,
                    serde_json::json!({
                        "chat_id": e.chat_id,
                        "previous_status": before.status,
                        "status": now.status,
                    }),
                ));
            }
            out
        }
        _ => Vec::new(),
    }
}

/// `message.missed`: `recipient` has not read `message` in `chat` by `due_at`. It takes
/// its place in the chat's order right after the message's event (`event_id`), and is
/// sent once due.
pub fn missed(
    chat: ChatId,
    message: MessageId,
    recipient: &Actor,
    due_at: OffsetDateTime,
    event_id: i64,
) -> WebhookEvent {
    let r = Party::of(recipient);
    WebhookEvent {
        event_type: EventType::MessageMissed,
        key: format!("message.missed:{}:{}:{}", message.0, r.role, r.id),
        chat_id: Some(chat),
        at: due_at,
        ord: event_id.saturating_mul(4) + 3,
        data: serde_json::json!({"chat_id": chat, "message_id": message, "recipient": r}),
    }
}

/// What a `message.missed` body is about, to check at delivery time that it is still
/// unread: `(chat, message, recipient)`.
pub fn missed_subject(body: &str) -> Option<(ChatId, MessageId, Actor)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    if v["type"] != EventType::MessageMissed.as_str() {
        return None;
    }
    let d = &v["data"];
    let r: Party = serde_json::from_value(d["recipient"].clone()).ok()?;
    Some((
        ChatId(d["chat_id"].as_i64()?),
        MessageId(d["message_id"].as_i64()?),
        r.actor()?,
    ))
}

/// `guest.expired`.
pub fn guest_expired(guest: GuestId, at: OffsetDateTime) -> WebhookEvent {
    WebhookEvent {
        event_type: EventType::GuestExpired,
        key: format!("guest.expired:{}", guest.0),
        chat_id: None,
        at,
        ord: 0,
        data: serde_json::json!({"guest": Party::of(&Actor::Guest(guest))}),
    }
}

/// The key bytes of a `whsec_<base64>` secret.
pub fn secret_bytes(secret: &str) -> Result<Vec<u8>, WebhookError> {
    let b64 = secret
        .trim()
        .strip_prefix("whsec_")
        .ok_or(WebhookError::SecretPrefix)?;
    let bytes = B64.decode(b64).map_err(|_| WebhookError::SecretBase64)?;
    if bytes.len() < 16 {
        return Err(WebhookError::SecretTooShort);
    }
    Ok(bytes)
}

/// The `webhook-signature` header: `v1,<base64>` per secret, space-separated.
pub fn sign(
    secrets: &[String],
    id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NoSecret);
    }
    let mut out = Vec::with_capacity(secrets.len());
    for s in secrets {
        let key = secret_bytes(s)?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&key).map_err(|_| WebhookError::SecretTooShort)?;
        mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
        out.push(format!("v1,{}", B64.encode(mac.finalize().into_bytes())));
    }
    Ok(out.join(" "))
}

/// Wait before retry `attempt` (1-based): `base`·2^(attempt−1), at most `max`, of which
/// the upper half is random (`jitter` in 0..1), so that endpoints coming back are not hit
/// by every node at once.
pub fn retry_delay(base_millis: u64, max_millis: u64, attempt: u32, jitter: f64) -> Duration {
    let factor = 1u64 << attempt.saturating_sub(1).min(30);
    let full = base_millis.saturating_mul(factor).min(max_millis.max(1));
    let half = full / 2;
    let extra = (half as f64 * jitter.clamp(0.0, 1.0)) as u64;
    Duration::milliseconds((full - half + extra) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AdminId, UserId};
    use crate::status::ChatStatus;
    use time::macros::datetime;

    fn chat(worker: Option<i64>, status: ChatStatus) -> Chat {
        let t = datetime!(2026-01-01 0:00 UTC);
        Chat {
            chat_id: ChatId(7),
            user_id: Some(UserId(5)),
            guest_id: None,
            admin_id: None,
            worker_id: worker.map(WorkerId),
            assigned_by: worker.map(|_| AdminId(1)),
            status,
            topic: "secret topic".into(),
            last_seq: 1,
            created_at: t,
            updated_at: t,
            last_message_at: None,
        }
    }

    fn event(id: i64, kind: &str, payload: serde_json::Value) -> StoredEvent {
        StoredEvent {
            event_id: id,
            chat_id: ChatId(7),
            seq: 2,
            kind: kind.into(),
            payload,
            worker_id: None,
            previous_worker_id: None,
            user_id: Some(UserId(5)),
            guest_id: None,
            created_at: datetime!(2026-01-01 12:00 UTC),
        }
    }

    #[test]
    fn a_new_chat_is_chat_started_with_the_customer() {
        let e = event(3, "chat.created", serde_json::json!({}));
        let got = from_stored(&e, None);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].event_type, EventType::ChatStarted);
        assert_eq!(
            got[0].data,
            serde_json::json!({"chat_id": 7, "customer": {"role": "user", "id": 5}})
        );
        let body: serde_json::Value = serde_json::from_str(&got[0].body()).expect("json");
        assert_eq!(body["type"], "chat.started");
        assert_eq!(body["timestamp"], "2026-01-01T12:00:00Z");
        assert!(!got[0].body().contains("secret topic"), "no text");
    }

    #[test]
    fn people_messages_only_and_never_their_text() {
        let m = serde_json::json!({"message_id": 9, "sender_type": "worker", "sender_id": 2, "message": "hi there"});
        let got = from_stored(&event(4, "message.created", m), None);
        assert_eq!(got[0].event_type, EventType::MessageCreated);
        assert_eq!(
            got[0].data,
            serde_json::json!({"chat_id": 7, "message_id": 9, "sender": {"role": "worker", "id": 2}})
        );
        assert!(!got[0].body().contains("hi there"));
        let system =
            serde_json::json!({"message_id": 10, "sender_type": "system", "sender_id": null});
        assert!(from_stored(&event(5, "message.created", system), None).is_empty());
        let note = serde_json::json!({"message_id": 11, "sender_type": "worker", "sender_id": 2, "is_private": true});
        assert!(from_stored(&event(6, "message.created", note), None).is_empty());
        let photo = serde_json::json!({"message_id": 12, "sender_type": "guest", "sender_id": 5,
            "message": "", "attachments": [{"id": "ab12", "kind": "image", "mime": "image/jpeg",
            "name": "home-address.jpg", "size": 1234, "width": 3, "height": 4, "thumb": true}]});
        let got = from_stored(&event(7, "message.created", photo), None);
        assert_eq!(
            got[0].data["attachments"],
            serde_json::json!([{"id": "ab12", "kind": "image", "mime": "image/jpeg", "size": 1234}])
        );
        assert!(!got[0].body().contains("home-address"), "no file names");
        let read = event(6, "message.read", serde_json::json!({}));
        assert!(from_stored(&read, None).is_empty());
    }

    #[test]
    fn updates_become_assignment_and_status_changes() {
        let before = chat(None, ChatStatus::Pending);
        let after = chat(Some(3), ChatStatus::Open);
        let e = event(
            8,
            "chat.updated",
            serde_json::to_value(&after).expect("json"),
        );
        let got = from_stored(&e, Some(&before));
        let types: Vec<_> = got.iter().map(|w| w.event_type).collect();
        assert_eq!(
            types,
            [EventType::ChatAssigned, EventType::ChatStatusChanged]
        );
        assert_eq!(
            got[0].data["worker"],
            serde_json::json!({"role": "worker", "id": 3})
        );
        assert_eq!(got[0].data["previous_worker"], serde_json::Value::Null);
        assert_eq!(got[1].data["previous_status"], "pending");
        assert_eq!(got[1].data["status"], "open");
        assert!(got[0].ord < got[1].ord);
        assert_ne!(got[0].key, got[1].key);
        // Reassigned: the previous worker is named; unassigning says nothing.
        let re = chat(Some(4), ChatStatus::Open);
        let e = event(9, "chat.updated", serde_json::to_value(&re).expect("json"));
        let got = from_stored(&e, Some(&after));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data["previous_worker"]["id"], 3);
        let none = chat(None, ChatStatus::Open);
        let e = event(
            10,
            "chat.updated",
            serde_json::to_value(&none).expect("json"),
        );
        assert!(from_stored(&e, Some(&re)).is_empty());
        // Without the state before, nothing can be said.
        assert!(from_stored(&e, None).is_empty());
    }

    #[test]
    fn missed_and_expired_keys_are_stable() {
        let t = datetime!(2026-01-01 12:10 UTC);
        let a = missed(ChatId(7), MessageId(9), &Actor::User(UserId(5)), t, 4);
        let b = missed(ChatId(7), MessageId(9), &Actor::User(UserId(5)), t, 4);
        assert_eq!(a.webhook_id(), b.webhook_id());
        assert!(a.webhook_id().starts_with("msg_"));
        assert_eq!(
            missed_subject(&a.body()),
            Some((ChatId(7), MessageId(9), Actor::User(UserId(5))))
        );
        let g = guest_expired(GuestId(3), t);
        assert_eq!(g.chat_id, None);
        assert_eq!(g.data["guest"]["role"], "guest");
        assert_eq!(missed_subject(&g.body()), None);
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The Standard Webhooks reference test vector.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let body = r#"{"test": 2432232314}"#;
        let got = sign(
            std::slice::from_ref(&secret),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        )
        .expect("sign");
        assert_eq!(got, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let two = sign(
            &[
                secret.clone(),
                "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            ],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        )
        .expect("sign");
        let parts: Vec<&str> = two.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], got);
        assert_eq!(
            sign(&["nope".into()], "x", 1, "b"),
            Err(WebhookError::SecretPrefix)
        );
        assert_eq!(
            sign(&["whsec_!!".into()], "x", 1, "b"),
            Err(WebhookError::SecretBase64)
        );
        assert_eq!(sign(&[], "x", 1, "b"), Err(WebhookError::NoSecret));
        assert_eq!(EventType::parse("chat.started"), Ok(EventType::ChatStarted));
        assert!(EventType::parse("chat.nope").is_err());
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_a_cap() {
        assert_eq!(
            retry_delay(1000, 3_600_000, 1, 0.0),
            Duration::milliseconds(500)
        );
        assert_eq!(
            retry_delay(1000, 3_600_000, 1, 1.0),
            Duration::milliseconds(1000)
        );
        assert_eq!(
            retry_delay(1000, 3_600_000, 3, 1.0),
            Duration::milliseconds(4000)
        );
        assert_eq!(
            retry_delay(1000, 3_600_000, 40, 1.0),
            Duration::milliseconds(3_600_000)
        );
        let d = retry_delay(1000, 3_600_000, 2, 0.5);
        assert!(d >= Duration::milliseconds(1000) && d <= Duration::milliseconds(2000));
    }
}
