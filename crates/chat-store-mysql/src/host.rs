//! Host identity (accounts the host site signs in, used token ids) and API keys: their SQL.
//!
//! Own mode keeps the host's id in `host_subject`; host mode needs no extra id, because the
//! account's id already is the host's key: the host id must be an integer naming an
//! existing row of the host's table, and the profile is marked `host_verified`.

use crate::MysqlStore;
use crate::rows::{self, db};
use chat_core::hosttoken::HostProfile;
use chat_core::model::*;
use chat_core::{AccountRole, ChatError, StoreError};
use sqlx::AssertSqlSafe;
use sqlx::mysql::MySqlRow;
use time::OffsetDateTime;

fn host_key(role: AccountRole, host_id: &str) -> Result<i64, StoreError> {
    host_id.parse::<i64>().map_err(|_| {
        ChatError::invalid(
            "sub",
            format!("the accounts are the host site's: sub must be the integer id of a {role} in its table"),
        )
        .into()
    })
}

pub(crate) async fn upsert_host_account(
    s: &MysqlStore,
    role: AccountRole,
    host_id: &str,
    p: &HostProfile,
    now: OffsetDateTime,
) -> Result<Account, StoreError> {
    let table = s.tables.of(role);
    if s.host.is_some() {
        let key = host_key(role, host_id)?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (host_id, email, name, password_hash, avatar_url, active, created_at, updated_at, host_verified) \
             VALUES (?, ?, ?, '', ?, TRUE, ?, ?, TRUE) ON DUPLICATE KEY UPDATE email = VALUES(email), \
             name = VALUES(name), avatar_url = VALUES(avatar_url), updated_at = VALUES(updated_at), host_verified = TRUE"
        )))
        .bind(key)
        .bind(&p.email)
        .bind(&p.name)
        .bind(&p.avatar_url)
        .bind(now)
        .bind(now)
        .execute(&s.pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => ChatError::invalid(
                "sub",
                format!("the host site has no {role} with id {key} in its table"),
            )
            .into(),
            _ => db(e),
        })?;
    } else {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (email, name, password_hash, avatar_url, active, created_at, updated_at, host_subject) \
             VALUES (?, ?, '', ?, TRUE, ?, ?, ?) ON DUPLICATE KEY UPDATE email = VALUES(email), \
             name = VALUES(name), avatar_url = VALUES(avatar_url), updated_at = VALUES(updated_at)"
        )))
        .bind(&p.email)
        .bind(&p.name)
        .bind(&p.avatar_url)
        .bind(now)
        .bind(now)
        .bind(host_id)
        .execute(&s.pool)
        .await
        .map_err(db)?;
    }
    chat_core::store::HostStore::account_by_host_id(s, role, host_id)
        .await?
        .ok_or_else(|| StoreError::Database("upserted host account not found".into()))
}

fn api_key(row: &MySqlRow) -> Result<ApiKey, StoreError> {
    chat_core::rows::api_key(&rows::Cols(row))
}

async fn api_key_by_id(s: &MysqlStore, id: i64) -> Result<Option<ApiKey>, StoreError> {
    let row = sqlx::query(
        "SELECT id, name, prefix, scopes, created_at, revoked_at FROM tbl_chat_api_keys WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(&s.pool)
    .await
    .map_err(db)?;
    row.map(|r| api_key(&r)).transpose()
}

#[async_trait::async_trait]
impl chat_core::store::HostStore for MysqlStore {
    async fn upsert_host_account(
        &self,
        role: AccountRole,
        host_id: &str,
        profile: &HostProfile,
        now: OffsetDateTime,
    ) -> Result<Account, StoreError> {
        crate::host::upsert_host_account(self, role, host_id, profile, now).await
    }

    async fn account_by_host_id(
        &self,
        role: AccountRole,
        host_id: &str,
    ) -> Result<Option<Account>, StoreError> {
        let t = self.tables;
        let (filter, key): (&str, String) = if self.host.is_some() {
            match host_id.parse::<i64>() {
                Ok(k) => ("host_id = ? AND host_verified", k.to_string()),
                Err(_) => return Ok(None),
            }
        } else {
            ("host_subject = ?", host_id.to_owned())
        };
        let sql = AssertSqlSafe(format!(
            "SELECT {id} AS id, email, name, avatar_url, active, created_at, {subject} AS host_subject \
         FROM {table} WHERE {filter}",
            id = t.id,
            subject = t.subject(""),
            table = t.of(role),
        ));
        let row = sqlx::query(sql)
            .bind(key)
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
        sqlx::query("DELETE FROM tbl_chat_host_token_ids WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        let done = sqlx::query(
            "INSERT IGNORE INTO tbl_chat_host_token_ids (jti, expires_at) VALUES (?, ?)",
        )
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_api_key(
        &self,
        new: &NewApiKey,
        now: OffsetDateTime,
    ) -> Result<ApiKey, StoreError> {
        let done = sqlx::query(
        "INSERT INTO tbl_chat_api_keys (name, key_hash, prefix, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&new.name)
    .bind(&new.key_hash)
    .bind(&new.prefix)
    .bind(scopes_to_text(&new.scopes))
    .bind(now)
    .execute(&self.pool)
    .await
    .map_err(db)?;
        let id = i64::try_from(done.last_insert_id())
            .map_err(|e| StoreError::Database(e.to_string()))?;
        api_key_by_id(self, id)
            .await?
            .ok_or_else(|| StoreError::Database("inserted API key not found".into()))
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(
        "SELECT id, name, prefix, scopes, created_at, revoked_at FROM tbl_chat_api_keys WHERE key_hash = ?",
    )
    .bind(key_hash)
    .fetch_optional(&self.pool)
    .await
    .map_err(db)?;
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
            "UPDATE tbl_chat_api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        api_key_by_id(self, id).await
    }
}
