//! What the admins' reports count (`chat_core::reports` does the arithmetic).

use crate::{Sql, args};
use chat_core::reports::ChatFacts;
use chat_core::rows::{self, Columns};
use chat_core::{ChatId, StoreError};
use time::OffsetDateTime;

/// The chats of a period, with their first answer and rating (read by
/// `chat_core::rows::chat_facts`).
pub async fn report_facts(
    db: &impl Sql,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<ChatFacts>, StoreError> {
    let sql = "SELECT c.chat_id, c.created_at, c.worker_id, c.status, c.updated_at, \
               (SELECT MIN(m.created_at) FROM tbl_chat_messages m WHERE m.chat_id = c.chat_id \
                AND m.sender_type IN ('admin', 'worker') AND m.is_private = FALSE) AS first_reply_at, \
               (SELECT r.stars FROM tbl_chat_ratings r WHERE r.chat_id = c.chat_id) AS rating \
               FROM tbl_chats c WHERE c.created_at >= $1 AND c.created_at < $2 ORDER BY c.chat_id";
    let found = db.read(sql, args![from, to]).await?;
    found.iter().map(rows::chat_facts).collect()
}

pub async fn silence_lines(
    db: &impl Sql,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<(ChatId, String, OffsetDateTime)>, StoreError> {
    let sql = "SELECT m.chat_id, m.message, m.created_at FROM tbl_chats c \
               JOIN tbl_chat_messages m ON m.chat_id = c.chat_id \
               WHERE c.created_at >= $1 AND c.created_at < $2 AND m.sender_type = 'system' \
               AND m.message LIKE '% did not answer within %' ORDER BY m.message_id";
    let found = db.read(sql, args![from, to]).await?;
    found
        .iter()
        .map(|r| {
            Ok((
                ChatId(r.int("chat_id")?),
                r.text("message")?,
                r.time("created_at")?,
            ))
        })
        .collect()
}

/// `impl ReportStore` for a store that implements [`Sql`](crate::Sql).
#[macro_export]
macro_rules! report_store {
    ($store:ty) => {
        $crate::forward!($store, ReportStore, reports;
            fn report_facts(from: OffsetDateTime, to: OffsetDateTime) -> Vec<$crate::chat_core::reports::ChatFacts>;
            fn silence_lines(from: OffsetDateTime, to: OffsetDateTime) -> Vec<(ChatId, String, OffsetDateTime)>;
        );
    };
}
