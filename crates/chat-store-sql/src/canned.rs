//! Canned replies: the team's and each staff member's own.

use crate::{Sql, args, unique_violation};
use chat_core::model::CannedReply;
use chat_core::rows::{self, canned_owner};
use chat_core::{Actor, StoreError};
use time::OffsetDateTime;

/// A reply's columns, as `chat_core::rows::canned_reply` reads them.
macro_rules! reply_cols {
    () => {
        "id, owner_type, owner_id, shortcut, body, created_at, updated_at"
    };
}

/// A taken shortcut is `Duplicate("shortcut")`.
fn taken(e: StoreError) -> StoreError {
    if unique_violation(&e) {
        StoreError::Duplicate("shortcut")
    } else {
        e
    }
}

pub async fn canned_replies(db: &impl Sql, owner: &Actor) -> Result<Vec<CannedReply>, StoreError> {
    let sql = concat!(
        "SELECT ",
        reply_cols!(),
        " FROM tbl_chat_canned_replies WHERE owner_type = 'team' \
         OR (owner_type = $1 AND owner_id = $2) \
         ORDER BY shortcut, CASE WHEN owner_type = 'team' THEN 0 ELSE 1 END, id"
    );
    let kind = owner.sender_type().as_str();
    let found = db.read(sql, args![kind, owner.raw_id()]).await?;
    found.iter().map(rows::canned_reply).collect()
}

pub async fn canned_reply(db: &impl Sql, id: i64) -> Result<Option<CannedReply>, StoreError> {
    let sql = concat!(
        "SELECT ",
        reply_cols!(),
        " FROM tbl_chat_canned_replies WHERE id = $1"
    );
    let row = db.read_one(sql, args![id]).await?;
    row.map(|r| rows::canned_reply(&r)).transpose()
}

pub async fn create_canned_reply(
    db: &impl Sql,
    owner: Option<&Actor>,
    shortcut: &str,
    text: &str,
    now: OffsetDateTime,
) -> Result<CannedReply, StoreError> {
    let sql = concat!(
        "INSERT INTO tbl_chat_canned_replies (owner_type, owner_id, shortcut, body, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
        reply_cols!()
    );
    let (kind, id) = canned_owner(owner);
    let row = db
        .write_one(sql, args![kind, id, shortcut, text, now])
        .await
        .map_err(taken)?;
    match row {
        Some(r) => rows::canned_reply(&r),
        None => Err(StoreError::Database("insert returned no row".into())),
    }
}

pub async fn update_canned_reply(
    db: &impl Sql,
    id: i64,
    shortcut: &str,
    text: &str,
    now: OffsetDateTime,
) -> Result<Option<CannedReply>, StoreError> {
    let sql = concat!(
        "UPDATE tbl_chat_canned_replies SET shortcut = $2, body = $3, updated_at = $4 \
         WHERE id = $1 RETURNING ",
        reply_cols!()
    );
    let row = db
        .write_one(sql, args![id, shortcut, text, now])
        .await
        .map_err(taken)?;
    row.map(|r| rows::canned_reply(&r)).transpose()
}

pub async fn delete_canned_reply(db: &impl Sql, id: i64) -> Result<bool, StoreError> {
    let sql = "DELETE FROM tbl_chat_canned_replies WHERE id = $1";
    Ok(db.write(sql, args![id]).await? == 1)
}

/// `impl CannedReplyStore` for a store that implements [`Sql`](crate::Sql).
#[macro_export]
macro_rules! canned_reply_store {
    ($store:ty) => {
        $crate::forward!($store, CannedReplyStore, canned;
            fn canned_replies(owner: &$crate::chat_core::Actor) -> Vec<CannedReply>;
            fn canned_reply(id: i64) -> Option<CannedReply>;
            fn create_canned_reply(owner: Option<&$crate::chat_core::Actor>, shortcut: &str, text: &str, now: OffsetDateTime) -> CannedReply;
            fn update_canned_reply(id: i64, shortcut: &str, text: &str, now: OffsetDateTime) -> Option<CannedReply>;
            fn delete_canned_reply(id: i64) -> bool;
        );
    };
}
