//! Reading chats, messages, unread counts and the event log. Every write to a chat goes
//! through the node's writer (each store's `write` module).

use crate::{Dialect, Sql, SqlTx, args};
use chat_core::model::*;
use chat_core::rows::{self, CHAT_COLUMNS, Columns};
use chat_core::{Actor, ChatId, ChatStatus, MessageId, StoreError};
use std::sync::LazyLock;

/// A scope as the parameters `$3` (all chats) and `$4`, `$5`, `$6` (worker, user, guest).
fn scope_params(scope: ChatScope) -> (bool, Option<i64>, Option<i64>, Option<i64>) {
    match scope {
        ChatScope::All => (true, None, None, None),
        ChatScope::Worker(w) => (false, Some(w.0), None, None),
        ChatScope::User(u) => (false, None, Some(u.0), None),
        ChatScope::Guest(g) => (false, None, None, Some(g.0)),
    }
}

/// The summary select. Parameters: `$1` reader type, `$2` reader id, `$3`..`$6` scope.
/// The preview is the conversation with the customer: never a private note. Notes count
/// in unread counts and search only for staff readers (`$1` admin or worker).
macro_rules! summary_select {
    ($($more:literal),*) => {
        concat!(
            "SELECT c.chat_id, c.user_id, c.guest_id, c.admin_id, c.worker_id, c.assigned_by, \
             c.status, c.topic, c.last_seq, c.created_at, c.updated_at, c.last_message_at, \
             COALESCE(u.name, g.name) AS customer_name, COALESCE(u.email, g.email) AS customer_email, \
             w.name AS worker_name, u.host_subject AS customer_host_id, \
             (SELECT substr(m.message, 1, 200) FROM tbl_chat_messages m \
              WHERE m.chat_id = c.chat_id AND m.sender_type <> 'system' AND m.is_private = FALSE \
              ORDER BY m.message_id DESC LIMIT 1) AS last_message, \
             (SELECT m.attachments FROM tbl_chat_messages m \
              WHERE m.chat_id = c.chat_id AND m.sender_type <> 'system' AND m.is_private = FALSE \
              ORDER BY m.message_id DESC LIMIT 1) AS last_message_files, \
             COALESCE((SELECT m.sender_type = $1 AND m.sender_id = $2 FROM tbl_chat_messages m \
              WHERE m.chat_id = c.chat_id AND m.sender_type <> 'system' AND m.is_private = FALSE \
              ORDER BY m.message_id DESC LIMIT 1), FALSE) AS last_message_mine, \
             (SELECT COUNT(*) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id \
              AND m.sender_type <> 'system' AND NOT (m.sender_type = $1 AND m.sender_id = $2) \
              AND (m.is_private = FALSE OR $1 IN ('admin', 'worker')) \
              AND m.message_id > COALESCE((SELECT r.last_read_message_id \
              FROM tbl_chat_read_positions r WHERE r.chat_id = c.chat_id \
              AND r.reader_type = $1 AND r.reader_id = $2), 0)) AS unread, \
             (SELECT rt.stars FROM tbl_chat_ratings rt WHERE rt.chat_id = c.chat_id) AS rating \
             FROM tbl_chats c LEFT JOIN tbl_user u ON u.id = c.user_id \
             LEFT JOIN tbl_guest_sessions g ON g.guest_id = c.guest_id \
             LEFT JOIN tbl_worker w ON w.id = c.worker_id \
             WHERE ($3 = TRUE OR c.worker_id = $4 OR c.user_id = $5 OR c.guest_id = $6) ",
            $($more),*
        )
    };
}

/// The message columns, as `chat_core::rows::message` reads them.
macro_rules! message_select {
    ($($more:literal),*) => {
        concat!(
            "SELECT message_id, chat_id, seq, sender_type, sender_id, sender_name, message, \
             is_read, client_id, created_at, is_private, attachments FROM tbl_chat_messages WHERE ",
            $($more),*
        )
    };
}

/// The event columns, as `chat_core::rows::event` reads them.
macro_rules! event_select {
    ($($more:literal),*) => {
        concat!(
            "SELECT event_id, chat_id, seq, kind, payload, worker_id, previous_worker_id, \
             user_id, guest_id, created_at FROM tbl_chat_events WHERE ",
            $($more),*
        )
    };
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

pub async fn chat(db: &impl Sql, id: ChatId) -> Result<Option<Chat>, StoreError> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {CHAT_COLUMNS} FROM tbl_chats WHERE chat_id = $1"));
    let row = db.read_one(SQL.as_str(), args![id.0]).await?;
    row.map(|r| rows::chat(&r)).transpose()
}

/// Several chats in one statement: the ids travel as one JSON array.
pub async fn chats<D: Sql>(db: &D, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
    static PG: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {CHAT_COLUMNS} FROM tbl_chats WHERE chat_id IN \
             (SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST($1 AS JSON)))"
        )
    });
    static LITE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {CHAT_COLUMNS} FROM tbl_chats WHERE chat_id IN \
             (SELECT value FROM json_each($1))"
        )
    });
    let sql = match D::DIALECT {
        Dialect::Postgres => PG.as_str(),
        Dialect::Sqlite => LITE.as_str(),
    };
    let ids = serde_json::to_string(&ids.iter().map(|c| c.0).collect::<Vec<_>>())
        .map_err(|e| StoreError::Database(e.to_string()))?;
    let found = db.read(sql, args![ids.as_str()]).await?;
    found.iter().map(rows::chat).collect()
}

pub async fn chat_summary(
    db: &impl Sql,
    id: ChatId,
    reader: &Actor,
) -> Result<Option<ChatSummary>, StoreError> {
    let (all, w, u, g) = scope_params(ChatScope::All);
    let sql = summary_select!("AND c.chat_id = $7");
    let kind = reader.sender_type().as_str();
    let args = args![kind, reader.raw_id(), all, w, u, g, id.0];
    let row = db.read_one(sql, args).await?;
    row.map(|r| rows::summary(&r)).transpose()
}

/// A page of chat summaries, newest activity first, filtered.
pub async fn list_chats(
    db: &impl Sql,
    scope: ChatScope,
    f: &ChatFilter,
    reader: &Actor,
) -> Result<Vec<ChatSummary>, StoreError> {
    let sql = summary_select!(
        "AND ($7 IS NULL OR c.status = $7) AND ($8 IS NULL OR c.worker_id = $8) \
         AND ($9 = FALSE OR c.worker_id IS NULL) \
         AND ($10 IS NULL OR c.user_id = $10) AND ($11 IS NULL OR c.guest_id = $11) \
         AND ($12 IS NULL OR lower(COALESCE(u.name, g.name, '')) LIKE $12 ESCAPE '\\' \
              OR lower(COALESCE(u.email, g.email, '')) LIKE $12 ESCAPE '\\' \
              OR lower(c.topic) LIKE $12 ESCAPE '\\' \
              OR EXISTS (SELECT 1 FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id \
                         AND lower(m.message) LIKE $12 ESCAPE '\\' AND (m.is_private = FALSE OR $1 IN ('admin', 'worker')))) \
         AND ($13 IS NULL OR c.updated_at < $13 OR (c.updated_at = $13 AND c.chat_id < $14)) \
         ORDER BY c.updated_at DESC, c.chat_id DESC LIMIT $15"
    );
    let (all, w, u, g) = scope_params(scope);
    let pattern = f.query.as_deref().map(like_pattern);
    let args = args![
        reader.sender_type().as_str(),
        reader.raw_id(),
        all,
        w,
        u,
        g,
        f.status.map(ChatStatus::as_str),
        f.worker_id.map(|w| w.0),
        f.unassigned,
        f.user_id.map(|u| u.0),
        f.guest_id.map(|g| g.0),
        pattern.as_deref(),
        f.before_updated.map(|(t, _)| t),
        f.before_updated.map(|(_, c)| c.0),
        f.limit,
    ];
    let found = db.read(sql, args).await?;
    found.iter().map(rows::summary).collect()
}

/// A page of a chat's messages, oldest first. The upper bound is a plain range (no
/// `$n IS NULL OR ...`, which keeps the planner from using the `(chat_id, message_id)`
/// index for the range and makes older pages scan).
pub async fn messages(db: &impl Sql, chat: ChatId, page: Page) -> Result<Vec<Message>, StoreError> {
    let before = page.before.map_or(i64::MAX, |b: MessageId| b.0);
    let found = match page.after {
        Some(after) => {
            let sql = message_select!(
                "chat_id = $1 AND message_id > $2 AND message_id < $3 \
                 AND (is_private = FALSE OR $5 = TRUE) ORDER BY message_id ASC LIMIT $4"
            );
            let args = args![chat.0, after.0, before, page.limit, page.private_notes];
            db.read(sql, args).await?
        }
        None => {
            let sql = message_select!(
                "chat_id = $1 AND message_id < $2 AND (is_private = FALSE OR $4 = TRUE) \
                 ORDER BY message_id DESC LIMIT $3"
            );
            let args = args![chat.0, before, page.limit, page.private_notes];
            let mut found = db.read(sql, args).await?;
            found.reverse();
            found
        }
    };
    found.iter().map(rows::message).collect()
}

/// Unread counts per chat in a scope: the statement and the scope's id (`$3`). One
/// statement per scope: an `OR` of every scope's column would make SQLite scan every chat
/// for a customer who has two.
fn unread_counts_sql(scope: ChatScope) -> (&'static str, Option<i64>) {
    macro_rules! counts {
        ($filter:literal) => {
            concat!(
                "SELECT c.chat_id AS chat_id, COUNT(m.message_id) AS unread FROM tbl_chats c \
                 LEFT JOIN tbl_chat_read_positions r ON r.chat_id = c.chat_id \
                 AND r.reader_type = $1 AND r.reader_id = $2 \
                 JOIN tbl_chat_messages m ON m.chat_id = c.chat_id \
                 AND m.message_id > COALESCE(r.last_read_message_id, 0) WHERE ",
                $filter,
                " AND m.sender_type <> 'system' AND NOT (m.sender_type = $1 AND m.sender_id = $2) \
                 AND (m.is_private = FALSE OR $1 IN ('admin', 'worker')) GROUP BY c.chat_id ORDER BY c.chat_id"
            )
        };
    }
    match scope {
        ChatScope::All => (counts!("1 = 1"), None),
        ChatScope::Worker(w) => (counts!("c.worker_id = $3"), Some(w.0)),
        ChatScope::User(u) => (counts!("c.user_id = $3"), Some(u.0)),
        ChatScope::Guest(g) => (counts!("c.guest_id = $3"), Some(g.0)),
    }
}

fn unread_pairs(found: &[impl Columns]) -> Result<Vec<(ChatId, i64)>, StoreError> {
    found
        .iter()
        .map(|r| Ok((ChatId(r.int("chat_id")?), r.int("unread")?)))
        .collect()
}

pub async fn unread_counts(
    db: &impl Sql,
    scope: ChatScope,
    reader: &Actor,
) -> Result<Vec<(ChatId, i64)>, StoreError> {
    let (sql, id) = unread_counts_sql(scope);
    let (kind, me) = (reader.sender_type().as_str(), reader.raw_id());
    let found = match id {
        None => db.read(sql, args![kind, me]).await?,
        Some(id) => db.read(sql, args![kind, me, id]).await?,
    };
    unread_pairs(&found)
}

pub async fn events_after(
    db: &impl Sql,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = event_select!("event_id > $1 ORDER BY event_id LIMIT $2");
    db.read(sql, args![after, limit])
        .await?
        .iter()
        .map(rows::event)
        .collect()
}

/// The events a scope may see, after `after`. On SQLite a customer's events are found
/// through their chats (migration 7 dropped the events' user and guest indexes, which cost
/// every message a scattered page), then kept only when marked with that customer, as
/// everywhere else: the same rows, since a chat's customer never changes.
pub async fn events_visible_after<D: Sql>(
    db: &D,
    scope: ChatScope,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    macro_rules! of_chats {
        ($customer:literal) => {
            concat!(
                "SELECT e.event_id, e.chat_id, e.seq, e.kind, e.payload, e.worker_id, \
                 e.previous_worker_id, e.user_id, e.guest_id, e.created_at \
                 FROM tbl_chats c JOIN tbl_chat_events e ON e.chat_id = c.chat_id \
                 WHERE c.",
                $customer,
                " = $2 AND e.",
                $customer,
                " = $2 AND e.event_id > $1 ORDER BY e.event_id LIMIT $3"
            )
        };
    }
    let found = match (D::DIALECT, scope) {
        (Dialect::Sqlite, ChatScope::User(u)) => {
            db.read(of_chats!("user_id"), args![after, u.0, limit])
                .await?
        }
        (Dialect::Sqlite, ChatScope::Guest(g)) => {
            db.read(of_chats!("guest_id"), args![after, g.0, limit])
                .await?
        }
        _ => {
            let sql = event_select!(
                "event_id > $1 AND ($2 = TRUE OR worker_id = $3 OR previous_worker_id = $3 \
                 OR user_id = $4 OR guest_id = $5) ORDER BY event_id LIMIT $6"
            );
            let (all, w, u, g) = scope_params(scope);
            db.read(sql, args![after, all, w, u, g, limit]).await?
        }
    };
    found.iter().map(rows::event).collect()
}

const LAST_EVENT: &str = "SELECT COALESCE(MAX(event_id), 0) AS last FROM tbl_chat_events";

/// The newest event id and the unread counts, from one snapshot.
pub async fn unread_snapshot(
    db: &impl Sql,
    scope: ChatScope,
    reader: &Actor,
) -> Result<(i64, Vec<(ChatId, i64)>), StoreError> {
    let mut tx = db.snapshot().await?;
    let last = match tx.rows(LAST_EVENT, &[]).await?.first() {
        Some(r) => r.int("last")?,
        None => 0,
    };
    let (sql, id) = unread_counts_sql(scope);
    let (kind, me) = (reader.sender_type().as_str(), reader.raw_id());
    let found = match id {
        None => tx.rows(sql, args![kind, me]).await?,
        Some(id) => tx.rows(sql, args![kind, me, id]).await?,
    };
    tx.commit().await?;
    Ok((last, unread_pairs(&found)?))
}

pub async fn last_event_id(db: &impl Sql) -> Result<i64, StoreError> {
    match db.read_one(LAST_EVENT, &[]).await? {
        Some(r) => r.int("last"),
        None => Ok(0),
    }
}

/// `impl ChatReads` for a store that implements [`Sql`](crate::Sql).
#[macro_export]
macro_rules! chat_reads {
    ($store:ty) => {
        $crate::forward!($store, ChatReads, chats;
            fn chat(id: ChatId) -> Option<Chat>;
            fn chats(ids: &[ChatId]) -> Vec<Chat>;
            fn chat_summary(id: ChatId, reader: &$crate::chat_core::Actor) -> Option<ChatSummary>;
            fn list_chats(scope: ChatScope, f: &ChatFilter, reader: &$crate::chat_core::Actor) -> Vec<ChatSummary>;
            fn messages(chat: ChatId, page: Page) -> Vec<Message>;
            fn unread_counts(scope: ChatScope, reader: &$crate::chat_core::Actor) -> Vec<(ChatId, i64)>;
            fn events_after(after_event_id: i64, limit: i64) -> Vec<StoredEvent>;
            fn events_visible_after(scope: ChatScope, after: i64, limit: i64) -> Vec<StoredEvent>;
            fn unread_snapshot(scope: ChatScope, reader: &$crate::chat_core::Actor) -> (i64, Vec<(ChatId, i64)>);
            fn last_event_id() -> i64;
        );
    };
}
