//! Chats, messages, read positions and the event log: their SQL.
//!
//! Reads here; every write to a chat goes through the node's writer ([`crate::write`]),
//! whose transactions open with [`begin_events_on`]: it locks the one row of
//! `tbl_chat_event_lock` before anything else and keeps it to commit, so event writers
//! take turns and event ids commit in the order they were handed out (see the crate docs).
//! The chat rows are then read `FOR UPDATE`, so each rule is asked about the chat as it
//! is, and the chat is written back in the same transaction.

use crate::MysqlStore;
use crate::rows::{self, db, int};
use chat_core::model::*;
use chat_core::{Actor, ChatId, ChatStatus, StoreError, policy};
use sqlx::mysql::MySqlArguments;
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Connection, Executor, MySql, Transaction};

type Tx = Transaction<'static, MySql>;
type Q<'q> = Query<'q, MySql, MySqlArguments>;

pub(crate) const CHAT_COLS: &str = "chat_id, user_id, guest_id, admin_id, worker_id, assigned_by, status, topic, last_seq, \
    created_at, updated_at, last_message_at";
pub(crate) const MESSAGE_COLS: &str = "message_id, chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at, is_private, attachments";
const EVENT_COLS: &str = "event_id, chat_id, seq, kind, payload, worker_id, previous_worker_id, user_id, guest_id, created_at";

/// Begin a transaction that may write events: take the event lock first.
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

/// The condition that leaves private notes out of a customer's reads (empty for staff,
/// who see them).
fn private_notes(reader: &Actor) -> &'static str {
    if policy::sees_private_notes(reader) {
        ""
    } else {
        "AND m.is_private = FALSE"
    }
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
/// message and the reader's unread count. Parameters, in order: reader type and id (is the
/// newest message theirs), reader type and id (own messages), reader type and id (read
/// position), then the scope (all, worker, user, guest).
fn summary_select(s: &MysqlStore, reader: &Actor) -> String {
    let t = s.tables;
    let notes = private_notes(reader);
    format!(
        "SELECT c.chat_id, c.user_id, c.guest_id, c.admin_id, c.worker_id, c.assigned_by, c.status, c.topic, \
         c.last_seq, c.created_at, c.updated_at, c.last_message_at, \
         COALESCE(u.name, g.name) AS customer_name, COALESCE(u.email, g.email) AS customer_email, w.name AS worker_name, {subject} AS customer_host_id, \
         (SELECT SUBSTRING(m.message, 1, 200) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id \
             AND m.sender_type <> 'system' AND m.is_private = FALSE ORDER BY m.message_id DESC LIMIT 1) AS last_message, \
         (SELECT m.attachments FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id \
             AND m.sender_type <> 'system' AND m.is_private = FALSE ORDER BY m.message_id DESC LIMIT 1) AS last_message_files, \
         COALESCE((SELECT m.sender_type = ? AND m.sender_id = ? FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id \
             AND m.sender_type <> 'system' AND m.is_private = FALSE ORDER BY m.message_id DESC LIMIT 1), FALSE) AS last_message_mine, \
         (SELECT COUNT(*) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id AND m.sender_type <> 'system' \
             AND NOT (m.sender_type = ? AND m.sender_id = ?) {notes} \
             AND m.message_id > COALESCE((SELECT r.last_read_message_id FROM tbl_chat_read_positions r \
                 WHERE r.chat_id = c.chat_id AND r.reader_type = ? AND r.reader_id = ?), 0)) AS unread, \
         (SELECT rt.stars FROM tbl_chat_ratings rt WHERE rt.chat_id = c.chat_id) AS rating \
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
        .bind(rt)
        .bind(rid)
        .bind(all)
        .bind(w)
        .bind(u)
        .bind(g)
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

macro_rules! unread_counts {
    ($notes:literal) => {
        concat!(
            "SELECT c.chat_id AS chat_id, COUNT(m.message_id) AS unread FROM tbl_chats c \
             LEFT JOIN tbl_chat_read_positions r ON r.chat_id = c.chat_id AND r.reader_type = ? AND r.reader_id = ? \
             JOIN tbl_chat_messages m ON m.chat_id = c.chat_id AND m.message_id > COALESCE(r.last_read_message_id, 0) \
             WHERE (? OR c.worker_id = ? OR c.user_id = ? OR c.guest_id = ?) \
             AND m.sender_type <> 'system' AND NOT (m.sender_type = ? AND m.sender_id = ?) ",
            $notes,
            " GROUP BY c.chat_id ORDER BY c.chat_id"
        )
    };
}

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
    let sql = if policy::sees_private_notes(reader) {
        unread_counts!("")
    } else {
        unread_counts!("AND m.is_private = FALSE")
    };
    let rows = sqlx::query(sql)
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

#[async_trait::async_trait]
impl chat_core::store::ChatReads for MysqlStore {
    async fn chat(&self, id: ChatId) -> Result<Option<Chat>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CHAT_COLS} FROM tbl_chats WHERE chat_id = ?"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| rows::chat(&r)).transpose()
    }

    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        // Lists of 64 (the last one padded with a repeated id): few statement shapes.
        for part in ids.chunks(64) {
            let mut q = sqlx::QueryBuilder::<sqlx::MySql>::new(format!(
                "SELECT {CHAT_COLS} FROM tbl_chats WHERE chat_id IN ("
            ));
            let mut sep = q.separated(", ");
            for i in 0..part.len().next_power_of_two() {
                sep.push_bind(part[i.min(part.len() - 1)].0);
            }
            q.push(")");
            for r in q.build().fetch_all(&self.pool).await.map_err(db)? {
                out.push(rows::chat(&r)?);
            }
        }
        Ok(out)
    }

    async fn chat_summary(
        &self,
        id: ChatId,
        reader: &Actor,
    ) -> Result<Option<ChatSummary>, StoreError> {
        let sql = AssertSqlSafe(format!(
            "{} AND c.chat_id = ?",
            summary_select(self, reader)
        ));
        let row = bind_summary(sqlx::query(sql), reader, ChatScope::All)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| rows::summary(&r)).transpose()
    }

    async fn list_chats(
        &self,
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
                  OR EXISTS (SELECT 1 FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id AND LOWER(m.message) LIKE ? ESCAPE '!' {notes})) \
             AND (? IS NULL OR c.updated_at < ? OR (c.updated_at = ? AND c.chat_id < ?)) \
             ORDER BY c.updated_at DESC, c.chat_id DESC LIMIT ?",
            summary_select(self, reader),
            notes = private_notes(reader),
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
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(rows::summary).collect()
    }

    async fn messages(&self, chat: ChatId, page: Page) -> Result<Vec<Message>, StoreError> {
        let rows = match (page.after, page.before) {
            (Some(after), before) => sqlx::query(AssertSqlSafe(format!(
                "SELECT {MESSAGE_COLS} FROM tbl_chat_messages WHERE chat_id = ? AND message_id > ? \
             AND message_id < ? AND (is_private = FALSE OR ?) ORDER BY message_id ASC LIMIT ?"
            )))
            .bind(chat.0)
            .bind(after.0)
            .bind(before.map_or(i64::MAX, |b| b.0))
            .bind(page.private_notes)
            .bind(rows::limit(page.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?,
            (None, before) => {
                let mut rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {MESSAGE_COLS} FROM tbl_chat_messages WHERE chat_id = ? AND message_id < ? \
                 AND (is_private = FALSE OR ?) ORDER BY message_id DESC LIMIT ?"
            )))
            .bind(chat.0)
            .bind(before.map_or(i64::MAX, |b| b.0))
            .bind(page.private_notes)
            .bind(rows::limit(page.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
                rows.reverse();
                rows
            }
        };
        rows.iter().map(rows::message).collect()
    }

    async fn unread_counts(
        &self,
        scope: ChatScope,
        reader: &Actor,
    ) -> Result<Vec<(ChatId, i64)>, StoreError> {
        unread_counts_on(&self.pool, scope, reader).await
    }

    async fn events_after(
        &self,
        after_event_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        crate::chats::events_after(self, after_event_id, limit).await
    }

    async fn events_visible_after(
        &self,
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
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(rows::event).collect()
    }

    async fn unread_snapshot(
        &self,
        scope: ChatScope,
        reader: &Actor,
    ) -> Result<(i64, Vec<(ChatId, i64)>), StoreError> {
        // One consistent snapshot for both reads, whatever the server's default isolation.
        let mut conn = self.pool.acquire().await.map_err(db)?;
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

    async fn last_event_id(&self) -> Result<i64, StoreError> {
        let row = sqlx::query(LAST_EVENT_ID)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        int(&row, "n")
    }
}
