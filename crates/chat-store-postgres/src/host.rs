//! Host identity (accounts the host site signs in, used token ids) and API keys: their SQL.

use crate::PgStore;
use crate::rows::{self, db};
use chat_core::hosttoken::HostProfile;
use chat_core::model::*;
use chat_core::{AccountRole, StoreError};
use sqlx::postgres::PgRow;
use time::OffsetDateTime;

/// The same statement against each role's own table.
macro_rules! per_role {
    ($role:expr, $head:literal, $tail:literal) => {
        match $role {
            AccountRole::User => concat!($head, "tbl_user", $tail),
            AccountRole::Admin => concat!($head, "tbl_admin", $tail),
            AccountRole::Worker => concat!($head, "tbl_worker", $tail),
        }
    };
}

fn api_key(row: &PgRow) -> Result<ApiKey, StoreError> {
    chat_core::rows::api_key(&rows::Cols(row))
}

const KEY_COLS: &str = "id, name, prefix, scopes, created_at, revoked_at";

#[async_trait::async_trait]
impl chat_core::store::HostStore for PgStore {
    async fn upsert_host_account(
        &self,
        role: AccountRole,
        host_id: &str,
        p: &HostProfile,
        now: OffsetDateTime,
    ) -> Result<Account, StoreError> {
        // No password: an empty hash never verifies. The conflict target is the partial unique
        // index on host_subject, so a same-email password account is never touched.
        let sql = per_role!(
            role,
            "INSERT INTO ",
            " (email, name, password_hash, avatar_url, active, created_at, updated_at, host_subject) \
             VALUES ($1, $2, '', $3, TRUE, $4, $4, $5) \
             ON CONFLICT (host_subject) DO UPDATE SET \
             email = excluded.email, name = excluded.name, avatar_url = excluded.avatar_url, \
             updated_at = excluded.updated_at \
             RETURNING id, email, name, avatar_url, active, created_at, host_subject"
        );
        let row = sqlx::query(sql)
            .bind(&p.email)
            .bind(&p.name)
            .bind(&p.avatar_url)
            .bind(now)
            .bind(host_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        rows::account(&row, role)
    }

    async fn account_by_host_id(
        &self,
        role: AccountRole,
        host_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        let sql = per_role!(
            role,
            "SELECT id, email, name, avatar_url, active, created_at, host_subject FROM ",
            " WHERE host_subject = $1"
        );
        let row = sqlx::query(sql)
            .bind(host_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| rows::account(&r, role)).transpose()
    }

    async fn use_token_id(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM tbl_chat_host_token_ids WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let done = sqlx::query(
        "INSERT INTO tbl_chat_host_token_ids (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_api_key(
        &self,
        new: &NewApiKey,
        now: OffsetDateTime,
    ) -> Result<ApiKey, StoreError> {
        let row = sqlx::query(
        "INSERT INTO tbl_chat_api_keys (name, key_hash, prefix, scopes, created_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, name, prefix, scopes, created_at, revoked_at",
    )
    .bind(&new.name)
    .bind(&new.key_hash)
    .bind(&new.prefix)
    .bind(scopes_to_text(&new.scopes))
    .bind(now)
    .fetch_one(&self.pool)
    .await
    .map_err(db)?;
        api_key(&row)
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(
        "SELECT id, name, prefix, scopes, created_at, revoked_at FROM tbl_chat_api_keys WHERE key_hash = $1",
    )
    .bind(key_hash)
    .fetch_optional(&self.pool)
    .await
    .map_err(db)?;
        let _ = KEY_COLS;
        row.map(|r| api_key(&r)).transpose()
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        sqlx::query(
        "SELECT id, name, prefix, scopes, created_at, revoked_at FROM tbl_chat_api_keys ORDER BY id DESC",
    )
    .fetch_all(&self.pool)
    .await
    .map_err(db)?
    .iter()
    .map(api_key)
    .collect()
    }

    async fn revoke_api_key(
        &self,
        id: i64,
        now: OffsetDateTime,
    ) -> Result<Option<ApiKey>, StoreError> {
        sqlx::query(
            "UPDATE tbl_chat_api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        let row = sqlx::query(
        "SELECT id, name, prefix, scopes, created_at, revoked_at FROM tbl_chat_api_keys WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&self.pool)
    .await
    .map_err(db)?;
        row.map(|r| api_key(&r)).transpose()
    }
}
