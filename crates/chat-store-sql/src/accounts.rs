//! Accounts, sign-in sessions, guests, preferences and socket tickets.

use crate::{Sql, SqlTx, args, unique_violation};
use chat_core::model::*;
use chat_core::rows::{self, Columns};
use chat_core::{AccountRole, GuestId, StoreError};
use time::OffsetDateTime;

/// A guest session found by the condition given.
macro_rules! guest_where {
    ($cond:literal) => {
        concat!(
            "SELECT guest_id, name, email, created_at, last_seen_at, expired_at, wants_transcript \
             FROM tbl_guest_sessions WHERE ",
            $cond
        )
    };
}

pub async fn create_account(
    db: &impl Sql,
    new: &NewAccount,
    now: OffsetDateTime,
) -> Result<Account, StoreError> {
    let sql = per_role!(
        new.role,
        "INSERT INTO ",
        " (email, name, password_hash, active, created_at, updated_at) \
         VALUES ($1, $2, $3, TRUE, $4, $4) \
         RETURNING id, email, name, avatar_url, active, created_at, host_subject"
    );
    let args = args![&new.email, &new.name, &new.password_hash, now];
    match db.write_one(sql, args).await {
        Ok(Some(row)) => rows::account(&row, new.role),
        Ok(None) => Err(StoreError::Database("insert returned no row".into())),
        Err(e) if unique_violation(&e) => Err(StoreError::Duplicate("account")),
        Err(e) => Err(e),
    }
}

pub async fn account_by_email(
    db: &impl Sql,
    role: AccountRole,
    email: &str,
) -> Result<Option<(Account, String)>, StoreError> {
    let sql = per_role!(
        role,
        "SELECT id, email, name, avatar_url, active, created_at, host_subject, password_hash FROM ",
        " WHERE email = $1 AND host_subject IS NULL"
    );
    let Some(row) = db.read_one(sql, args![email]).await? else {
        return Ok(None);
    };
    Ok(Some((
        rows::account(&row, role)?,
        row.text("password_hash")?,
    )))
}

pub async fn account(
    db: &impl Sql,
    role: AccountRole,
    id: i64,
) -> Result<Option<Account>, StoreError> {
    let sql = per_role!(
        role,
        "SELECT id, email, name, avatar_url, active, created_at, host_subject FROM ",
        " WHERE id = $1"
    );
    let row = db.read_one(sql, args![id]).await?;
    row.map(|r| rows::account(&r, role)).transpose()
}

pub async fn list_accounts(
    db: &impl Sql,
    role: Option<AccountRole>,
) -> Result<Vec<Account>, StoreError> {
    let roles = match role {
        Some(r) => vec![r],
        None => AccountRole::ALL.to_vec(),
    };
    let mut out = Vec::new();
    for role in roles {
        let sql = per_role!(
            role,
            "SELECT id, email, name, avatar_url, active, created_at, host_subject FROM ",
            " ORDER BY id DESC"
        );
        for r in db.read(sql, &[]).await? {
            out.push(rows::account(&r, role)?);
        }
    }
    Ok(out)
}

/// Deactivating also ends the account's sign-in sessions, in the same transaction.
pub async fn set_account_active(
    db: &impl Sql,
    role: AccountRole,
    id: i64,
    active: bool,
    now: OffsetDateTime,
) -> Result<Option<Account>, StoreError> {
    let mut tx = db.begin().await?;
    let sql = per_role!(
        role,
        "UPDATE ",
        " SET active = $1, updated_at = $2 WHERE id = $3"
    );
    if tx.run(sql, args![active, now, id]).await? == 0 {
        return Ok(None);
    }
    if !active {
        let sql = "DELETE FROM tbl_chat_sessions WHERE role = $1 AND account_id = $2";
        tx.run(sql, args![role.as_str(), id]).await?;
    }
    tx.commit().await?;
    account(db, role, id).await
}

/// A new sign-in session; this account's expired sessions are swept on the way.
pub async fn create_session(
    db: &impl Sql,
    token_hash: &str,
    role: AccountRole,
    account_id: i64,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let sweep =
        "DELETE FROM tbl_chat_sessions WHERE role = $1 AND account_id = $2 AND expires_at <= $3";
    tx.run(sweep, args![role.as_str(), account_id, now]).await?;
    let sql = "INSERT INTO tbl_chat_sessions (token_hash, role, account_id, created_at, expires_at) \
               VALUES ($1, $2, $3, $4, $5)";
    let args = args![token_hash, role.as_str(), account_id, now, expires_at];
    tx.run(sql, args).await?;
    tx.commit().await
}

pub async fn session_account(
    db: &impl Sql,
    token_hash: &str,
    now: OffsetDateTime,
) -> Result<Option<Account>, StoreError> {
    let sql = "SELECT role, account_id FROM tbl_chat_sessions \
               WHERE token_hash = $1 AND expires_at > $2";
    let Some(row) = db.read_one(sql, args![token_hash, now]).await? else {
        return Ok(None);
    };
    let role: AccountRole = row.text("role")?.parse().map_err(StoreError::Database)?;
    let id = row.int("account_id")?;
    Ok(account(db, role, id).await?.filter(|a| a.active))
}

pub async fn delete_session(db: &impl Sql, token_hash: &str) -> Result<(), StoreError> {
    let sql = "DELETE FROM tbl_chat_sessions WHERE token_hash = $1";
    db.write(sql, args![token_hash]).await.map(drop)
}

pub async fn create_guest(
    db: &impl Sql,
    token_hash: &str,
    name: Option<&str>,
    email: Option<&str>,
    now: OffsetDateTime,
) -> Result<Guest, StoreError> {
    let sql = "INSERT INTO tbl_guest_sessions (session_token, name, email, created_at, last_seen_at) \
               VALUES ($1, $2, $3, $4, $4) \
               RETURNING guest_id, name, email, created_at, last_seen_at, expired_at, wants_transcript";
    match db
        .write_one(sql, args![token_hash, name, email, now])
        .await?
    {
        Some(row) => rows::guest(&row),
        None => Err(StoreError::Database("insert returned no row".into())),
    }
}

pub async fn guest_by_token(db: &impl Sql, token_hash: &str) -> Result<Option<Guest>, StoreError> {
    let sql = guest_where!("session_token = $1");
    let row = db.read_one(sql, args![token_hash]).await?;
    row.map(|r| rows::guest(&r)).transpose()
}

pub async fn guest(db: &impl Sql, id: GuestId) -> Result<Option<Guest>, StoreError> {
    let row = db
        .read_one(guest_where!("guest_id = $1"), args![id.0])
        .await?;
    row.map(|r| rows::guest(&r)).transpose()
}

/// A new token for a guest that has not expired (a resume link was used).
pub async fn rotate_guest_token(
    db: &impl Sql,
    id: GuestId,
    token_hash: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let sql = "UPDATE tbl_guest_sessions SET session_token = $1, last_seen_at = $2 \
               WHERE guest_id = $3 AND expired_at IS NULL";
    Ok(db.write(sql, args![token_hash, now, id.0]).await? == 1)
}

pub async fn set_guest_transcript(
    db: &impl Sql,
    id: GuestId,
    wanted: bool,
) -> Result<(), StoreError> {
    let sql = "UPDATE tbl_guest_sessions SET wants_transcript = $1 WHERE guest_id = $2";
    db.write(sql, args![wanted, id.0]).await.map(drop)
}

pub async fn touch_guest(
    db: &impl Sql,
    id: GuestId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let sql = "UPDATE tbl_guest_sessions SET last_seen_at = $1 \
               WHERE guest_id = $2 AND expired_at IS NULL AND last_seen_at < $1";
    db.write(sql, args![now, id.0]).await.map(drop)
}

pub async fn guests_inactive_since(
    db: &impl Sql,
    cutoff: OffsetDateTime,
    limit: i64,
) -> Result<Vec<GuestId>, StoreError> {
    let sql = "SELECT guest_id FROM tbl_guest_sessions WHERE expired_at IS NULL \
               AND last_seen_at < $1 ORDER BY last_seen_at LIMIT $2";
    let rows = db.read(sql, args![cutoff, limit]).await?;
    rows.iter()
        .map(|r| r.int("guest_id").map(GuestId))
        .collect()
}

/// An account's preferences, or its role's defaults when it never set any.
pub async fn preferences(
    db: &impl Sql,
    role: AccountRole,
    id: i64,
) -> Result<Preferences, StoreError> {
    let sql = "SELECT email_enabled, email_delay_secs, admin_scope, sound_enabled, \
               browser_notifications, quiet_start_hour, quiet_end_hour, time_zone \
               FROM tbl_chat_preferences WHERE role = $1 AND account_id = $2";
    match db.read_one(sql, args![role.as_str(), id]).await? {
        Some(r) => rows::preferences(&r),
        None => Ok(Preferences::defaults_for(role)),
    }
}

pub async fn set_preferences(
    db: &impl Sql,
    role: AccountRole,
    id: i64,
    p: &Preferences,
    now: OffsetDateTime,
) -> Result<Preferences, StoreError> {
    let sql = "INSERT INTO tbl_chat_preferences (role, account_id, email_enabled, \
               email_delay_secs, admin_scope, sound_enabled, browser_notifications, \
               quiet_start_hour, quiet_end_hour, updated_at, time_zone) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
               ON CONFLICT (role, account_id) DO UPDATE SET email_enabled = excluded.email_enabled, \
               email_delay_secs = excluded.email_delay_secs, admin_scope = excluded.admin_scope, \
               sound_enabled = excluded.sound_enabled, \
               browser_notifications = excluded.browser_notifications, \
               quiet_start_hour = excluded.quiet_start_hour, \
               quiet_end_hour = excluded.quiet_end_hour, updated_at = excluded.updated_at, \
               time_zone = excluded.time_zone";
    let args = args![
        role.as_str(),
        id,
        p.email_enabled,
        p.email_delay_secs,
        p.admin_scope.as_str(),
        p.sound_enabled,
        p.browser_notifications,
        p.quiet_start_hour,
        p.quiet_end_hour,
        now,
        &p.time_zone,
    ];
    db.write(sql, args).await?;
    preferences(db, role, id).await
}

/// A single-use socket ticket; expired tickets are swept on the way.
pub async fn create_ws_ticket(
    db: &impl Sql,
    ticket_hash: &str,
    kind: &str,
    session_hash: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    let sweep = "DELETE FROM tbl_chat_ws_tickets WHERE expires_at <= $1";
    tx.run(sweep, args![now]).await?;
    let sql = "INSERT INTO tbl_chat_ws_tickets (ticket_hash, session_kind, session_hash, expires_at) \
               VALUES ($1, $2, $3, $4)";
    tx.run(sql, args![ticket_hash, kind, session_hash, expires_at])
        .await?;
    tx.commit().await
}

/// Use up a ticket: its `(kind, session_hash)` when it exists and has not expired.
pub async fn take_ws_ticket(
    db: &impl Sql,
    ticket_hash: &str,
    now: OffsetDateTime,
) -> Result<Option<(String, String)>, StoreError> {
    let sql = "DELETE FROM tbl_chat_ws_tickets WHERE ticket_hash = $1 \
               RETURNING session_kind, session_hash, expires_at";
    match db.write_one(sql, args![ticket_hash]).await? {
        Some(row) if row.time("expires_at")? > now => {
            Ok(Some((row.text("session_kind")?, row.text("session_hash")?)))
        }
        _ => Ok(None),
    }
}

/// `impl AccountStore` for a store that implements [`Sql`](crate::Sql).
#[macro_export]
macro_rules! account_store {
    ($store:ty) => {
        $crate::forward!($store, AccountStore, accounts;
            fn create_account(new: &NewAccount, now: OffsetDateTime) -> Account;
            fn account_by_email(role: AccountRole, email: &str) -> Option<(Account, String)>;
            fn account(role: AccountRole, id: i64) -> Option<Account>;
            fn list_accounts(role: Option<AccountRole>) -> Vec<Account>;
            fn set_account_active(role: AccountRole, id: i64, active: bool, now: OffsetDateTime) -> Option<Account>;
            fn create_session(token_hash: &str, role: AccountRole, account_id: i64, expires_at: OffsetDateTime, now: OffsetDateTime) -> ();
            fn session_account(token_hash: &str, now: OffsetDateTime) -> Option<Account>;
            fn delete_session(token_hash: &str) -> ();
            fn create_guest(token_hash: &str, name: Option<&str>, email: Option<&str>, now: OffsetDateTime) -> Guest;
            fn guest_by_token(token_hash: &str) -> Option<Guest>;
            fn guest(id: GuestId) -> Option<Guest>;
            fn rotate_guest_token(id: GuestId, token_hash: &str, now: OffsetDateTime) -> bool;
            fn set_guest_transcript(id: GuestId, wanted: bool) -> ();
            fn touch_guest(id: GuestId, now: OffsetDateTime) -> ();
            fn guests_inactive_since(cutoff: OffsetDateTime, limit: i64) -> Vec<GuestId>;
            fn preferences(role: AccountRole, id: i64) -> Preferences;
            fn set_preferences(role: AccountRole, id: i64, prefs: &Preferences, now: OffsetDateTime) -> Preferences;
            fn create_ws_ticket(ticket_hash: &str, kind: &str, session_hash: &str, expires_at: OffsetDateTime, now: OffsetDateTime) -> ();
            fn take_ws_ticket(ticket_hash: &str, now: OffsetDateTime) -> Option<(String, String)>;
        );
    };
}
