//! Chats, messages, read positions and the event log: their SQL.
//!
//! Reads only: every write to a chat goes through the node's writer ([`crate::write`]).

use crate::SqliteStore;
use crate::rows::{self, db, ts};
use chat_core::model::*;
use chat_core::{Actor, ChatId, ChatStatus, MessageId, StoreError};
use sqlx::SqlitePool;

use chat_core::rows::CHAT_COLUMNS;

pub(crate) async fn chat(pool: &SqlitePool, id: ChatId) -> Result<Option<Chat>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CHAT_COLUMNS} FROM tbl_chats WHERE chat_id = ?1"
    )))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.map(|r| rows::chat(&r)).transpose()
}

/// A page's upper bound as a plain range (no `? IS NULL OR ...`, which keeps the planner
/// from using the `(chat_id, message_id)` index for the range and makes older pages scan).
fn upper_bound(before: Option<MessageId>) -> i64 {
    before.map_or(i64::MAX, |b| b.0)
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
    (SELECT substr(m.message, 1, 200) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id AND m.sender_type <> 'system' \
        ORDER BY m.message_id DESC LIMIT 1) AS last_message, \
    COALESCE((SELECT m.sender_type = ?1 AND m.sender_id = ?2 FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id \
        AND m.sender_type <> 'system' ORDER BY m.message_id DESC LIMIT 1), 0) AS last_message_mine, \
    (SELECT COUNT(*) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id AND m.sender_type <> 'system' \
        AND NOT (m.sender_type = ?1 AND m.sender_id = ?2) \
        AND m.message_id > COALESCE((SELECT r.last_read_message_id FROM tbl_chat_read_positions r \
            WHERE r.chat_id = c.chat_id AND r.reader_type = ?1 AND r.reader_id = ?2), 0)) AS unread \
    FROM tbl_chats c LEFT JOIN tbl_user u ON u.id = c.user_id \
    LEFT JOIN tbl_guest_sessions g ON g.guest_id = c.guest_id LEFT JOIN tbl_worker w ON w.id = c.worker_id \
    WHERE (?3 = 1 OR c.worker_id = ?4 OR c.user_id = ?5 OR c.guest_id = ?6) ";

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

#[async_trait::async_trait]
impl chat_core::store::ChatReads for SqliteStore {
    async fn chat(&self, id: ChatId) -> Result<Option<Chat>, StoreError> {
        crate::chats::chat(&self.reader, id).await
    }

    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        // The ids as one JSON array: one statement, one trip to the reader's thread.
        let ids = serde_json::to_string(&ids.iter().map(|c| c.0).collect::<Vec<_>>())
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CHAT_COLUMNS} FROM tbl_chats WHERE chat_id IN (SELECT value FROM json_each(?1))"
        )))
        .bind(ids)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter().map(rows::chat).collect()
    }

    async fn chat_summary(
        &self,
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
            .fetch_optional(&self.reader)
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
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(rows::summary).collect()
    }

    async fn messages(&self, chat: ChatId, page: Page) -> Result<Vec<Message>, StoreError> {
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
        .fetch_all(&self.reader)
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
            .fetch_all(&self.reader)
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
        let mut conn = self.reader.acquire().await.map_err(db)?;
        unread_counts_on(&mut conn, scope, reader).await
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
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter().map(rows::event).collect()
    }

    async fn unread_snapshot(
        &self,
        scope: ChatScope,
        reader: &Actor,
    ) -> Result<(i64, Vec<(ChatId, i64)>), StoreError> {
        // One read transaction: WAL gives both queries the same snapshot.
        let mut tx = self.reader.begin().await.map_err(db)?;
        let last: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(event_id), 0) FROM tbl_chat_events")
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        let counts = unread_counts_on(&mut tx, scope, reader).await?;
        tx.commit().await.map_err(db)?;
        Ok((last, counts))
    }

    async fn last_event_id(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(event_id), 0) FROM tbl_chat_events")
            .fetch_one(&self.reader)
            .await
            .map_err(db)
    }
}
