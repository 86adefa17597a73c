//! Chats, messages, read positions and the event log: their SQL.
//!
//! Every write runs on the single writer connection in one transaction, so reading the
//! chat, asking the rule and writing the change cannot interleave with another write.

use crate::SqliteStore;
use crate::rows::{self, db, ts};
use crate::write::SqliteWrite;
use chat_core::model::*;
use chat_core::store::ChatRule;
use chat_core::write::{self, WriteCommand, WriteOutcome};
use chat_core::{Actor, ChatError, ChatId, ChatStatus, GuestId, MessageId, StoreError};
use sqlx::{SqliteConnection, SqlitePool};
use time::OffsetDateTime;

/// What the helpers run on: a transaction's connection.
type Tx = SqliteConnection;

const CHAT_COLS: &str = "chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, created_at, updated_at, last_message_at";

async fn chat_in(tx: &mut Tx, id: ChatId) -> Result<Option<Chat>, StoreError> {
    let row = sqlx::query(
        "SELECT chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, \
         created_at, updated_at, last_message_at FROM tbl_chats WHERE chat_id = ?1",
    )
    .bind(id.0)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    row.map(|r| rows::chat(&r)).transpose()
}

pub(crate) async fn chat(pool: &SqlitePool, id: ChatId) -> Result<Option<Chat>, StoreError> {
    let row = sqlx::query(
        "SELECT chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, \
         created_at, updated_at, last_message_at FROM tbl_chats WHERE chat_id = ?1",
    )
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    let _ = CHAT_COLS;
    row.map(|r| rows::chat(&r)).transpose()
}

pub(crate) async fn create_chat(
    s: &SqliteStore,
    new: &NewChat,
    now: OffsetDateTime,
) -> Result<ChatStart, StoreError> {
    let (user, guest) = match new.customer {
        Actor::User(u) => (Some(u.0), None),
        Actor::Guest(g) => (None, Some(g.0)),
        _ => return Err(ChatError::forbidden("only customers start chats").into()),
    };
    let mut tx = s.writer.begin().await.map_err(db)?;
    if let Some(cid) = &new.client_id {
        let found = sqlx::query("SELECT chat_id FROM tbl_chats WHERE client_id = ?1 AND (user_id = ?2 OR guest_id = ?3)")
            .bind(cid)
            .bind(user)
            .bind(guest)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(row) = found {
            let id = ChatId(sqlx::Row::try_get(&row, "chat_id").map_err(db)?);
            let chat = chat_in(&mut tx, id)
                .await?
                .ok_or(StoreError::Rule(ChatError::NotFound("chat")))?;
            let first = sqlx::query(
                "SELECT message_id, chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at \
                 FROM tbl_chat_messages WHERE chat_id = ?1 AND sender_type <> 'system' ORDER BY message_id LIMIT 1",
            )
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
            return Ok(ChatStart {
                chat,
                first_message: first.map(|r| rows::message(&r)).transpose()?,
                created: false,
            });
        }
    }
    let row = sqlx::query(
        "INSERT INTO tbl_chats (user_id, guest_id, status, topic, last_seq, client_id, created_at, updated_at) \
         VALUES (?1, ?2, 'pending', ?3, 0, ?4, ?5, ?5) \
         RETURNING chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, created_at, updated_at, last_message_at",
    )
    .bind(user)
    .bind(guest)
    .bind(&new.topic)
    .bind(&new.client_id)
    .bind(ts(now))
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let chat = rows::chat(&row)?;
    let start = write::start_chat(&mut SqliteWrite(&mut *tx), chat, new, now).await?;
    tx.commit().await.map_err(db)?;
    Ok(start)
}

pub(crate) async fn update_chat(
    s: &SqliteStore,
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

/// Store a message through the node's writer: many messages share one transaction and
/// one commit, and none is answered before that commit.
pub(crate) async fn send_message(
    s: &SqliteStore,
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
    s: &SqliteStore,
    chat: ChatId,
    page: Page,
) -> Result<Vec<Message>, StoreError> {
    let rows = match (page.after, page.before) {
        (Some(after), before) => sqlx::query(
            "SELECT message_id, chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at \
             FROM tbl_chat_messages WHERE chat_id = ?1 AND message_id > ?2 AND message_id < ?3 \
             ORDER BY message_id ASC LIMIT ?4",
        )
        .bind(chat.0)
        .bind(after.0)
        .bind(upper_bound(before))
        .bind(page.limit)
        .fetch_all(&s.reader)
        .await
        .map_err(db)?,
        (None, before) => {
            let mut rows = sqlx::query(
                "SELECT message_id, chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at \
                 FROM tbl_chat_messages WHERE chat_id = ?1 AND message_id < ?2 \
                 ORDER BY message_id DESC LIMIT ?3",
            )
            .bind(chat.0)
            .bind(upper_bound(before))
            .bind(page.limit)
            .fetch_all(&s.reader)
            .await
            .map_err(db)?;
            rows.reverse();
            rows
        }
    };
    rows.iter().map(rows::message).collect()
}

/// A page's upper bound as a plain range (no `? IS NULL OR ...`, which keeps the planner
/// from using the `(chat_id, message_id)` index for the range and makes older pages scan).
fn upper_bound(before: Option<MessageId>) -> i64 {
    before.map_or(i64::MAX, |b| b.0)
}

pub(crate) async fn mark_read(
    s: &SqliteStore,
    chat_id: ChatId,
    reader: &Actor,
    up_to: Option<MessageId>,
    now: OffsetDateTime,
) -> Result<ReadPosition, StoreError> {
    let mut tx = s.writer.begin().await.map_err(db)?;
    let chat = chat_in(&mut tx, chat_id)
        .await?
        .ok_or(StoreError::Rule(ChatError::NotFound("chat")))?;
    let newest: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(message_id), 0) FROM tbl_chat_messages WHERE chat_id = ?1",
    )
    .bind(chat_id.0)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let target = match up_to {
        None => newest,
        Some(m) => {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT message_id FROM tbl_chat_messages WHERE chat_id = ?1 AND message_id = ?2",
            )
            .bind(chat_id.0)
            .bind(m.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            exists.ok_or(StoreError::Rule(ChatError::NotFound("message")))?
        }
    };
    let current = sqlx::query("SELECT last_read_message_id, updated_at FROM tbl_chat_read_positions WHERE chat_id = ?1 AND reader_type = ?2 AND reader_id = ?3")
        .bind(chat_id.0)
        .bind(reader.sender_type().as_str())
        .bind(reader.raw_id())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    let (cur_id, cur_at) = match &current {
        Some(r) => (
            sqlx::Row::try_get::<i64, _>(r, "last_read_message_id").map_err(db)?,
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
        "INSERT INTO tbl_chat_read_positions (chat_id, reader_type, reader_id, last_read_message_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (chat_id, reader_type, reader_id) DO UPDATE SET last_read_message_id = excluded.last_read_message_id, updated_at = excluded.updated_at",
    )
    .bind(chat_id.0)
    .bind(reader.sender_type().as_str())
    .bind(reader.raw_id())
    .bind(target)
    .bind(ts(now))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let [a, b] = write::other_side(reader);
    sqlx::query("UPDATE tbl_chat_messages SET is_read = 1 WHERE chat_id = ?1 AND message_id <= ?2 AND is_read = 0 AND sender_type IN (?3, ?4)")
        .bind(chat_id.0)
        .bind(target)
        .bind(a.as_str())
        .bind(b.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let pos = position(target, now);
    write::record_read(&mut SqliteWrite(&mut *tx), chat, &pos, now).await?;
    tx.commit().await.map_err(db)?;
    Ok(pos)
}

/// Scope as four nullable parameters: all, worker, user, guest.
fn scope_params(scope: ChatScope) -> (i64, Option<i64>, Option<i64>, Option<i64>) {
    match scope {
        ChatScope::All => (1, None, None, None),
        ChatScope::Worker(w) => (0, Some(w.0), None, None),
        ChatScope::User(u) => (0, None, Some(u.0), None),
        ChatScope::Guest(g) => (0, None, None, Some(g.0)),
    }
}

/// The summary select. Parameters: ?1 reader type, ?2 reader id, ?3..?6 scope.
const SUMMARY_SELECT: &str = "SELECT c.chat_id, c.user_id, c.guest_id, c.admin_id, c.worker_id, c.assigned_by, c.status, c.topic, \
    c.last_seq, c.created_at, c.updated_at, c.last_message_at, \
    COALESCE(u.name, g.name) AS customer_name, COALESCE(u.email, g.email) AS customer_email, w.name AS worker_name, u.host_subject AS customer_host_id, \
    (SELECT substr(m.message, 1, 200) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id ORDER BY m.message_id DESC LIMIT 1) AS last_message, \
    (SELECT COUNT(*) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id AND m.sender_type <> 'system' \
        AND NOT (m.sender_type = ?1 AND m.sender_id = ?2) \
        AND m.message_id > COALESCE((SELECT r.last_read_message_id FROM tbl_chat_read_positions r \
            WHERE r.chat_id = c.chat_id AND r.reader_type = ?1 AND r.reader_id = ?2), 0)) AS unread \
    FROM tbl_chats c LEFT JOIN tbl_user u ON u.id = c.user_id \
    LEFT JOIN tbl_guest_sessions g ON g.guest_id = c.guest_id LEFT JOIN tbl_worker w ON w.id = c.worker_id \
    WHERE (?3 = 1 OR c.worker_id = ?4 OR c.user_id = ?5 OR c.guest_id = ?6) ";

pub(crate) async fn chat_summary(
    s: &SqliteStore,
    id: ChatId,
    reader: &Actor,
) -> Result<Option<ChatSummary>, StoreError> {
    let (all, w, u, g) = scope_params(ChatScope::All);
    let sql = sqlx::AssertSqlSafe(format!("{SUMMARY_SELECT} AND c.chat_id = ?7"));
    let row = sqlx::query(sql)
        .bind(reader.sender_type().as_str())
        .bind(reader.raw_id())
        .bind(all)
        .bind(w)
        .bind(u)
        .bind(g)
        .bind(id.0)
        .fetch_optional(&s.reader)
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
    s: &SqliteStore,
    scope: ChatScope,
    f: &ChatFilter,
    reader: &Actor,
) -> Result<Vec<ChatSummary>, StoreError> {
    let (all, w, u, g) = scope_params(scope);
    let sql = sqlx::AssertSqlSafe(format!(
        "{SUMMARY_SELECT} \
         AND (?7 IS NULL OR c.status = ?7) AND (?8 IS NULL OR c.worker_id = ?8) AND (?9 = 0 OR c.worker_id IS NULL) \
         AND (?10 IS NULL OR c.user_id = ?10) AND (?11 IS NULL OR c.guest_id = ?11) \
         AND (?12 IS NULL OR lower(COALESCE(u.name, g.name, '')) LIKE ?12 ESCAPE '\\' \
              OR lower(COALESCE(u.email, g.email, '')) LIKE ?12 ESCAPE '\\' OR lower(c.topic) LIKE ?12 ESCAPE '\\' \
              OR EXISTS (SELECT 1 FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id AND lower(m.message) LIKE ?12 ESCAPE '\\')) \
         AND (?13 IS NULL OR c.updated_at < ?13 OR (c.updated_at = ?13 AND c.chat_id < ?14)) \
         ORDER BY c.updated_at DESC, c.chat_id DESC LIMIT ?15"
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
        .bind(f.unassigned as i64)
        .bind(f.user_id.map(|u| u.0))
        .bind(f.guest_id.map(|g| g.0))
        .bind(f.query.as_deref().map(like_pattern))
        .bind(f.before_updated.map(|(t, _)| ts(t)))
        .bind(f.before_updated.map(|(_, c)| c.0))
        .bind(f.limit)
        .fetch_all(&s.reader)
        .await
        .map_err(db)?;
    rows.iter().map(rows::summary).collect()
}

pub(crate) async fn unread_counts(
    s: &SqliteStore,
    scope: ChatScope,
    reader: &Actor,
) -> Result<Vec<(ChatId, i64)>, StoreError> {
    let mut conn = s.reader.acquire().await.map_err(db)?;
    unread_counts_on(&mut conn, scope, reader).await
}

async fn unread_counts_on(
    conn: &mut sqlx::SqliteConnection,
    scope: ChatScope,
    reader: &Actor,
) -> Result<Vec<(ChatId, i64)>, StoreError> {
    // One statement per scope: an `OR` of every scope's column would make SQLite scan
    // every chat for a customer who has two.
    let (filter, id) = match scope {
        ChatScope::All => ("1 = 1", None),
        ChatScope::Worker(w) => ("c.worker_id = ?3", Some(w.0)),
        ChatScope::User(u) => ("c.user_id = ?3", Some(u.0)),
        ChatScope::Guest(g) => ("c.guest_id = ?3", Some(g.0)),
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT c.chat_id AS chat_id, COUNT(m.message_id) AS unread FROM tbl_chats c \
         LEFT JOIN tbl_chat_read_positions r ON r.chat_id = c.chat_id AND r.reader_type = ?1 AND r.reader_id = ?2 \
         JOIN tbl_chat_messages m ON m.chat_id = c.chat_id AND m.message_id > COALESCE(r.last_read_message_id, 0) \
         WHERE {filter} \
         AND m.sender_type <> 'system' AND NOT (m.sender_type = ?1 AND m.sender_id = ?2) \
         GROUP BY c.chat_id ORDER BY c.chat_id"
    ));
    let mut q = sqlx::query(sql)
        .bind(reader.sender_type().as_str())
        .bind(reader.raw_id());
    if let Some(id) = id {
        q = q.bind(id);
    }
    let rows = q.fetch_all(&mut *conn).await.map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok((
                ChatId(sqlx::Row::try_get(r, "chat_id").map_err(db)?),
                sqlx::Row::try_get(r, "unread").map_err(db)?,
            ))
        })
        .collect()
}

pub(crate) async fn expire_guest(
    s: &SqliteStore,
    id: GuestId,
    now: OffsetDateTime,
) -> Result<Vec<ChatId>, StoreError> {
    let mut tx = s.writer.begin().await.map_err(db)?;
    sqlx::query(
        "UPDATE tbl_guest_sessions SET expired_at = ?1 WHERE guest_id = ?2 AND expired_at IS NULL",
    )
    .bind(ts(now))
    .bind(id.0)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT chat_id FROM tbl_chats WHERE guest_id = ?1 AND status <> 'closed' ORDER BY chat_id",
    )
    .bind(id.0)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let ids: Vec<ChatId> = ids.into_iter().map(ChatId).collect();
    let closed = write::close_for_expired_guest(&mut SqliteWrite(&mut *tx), &ids, now).await?;
    tx.commit().await.map_err(db)?;
    Ok(closed)
}

pub(crate) async fn events_after(
    s: &SqliteStore,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT event_id, chat_id, seq, kind, payload, worker_id, previous_worker_id, user_id, guest_id, created_at \
         FROM tbl_chat_events WHERE event_id > ?1 ORDER BY event_id LIMIT ?2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&s.reader)
    .await
    .map_err(db)?;
    rows.iter().map(rows::event).collect()
}

pub(crate) async fn last_event_id(s: &SqliteStore) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT COALESCE(MAX(event_id), 0) FROM tbl_chat_events")
        .fetch_one(&s.reader)
        .await
        .map_err(db)
}

pub(crate) async fn events_visible_after(
    s: &SqliteStore,
    scope: ChatScope,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let (all, w, u, g) = scope_params(scope);
    let rows = sqlx::query(
        "SELECT event_id, chat_id, seq, kind, payload, worker_id, previous_worker_id, user_id, guest_id, created_at \
         FROM tbl_chat_events WHERE event_id > ?1 \
         AND (?2 = 1 OR worker_id = ?3 OR previous_worker_id = ?3 OR user_id = ?4 OR guest_id = ?5) \
         ORDER BY event_id LIMIT ?6",
    )
    .bind(after)
    .bind(all)
    .bind(w)
    .bind(u)
    .bind(g)
    .bind(limit)
    .fetch_all(&s.reader)
    .await
    .map_err(db)?;
    rows.iter().map(rows::event).collect()
}

pub(crate) async fn unread_snapshot(
    s: &SqliteStore,
    scope: ChatScope,
    reader: &Actor,
) -> Result<(i64, Vec<(ChatId, i64)>), StoreError> {
    // One read transaction: WAL gives both queries the same snapshot.
    let mut tx = s.reader.begin().await.map_err(db)?;
    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(event_id), 0) FROM tbl_chat_events")
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
    let counts = unread_counts_on(&mut tx, scope, reader).await?;
    tx.commit().await.map_err(db)?;
    Ok((last, counts))
}
