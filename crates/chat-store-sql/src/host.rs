//! Host identity (accounts the host site signs in, used token ids) and API keys.

use crate::{Sql, SqlTx, args};
use chat_core::hosttoken::HostProfile;
use chat_core::model::*;
use chat_core::rows;
use chat_core::{AccountRole, StoreError};
use time::OffsetDateTime;

/// An API key found by the condition given.
macro_rules! key_where {
    ($cond:literal) => {
        concat!(
            "SELECT id, name, prefix, scopes, created_at, revoked_at FROM tbl_chat_api_keys ",
            $cond
        )
    };
}

/// No password: an empty hash never verifies. The conflict target is the partial unique
/// index on `host_subject`, so a same-email password account is never touched.
pub async fn upsert_host_account(
    db: &impl Sql,
    role: AccountRole,
    host_id: &str,
    p: &HostProfile,
    now: OffsetDateTime,
) -> Result<Account, StoreError> {
    let sql = per_role!(
        role,
        "INSERT INTO ",
        " (email, name, password_hash, avatar_url, active, created_at, updated_at, host_subject) \
         VALUES ($1, $2, '', $3, TRUE, $4, $4, $5) \
         ON CONFLICT (host_subject) WHERE host_subject IS NOT NULL DO UPDATE SET \
         email = excluded.email, name = excluded.name, avatar_url = excluded.avatar_url, \
         updated_at = excluded.updated_at \
         RETURNING id, email, name, avatar_url, active, created_at, host_subject"
    );
    let args = args![&p.email, &p.name, p.avatar_url.as_deref(), now, host_id];
    match db.write_one(sql, args).await? {
        Some(row) => rows::account(&row, role),
        None => Err(StoreError::Database("upsert returned no row".into())),
    }
}

pub async fn account_by_host_id(
    db: &impl Sql,
    role: AccountRole,
    host_id: &str,
) -> Result<Option<Account>, StoreError> {
    let sql = per_role!(
        role,
        "SELECT id, email, name, avatar_url, active, created_at, host_subject FROM ",
        " WHERE host_subject = $1"
    );
    let row = db.read_one(sql, args![host_id]).await?;
    row.map(|r| rows::account(&r, role)).transpose()
}

/// Record a host token id; false when it was used before. Expired ids are swept.
pub async fn use_token_id(
    db: &impl Sql,
    jti: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let sweep = "DELETE FROM tbl_chat_host_token_ids WHERE expires_at <= $1";
    tx.run(sweep, args![now]).await?;
    let sql = "INSERT INTO tbl_chat_host_token_ids (jti, expires_at) VALUES ($1, $2) \
               ON CONFLICT (jti) DO NOTHING";
    let added = tx.run(sql, args![jti, expires_at]).await?;
    tx.commit().await?;
    Ok(added == 1)
}

pub async fn create_api_key(
    db: &impl Sql,
    new: &NewApiKey,
    now: OffsetDateTime,
) -> Result<ApiKey, StoreError> {
    let sql = "INSERT INTO tbl_chat_api_keys (name, key_hash, prefix, scopes, created_at) \
               VALUES ($1, $2, $3, $4, $5) RETURNING id, name, prefix, scopes, created_at, revoked_at";
    let scopes = scopes_to_text(&new.scopes);
    let args = args![&new.name, &new.key_hash, &new.prefix, scopes.as_str(), now];
    match db.write_one(sql, args).await? {
        Some(row) => rows::api_key(&row),
        None => Err(StoreError::Database("insert returned no row".into())),
    }
}

pub async fn api_key_by_hash(db: &impl Sql, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
    let row = db
        .read_one(key_where!("WHERE key_hash = $1"), args![key_hash])
        .await?;
    row.map(|r| rows::api_key(&r)).transpose()
}

pub async fn list_api_keys(db: &impl Sql) -> Result<Vec<ApiKey>, StoreError> {
    let found = db.read(key_where!("ORDER BY id DESC"), &[]).await?;
    found.iter().map(rows::api_key).collect()
}

/// Revoke a key (once: a second revoke keeps the first time); the key as it now is.
pub async fn revoke_api_key(
    db: &impl Sql,
    id: i64,
    now: OffsetDateTime,
) -> Result<Option<ApiKey>, StoreError> {
    let sql = "UPDATE tbl_chat_api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2";
    db.write(sql, args![now, id]).await?;
    let row = db.read_one(key_where!("WHERE id = $1"), args![id]).await?;
    row.map(|r| rows::api_key(&r)).transpose()
}

/// `impl HostStore` for a store that implements [`Sql`](crate::Sql).
#[macro_export]
macro_rules! host_store {
    ($store:ty) => {
        $crate::forward!($store, HostStore, host;
            fn upsert_host_account(role: AccountRole, host_id: &str, p: &$crate::chat_core::hosttoken::HostProfile, now: OffsetDateTime) -> Account;
            fn account_by_host_id(role: AccountRole, host_id: &str) -> Option<Account>;
            fn use_token_id(jti: &str, expires_at: OffsetDateTime, now: OffsetDateTime) -> bool;
            fn create_api_key(new: &NewApiKey, now: OffsetDateTime) -> ApiKey;
            fn api_key_by_hash(key_hash: &str) -> Option<ApiKey>;
            fn list_api_keys() -> Vec<ApiKey>;
            fn revoke_api_key(id: i64, now: OffsetDateTime) -> Option<ApiKey>;
        );
    };
}
