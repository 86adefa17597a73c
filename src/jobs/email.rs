//! The missed-message email job: a planner and a sender, both driven by the database.
//!
//! - **Planner**: reads `message.created` events from the event log after its cursor
//!   (`tbl_chat_job_cursors`), asks [`chat_core::notify::recipients`] who should hear about
//!   each, and queues one outbox row per (recipient, chat) due after the recipient's
//!   delay. A burst finds the row already pending and adds nothing. Re-planning after a
//!   crash is harmless (a unique key).
//! - **Sender**: claims due rows (a lease, so a process that dies mid-send leaves its rows
//!   to be claimed again), re-checks at send time what the recipient has still not read
//!   — with the same read position that drives the bell and the ticks — and sends one
//!   summary, or cancels the row if everything was read in time. Failures retry with
//!   backoff; after the last attempt the row is `failed` and shown to admins.
//!
//! Each email carries an idempotency key (recipient, chat, last message covered) as its
//! `Message-ID`, so a retry after a crash between "sent" and "recorded" is recognisable.

use crate::mail::{self, Mailer, Summary};
use crate::state::AppState;
use chat_core::model::{Chat, EmailKind, EmailOutcome, NewEmail, OutboxEmail, Page, Preferences};
use chat_core::{
    AccountRole, Actor, AdminId, ChatId, GuestId, MessageId, SenderType, Store, StoreError, notify,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

const CURSOR: &str = "email_planner";
/// Messages listed in one email; the rest are counted.
const MAX_LISTED: i64 = 20;

fn account_role(actor: &Actor) -> Option<(AccountRole, i64)> {
    match actor {
        Actor::User(u) => Some((AccountRole::User, u.0)),
        Actor::Admin(a) => Some((AccountRole::Admin, a.0)),
        Actor::Worker(w) => Some((AccountRole::Worker, w.0)),
        Actor::Guest(_) => None,
    }
}

/// Read new events and queue emails. Returns how many rows were queued.
/// On a database where the planner never ran, start its cursor at the end of the log:
/// email covers what happens from now on, never old history. Called by `serve` before it
/// accepts a connection, so that nothing written by the first requests is skipped.
pub async fn init_cursor(state: &AppState) -> Result<(), StoreError> {
    let store = &state.store;
    if store.job_cursor(CURSOR).await?.is_none() {
        let last = store.last_event_id().await?;
        store
            .set_job_cursor(CURSOR, last, OffsetDateTime::now_utc())
            .await?;
    }
    Ok(())
}

pub async fn plan(state: &AppState) -> Result<usize, StoreError> {
    let store = &state.store;
    let Some(mut cursor) = store.job_cursor(CURSOR).await? else {
        // First run on this database: start from now, never from old history.
        let last = store.last_event_id().await?;
        store
            .set_job_cursor(CURSOR, last, OffsetDateTime::now_utc())
            .await?;
        return Ok(0);
    };
    let mut queued = 0;
    loop {
        let events = store.events_after(cursor, 500).await?;
        if events.is_empty() {
            break;
        }
        // One look-up per chat and account for the whole batch, and one enqueue: the store
        // keeps one row per (recipient, chat), so a burst becomes one email.
        let mut cache = DueCache::default();
        cache.prefetch(store.as_ref(), &events).await?;
        let mut emails: Vec<NewEmail> = Vec::new();
        for e in &events {
            cursor = e.event_id;
            if e.kind == "chat.updated" {
                queued += plan_transcript(state, e).await? as usize;
                continue;
            }
            if e.kind != "message.created" {
                continue;
            }
            let Some(message_id) = e.payload["message_id"].as_i64() else {
                continue;
            };
            let dues = missed_dues(state, e, notify::Channel::Email, &mut cache).await?;
            emails.extend(dues.into_iter().map(|d| NewEmail {
                kind: EmailKind::Missed,
                recipient: d.recipient,
                chat_id: e.chat_id,
                first_message_id: MessageId(message_id),
                due_at: e.created_at + time::Duration::seconds(d.delay_secs),
            }));
        }
        queued += store
            .enqueue_emails(&emails, OffsetDateTime::now_utc())
            .await?;
        store
            .set_job_cursor(CURSOR, cursor, OffsetDateTime::now_utc())
            .await?;
    }
    Ok(queued)
}

/// What the planners look up about a batch of events, looked up once per batch: the
/// chats (customer columns, which never change), account preferences, whether a guest
/// gave an email address, and the active admins.
#[derive(Default)]
pub(crate) struct DueCache {
    admins: Option<Vec<(AdminId, Preferences)>>,
    chats: HashMap<ChatId, Option<Chat>>,
    preferences: HashMap<(AccountRole, i64), Preferences>,
    guest_has_email: HashMap<GuestId, bool>,
}

impl DueCache {
    /// Read the chats of these events' messages in one go.
    pub(crate) async fn prefetch(
        &mut self,
        store: &dyn Store,
        events: &[chat_core::model::StoredEvent],
    ) -> Result<(), StoreError> {
        let mut ids: Vec<ChatId> = events
            .iter()
            .filter(|e| e.kind == "message.created" && !self.chats.contains_key(&e.chat_id))
            .map(|e| e.chat_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        for c in store.chats(&ids).await? {
            self.chats.insert(c.chat_id, Some(c));
        }
        Ok(())
    }

    async fn chat(&mut self, store: &dyn Store, id: ChatId) -> Result<Option<Chat>, StoreError> {
        if let Some(c) = self.chats.get(&id) {
            return Ok(c.clone());
        }
        let c = store.chat(id).await?;
        self.chats.insert(id, c.clone());
        Ok(c)
    }

    async fn preferences(
        &mut self,
        store: &dyn Store,
        role: AccountRole,
        id: i64,
    ) -> Result<Preferences, StoreError> {
        if let Some(p) = self.preferences.get(&(role, id)) {
            return Ok(p.clone());
        }
        let p = store.preferences(role, id).await?;
        self.preferences.insert((role, id), p.clone());
        Ok(p)
    }

    async fn guest_has_email(&mut self, store: &dyn Store, g: GuestId) -> Result<bool, StoreError> {
        if let Some(b) = self.guest_has_email.get(&g) {
            return Ok(*b);
        }
        let b = store.guest(g).await?.and_then(|g| g.email).is_some();
        self.guest_has_email.insert(g, b);
        Ok(b)
    }

    async fn admins(&mut self, store: &dyn Store) -> Result<&[(AdminId, Preferences)], StoreError> {
        if self.admins.is_none() {
            let mut list = Vec::new();
            for a in store.list_accounts(Some(AccountRole::Admin)).await? {
                if a.active {
                    list.push((
                        AdminId(a.id),
                        store.preferences(AccountRole::Admin, a.id).await?,
                    ));
                }
            }
            self.admins = Some(list);
        }
        Ok(self.admins.as_deref().unwrap_or(&[]))
    }
}

/// Who is to hear, and after how long, that the message of a `message.created` event
/// stayed unread: the one rule behind both the missed-message email and the
/// `message.missed` webhook, so the two are due at the same moment. `admins` caches the
/// active admins and their preferences across the events of one batch.
pub(crate) async fn missed_dues(
    state: &AppState,
    e: &chat_core::model::StoredEvent,
    channel: notify::Channel,
    cache: &mut DueCache,
) -> Result<Vec<notify::Due>, StoreError> {
    let store = state.store.as_ref();
    let p = &e.payload;
    if p["is_private"].as_bool() == Some(true) {
        return Ok(Vec::new()); // a private note: nobody is told by email or webhook
    }
    let Some(sender) = p["sender_type"]
        .as_str()
        .zip(p["sender_id"].as_i64())
        .and_then(|(t, id)| Actor::from_parts(t, id))
    else {
        return Ok(Vec::new()); // system message
    };
    let Some(mut chat) = cache.chat(store, e.chat_id).await? else {
        return Ok(Vec::new());
    };
    // Who was assigned when the message was written.
    chat.worker_id = e.worker_id;
    let worker_prefs = match (sender.is_customer(), chat.worker_id) {
        (true, Some(w)) => Some(cache.preferences(store, AccountRole::Worker, w.0).await?),
        _ => None,
    };
    let user_prefs = match (sender.is_staff(), chat.user_id) {
        (true, Some(u)) => Some(cache.preferences(store, AccountRole::User, u.0).await?),
        _ => None,
    };
    let guest_has_email = match (sender.is_staff(), chat.guest_id) {
        (true, Some(g)) => cache.guest_has_email(store, g).await?,
        _ => false,
    };
    let admins = if sender.is_customer() {
        cache.admins(store).await?
    } else {
        &[]
    };
    Ok(notify::recipients_on(
        channel,
        &chat,
        &sender,
        worker_prefs.as_ref(),
        user_prefs.as_ref(),
        guest_has_email,
        state.settings.guest_email_delay_secs,
        admins,
    ))
}

/// A guest chat just closed: queue its transcript if the guest asked for one.
async fn plan_transcript(
    state: &AppState,
    e: &chat_core::model::StoredEvent,
) -> Result<bool, StoreError> {
    let (Some(g), Some("closed")) = (e.guest_id, e.payload["status"].as_str()) else {
        return Ok(false);
    };
    let store = &state.store;
    let Some(guest) = store.guest(g).await? else {
        return Ok(false);
    };
    if !guest.wants_transcript || guest.email.is_none() {
        return Ok(false);
    }
    let newest = store
        .messages(
            e.chat_id,
            Page {
                before: None,
                after: None,
                limit: 1,
                private_notes: false,
            },
        )
        .await?;
    let Some(last) = newest.last() else {
        return Ok(false);
    };
    let email = NewEmail {
        kind: EmailKind::Transcript,
        recipient: Actor::Guest(g),
        chat_id: e.chat_id,
        first_message_id: last.message_id,
        due_at: e.created_at,
    };
    store.enqueue_email(&email, OffsetDateTime::now_utc()).await
}

/// The key that makes an email recognisable on retry.
pub fn idempotency_key(recipient: &Actor, chat: i64, last_message: i64) -> String {
    let h = Sha256::digest(format!(
        "{}:{}|{chat}|{last_message}",
        recipient.sender_type().as_str(),
        recipient.raw_id()
    ));
    h.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Decide and, if needed, send one claimed email.
async fn deliver(
    state: &AppState,
    mailer: &Mailer,
    row: &OutboxEmail,
) -> Result<EmailOutcome, StoreError> {
    let store = &state.store;
    let now = OffsetDateTime::now_utc();
    let Some(recipient) = row.recipient() else {
        return Ok(EmailOutcome::Cancelled("unknown recipient".into()));
    };
    let (name, address) = match account_role(&recipient) {
        Some((role, id)) => {
            let Some(acc) = store.account(role, id).await?.filter(|a| a.active) else {
                return Ok(EmailOutcome::Cancelled(
                    "account missing or deactivated".into(),
                ));
            };
            let prefs = store.preferences(role, id).await?;
            if !prefs.email_enabled {
                return Ok(EmailOutcome::Cancelled("email turned off".into()));
            }
            if let Some(at) = notify::quiet_until(&prefs, now) {
                return Ok(EmailOutcome::Postpone(at));
            }
            (acc.name, acc.email)
        }
        None => {
            let guest = store.guest(GuestId(row.recipient_id)).await?;
            match guest.as_ref().and_then(|g| g.email.clone()) {
                Some(email) => (guest.map(|g| g.display_name()).unwrap_or_default(), email),
                None => return Ok(EmailOutcome::Cancelled("guest gave no email".into())),
            }
        }
    };
    let Some(chat) = store.chat(row.chat_id).await? else {
        return Ok(EmailOutcome::Cancelled("chat gone".into()));
    };
    let link = match recipient {
        // A guest's link resumes the conversation on any device, for a while.
        Actor::Guest(g) => {
            let expires = now + time::Duration::seconds(state.settings.guest_link_ttl_secs as i64);
            format!(
                "{}/guest?resume={}",
                state.settings.base_url(),
                state.links.guest_resume(g, expires)
            )
        }
        _ => mail::chat_link(&state.settings, &recipient, &chat),
    };
    if row.kind == EmailKind::Transcript {
        let all = store
            .messages(
                row.chat_id,
                Page {
                    before: None,
                    after: Some(chat_core::MessageId(0)),
                    limit: 500,
                    private_notes: false,
                },
            )
            .await?;
        let messages: Vec<_> = all
            .into_iter()
            .filter(|m| m.sender_type != SenderType::System && m.message_id <= row.first_message_id)
            .collect();
        let key = format!(
            "t{}",
            idempotency_key(&recipient, row.chat_id.0, row.first_message_id.0)
        );
        let summary = Summary {
            to_name: &name,
            to_email: &address,
            chat: &chat,
            messages: &messages,
            more: 0,
            link,
            idempotency_key: &key,
        };
        return send_composed(
            state,
            mailer,
            row,
            mail::compose_transcript(&state.settings, &summary),
            row.first_message_id,
            key,
        )
        .await;
    }
    let mut unread = store
        .unread_for(row.chat_id, &recipient, row.first_message_id, 1000)
        .await?;
    // Only the other side's messages: a worker's email is about the customer's words.
    unread.retain(|m| {
        let from_customer = matches!(m.sender_type, SenderType::User | SenderType::Guest);
        from_customer != recipient.is_customer()
    });
    let Some(last) = unread.last().map(|m| m.message_id) else {
        return Ok(EmailOutcome::Cancelled("read in time".into()));
    };
    let more = unread.len().saturating_sub(MAX_LISTED as usize);
    let listed = &unread[unread.len() - unread.len().min(MAX_LISTED as usize)..];
    let key = idempotency_key(&recipient, row.chat_id.0, last.0);
    let summary = Summary {
        to_name: &name,
        to_email: &address,
        chat: &chat,
        messages: listed,
        more,
        link,
        idempotency_key: &key,
    };
    send_composed(
        state,
        mailer,
        row,
        mail::compose(&state.settings, &summary),
        last,
        key,
    )
    .await
}

/// Send a composed email and say how it went.
async fn send_composed(
    state: &AppState,
    mailer: &Mailer,
    row: &OutboxEmail,
    composed: Result<lettre::Message, mail::MailError>,
    last: MessageId,
    key: String,
) -> Result<EmailOutcome, StoreError> {
    let now = OffsetDateTime::now_utc();
    let message = match composed {
        Ok(m) => m,
        Err(e) => return Ok(EmailOutcome::Failed(e.to_string())),
    };
    match mailer.send(message).await {
        Ok(()) => Ok(EmailOutcome::Sent {
            last_message_id: last,
            idempotency_key: key,
        }),
        Err(e) => {
            let attempt = row.attempts as u32 + 1;
            if attempt >= state.settings.email_max_attempts {
                Ok(EmailOutcome::Failed(e.to_string()))
            } else {
                Ok(EmailOutcome::Retry {
                    at: now + notify::backoff(state.settings.email_retry_base_secs, attempt),
                    error: e.to_string(),
                })
            }
        }
    }
}

/// Claim and send what is due. Stops between emails when shutting down.
pub async fn send_due(
    state: &AppState,
    mailer: &Mailer,
    stopping: &tokio::sync::watch::Receiver<bool>,
) -> Result<usize, StoreError> {
    let now = OffsetDateTime::now_utc();
    let rows = state
        .store
        .claim_due_emails(now, now + time::Duration::seconds(120), 20)
        .await?;
    let mut sent = 0;
    for row in &rows {
        if *stopping.borrow() {
            // Give the rest back at once rather than waiting out the lease.
            state
                .store
                .finish_email(row.id, &EmailOutcome::Postpone(now), now)
                .await?;
            continue;
        }
        let outcome = deliver(state, mailer, row).await?;
        if let EmailOutcome::Failed(e) | EmailOutcome::Retry { error: e, .. } = &outcome {
            tracing::warn!(email = row.id, error = %e, "email not sent");
        }
        if matches!(outcome, EmailOutcome::Sent { .. }) {
            sent += 1;
        }
        let label = match &outcome {
            EmailOutcome::Sent { .. } => "sent",
            EmailOutcome::Retry { .. } => "retry",
            EmailOutcome::Failed(_) => "failed",
            _ => "other",
        };
        metrics::counter!("nati_emails_total", "outcome" => label).increment(1);
        state
            .store
            .finish_email(row.id, &outcome, OffsetDateTime::now_utc())
            .await?;
    }
    Ok(sent)
}

/// Run planner and sender every `email_poll_millis` until the server shuts down.
pub fn start(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mailer = match Mailer::from_settings(&state.settings) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "email disabled: bad configuration");
                return;
            }
        };
        let mut stopping = state.hub.shutdown_signal();
        let every = Duration::from_millis(state.settings.email_poll_millis.max(10));
        loop {
            if let Err(e) = plan(&state).await {
                tracing::warn!(error = %e, "email planner failed; will retry");
            }
            if let Err(e) = send_due(&state, &mailer, &stopping).await {
                tracing::warn!(error = %e, "email sender failed; will retry");
            }
            if *stopping.borrow() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopping.changed() => return,
            }
        }
    })
}
