//! Chats, messages, read positions and the event log: their SQL.
//!
//! Every write runs in one transaction that first locks the chat row (`SELECT ... FOR
//! UPDATE`), so reading the chat, asking the rule and writing the change cannot
//! interleave with another write to the same chat. A transaction that inserts events
//! takes the event-log lock ([`lock_event_log`]) after its chat locks and right before
//! its first event, so event ids are assigned and committed in the same order.

use crate::PgStore;
use crate::rows::{self, db, unique_violation};
use crate::write::PgWrite;
use chat_core::model::*;
use chat_core::store::ChatRule;
use chat_core::write::{self, WriteCommand, WriteOutcome};
use chat_core::{Actor, ChatError, ChatId, ChatStatus, GuestId, MessageId, StoreError};
use sqlx::postgres::PgConnection;
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;

type Tx = Transaction<'static, Postgres>;

/// The key of the transaction-scoped advisory lock that serialises event-writing
/// transactions ("NATIEVT1" in ASCII).
pub const EVENT_LOG_LOCK: i64 = 0x4E41_5449_4556_5431;

/// Take the event-log lock for the rest of the transaction. Call it after every chat row
/// lock the transaction needs and right before inserting its first event: the next
/// event-writing transaction cannot take an event id until this one has committed (or
/// rolled back), so no reader can see an event id before all smaller ones.
pub(crate) async fn lock_event_log_on(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(EVENT_LOG_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// The chat, locked for the rest of the transaction.
async fn chat_for_update(tx: &mut Tx, id: ChatId) -> Result<Option<Chat>, StoreError> {
    let row = sqlx::query(
        "SELECT chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, \
         created_at, updated_at, last_message_at FROM tbl_chats WHERE chat_id = $1 FOR UPDATE",
    )
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    row.map(|r| rows::chat(&r)).transpose()
}

async fn chat_on(conn: &mut PgConnection, id: ChatId) -> Result<Option<Chat>, StoreError> {
    let row = sqlx::query(
        "SELECT chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, \
         created_at, updated_at, last_message_at FROM tbl_chats WHERE chat_id = $1",
    )
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    row.map(|r| rows::chat(&r)).transpose()
}

pub(crate) async fn chat(pool: &PgPool, id: ChatId) -> Result<Option<Chat>, StoreError> {
    let mut conn = pool.acquire().await.map_err(db)?;
    chat_on(&mut conn, id).await
}

pub(crate) async fn create_chat(
    s: &PgStore,
    new: &NewChat,
    now: OffsetDateTime,
) -> Result<ChatStart, StoreError> {
    // A start racing another start with the same client id loses on the unique index;
    // the second attempt then finds the chat the winner made.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_create_chat(s, new, now).await? {
            Some(start) => return Ok(start),
            None if attempt < 3 => continue,
            None => return Err(StoreError::Duplicate("chat")),
        }
    }
}

/// `None` when the insert lost a race on the customer's client id.
async fn try_create_chat(
    s: &PgStore,
    new: &NewChat,
    now: OffsetDateTime,
) -> Result<Option<ChatStart>, StoreError> {
    let (user, guest) = match new.customer {
        Actor::User(u) => (Some(u.0), None),
        Actor::Guest(g) => (None, Some(g.0)),
        _ => return Err(ChatError::forbidden("only customers start chats").into()),
    };
    let mut tx = s.pool.begin().await.map_err(db)?;
    if let Some(cid) = &new.client_id {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT chat_id FROM tbl_chats WHERE client_id = $1 AND (user_id = $2 OR guest_id = $3)",
        )
        .bind(cid)
        .bind(user)
        .bind(guest)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(id) = found {
            let id = ChatId(id);
            let chat = chat_on(&mut tx, id)
                .await?
                .ok_or(StoreError::Rule(ChatError::NotFound("chat")))?;
            let first = sqlx::query(
                "SELECT message_id, chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at \
                 FROM tbl_chat_messages WHERE chat_id = $1 AND sender_type <> 'system' ORDER BY message_id LIMIT 1",
            )
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            return Ok(Some(ChatStart {
                chat,
                first_message: first.map(|r| rows::message(&r)).transpose()?,
                created: false,
            }));
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO tbl_chats (user_id, guest_id, status, topic, last_seq, client_id, created_at, updated_at) \
         VALUES ($1, $2, 'pending', $3, 0, $4, $5, $5) \
         RETURNING chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, created_at, updated_at, last_message_at",
    )
    .bind(user)
    .bind(guest)
    .bind(&new.topic)
    .bind(&new.client_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await;
    let row = match inserted {
        Ok(row) => row,
        // Dropping the transaction rolls it back.
        Err(e) if unique_violation(&e) => return Ok(None),
        Err(e) => return Err(db(e)),
    };
    let chat = rows::chat(&row)?;
    let start = write::start_chat(&mut PgWrite::new(&mut tx), chat, new, now).await?;
    tx.commit().await.map_err(db)?;
    Ok(Some(start))
}

pub(crate) async fn update_chat(
    s: &PgStore,
    id: ChatId,
    rule: ChatRule,
    now: OffsetDateTime,
) -> Result<Chat, StoreError> {
    let cmd = WriteCommand::Update {
        chat_id: id,
        rule,
        now,
    };
    match s.queue.submit(cmd).await? {
        WriteOutcome::Updated(chat) | WriteOutcome::Sent(_, chat) => Ok(chat),
    }
}

/// Store a message through the node's writer (one transaction and one event-log lock per
/// batch of messages).
pub(crate) async fn send_message(
    s: &PgStore,
    new: NewMessage,
    rule: ChatRule,
    now: OffsetDateTime,
) -> Result<(SendOutcome, Chat), StoreError> {
    match s
        .queue
        .submit(WriteCommand::Send { new, rule, now })
        .await?
    {
        WriteOutcome::Sent(out, chat) => Ok((out, chat)),
        WriteOutcome::Updated(_) => Err(StoreError::Database(
            "the writer answered a message with a chat update".into(),
        )),
    }
}

pub(crate) async fn messages(
    s: &PgStore,
    chat: ChatId,
    page: Page,
) -> Result<Vec<Message>, StoreError> {
    let rows = match (page.after, page.before) {
        (Some(after), before) => sqlx::query(
            "SELECT message_id, chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at \
             FROM tbl_chat_messages WHERE chat_id = $1 AND message_id > $2 AND message_id < $3 \
             ORDER BY message_id ASC LIMIT $4",
        )
        .bind(chat.0)
        .bind(after.0)
        .bind(before.map_or(i64::MAX, |b| b.0))
        .bind(page.limit)
        .fetch_all(&s.pool)
        .await
        .map_err(db)?,
        (None, before) => {
            let mut rows = sqlx::query(
                "SELECT message_id, chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at \
                 FROM tbl_chat_messages WHERE chat_id = $1 AND message_id < $2 \
                 ORDER BY message_id DESC LIMIT $3",
            )
            .bind(chat.0)
            .bind(before.map_or(i64::MAX, |b| b.0))
            .bind(page.limit)
            .fetch_all(&s.pool)
            .await
            .map_err(db)?;
            rows.reverse();
            rows
        }
    };
    rows.iter().map(rows::message).collect()
}

pub(crate) async fn mark_read(
    s: &PgStore,
    chat_id: ChatId,
    reader: &Actor,
    up_to: Option<MessageId>,
    now: OffsetDateTime,
) -> Result<ReadPosition, StoreError> {
    let mut tx = s.pool.begin().await.map_err(db)?;
    let chat = chat_for_update(&mut tx, chat_id)
        .await?
        .ok_or(StoreError::Rule(ChatError::NotFound("chat")))?;
    let newest: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(message_id), 0) FROM tbl_chat_messages WHERE chat_id = $1",
    )
    .bind(chat_id.0)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let target = match up_to {
        None => newest,
        Some(m) => {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT message_id FROM tbl_chat_messages WHERE chat_id = $1 AND message_id = $2",
            )
            .bind(chat_id.0)
            .bind(m.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            exists.ok_or(StoreError::Rule(ChatError::NotFound("message")))?
        }
    };
    let current = sqlx::query(
        "SELECT last_read_message_id, updated_at FROM tbl_chat_read_positions \
         WHERE chat_id = $1 AND reader_type = $2 AND reader_id = $3",
    )
    .bind(chat_id.0)
    .bind(reader.sender_type().as_str())
    .bind(reader.raw_id())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    let (cur_id, cur_at) = match &current {
        Some(r) => (
            rows::get::<i64>(r, "last_read_message_id")?,
            rows::time_col(r, "updated_at")?,
        ),
        None => (0, now),
    };
    let position = |id: i64, at: OffsetDateTime| ReadPosition {
        chat_id,
        reader_type: reader.sender_type(),
        reader_id: reader.raw_id(),
        last_read_message_id: MessageId(id),
        updated_at: at,
    };
    if target <= cur_id {
        tx.commit().await.map_err(db)?;
        return Ok(position(cur_id, cur_at));
    }
    sqlx::query(
        "INSERT INTO tbl_chat_read_positions (chat_id, reader_type, reader_id, last_read_message_id, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (chat_id, reader_type, reader_id) DO UPDATE SET \
         last_read_message_id = excluded.last_read_message_id, updated_at = excluded.updated_at",
    )
    .bind(chat_id.0)
    .bind(reader.sender_type().as_str())
    .bind(reader.raw_id())
    .bind(target)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let [a, b] = write::other_side(reader);
    sqlx::query(
        "UPDATE tbl_chat_messages SET is_read = TRUE \
         WHERE chat_id = $1 AND message_id <= $2 AND NOT is_read AND sender_type IN ($3, $4)",
    )
    .bind(chat_id.0)
    .bind(target)
    .bind(a.as_str())
    .bind(b.as_str())
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let pos = position(target, now);
    write::record_read(&mut PgWrite::new(&mut tx), chat, &pos, now).await?;
    tx.commit().await.map_err(db)?;
    Ok(pos)
}

/// Scope as four nullable parameters: all, worker, user, guest.
fn scope_params(scope: ChatScope) -> (bool, Option<i64>, Option<i64>, Option<i64>) {
    match scope {
        ChatScope::All => (true, None, None, None),
        ChatScope::Worker(w) => (false, Some(w.0), None, None),
        ChatScope::User(u) => (false, None, Some(u.0), None),
        ChatScope::Guest(g) => (false, None, None, Some(g.0)),
    }
}

/// The summary select. Parameters: $1 reader type, $2 reader id, $3..$6 scope.
const SUMMARY_SELECT: &str = "SELECT c.chat_id, c.user_id, c.guest_id, c.admin_id, c.worker_id, c.assigned_by, c.status, c.topic, \
    c.last_seq, c.created_at, c.updated_at, c.last_message_at, \
    COALESCE(u.name, g.name) AS customer_name, COALESCE(u.email, g.email) AS customer_email, w.name AS worker_name, u.host_subject AS customer_host_id, \
    (SELECT substr(m.message, 1, 200) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id ORDER BY m.message_id DESC LIMIT 1) AS last_message, \
    (SELECT COUNT(*) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id AND m.sender_type <> 'system' \
        AND NOT (m.sender_type = $1 AND m.sender_id = $2) \
        AND m.message_id > COALESCE((SELECT r.last_read_message_id FROM tbl_chat_read_positions r \
            WHERE r.chat_id = c.chat_id AND r.reader_type = $1 AND r.reader_id = $2), 0)) AS unread \
    FROM tbl_chats c LEFT JOIN tbl_user u ON u.id = c.user_id \
    LEFT JOIN tbl_guest_sessions g ON g.guest_id = c.guest_id LEFT JOIN tbl_worker w ON w.id = c.worker_id \
    WHERE ($3 OR c.worker_id = $4 OR c.user_id = $5 OR c.guest_id = $6) ";

pub(crate) async fn chat_summary(
    s: &PgStore,
    id: ChatId,
    reader: &Actor,
) -> Result<Option<ChatSummary>, StoreError> {
    let (all, w, u, g) = scope_params(ChatScope::All);
    let sql = sqlx::AssertSqlSafe(format!("{SUMMARY_SELECT} AND c.chat_id = $7"));
    let row = sqlx::query(sql)
        .bind(reader.sender_type().as_str())
        .bind(reader.raw_id())
        .bind(all)
        .bind(w)
        .bind(u)
        .bind(g)
        .bind(id.0)
        .fetch_optional(&s.pool)
        .await
        .map_err(db)?;
    row.map(|r| rows::summary(&r)).transpose()
}

/// `%text%` for LIKE, with the wildcards in the text escaped.
fn like_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

pub(crate) async fn list_chats(
    s: &PgStore,
    scope: ChatScope,
    f: &ChatFilter,
    reader: &Actor,
) -> Result<Vec<ChatSummary>, StoreError> {
    let (all, w, u, g) = scope_params(scope);
    let sql = sqlx::AssertSqlSafe(format!(
        "{SUMMARY_SELECT} \
         AND ($7::TEXT IS NULL OR c.status = $7) AND ($8::BIGINT IS NULL OR c.worker_id = $8) \
         AND (NOT $9 OR c.worker_id IS NULL) \
         AND ($10::BIGINT IS NULL OR c.user_id = $10) AND ($11::BIGINT IS NULL OR c.guest_id = $11) \
         AND ($12::TEXT IS NULL OR lower(COALESCE(u.name, g.name, '')) LIKE $12 ESCAPE '\\' \
              OR lower(COALESCE(u.email, g.email, '')) LIKE $12 ESCAPE '\\' OR lower(c.topic) LIKE $12 ESCAPE '\\' \
              OR EXISTS (SELECT 1 FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id AND lower(m.message) LIKE $12 ESCAPE '\\')) \
         AND ($13::TIMESTAMPTZ IS NULL OR c.updated_at < $13 OR (c.updated_at = $13 AND c.chat_id < $14)) \
         ORDER BY c.updated_at DESC, c.chat_id DESC LIMIT $15"
    ));
    let rows = sqlx::query(sql)
        .bind(reader.sender_type().as_str())
        .bind(reader.raw_id())
        .bind(all)
        .bind(w)
        .bind(u)
        .bind(g)
        .bind(f.status.map(ChatStatus::as_str))
        .bind(f.worker_id.map(|w| w.0))
        .bind(f.unassigned)
        .bind(f.user_id.map(|u| u.0))
        .bind(f.guest_id.map(|g| g.0))
        .bind(f.query.as_deref().map(like_pattern))
        .bind(f.before_updated.map(|(t, _)| t))
        .bind(f.before_updated.map(|(_, c)| c.0))
        .bind(f.limit)
        .fetch_all(&s.pool)
        .await
        .map_err(db)?;
    rows.iter().map(rows::summary).collect()
}

pub(crate) async fn unread_counts(
    s: &PgStore,
    scope: ChatScope,
    reader: &Actor,
) -> Result<Vec<(ChatId, i64)>, StoreError> {
    let mut conn = s.pool.acquire().await.map_err(db)?;
    unread_counts_on(&mut conn, scope, reader).await
}

async fn unread_counts_on(
    conn: &mut PgConnection,
    scope: ChatScope,
    reader: &Actor,
) -> Result<Vec<(ChatId, i64)>, StoreError> {
    let (all, w, u, g) = scope_params(scope);
    let rows = sqlx::query(
        "SELECT c.chat_id AS chat_id, COUNT(m.message_id) AS unread FROM tbl_chats c \
         LEFT JOIN tbl_chat_read_positions r ON r.chat_id = c.chat_id AND r.reader_type = $1 AND r.reader_id = $2 \
         JOIN tbl_chat_messages m ON m.chat_id = c.chat_id AND m.message_id > COALESCE(r.last_read_message_id, 0) \
         WHERE ($3 OR c.worker_id = $4 OR c.user_id = $5 OR c.guest_id = $6) \
         AND m.sender_type <> 'system' AND NOT (m.sender_type = $1 AND m.sender_id = $2) \
         GROUP BY c.chat_id ORDER BY c.chat_id",
    )
    .bind(reader.sender_type().as_str())
    .bind(reader.raw_id())
    .bind(all)
    .bind(w)
    .bind(u)
    .bind(g)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| Ok((ChatId(rows::get(r, "chat_id")?), rows::get(r, "unread")?)))
        .collect()
}

pub(crate) async fn expire_guest(
    s: &PgStore,
    id: GuestId,
    now: OffsetDateTime,
) -> Result<Vec<ChatId>, StoreError> {
    let mut tx = s.pool.begin().await.map_err(db)?;
    sqlx::query(
        "UPDATE tbl_guest_sessions SET expired_at = $1 WHERE guest_id = $2 AND expired_at IS NULL",
    )
    .bind(now)
    .bind(id.0)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    // Lock every chat to close, in id order, before the event-log lock.
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT chat_id FROM tbl_chats WHERE guest_id = $1 AND status <> 'closed' ORDER BY chat_id FOR UPDATE",
    )
    .bind(id.0)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let ids: Vec<ChatId> = ids.into_iter().map(ChatId).collect();
    let closed = write::close_for_expired_guest(&mut PgWrite::new(&mut tx), &ids, now).await?;
    tx.commit().await.map_err(db)?;
    Ok(closed)
}

const EVENT_COLS: &str = "event_id, chat_id, seq, kind, payload, worker_id, previous_worker_id, user_id, guest_id, created_at";

pub(crate) async fn events_after(
    s: &PgStore,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLS} FROM tbl_chat_events WHERE event_id > $1 ORDER BY event_id LIMIT $2"
    ));
    let rows = sqlx::query(sql)
        .bind(after)
        .bind(limit)
        .fetch_all(&s.pool)
        .await
        .map_err(db)?;
    rows.iter().map(rows::event).collect()
}

pub(crate) async fn last_event_id(s: &PgStore) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT COALESCE(MAX(event_id), 0) FROM tbl_chat_events")
        .fetch_one(&s.pool)
        .await
        .map_err(db)
}

pub(crate) async fn events_visible_after(
    s: &PgStore,
    scope: ChatScope,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let (all, w, u, g) = scope_params(scope);
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLS} FROM tbl_chat_events WHERE event_id > $1 \
         AND ($2 OR worker_id = $3 OR previous_worker_id = $3 OR user_id = $4 OR guest_id = $5) \
         ORDER BY event_id LIMIT $6"
    ));
    let rows = sqlx::query(sql)
        .bind(after)
        .bind(all)
        .bind(w)
        .bind(u)
        .bind(g)
        .bind(limit)
        .fetch_all(&s.pool)
        .await
        .map_err(db)?;
    rows.iter().map(rows::event).collect()
}

pub(crate) async fn unread_snapshot(
    s: &PgStore,
    scope: ChatScope,
    reader: &Actor,
) -> Result<(i64, Vec<(ChatId, i64)>), StoreError> {
    // One REPEATABLE READ transaction: both queries read the same snapshot.
    let mut tx = s
        .pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(db)?;
    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(event_id), 0) FROM tbl_chat_events")
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
    let counts = unread_counts_on(&mut tx, scope, reader).await?;
    tx.commit().await.map_err(db)?;
    Ok((last, counts))
}
