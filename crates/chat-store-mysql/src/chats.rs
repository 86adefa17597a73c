//! Chats, messages, read positions and the event log: their SQL.
//!
//! Every transaction that may write an event opens with [`begin_events`]: it locks the one
//! row of `tbl_chat_event_lock` before anything else and keeps it to commit, so event
//! writers take turns and event ids commit in the order they were handed out (see the crate
//! docs). The chat row is then read `FOR UPDATE`, so the rule is asked about the chat as it
//! is, and written back in the same transaction.

use crate::MysqlStore;
use crate::rows::{self, db, int};
use crate::write::MysqlWrite;
use chat_core::model::*;
use chat_core::store::ChatRule;
use chat_core::write::{self, WriteCommand, WriteOutcome};
use chat_core::{Actor, ChatError, ChatId, ChatStatus, GuestId, MessageId, StoreError};
use sqlx::mysql::MySqlArguments;
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Connection, Executor, MySql, Transaction};
use time::OffsetDateTime;

type Tx = Transaction<'static, MySql>;
type Q<'q> = Query<'q, MySql, MySqlArguments>;

pub(crate) const CHAT_COLS: &str = "chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, \
    created_at, updated_at, last_message_at";
pub(crate) const MESSAGE_COLS: &str = "message_id, chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at";
const EVENT_COLS: &str = "event_id, chat_id, seq, kind, payload, worker_id, previous_worker_id, user_id, guest_id, created_at";

/// Begin a transaction that may write events: take the event lock first.
pub(crate) async fn begin_events(s: &MysqlStore) -> Result<Tx, StoreError> {
    begin_events_on(&s.pool).await
}

/// [`begin_events`] on a pool.
pub(crate) async fn begin_events_on(pool: &sqlx::MySqlPool) -> Result<Tx, StoreError> {
    let mut tx = pool.begin().await.map_err(db)?;
    let locked = sqlx::query("SELECT id FROM tbl_chat_event_lock WHERE id = 1 FOR UPDATE")
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
    if locked.is_none() {
        return Err(StoreError::Database(
            "tbl_chat_event_lock has lost its row (id = 1); without it event ids can commit out of order"
                .into(),
        ));
    }
    Ok(tx)
}

/// End an event-writing transaction: commit what worked; roll back at once what did not,
/// so that the event lock is free again before the error is even returned.
async fn finish<T>(tx: Tx, done: Result<T, StoreError>) -> Result<T, StoreError> {
    match done {
        Ok(v) => {
            tx.commit().await.map_err(db)?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rb) = tx.rollback().await {
                tracing::warn!(error = %rb, "rollback failed; the connection is dropped");
            }
            Err(e)
        }
    }
}

/// The chat, locked for this transaction.
async fn chat_in(tx: &mut Tx, id: ChatId) -> Result<Option<Chat>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {CHAT_COLS} FROM tbl_chats WHERE chat_id = ? FOR UPDATE"
    )))
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db)?;
    row.map(|r| rows::chat(&r)).transpose()
}

pub(crate) async fn chat(s: &MysqlStore, id: ChatId) -> Result<Option<Chat>, StoreError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {CHAT_COLS} FROM tbl_chats WHERE chat_id = ?"
    )))
    .bind(id.0)
    .fetch_optional(&s.pool)
    .await
    .map_err(db)?;
    row.map(|r| rows::chat(&r)).transpose()
}

fn new_id(done: &sqlx::mysql::MySqlQueryResult) -> Result<i64, StoreError> {
    i64::try_from(done.last_insert_id()).map_err(|e| StoreError::Database(e.to_string()))
}

pub(crate) async fn create_chat(
    s: &MysqlStore,
    new: &NewChat,
    now: OffsetDateTime,
) -> Result<ChatStart, StoreError> {
    let (user, guest) = match new.customer {
        Actor::User(u) => (Some(u.0), None),
        Actor::Guest(g) => (None, Some(g.0)),
        _ => return Err(ChatError::forbidden("only customers start chats").into()),
    };
    let mut tx = begin_events(s).await?;
    let done: Result<ChatStart, StoreError> = async {
        if let Some(cid) = &new.client_id {
            let found = sqlx::query(
                "SELECT chat_id FROM tbl_chats WHERE client_id = ? AND (user_id = ? OR guest_id = ?)",
            )
            .bind(cid)
            .bind(user)
            .bind(guest)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            if let Some(row) = found {
                let id = ChatId(int(&row, "chat_id")?);
                let chat = chat_in(&mut tx, id)
                    .await?
                    .ok_or(StoreError::Rule(ChatError::NotFound("chat")))?;
                let first = sqlx::query(AssertSqlSafe(format!(
                    "SELECT {MESSAGE_COLS} FROM tbl_chat_messages WHERE chat_id = ? AND sender_type <> 'system' \
                     ORDER BY message_id LIMIT 1"
                )))
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                return Ok(ChatStart {
                    chat,
                    first_message: first.map(|r| rows::message(&r)).transpose()?,
                    created: false,
                });
            }
        }
        let done = sqlx::query(
            "INSERT INTO tbl_chats (user_id, guest_id, status, topic, last_seq, client_id, created_at, updated_at) \
             VALUES (?, ?, 'pending', ?, 0, ?, ?, ?)",
        )
        .bind(user)
        .bind(guest)
        .bind(&new.topic)
        .bind(&new.client_id)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let chat = chat_in(&mut tx, ChatId(new_id(&done)?))
            .await?
            .ok_or_else(|| StoreError::Database("inserted chat not found".into()))?;
        write::start_chat(&mut MysqlWrite(&mut tx), chat, new, now).await
    }
    .await;
    finish(tx, done).await
}

pub(crate) async fn update_chat(
    s: &MysqlStore,
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

/// Store a message through the node's writer (one transaction and one event lock per
/// batch of messages).
pub(crate) async fn send_message(
    s: &MysqlStore,
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
    s: &MysqlStore,
    chat: ChatId,
    page: Page,
) -> Result<Vec<Message>, StoreError> {
    let rows = match (page.after, page.before) {
        (Some(after), before) => sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLS} FROM tbl_chat_messages WHERE chat_id = ? AND message_id > ? \
             AND message_id < ? ORDER BY message_id ASC LIMIT ?"
        )))
        .bind(chat.0)
        .bind(after.0)
        .bind(before.map_or(i64::MAX, |b| b.0))
        .bind(rows::limit(page.limit))
        .fetch_all(&s.pool)
        .await
        .map_err(db)?,
        (None, before) => {
            let mut rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {MESSAGE_COLS} FROM tbl_chat_messages WHERE chat_id = ? AND message_id < ? \
                 ORDER BY message_id DESC LIMIT ?"
            )))
            .bind(chat.0)
            .bind(before.map_or(i64::MAX, |b| b.0))
            .bind(rows::limit(page.limit))
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
    s: &MysqlStore,
    chat_id: ChatId,
    reader: &Actor,
    up_to: Option<MessageId>,
    now: OffsetDateTime,
) -> Result<ReadPosition, StoreError> {
    let mut tx = begin_events(s).await?;
    let done: Result<ReadPosition, StoreError> = async {
        let chat = chat_in(&mut tx, chat_id)
            .await?
            .ok_or(StoreError::Rule(ChatError::NotFound("chat")))?;
        let newest = sqlx::query(
            "SELECT COALESCE(MAX(message_id), 0) AS n FROM tbl_chat_messages WHERE chat_id = ?",
        )
        .bind(chat_id.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let newest = int(&newest, "n")?;
        let target = match up_to {
            None => newest,
            Some(m) => {
                let exists = sqlx::query(
                    "SELECT message_id FROM tbl_chat_messages WHERE chat_id = ? AND message_id = ?",
                )
                .bind(chat_id.0)
                .bind(m.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                match exists {
                    Some(r) => int(&r, "message_id")?,
                    None => return Err(StoreError::Rule(ChatError::NotFound("message"))),
                }
            }
        };
        let current = sqlx::query(
            "SELECT last_read_message_id, updated_at FROM tbl_chat_read_positions \
             WHERE chat_id = ? AND reader_type = ? AND reader_id = ?",
        )
        .bind(chat_id.0)
        .bind(reader.sender_type().as_str())
        .bind(reader.raw_id())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let (cur_id, cur_at) = match &current {
            Some(r) => (
                int(r, "last_read_message_id")?,
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
            return Ok(position(cur_id, cur_at));
        }
        sqlx::query(
            "INSERT INTO tbl_chat_read_positions (chat_id, reader_type, reader_id, last_read_message_id, updated_at) \
             VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE last_read_message_id = VALUES(last_read_message_id), \
             updated_at = VALUES(updated_at)",
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
            "UPDATE tbl_chat_messages SET is_read = TRUE WHERE chat_id = ? AND message_id <= ? AND is_read = FALSE \
             AND sender_type IN (?, ?)",
        )
        .bind(chat_id.0)
        .bind(target)
        .bind(a.as_str())
        .bind(b.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let pos = position(target, now);
        write::record_read(&mut MysqlWrite(&mut tx), chat, &pos, now).await?;
        Ok(pos)
    }
    .await;
    finish(tx, done).await
}

/// Scope as four parameters: all, worker, user, guest.
fn scope_params(scope: ChatScope) -> (bool, Option<i64>, Option<i64>, Option<i64>) {
    match scope {
        ChatScope::All => (true, None, None, None),
        ChatScope::Worker(w) => (false, Some(w.0), None, None),
        ChatScope::User(u) => (false, None, Some(u.0), None),
        ChatScope::Guest(g) => (false, None, None, Some(g.0)),
    }
}

/// The summary select: chat columns, names from the mode's account tables, the newest
/// message and the reader's unread count. Parameters, in order: reader type and id (own
/// messages), reader type and id (read position), then the scope (all, worker, user, guest).
fn summary_select(s: &MysqlStore) -> String {
    let t = s.tables;
    format!(
        "SELECT c.chat_id, c.user_id, c.guest_id, c.admin_id, c.worker_id, c.assigned_by, c.status, c.topic, \
         c.last_seq, c.created_at, c.updated_at, c.last_message_at, \
         COALESCE(u.name, g.name) AS customer_name, COALESCE(u.email, g.email) AS customer_email, w.name AS worker_name, {subject} AS customer_host_id, \
         (SELECT SUBSTRING(m.message, 1, 200) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id \
             ORDER BY m.message_id DESC LIMIT 1) AS last_message, \
         (SELECT COUNT(*) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id AND m.sender_type <> 'system' \
             AND NOT (m.sender_type = ? AND m.sender_id = ?) \
             AND m.message_id > COALESCE((SELECT r.last_read_message_id FROM tbl_chat_read_positions r \
                 WHERE r.chat_id = c.chat_id AND r.reader_type = ? AND r.reader_id = ?), 0)) AS unread \
         FROM tbl_chats c LEFT JOIN {user} u ON u.{id} = c.user_id \
         LEFT JOIN tbl_guest_sessions g ON g.guest_id = c.guest_id LEFT JOIN {worker} w ON w.{id} = c.worker_id \
         WHERE (? OR c.worker_id = ? OR c.user_id = ? OR c.guest_id = ?) ",
        user = t.user,
        worker = t.worker,
        id = t.id,
        subject = t.subject("u"),
    )
}

fn bind_summary<'q>(q: Q<'q>, reader: &Actor, scope: ChatScope) -> Q<'q> {
    let (all, w, u, g) = scope_params(scope);
    let (rt, rid) = (reader.sender_type().as_str(), reader.raw_id());
    q.bind(rt)
        .bind(rid)
        .bind(rt)
        .bind(rid)
        .bind(all)
        .bind(w)
        .bind(u)
        .bind(g)
}

pub(crate) async fn chat_summary(
    s: &MysqlStore,
    id: ChatId,
    reader: &Actor,
) -> Result<Option<ChatSummary>, StoreError> {
    let sql = AssertSqlSafe(format!("{} AND c.chat_id = ?", summary_select(s)));
    let row = bind_summary(sqlx::query(sql), reader, ChatScope::All)
        .bind(id.0)
        .fetch_optional(&s.pool)
        .await
        .map_err(db)?;
    row.map(|r| rows::summary(&r)).transpose()
}

/// `%text%` for `LIKE ... ESCAPE '!'`, with the wildcards in the text escaped. `!` rather
/// than backslash: a backslash in SQL text means different things under
/// `NO_BACKSLASH_ESCAPES`.
fn like_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

pub(crate) async fn list_chats(
    s: &MysqlStore,
    scope: ChatScope,
    f: &ChatFilter,
    reader: &Actor,
) -> Result<Vec<ChatSummary>, StoreError> {
    let sql = AssertSqlSafe(format!(
        "{} \
         AND (? IS NULL OR c.status = ?) AND (? IS NULL OR c.worker_id = ?) AND (NOT ? OR c.worker_id IS NULL) \
         AND (? IS NULL OR c.user_id = ?) AND (? IS NULL OR c.guest_id = ?) \
         AND (? IS NULL OR LOWER(COALESCE(u.name, g.name, '')) LIKE ? ESCAPE '!' \
              OR LOWER(COALESCE(u.email, g.email, '')) LIKE ? ESCAPE '!' OR LOWER(c.topic) LIKE ? ESCAPE '!' \
              OR EXISTS (SELECT 1 FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id AND LOWER(m.message) LIKE ? ESCAPE '!')) \
         AND (? IS NULL OR c.updated_at < ? OR (c.updated_at = ? AND c.chat_id < ?)) \
         ORDER BY c.updated_at DESC, c.chat_id DESC LIMIT ?",
        summary_select(s)
    ));
    let status = f.status.map(ChatStatus::as_str);
    let worker = f.worker_id.map(|w| w.0);
    let user = f.user_id.map(|u| u.0);
    let guest = f.guest_id.map(|g| g.0);
    let pattern = f.query.as_deref().map(like_pattern);
    let before_t = f.before_updated.map(|(t, _)| t);
    let rows = bind_summary(sqlx::query(sql), reader, scope)
        .bind(status)
        .bind(status)
        .bind(worker)
        .bind(worker)
        .bind(f.unassigned)
        .bind(user)
        .bind(user)
        .bind(guest)
        .bind(guest)
        .bind(pattern.clone())
        .bind(pattern.clone())
        .bind(pattern.clone())
        .bind(pattern.clone())
        .bind(pattern)
        .bind(before_t)
        .bind(before_t)
        .bind(before_t)
        .bind(f.before_updated.map(|(_, c)| c.0))
        .bind(rows::limit(f.limit))
        .fetch_all(&s.pool)
        .await
        .map_err(db)?;
    rows.iter().map(rows::summary).collect()
}

const UNREAD_COUNTS: &str = "SELECT c.chat_id AS chat_id, COUNT(m.message_id) AS unread FROM tbl_chats c \
    LEFT JOIN tbl_chat_read_positions r ON r.chat_id = c.chat_id AND r.reader_type = ? AND r.reader_id = ? \
    JOIN tbl_chat_messages m ON m.chat_id = c.chat_id AND m.message_id > COALESCE(r.last_read_message_id, 0) \
    WHERE (? OR c.worker_id = ? OR c.user_id = ? OR c.guest_id = ?) \
    AND m.sender_type <> 'system' AND NOT (m.sender_type = ? AND m.sender_id = ?) \
    GROUP BY c.chat_id ORDER BY c.chat_id";

async fn unread_counts_on<'c, E>(
    conn: E,
    scope: ChatScope,
    reader: &Actor,
) -> Result<Vec<(ChatId, i64)>, StoreError>
where
    E: Executor<'c, Database = MySql>,
{
    let (all, w, u, g) = scope_params(scope);
    let (rt, rid) = (reader.sender_type().as_str(), reader.raw_id());
    let rows = sqlx::query(UNREAD_COUNTS)
        .bind(rt)
        .bind(rid)
        .bind(all)
        .bind(w)
        .bind(u)
        .bind(g)
        .bind(rt)
        .bind(rid)
        .fetch_all(conn)
        .await
        .map_err(db)?;
    rows.iter()
        .map(|r| Ok((ChatId(int(r, "chat_id")?), int(r, "unread")?)))
        .collect()
}

pub(crate) async fn unread_counts(
    s: &MysqlStore,
    scope: ChatScope,
    reader: &Actor,
) -> Result<Vec<(ChatId, i64)>, StoreError> {
    unread_counts_on(&s.pool, scope, reader).await
}

pub(crate) async fn expire_guest(
    s: &MysqlStore,
    id: GuestId,
    now: OffsetDateTime,
) -> Result<Vec<ChatId>, StoreError> {
    let mut tx = begin_events(s).await?;
    let done: Result<Vec<ChatId>, StoreError> = async {
        sqlx::query(
            "UPDATE tbl_guest_sessions SET expired_at = ? WHERE guest_id = ? AND expired_at IS NULL",
        )
        .bind(now)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let ids = sqlx::query(
            "SELECT chat_id FROM tbl_chats WHERE guest_id = ? AND status <> 'closed' ORDER BY chat_id",
        )
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let ids = ids
            .iter()
            .map(|r| int(r, "chat_id").map(ChatId))
            .collect::<Result<Vec<_>, _>>()?;
        let closed = write::close_for_expired_guest(&mut MysqlWrite(&mut tx), &ids, now).await?;
        Ok(closed)
    }
    .await;
    finish(tx, done).await
}

pub(crate) async fn events_after(
    s: &MysqlStore,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {EVENT_COLS} FROM tbl_chat_events WHERE event_id > ? ORDER BY event_id LIMIT ?"
    )))
    .bind(after)
    .bind(rows::limit(limit))
    .fetch_all(&s.pool)
    .await
    .map_err(db)?;
    rows.iter().map(rows::event).collect()
}

const LAST_EVENT_ID: &str = "SELECT COALESCE(MAX(event_id), 0) AS n FROM tbl_chat_events";

pub(crate) async fn last_event_id(s: &MysqlStore) -> Result<i64, StoreError> {
    let row = sqlx::query(LAST_EVENT_ID)
        .fetch_one(&s.pool)
        .await
        .map_err(db)?;
    int(&row, "n")
}

pub(crate) async fn events_visible_after(
    s: &MysqlStore,
    scope: ChatScope,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let (all, w, u, g) = scope_params(scope);
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {EVENT_COLS} FROM tbl_chat_events WHERE event_id > ? \
         AND (? OR worker_id = ? OR previous_worker_id = ? OR user_id = ? OR guest_id = ?) \
         ORDER BY event_id LIMIT ?"
    )))
    .bind(after)
    .bind(all)
    .bind(w)
    .bind(w)
    .bind(u)
    .bind(g)
    .bind(rows::limit(limit))
    .fetch_all(&s.pool)
    .await
    .map_err(db)?;
    rows.iter().map(rows::event).collect()
}

pub(crate) async fn unread_snapshot(
    s: &MysqlStore,
    scope: ChatScope,
    reader: &Actor,
) -> Result<(i64, Vec<(ChatId, i64)>), StoreError> {
    // One consistent snapshot for both reads, whatever the server's default isolation.
    let mut conn = s.pool.acquire().await.map_err(db)?;
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(db)?;
    let mut tx = conn
        .begin_with("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(db)?;
    let last = sqlx::query(LAST_EVENT_ID)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
    let last = int(&last, "n")?;
    let counts = unread_counts_on(&mut *tx, scope, reader).await?;
    tx.commit().await.map_err(db)?;
    Ok((last, counts))
}
