//! Accounts, login sessions, guests, preferences and socket tickets: their SQL.

use crate::PgStore;
use crate::rows::{self, db, unique_violation};
use chat_core::model::*;
use chat_core::{AccountRole, GuestId, StoreError};
use sqlx::PgPool;
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

pub(crate) async fn account(
    pool: &PgPool,
    role: AccountRole,
    id: i64,
) -> Result<Option<Account>, StoreError> {
    let sql = per_role!(
        role,
        "SELECT id, email, name, avatar_url, active, created_at, host_subject FROM ",
        " WHERE id = $1"
    );
    let row = sqlx::query(sql)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    row.map(|r| rows::account(&r, role)).transpose()
}

#[async_trait::async_trait]
impl chat_core::store::AccountStore for PgStore {
    async fn create_account(
        &self,
        new: &NewAccount,
        now: OffsetDateTime,
    ) -> Result<Account, StoreError> {
        let sql = per_role!(
            new.role,
            "INSERT INTO ",
            " (email, name, password_hash, active, created_at, updated_at) VALUES ($1, $2, $3, TRUE, $4, $4) \
         RETURNING id, email, name, avatar_url, active, created_at, host_subject"
        );
        let row = sqlx::query(sql)
            .bind(&new.email)
            .bind(&new.name)
            .bind(&new.password_hash)
            .bind(now)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                if unique_violation(&e) {
                    StoreError::Duplicate("account")
                } else {
                    db(e)
                }
            })?;
        rows::account(&row, new.role)
    }

    async fn account_by_email(
        &self,
        role: AccountRole,
        email: &str,
    ) -> Result<Option<(Account, String)>, StoreError> {
        let sql = per_role!(
            role,
            "SELECT id, email, name, avatar_url, active, created_at, host_subject, password_hash FROM ",
            " WHERE email = $1 AND host_subject IS NULL"
        );
        let row = sqlx::query(sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.map(|r| {
            let hash: String = rows::get(&r, "password_hash")?;
            Ok((rows::account(&r, role)?, hash))
        })
        .transpose()
    }

    async fn account(&self, role: AccountRole, id: i64) -> Result<Option<Account>, StoreError> {
        crate::accounts::account(&self.pool, role, id).await
    }

    async fn list_accounts(&self, role: Option<AccountRole>) -> Result<Vec<Account>, StoreError> {
        let roles: Vec<AccountRole> = match role {
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
        let sql = per_role!(
            role,
            "UPDATE ",
            " SET active = $1, updated_at = $2 WHERE id = $3"
        );
        let done = sqlx::query(sql)
            .bind(active)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        if !active {
            sqlx::query("DELETE FROM tbl_chat_sessions WHERE role = $1 AND account_id = $2")
                .bind(role.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        account(&self.pool, role, id).await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        role: AccountRole,
        account_id: i64,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Sweep this account's expired sessions while we are here.
        sqlx::query(
        "DELETE FROM tbl_chat_sessions WHERE role = $1 AND account_id = $2 AND expires_at <= $3",
    )
    .bind(role.as_str())
    .bind(account_id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
        sqlx::query(
            "INSERT INTO tbl_chat_sessions (token_hash, role, account_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(role.as_str())
        .bind(account_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn session_account(
        &self,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(
        "SELECT role, account_id FROM tbl_chat_sessions WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&self.pool)
    .await
    .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let role: String = rows::get(&row, "role")?;
        let id: i64 = rows::get(&row, "account_id")?;
        let role: AccountRole = role.parse().map_err(StoreError::Database)?;
        Ok(account(&self.pool, role, id).await?.filter(|a| a.active))
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM tbl_chat_sessions WHERE token_hash = $1")
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
        let row = sqlx::query(
            "INSERT INTO tbl_guest_sessions (session_token, name, email, created_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $4) \
         RETURNING guest_id, name, email, created_at, last_seen_at, expired_at, wants_transcript",
        )
        .bind(token_hash)
        .bind(name)
        .bind(email)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        rows::guest(&row)
    }

    async fn guest_by_token(&self, token_hash: &str) -> Result<Option<Guest>, StoreError> {
        let row = sqlx::query(
            "SELECT guest_id, name, email, created_at, last_seen_at, expired_at, wants_transcript \
         FROM tbl_guest_sessions WHERE session_token = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| rows::guest(&r)).transpose()
    }

    async fn guest(&self, id: GuestId) -> Result<Option<Guest>, StoreError> {
        let row = sqlx::query(
            "SELECT guest_id, name, email, created_at, last_seen_at, expired_at, wants_transcript \
         FROM tbl_guest_sessions WHERE guest_id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| rows::guest(&r)).transpose()
    }

    async fn rotate_guest_token(
        &self,
        id: GuestId,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tbl_guest_sessions SET session_token = $1, last_seen_at = $2 \
         WHERE guest_id = $3 AND expired_at IS NULL",
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
        sqlx::query("UPDATE tbl_guest_sessions SET wants_transcript = $1 WHERE guest_id = $2")
            .bind(wanted)
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn touch_guest(&self, id: GuestId, now: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE tbl_guest_sessions SET last_seen_at = $1 \
         WHERE guest_id = $2 AND expired_at IS NULL AND last_seen_at < $1",
        )
        .bind(now)
        .bind(id.0)
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
        let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT guest_id FROM tbl_guest_sessions WHERE expired_at IS NULL AND last_seen_at < $1 \
         ORDER BY last_seen_at LIMIT $2",
    )
    .bind(cutoff)
    .bind(limit)
    .fetch_all(&self.pool)
    .await
    .map_err(db)?;
        Ok(ids.into_iter().map(GuestId).collect())
    }

    async fn preferences(&self, role: AccountRole, id: i64) -> Result<Preferences, StoreError> {
        let row = sqlx::query(
        "SELECT email_enabled, email_delay_secs, admin_scope, sound_enabled, browser_notifications, \
         quiet_start_hour, quiet_end_hour, time_zone FROM tbl_chat_preferences WHERE role = $1 AND account_id = $2",
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
             browser_notifications, quiet_start_hour, quiet_end_hour, updated_at, time_zone) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (role, account_id) DO UPDATE SET email_enabled = excluded.email_enabled, \
             email_delay_secs = excluded.email_delay_secs, admin_scope = excluded.admin_scope, \
             sound_enabled = excluded.sound_enabled, browser_notifications = excluded.browser_notifications, \
             quiet_start_hour = excluded.quiet_start_hour, quiet_end_hour = excluded.quiet_end_hour, updated_at = excluded.updated_at, \
             time_zone = excluded.time_zone",
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM tbl_chat_ws_tickets WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO tbl_chat_ws_tickets (ticket_hash, session_kind, session_hash, expires_at) \
         VALUES ($1, $2, $3, $4)",
        )
        .bind(ticket_hash)
        .bind(kind)
        .bind(session_hash)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn take_ws_ticket(
        &self,
        ticket_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM tbl_chat_ws_tickets WHERE ticket_hash = $1 \
         RETURNING session_kind, session_hash, expires_at",
        )
        .bind(ticket_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        if rows::time_col(&row, "expires_at")? <= now {
            return Ok(None);
        }
        Ok(Some((
            rows::get(&row, "session_kind")?,
            rows::get(&row, "session_hash")?,
        )))
    }
}
