//! Accounts, login sessions, guests, preferences and socket tickets: their SQL.
//!
//! The account tables are the mode's ([`crate::Tables`]): the chat's own `tbl_user`, ... or
//! the host-mode profiles `tbl_chat_user_accounts`, ... keyed by the host's id. Only table
//! and key names differ, and those come from a fixed set, never from input.

use crate::MysqlStore;
use crate::rows::{self, db, int, unique_violation};
use chat_core::model::*;
use chat_core::{AccountRole, ChatError, GuestId, StoreError};
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;

fn foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

/// The host's own table for a role (host mode).
fn host_table(role: AccountRole) -> &'static str {
    match role {
        AccountRole::User => "tbl_user",
        AccountRole::Admin => "tbl_admin",
        AccountRole::Worker => "tbl_worker",
    }
}

/// Insert an account row: own mode takes the next id, host mode the host's id.
pub(crate) async fn insert_account(
    s: &MysqlStore,
    role: AccountRole,
    host_id: Option<i64>,
    email: &str,
    name: &str,
    password_hash: &str,
    now: OffsetDateTime,
) -> Result<Account, StoreError> {
    let table = s.tables.of(role);
    let done = match host_id {
        None => sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (email, name, password_hash, active, created_at, updated_at) \
             VALUES (?, ?, ?, TRUE, ?, ?)"
        )))
        .bind(email)
        .bind(name)
        .bind(password_hash)
        .bind(now)
        .bind(now),
        Some(id) => sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (host_id, email, name, password_hash, active, created_at, updated_at) \
             VALUES (?, ?, ?, ?, TRUE, ?, ?)"
        )))
        .bind(id)
        .bind(email)
        .bind(name)
        .bind(password_hash)
        .bind(now)
        .bind(now),
    }
    .execute(&s.pool)
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            StoreError::Duplicate("account")
        } else if foreign_key_violation(&e) {
            StoreError::Rule(ChatError::NotFound("host account"))
        } else {
            db(e)
        }
    })?;
    let id = match host_id {
        Some(id) => id,
        None => {
            i64::try_from(done.last_insert_id()).map_err(|e| StoreError::Database(e.to_string()))?
        }
    };
    chat_core::store::AccountStore::account(s, role, id)
        .await?
        .ok_or_else(|| StoreError::Database("inserted account not found".into()))
}

#[async_trait::async_trait]
impl chat_core::store::AccountStore for MysqlStore {
    async fn create_account(
        &self,
        new: &NewAccount,
        now: OffsetDateTime,
    ) -> Result<Account, StoreError> {
        let host_id = match &self.host {
            None => None,
            Some(h) => {
                let Some(email_col) = &h.email else {
                    return Err(ChatError::invalid(
                        "email",
                        "accounts are the host site's: link them by their host id",
                    )
                    .into());
                };
                let sql = AssertSqlSafe(format!(
                    "SELECT `{pk}` AS id FROM {table} WHERE `{email_col}` = ? LIMIT 2",
                    pk = h.pk,
                    table = host_table(new.role),
                ));
                let found = sqlx::query(sql)
                    .bind(&new.email)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?;
                match found.as_slice() {
                    [one] => Some(int(one, "id")?),
                    [] => {
                        return Err(ChatError::invalid(
                        "email",
                        format!(
                            "no {} of the host site has this email; the chat links existing people",
                            new.role
                        ),
                    )
                    .into());
                    }
                    _ => {
                        return Err(ChatError::invalid(
                            "email",
                            format!("several {}s of the host site have this email", new.role),
                        )
                        .into());
                    }
                }
            }
        };
        insert_account(
            self,
            new.role,
            host_id,
            &new.email,
            &new.name,
            &new.password_hash,
            now,
        )
        .await
    }

    async fn account_by_email(
        &self,
        role: AccountRole,
        email: &str,
    ) -> Result<Option<(Account, String)>, StoreError> {
        let sql = AssertSqlSafe(format!(
            "SELECT {id} AS id, email, name, avatar_url, active, created_at, {subject} AS host_subject, password_hash \
         FROM {table} WHERE email = ? AND {password_only}",
            id = self.tables.id,
            subject = self.tables.subject(""),
            password_only = self.tables.password_only(),
            table = self.tables.of(role)
        ));
        let row = sqlx::query(sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| {
            let hash: String = r.try_get("password_hash").map_err(db)?;
            Ok((rows::account(&r, role)?, hash))
        })
        .transpose()
    }

    async fn account(&self, role: AccountRole, id: i64) -> Result<Option<Account>, StoreError> {
        let sql = AssertSqlSafe(format!(
            "SELECT {id} AS id, email, name, avatar_url, active, created_at, {subject} AS host_subject FROM {table} WHERE {id} = ?",
            id = self.tables.id,
            subject = self.tables.subject(""),
            table = self.tables.of(role)
        ));
        let row = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| rows::account(&r, role)).transpose()
    }

    async fn list_accounts(&self, role: Option<AccountRole>) -> Result<Vec<Account>, StoreError> {
        let roles: Vec<AccountRole> = match role {
            Some(r) => vec![r],
            None => AccountRole::ALL.to_vec(),
        };
        let mut out = Vec::new();
        for role in roles {
            let sql = AssertSqlSafe(format!(
                "SELECT {id} AS id, email, name, avatar_url, active, created_at, {subject} AS host_subject FROM {table} ORDER BY {id} DESC",
                id = self.tables.id,
                subject = self.tables.subject(""),
                table = self.tables.of(role)
            ));
            for r in sqlx::query(sql).fetch_all(&self.pool).await.map_err(db)? {
                out.push(rows::account(&r, role)?);
            }
        }
        Ok(out)
    }

    async fn set_account_active(
        &self,
        role: AccountRole,
        id: i64,
        active: bool,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let sql = AssertSqlSafe(format!(
            "UPDATE {table} SET active = ?, updated_at = ? WHERE {id} = ?",
            id = self.tables.id,
            table = self.tables.of(role)
        ));
        // The connection reports rows matched (CLIENT_FOUND_ROWS), as SQLite does.
        let done = sqlx::query(sql)
            .bind(active)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(None);
        }
        if !active {
            sqlx::query("DELETE FROM tbl_chat_sessions WHERE role = ? AND account_id = ?")
                .bind(role.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        chat_core::store::AccountStore::account(self, role, id).await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        role: AccountRole,
        account_id: i64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // Sweep this account's expired sessions while we are here: a statement of its own, so
        // that two logins of one account never hold gap locks against each other's insert.
        sqlx::query(
            "DELETE FROM tbl_chat_sessions WHERE role = ? AND account_id = ? AND expires_at <= ?",
        )
        .bind(role.as_str())
        .bind(account_id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        sqlx::query(
        "INSERT INTO tbl_chat_sessions (token_hash, role, account_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(role.as_str())
    .bind(account_id)
    .bind(now)
    .bind(expires_at)
    .execute(&self.pool)
    .await
    .map_err(db)?;
        Ok(())
    }

    async fn session_account(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(
        "SELECT role, account_id FROM tbl_chat_sessions WHERE token_hash = ? AND expires_at > ?",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&self.pool)
    .await
    .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get("role").map_err(db)?;
        let id = int(&row, "account_id")?;
        let role: AccountRole = role.parse().map_err(StoreError::Database)?;
        Ok(chat_core::store::AccountStore::account(self, role, id)
            .await?
            .filter(|a| a.active))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM tbl_chat_sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn create_guest(
        &self,
        token_hash: &str,
        name: Option<&str>,
        email: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Guest, StoreError> {
        let done = sqlx::query(
        "INSERT INTO tbl_guest_sessions (session_token, name, email, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(name)
    .bind(email)
    .bind(now)
    .bind(now)
    .execute(&self.pool)
    .await
    .map_err(db)?;
        let id = i64::try_from(done.last_insert_id())
            .map_err(|e| StoreError::Database(e.to_string()))?;
        chat_core::store::AccountStore::guest(self, GuestId(id))
            .await?
            .ok_or_else(|| StoreError::Database("inserted guest not found".into()))
    }

    async fn guest_by_token(&self, token_hash: &str) -> Result<Option<Guest>, StoreError> {
        let row = sqlx::query(
        "SELECT guest_id, name, email, created_at, last_seen_at, expired_at, wants_transcript FROM tbl_guest_sessions WHERE session_token = ?",
    )
    .bind(token_hash)
    .fetch_optional(&self.pool)
    .await
    .map_err(db)?;
        row.map(|r| rows::guest(&r)).transpose()
    }

    async fn guest(&self, id: GuestId) -> Result<Option<Guest>, StoreError> {
        let row = sqlx::query(
        "SELECT guest_id, name, email, created_at, last_seen_at, expired_at, wants_transcript FROM tbl_guest_sessions WHERE guest_id = ?",
    )
    .bind(id.0)
    .fetch_optional(&self.pool)
    .await
    .map_err(db)?;
        row.map(|r| rows::guest(&r)).transpose()
    }

    /// A resume link was used: a new token, the old one stops working. Counts as activity.
    async fn rotate_guest_token(
        &self,
        id: GuestId,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // The connection reports rows matched, so an unchanged row still counts as found.
        let done = sqlx::query(
        "UPDATE tbl_guest_sessions SET session_token = ?, last_seen_at = ? WHERE guest_id = ? AND expired_at IS NULL",
    )
    .bind(token_hash)
    .bind(now)
    .bind(id.0)
    .execute(&self.pool)
    .await
    .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_guest_transcript(&self, id: GuestId, wanted: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE tbl_guest_sessions SET wants_transcript = ? WHERE guest_id = ?")
            .bind(wanted)
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn touch_guest(&self, id: GuestId, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
        "UPDATE tbl_guest_sessions SET last_seen_at = ? WHERE guest_id = ? AND expired_at IS NULL AND last_seen_at < ?",
    )
    .bind(now)
    .bind(id.0)
    .bind(now)
    .execute(&self.pool)
    .await
    .map_err(db)?;
        Ok(())
    }

    async fn guests_inactive_since(
        &self,
        cutoff: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<GuestId>, StoreError> {
        let rows = sqlx::query(
        "SELECT guest_id FROM tbl_guest_sessions WHERE expired_at IS NULL AND last_seen_at < ? ORDER BY last_seen_at LIMIT ?",
    )
    .bind(cutoff)
    .bind(rows::limit(limit))
    .fetch_all(&self.pool)
    .await
    .map_err(db)?;
        rows.iter()
            .map(|r| int(r, "guest_id").map(GuestId))
            .collect()
    }

    async fn preferences(&self, role: AccountRole, id: i64) -> Result<Preferences, StoreError> {
        let row = sqlx::query(
        "SELECT email_enabled, email_delay_secs, admin_scope, sound_enabled, browser_notifications, \
         quiet_start_hour, quiet_end_hour, time_zone FROM tbl_chat_preferences WHERE role = ? AND account_id = ?",
    )
    .bind(role.as_str())
    .bind(id)
    .fetch_optional(&self.pool)
    .await
    .map_err(db)?;
        match row {
            Some(r) => rows::preferences(&r),
            None => Ok(Preferences::defaults_for(role)),
        }
    }

    async fn set_preferences(
        &self,
        role: AccountRole,
        id: i64,
        p: &Preferences,
        now: OffsetDateTime,
    ) -> Result<Preferences, StoreError> {
        sqlx::query(
            "INSERT INTO tbl_chat_preferences (role, account_id, email_enabled, email_delay_secs, admin_scope, sound_enabled, \
             browser_notifications, quiet_start_hour, quiet_end_hour, updated_at, time_zone) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE email_enabled = VALUES(email_enabled), email_delay_secs = VALUES(email_delay_secs), \
             admin_scope = VALUES(admin_scope), sound_enabled = VALUES(sound_enabled), \
             browser_notifications = VALUES(browser_notifications), quiet_start_hour = VALUES(quiet_start_hour), \
             quiet_end_hour = VALUES(quiet_end_hour), updated_at = VALUES(updated_at), time_zone = VALUES(time_zone)",
        )
        .bind(role.as_str())
        .bind(id)
        .bind(p.email_enabled)
        .bind(p.email_delay_secs)
        .bind(p.admin_scope.as_str())
        .bind(p.sound_enabled)
        .bind(p.browser_notifications)
        .bind(p.quiet_start_hour)
        .bind(p.quiet_end_hour)
        .bind(now)
        .bind(&p.time_zone)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        chat_core::store::AccountStore::preferences(self, role, id).await
    }

    async fn create_ws_ticket(
        &self,
        ticket_hash: &str,
        kind: &str,
        session_hash: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // The sweep is a statement of its own (see create_session).
        sqlx::query("DELETE FROM tbl_chat_ws_tickets WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        sqlx::query(
        "INSERT INTO tbl_chat_ws_tickets (ticket_hash, session_kind, session_hash, expires_at) VALUES (?, ?, ?, ?)",
    )
    .bind(ticket_hash)
    .bind(kind)
    .bind(session_hash)
    .bind(expires_at)
    .execute(&self.pool)
    .await
    .map_err(db)?;
        Ok(())
    }

    /// Use up a ticket. No `DELETE ... RETURNING` on MySQL: lock the row, read it, delete it.
    async fn take_ws_ticket(
        &self,
        ticket_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(String, String)>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let row = sqlx::query(
        "SELECT session_kind, session_hash, expires_at FROM tbl_chat_ws_tickets WHERE ticket_hash = ? FOR UPDATE",
    )
    .bind(ticket_hash)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
        let Some(row) = row else {
            tx.commit().await.map_err(db)?;
            return Ok(None);
        };
        sqlx::query("DELETE FROM tbl_chat_ws_tickets WHERE ticket_hash = ?")
            .bind(ticket_hash)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        if rows::time_col(&row, "expires_at")? <= now {
            return Ok(None);
        }
        Ok(Some((
            row.try_get("session_kind").map_err(db)?,
            row.try_get("session_hash").map_err(db)?,
        )))
    }
}
