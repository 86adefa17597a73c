//! The event-log lock. A transaction that inserts events takes it ([`lock_event_log_on`])
//! after its chat locks and right before its first insert, so event ids are assigned and
//! committed in the same order. The reads of chats, messages and events are shared
//! (`chat_store_sql::chats`); every write goes through the node's writer ([`crate::write`]).

use crate::rows::db;
use chat_core::StoreError;
use sqlx::postgres::PgConnection;

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
