//! The database's own file storage: attachment bytes in `tbl_chat_blob_chunks`, so that
//! every node serves every file without a shared disk.

use crate::PgStore;
use crate::rows::db;
use chat_core::StoreError;

#[async_trait::async_trait]
impl chat_core::store::BlobStore for PgStore {
    async fn put_chunk(&self, key: &str, n: i64, bytes: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tbl_chat_blob_chunks (blob_key, n, bytes) VALUES ($1, $2, $3) \
             ON CONFLICT (blob_key, n) DO UPDATE SET bytes = excluded.bytes",
        )
        .bind(key)
        .bind(n as i32)
        .bind(bytes)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn chunk(&self, key: &str, n: i64) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT bytes FROM tbl_chat_blob_chunks WHERE blob_key = $1 AND n = $2")
            .bind(key)
            .bind(n as i32)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn chunk_count(&self, key: &str) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COUNT(*) FROM tbl_chat_blob_chunks WHERE blob_key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(db)
    }

    async fn delete_blob(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM tbl_chat_blob_chunks WHERE blob_key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
