//! Nati Chat storage on MariaDB 10.6+ (and MySQL 8), in the host site's own database.
//!
//! All SQL of this backend is in this crate: accounts and sessions in [`accounts`], chats,
//! messages, read positions and events in [`chats`], the email outbox in [`outbox`], the
//! migrations and their checks in [`schema`]. The behaviour is the SQLite store's, statement
//! for statement; what differs is how MariaDB gets there.
//!
//! # Two account modes
//! - **Own** (default): the chat creates `tbl_user`, `tbl_admin` and `tbl_worker` itself, as on
//!   SQLite and PostgreSQL.
//! - **Host** (`accounts = "host"`): the database is the host site's and already has those
//!   three tables. The chat creates none of them and never alters or drops anything of the
//!   host's. Its foreign keys (`tbl_chats.user_id`, `admin_id`, `worker_id`, `assigned_by`)
//!   reference the host's key column (`host_account_pk`, default `id`) with exactly its type
//!   (read from `information_schema`, or `host_account_pk_type` checked against it), and its
//!   tables take the host tables' collation. What the chat needs about a person (name,
//!   email, avatar, password hash — empty for people the host signs in —, active flag) is in
//!   one table per role, `tbl_chat_user_accounts` / `tbl_chat_admin_accounts` /
//!   `tbl_chat_worker_accounts`, keyed by `host_id` with a plain foreign key to the host row
//!   (one table per role, so that every key is an ordinary FK and the account SQL is the same
//!   in both modes with other table names). Sessions and preferences are the chat's tables as
//!   in own mode. `create_account` links the host row found by its email
//!   (`host_account_email_column`); [`MysqlStore::link_host_account`] links one by id.
//!
//! # Migrations
//! Host mode cannot be written down in static files (the key type and collation are the
//! host's), so the files in `migrations/` are templates rendered at start with the
//! parameters read from the database, then run by sqlx's own migrator, recorded in
//! `_nati_chat_migrations`. See [`schema`]. Every statement is `CREATE TABLE IF NOT EXISTS`
//! with its indexes and keys inside, because MariaDB DDL is not transactional: a migration
//! that failed halfway is re-run once its failed row is deleted. `nati-chat migrate
//! --print-sql` shows the rendered SQL before anything runs.
//!
//! # Event ids become visible in order
//! Several nodes share delivery by polling `events_after` (no LISTEN/NOTIFY here). InnoDB
//! hands out AUTO_INCREMENT ids at INSERT, before commit, so with concurrent writers id 11
//! could commit before id 10, and a poller that has seen 11 would never see 10. Every
//! transaction that may write events therefore first locks the single row of
//! `tbl_chat_event_lock` (`SELECT ... FOR UPDATE`) and holds it to commit: event writers take
//! turns, ids are handed out in commit order. Taking it first, before any chat row, also
//! gives all writers one lock order (no deadlocks between them). Readers take no lock.
//!
//! # MySQL 8
//! The same SQL runs on both: no `RETURNING` (MySQL has none; inserts read
//! `LAST_INSERT_ID()`, "take" is `SELECT ... FOR UPDATE` then `DELETE`), upserts with `ON
//! DUPLICATE KEY UPDATE col = VALUES(col)` (deprecated but working on MySQL 8, the only form
//! MariaDB knows), no `CREATE INDEX IF NOT EXISTS` (MariaDB only: indexes live inside `CREATE
//! TABLE`), no `LIMIT` inside `IN (subquery)` (neither has it), `utf8mb4_unicode_ci` as the
//! own collation (MariaDB lacks MySQL's `utf8mb4_0900_ai_ci`), JSON payloads as `LONGTEXT`
//! (MySQL's JSON type decodes differently), `LIKE ... ESCAPE '!'` (not backslash, which
//! depends on `NO_BACKSLASH_ESCAPES`). MySQL 8's default `caching_sha2_password` login over
//! a plain connection needs RSA key exchange, which this build leaves out: give the chat's
//! user `mysql_native_password`, or connect over a local socket.
//!
//! # Sessions
//! sqlx sets `time_zone = '+00:00'` and `NAMES utf8mb4` on each connection; this store turns
//! off sqlx's `PIPES_AS_CONCAT`, so that its SQL means the same in a DBA's own session
//! (`||` is never used). Times are `DATETIME(6)` holding UTC, written by the chat, never
//! `NOW()`, so the server's time zone does not matter.
#![forbid(unsafe_code)]

mod accounts;
mod attachments;
mod canned;
mod chats;
mod host;
mod nodes;
mod outbox;
mod reports;
mod routing;
mod rows;
pub mod schema;
pub mod scratch;
mod webhooks;
mod write;

#[cfg(test)]
mod tests;

use chat_core::model::*;
use chat_core::{AccountRole, Store, StoreError};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

pub use schema::{MIGRATIONS_TABLE, SchemaParams};

/// Where people's accounts live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Accounts {
    /// The chat's own `tbl_user`, `tbl_admin`, `tbl_worker`.
    #[default]
    Own,
    /// The host site's tables, referenced and never altered.
    Host(HostAccounts),
}

/// How to reach the host's people in host mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAccounts {
    /// The key column of `tbl_user`, `tbl_admin` and `tbl_worker` (`id`).
    pub pk_column: String,
    /// Its exact type (`INT UNSIGNED`); `None` reads it from the database. When given, it
    /// is checked against the database before anything is created.
    pub pk_type: Option<String>,
    /// The host's email column, through which `create_account` finds the person to link.
    /// `None`: accounts are linked by id only ([`MysqlStore::link_host_account`]).
    pub email_column: Option<String>,
}

impl Default for HostAccounts {
    fn default() -> Self {
        HostAccounts {
            pk_column: "id".into(),
            pk_type: None,
            email_column: Some("email".into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MysqlOptions {
    pub accounts: Accounts,
    /// Pool size. Every event-writing transaction waits its turn on one lock row anyway, so
    /// more connections mostly serve reads.
    pub max_connections: u32,
}

impl Default for MysqlOptions {
    fn default() -> Self {
        MysqlOptions {
            accounts: Accounts::Own,
            max_connections: 10,
        }
    }
}

/// The account tables of the mode in use: the same SQL reads either.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tables {
    pub user: &'static str,
    pub admin: &'static str,
    pub worker: &'static str,
    /// The key column: `id` in the chat's own tables, `host_id` in the host-mode profiles.
    pub id: &'static str,
}

impl Tables {
    const OWN: Tables = Tables {
        user: "tbl_user",
        admin: "tbl_admin",
        worker: "tbl_worker",
        id: "id",
    };
    const HOST: Tables = Tables {
        user: "tbl_chat_user_accounts",
        admin: "tbl_chat_admin_accounts",
        worker: "tbl_chat_worker_accounts",
        id: "host_id",
    };

    /// The host id of a host-verified account (`host_subject`), as a select expression
    /// over the account table aliased `alias` (empty: unaliased).
    pub fn subject(self, alias: &str) -> String {
        let a = if alias.is_empty() {
            String::new()
        } else {
            format!("{alias}.")
        };
        if self.id == "host_id" {
            format!("IF({a}host_verified, CAST({a}host_id AS CHAR), NULL)")
        } else {
            format!("{a}host_subject")
        }
    }

    /// Rows of accounts that sign in with a password (not verified by the host).
    pub fn password_only(self) -> &'static str {
        if self.id == "host_id" {
            "NOT host_verified"
        } else {
            "host_subject IS NULL"
        }
    }

    pub fn of(self, role: AccountRole) -> &'static str {
        match role {
            AccountRole::User => self.user,
            AccountRole::Admin => self.admin,
            AccountRole::Worker => self.worker,
        }
    }
}

/// How `create_account` finds a host row in host mode (checked identifiers).
#[derive(Debug, Clone)]
pub(crate) struct HostLookup {
    pub pk: String,
    pub email: Option<String>,
}

/// The MariaDB/MySQL store.
#[derive(Clone)]
pub struct MysqlStore {
    pub(crate) pool: MySqlPool,
    pub(crate) tables: Tables,
    pub(crate) host: Option<HostLookup>,
    /// The node's writer: chat writes queue here and share transactions (see
    /// `chat_core::write`).
    pub(crate) queue: chat_core::write::WriteQueue,
}

/// The most commands one write transaction takes.
const MAX_BATCH: usize = 256;

/// What `nati-chat migrate --status` and `--print-sql` need: the rendered migrations and a
/// connection to read what was applied. Nothing has been created.
pub struct MigrationPlan {
    pub migrator: sqlx::migrate::Migrator,
    pub conn: MySqlConnection,
    /// Whether `_nati_chat_migrations` exists (if not, everything is pending).
    pub recorded: bool,
    /// The server's version text.
    pub server: String,
    pub params: SchemaParams,
}

/// Is this a URL for this backend (`mysql://` or `mariadb://`)?
pub fn handles(url: &str) -> bool {
    url.starts_with("mysql://") || url.starts_with("mariadb://")
}

/// Connection options for `url` (`mariadb://` is read as `mysql://`).
pub fn connect_options(url: &str) -> Result<MySqlConnectOptions, StoreError> {
    let url = match url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => url.to_owned(),
    };
    let mut opts = MySqlConnectOptions::from_str(&url).map_err(rows::db)?;
    if chat_core::store::plain_on_loopback(&url, opts.get_host()) {
        opts = opts.ssl_mode(sqlx::mysql::MySqlSslMode::Disabled);
    }
    if opts.get_database().is_none_or(str::is_empty) {
        return Err(StoreError::Database(
            "the database URL names no database (mysql://user:password@host:3306/DATABASE)".into(),
        ));
    }
    Ok(opts
        .charset("utf8mb4")
        .pipes_as_concat(false)
        .timezone(Some("+00:00".to_owned())))
}

impl MysqlStore {
    /// Connect, check the server and the host tables, apply pending migrations, and open
    /// the pool.
    pub async fn open(url: &str, opts: &MysqlOptions) -> Result<Self, StoreError> {
        let base = connect_options(url)?;
        let mut conn = base.connect().await.map_err(rows::db)?;
        let server = schema::check_server(&mut conn).await?;
        let params = schema::resolve(&mut conn, &opts.accounts).await?;
        run_migrations(&mut conn, &params).await?;
        conn.close().await.map_err(rows::db)?;
        tracing::info!(%server, host_accounts = params.host, collation = %params.collation, "MariaDB/MySQL store ready");
        let pool = MySqlPoolOptions::new()
            .max_connections(opts.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.clone().collation(&params.collation))
            .await
            .map_err(rows::db)?;

        let (tables, host) = match &opts.accounts {
            Accounts::Own => (Tables::OWN, None),
            Accounts::Host(h) => (
                Tables::HOST,
                Some(HostLookup {
                    pk: schema::identifier("host_account_pk", &h.pk_column)?,
                    email: h
                        .email_column
                        .as_deref()
                        .filter(|c| !c.is_empty())
                        .map(|c| schema::identifier("host_account_email_column", c))
                        .transpose()?,
                }),
            ),
        };
        // The writer's own connection, made on the writer's thread: it never waits for a
        // pooled one behind readers, nor for the server's runtime to poll it.
        let writer_options = base.collation(&params.collation);
        let queue = chat_core::write::WriteQueue::spawn(
            move || async move {
                let pool = MySqlPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(writer_options)
                    .await
                    .map_err(rows::db)?;
                Ok(write::MysqlExecutor { pool })
            },
            MAX_BATCH,
        )
        .await?;
        Ok(MysqlStore {
            pool,
            tables,
            host,
            queue,
        })
    }

    /// Apply pending migrations without opening a store (the `migrate` command).
    pub async fn migrate(url: &str, opts: &MysqlOptions) -> Result<(), StoreError> {
        let mut conn = connect_options(url)?.connect().await.map_err(rows::db)?;
        schema::check_server(&mut conn).await?;
        let params = schema::resolve(&mut conn, &opts.accounts).await?;
        run_migrations(&mut conn, &params).await?;
        conn.close().await.map_err(rows::db)
    }

    /// The rendered migrations for this database and settings, without running anything.
    pub async fn plan(url: &str, opts: &MysqlOptions) -> Result<MigrationPlan, StoreError> {
        let mut conn = connect_options(url)?.connect().await.map_err(rows::db)?;
        let server = schema::check_server(&mut conn).await?;
        let params = schema::resolve(&mut conn, &opts.accounts).await?;
        let migrator = schema::migrator(&params)?;
        let recorded = schema::migrations_table_exists(&mut conn).await?;
        Ok(MigrationPlan {
            migrator,
            conn,
            recorded,
            server,
            params,
        })
    }

    /// `nati-chat migrate --print-grants`: the `GRANT`s the serving account `grantee` needs
    /// on this database with these settings ([`schema::grants`]). Reads only, like `plan`.
    pub async fn grants(
        url: &str,
        opts: &MysqlOptions,
        grantee: &str,
    ) -> Result<String, StoreError> {
        let grantee = schema::grantee(grantee)?;
        let database = connect_options(url)?
            .get_database()
            .unwrap_or_default()
            .to_owned();
        let plan = Self::plan(url, opts).await?;
        let _ = plan.conn.close().await;
        let email = match &opts.accounts {
            Accounts::Host(h) => h.email_column.as_deref(),
            Accounts::Own => None,
        };
        schema::grants(&plan.params, email, &database, &grantee)
    }

    /// Host mode: give the host's person `host_id` a chat account. `password_hash` may be
    /// empty for people the host signs in (they cannot log in with a password).
    pub async fn link_host_account(
        &self,
        role: AccountRole,
        host_id: i64,
        email: &str,
        name: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<Account, StoreError> {
        if self.host.is_none() {
            return Err(StoreError::Database(
                "link_host_account needs accounts = \"host\"".into(),
            ));
        }
        accounts::insert_account(self, role, Some(host_id), email, name, password_hash, now).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn run_migrations(
    conn: &mut MySqlConnection,
    params: &SchemaParams,
) -> Result<(), StoreError> {
    use sqlx::migrate::{Migrate, MigrateError};
    let migrator = schema::migrator(params)?;
    // Up to date: touch nothing, so that the serving user needs no DDL privilege at all
    // (sqlx's run would issue CREATE TABLE IF NOT EXISTS for its table).
    if schema::migrations_table_exists(conn).await? {
        let applied = conn
            .list_applied_migrations(MIGRATIONS_TABLE)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let dirty = conn
            .dirty_version(MIGRATIONS_TABLE)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let current = migrator.iter().all(|m| {
            applied
                .iter()
                .any(|a| a.version == m.version && a.checksum == m.checksum)
        });
        if dirty.is_none() && current {
            return Ok(());
        }
    }
    schema::apply(conn, &migrator).await.map_err(|e| {
        StoreError::Database(match e {
            MigrateError::Dirty(v) => format!(
                "migration {v} failed halfway on an earlier run and is marked failed in \
                 {MIGRATIONS_TABLE}; see docs/mariadb.md, \"A migration failed halfway\""
            ),
            MigrateError::VersionMismatch(v) => format!(
                "migration {v} was applied with other settings (accounts mode, host key type or \
                 collation) than the current ones; the schema cannot change mode in place"
            ),
            other => other.to_string(),
        })
    })
}

#[async_trait::async_trait]
impl Store for MysqlStore {
    fn writer(&self) -> &chat_core::write::WriteQueue {
        &self.queue
    }

    fn blobs(&self) -> Option<&dyn chat_core::store::BlobStore> {
        Some(self)
    }
}
