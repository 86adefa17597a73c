//! Upload records (`tbl_chat_attachments`). The bytes are kept elsewhere: on disk, or in
//! `tbl_chat_blob_chunks` through each backend's `BlobStore`.

use crate::{Sql, args};
use chat_core::attachment::Attachment;
use chat_core::rows::{self, Columns};
use chat_core::{SenderType, StoreError};
use time::OffsetDateTime;

macro_rules! select {
    ($($more:literal),*) => {
        concat!(
            "SELECT attachment_id, chat_id, uploader_type, uploader_id, client_id, kind, mime, name, \
             size, width, height, sha256, thumb_sha256, sent, is_private, created_at \
             FROM tbl_chat_attachments WHERE ",
            $($more),*
        )
    };
}

#[test]
fn select_reads_the_mapped_columns() {
    let cols: String = chat_core::rows::ATTACHMENT_COLUMNS
        .split_whitespace()
        .collect();
    let sel: String = select!("").split_whitespace().collect();
    assert!(sel.contains(&cols), "{sel} / {cols}");
}

pub async fn insert_attachment(db: &impl Sql, a: &Attachment) -> Result<Attachment, StoreError> {
    let sql = "INSERT INTO tbl_chat_attachments (attachment_id, chat_id, uploader_type, \
               uploader_id, client_id, kind, mime, name, size, width, height, sha256, \
               thumb_sha256, sent, is_private, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
               ON CONFLICT (uploader_type, uploader_id, client_id) DO NOTHING";
    let m = &a.meta;
    db.write(
        sql,
        args![
            m.id.as_str(),
            a.chat_id.0,
            a.uploader_type.as_str(),
            a.uploader_id,
            a.client_id.as_str(),
            m.kind.as_str(),
            m.mime.as_str(),
            m.name.as_str(),
            m.size,
            m.width,
            m.height,
            a.sha256.as_str(),
            a.thumb_sha256.as_deref(),
            a.sent,
            a.private,
            a.created_at
        ],
    )
    .await?;
    attachment_by_client_id(db, a.uploader_type, a.uploader_id, &a.client_id)
        .await?
        .ok_or_else(|| StoreError::Database("attachment insert kept no row".into()))
}

pub async fn attachment(db: &impl Sql, id: &str) -> Result<Option<Attachment>, StoreError> {
    let row = db
        .read_one(select!("attachment_id = $1"), args![id])
        .await?;
    row.map(|r| rows::attachment(&r)).transpose()
}

pub async fn attachments(db: &impl Sql, ids: &[String]) -> Result<Vec<Attachment>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(a) = attachment(db, id).await? {
            out.push(a);
        }
    }
    Ok(out)
}

pub async fn attachment_by_client_id(
    db: &impl Sql,
    uploader_type: SenderType,
    uploader_id: i64,
    client_id: &str,
) -> Result<Option<Attachment>, StoreError> {
    let sql = select!("uploader_type = $1 AND uploader_id = $2 AND client_id = $3");
    let row = db
        .read_one(sql, args![uploader_type.as_str(), uploader_id, client_id])
        .await?;
    row.map(|r| rows::attachment(&r)).transpose()
}

pub async fn uploaded_bytes_since(
    db: &impl Sql,
    uploader_type: SenderType,
    uploader_id: i64,
    since: OffsetDateTime,
) -> Result<i64, StoreError> {
    let sql = "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS total FROM tbl_chat_attachments \
               WHERE uploader_type = $1 AND uploader_id = $2 AND created_at >= $3";
    let row = db
        .read_one(sql, args![uploader_type.as_str(), uploader_id, since])
        .await?;
    match row {
        Some(r) => r.int("total"),
        None => Ok(0),
    }
}

pub async fn unsent_attachments(
    db: &impl Sql,
    before: OffsetDateTime,
    limit: i64,
) -> Result<Vec<Attachment>, StoreError> {
    let sql = select!("sent = $1 AND created_at < $2 ORDER BY created_at LIMIT $3");
    let found = db.read(sql, args![false, before, limit]).await?;
    found.iter().map(rows::attachment).collect()
}

pub async fn delete_unsent_attachments(
    db: &impl Sql,
    ids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut gone = Vec::new();
    for a in attachments(db, ids).await? {
        let sql = "DELETE FROM tbl_chat_attachments WHERE attachment_id = $1 AND sent = FALSE";
        if db.write(sql, args![a.meta.id.as_str()]).await? == 1 {
            gone.push(a);
        }
    }
    let mut unused = Vec::new();
    for k in chat_core::attachment::content_keys(&gone) {
        let sql = "SELECT COUNT(*) AS n FROM tbl_chat_attachments \
                   WHERE sha256 = $1 OR thumb_sha256 = $1";
        let n = match db.read_one(sql, args![k.as_str()]).await? {
            Some(r) => r.int("n")?,
            None => 0,
        };
        if n == 0 {
            unused.push(k);
        }
    }
    Ok(unused)
}

/// `impl AttachmentStore` for a store that implements [`Sql`](crate::Sql).
#[macro_export]
macro_rules! attachment_store {
    ($store:ty) => {
        $crate::forward!($store, AttachmentStore, attachments;
            fn insert_attachment(a: &$crate::chat_core::attachment::Attachment) -> $crate::chat_core::attachment::Attachment;
            fn attachment(id: &str) -> Option<$crate::chat_core::attachment::Attachment>;
            fn attachments(ids: &[String]) -> Vec<$crate::chat_core::attachment::Attachment>;
            fn attachment_by_client_id(uploader_type: $crate::chat_core::SenderType, uploader_id: i64, client_id: &str) -> Option<$crate::chat_core::attachment::Attachment>;
            fn uploaded_bytes_since(uploader_type: $crate::chat_core::SenderType, uploader_id: i64, since: OffsetDateTime) -> i64;
            fn unsent_attachments(before: OffsetDateTime, limit: i64) -> Vec<$crate::chat_core::attachment::Attachment>;
            fn delete_unsent_attachments(ids: &[String]) -> Vec<String>;
        );
    };
}
