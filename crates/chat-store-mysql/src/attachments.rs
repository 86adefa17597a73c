//! Upload records and the database's own file storage: the statements of
//! `chat_store_sql::attachments` in MariaDB's words (`?` placeholders, `INSERT IGNORE`),
//! and the bytes in `tbl_chat_blob_chunks`.

use crate::MysqlStore;
use crate::rows::{Cols, db};
use chat_core::attachment::Attachment;
use chat_core::rows::{ATTACHMENT_COLUMNS, attachment};
use chat_core::{SenderType, StoreError};
use sqlx::Row;
use time::OffsetDateTime;

fn select(filter: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM tbl_chat_attachments WHERE {filter}"
    ))
}

#[async_trait::async_trait]
impl chat_core::store::AttachmentStore for MysqlStore {
    async fn insert_attachment(&self, a: &Attachment) -> Result<Attachment, StoreError> {
        let m = &a.meta;
        sqlx::query(
            "INSERT IGNORE INTO tbl_chat_attachments (attachment_id, chat_id, uploader_type, \
             uploader_id, client_id, kind, mime, name, size, width, height, sha256, \
             thumb_sha256, sent, is_private, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&m.id)
        .bind(a.chat_id.0)
        .bind(a.uploader_type.as_str())
        .bind(a.uploader_id)
        .bind(&a.client_id)
        .bind(m.kind.as_str())
        .bind(&m.mime)
        .bind(&m.name)
        .bind(m.size)
        .bind(m.width)
        .bind(m.height)
        .bind(&a.sha256)
        .bind(a.thumb_sha256.as_deref())
        .bind(a.sent)
        .bind(a.private)
        .bind(a.created_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        self.attachment_by_client_id(a.uploader_type, a.uploader_id, &a.client_id)
            .await?
            .ok_or_else(|| StoreError::Database("attachment insert kept no row".into()))
    }

    async fn attachment(&self, id: &str) -> Result<Option<Attachment>, StoreError> {
        let row = sqlx::query(select("attachment_id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| attachment(&Cols(&r))).transpose()
    }

    async fn attachments(&self, ids: &[String]) -> Result<Vec<Attachment>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(a) = self.attachment(id).await? {
                out.push(a);
            }
        }
        Ok(out)
    }

    async fn attachment_by_client_id(
        &self,
        uploader_type: SenderType,
        uploader_id: i64,
        client_id: &str,
    ) -> Result<Option<Attachment>, StoreError> {
        let row = sqlx::query(select(
            "uploader_type = ? AND uploader_id = ? AND client_id = ?",
        ))
        .bind(uploader_type.as_str())
        .bind(uploader_id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| attachment(&Cols(&r))).transpose()
    }

    async fn uploaded_bytes_since(
        &self,
        uploader_type: SenderType,
        uploader_id: i64,
        since: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size), 0) AS SIGNED) AS total FROM tbl_chat_attachments \
             WHERE uploader_type = ? AND uploader_id = ? AND created_at >= ?",
        )
        .bind(uploader_type.as_str())
        .bind(uploader_id)
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        row.try_get::<i64, _>("total").map_err(db)
    }

    async fn unsent_attachments(
        &self,
        before: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<Attachment>, StoreError> {
        let rows = sqlx::query(select(
            "sent = FALSE AND created_at < ? ORDER BY created_at LIMIT ?",
        ))
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(|r| attachment(&Cols(r))).collect()
    }

    async fn delete_unsent_attachments(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut gone = Vec::new();
        for a in self.attachments(ids).await? {
            let deleted = sqlx::query(
                "DELETE FROM tbl_chat_attachments WHERE attachment_id = ? AND sent = FALSE",
            )
            .bind(&a.meta.id)
            .execute(&self.pool)
            .await
            .map_err(db)?
            .rows_affected();
            if deleted == 1 {
                gone.push(a);
            }
        }
        let mut unused = Vec::new();
        for k in chat_core::attachment::content_keys(&gone) {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM tbl_chat_attachments WHERE sha256 = ? OR thumb_sha256 = ?",
            )
            .bind(&k)
            .bind(&k)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
            if n == 0 {
                unused.push(k);
            }
        }
        Ok(unused)
    }
}

#[async_trait::async_trait]
impl chat_core::store::BlobStore for MysqlStore {
    async fn put_chunk(&self, key: &str, n: i64, bytes: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tbl_chat_blob_chunks (blob_key, n, bytes) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE bytes = VALUES(bytes)",
        )
        .bind(key)
        .bind(n)
        .bind(bytes)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn chunk(&self, key: &str, n: i64) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT bytes FROM tbl_chat_blob_chunks WHERE blob_key = ? AND n = ?")
            .bind(key)
            .bind(n)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn chunk_count(&self, key: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM tbl_chat_blob_chunks WHERE blob_key = ?")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    async fn delete_blob(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM tbl_chat_blob_chunks WHERE blob_key = ?")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
