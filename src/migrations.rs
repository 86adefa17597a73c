//! `nati-chat migrate --status` and `--print-sql`: which migrations a database has, and
//! the SQL `migrate` would run on it, without running anything or creating anything.
//!
//! Each store crate owns its migrations; this module only reads them and the database's
//! record of applied ones through sqlx's migrator. On MariaDB/MySQL the migrations are
//! rendered for the database first (host key types, collation), so what is printed is
//! exactly what would run there.

use crate::config::Settings;
use chat_core::StoreError;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{ConnectOptions, Connection};
use std::fmt::Write;
use std::str::FromStr;

/// Where sqlx records applied migrations for SQLite and PostgreSQL.
const SQLX_TABLE: &str = "_sqlx_migrations";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Applied,
    Pending,
    /// Started and not finished (MariaDB DDL is not transactional): see docs/mariadb.md.
    Failed,
    /// Applied, but the migration's text (or, on MariaDB, the settings it was rendered
    /// with) has changed since.
    Changed,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Failed => "FAILED halfway (see docs/mariadb.md)",
            State::Changed => "CHANGED since it was applied",
        }
    }
}

pub struct Step {
    pub version: i64,
    pub description: String,
    pub state: State,
    pub sql: String,
}

/// The migrations of the configured database and their state.
pub struct Report {
    /// Backend, server and settings, one line.
    pub about: String,
    /// Where applied migrations are recorded.
    pub table: &'static str,
    pub steps: Vec<Step>,
}

fn db(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// Compare the migrator with what `conn` records (`None`: nothing recorded yet).
async fn steps<C: Migrate>(
    migrator: &Migrator,
    conn: Option<&mut C>,
    table: &str,
) -> Result<Vec<Step>, StoreError> {
    let (applied, dirty) = match conn {
        Some(c) => (
            c.list_applied_migrations(table).await.map_err(db)?,
            c.dirty_version(table).await.map_err(db)?,
        ),
        None => (Vec::new(), None),
    };
    Ok(migrator
        .iter()
        .map(|m| {
            let state = match applied.iter().find(|a| a.version == m.version) {
                _ if dirty == Some(m.version) => State::Failed,
                Some(a) if a.checksum != m.checksum => State::Changed,
                Some(_) => State::Applied,
                None => State::Pending,
            };
            Step {
                version: m.version,
                description: m.description.to_string(),
                state,
                sql: m.sql.as_str().to_owned(),
            }
        })
        .collect())
}

/// Read the state of the configured database's migrations.
pub async fn report(settings: &Settings) -> Result<Report, StoreError> {
    let url = settings.database_url();
    if chat_store_mysql::handles(&url) {
        let mut plan =
            chat_store_mysql::MysqlStore::plan(&url, &crate::mysql_options(settings)).await?;
        let table = chat_store_mysql::MIGRATIONS_TABLE;
        let recorded = plan.recorded;
        let steps = steps(&plan.migrator, recorded.then_some(&mut plan.conn), table).await?;
        let _ = plan.conn.close().await;
        let p = &plan.params;
        let about = if p.host {
            format!(
                "MariaDB/MySQL {}; accounts: host (keys {}.{} {}, {}.{} {}, {}.{} {}); collation {}",
                plan.server,
                p.user.table,
                p.user.column,
                p.user.sql_type,
                p.admin.table,
                p.admin.column,
                p.admin.sql_type,
                p.worker.table,
                p.worker.column,
                p.worker.sql_type,
                p.collation
            )
        } else {
            format!(
                "MariaDB/MySQL {}; accounts: own; collation {}",
                plan.server, p.collation
            )
        };
        return Ok(Report {
            about,
            table,
            steps,
        });
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let migrator = &chat_store_postgres::MIGRATOR;
        let mut conn = sqlx::PgConnection::connect(&url).await.map_err(db)?;
        let recorded: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(SQLX_TABLE)
            .fetch_one(&mut conn)
            .await
            .map_err(db)?;
        let steps = steps(migrator, recorded.then_some(&mut conn), SQLX_TABLE).await?;
        let _ = conn.close().await;
        return Ok(Report {
            about: "PostgreSQL".into(),
            table: SQLX_TABLE,
            steps,
        });
    }
    if url.starts_with("sqlite:") {
        let migrator = &chat_store_sqlite::MIGRATOR;
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .map_err(db)?
            .read_only(true);
        // A file that does not exist yet has every migration pending; do not create it.
        let exists = std::path::Path::new(opts.get_filename()).exists();
        let mut conn = match exists {
            true => Some(opts.connect().await.map_err(db)?),
            false => None,
        };
        let recorded = match conn.as_mut() {
            Some(c) => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                )
                .bind(SQLX_TABLE)
                .fetch_one(c)
                .await
                .map_err(db)?
                    > 0
            }
            None => false,
        };
        let steps = steps(migrator, conn.as_mut().filter(|_| recorded), SQLX_TABLE).await?;
        if let Some(c) = conn {
            let _ = c.close().await;
        }
        return Ok(Report {
            about: "SQLite".into(),
            table: SQLX_TABLE,
            steps,
        });
    }
    Err(crate::unsupported_url(&url))
}

impl Report {
    /// `migrate --status`: one line per migration.
    pub fn status_text(&self) -> String {
        let mut out = format!("{}\nrecorded in {}\n", self.about, self.table);
        for s in &self.steps {
            let _ = writeln!(
                out,
                "  {:04} {:<16} {}",
                s.version,
                s.description,
                s.state.as_str()
            );
        }
        out
    }

    /// `migrate --print-sql`: the SQL of every migration not yet applied, in order, as a
    /// script a DBA can read (and run by hand: every statement is idempotent on MariaDB).
    pub fn sql_text(&self) -> String {
        let mut out = format!(
            "-- Nati Chat: the SQL that `nati-chat migrate` would run, in order. Nothing has been run.\n\
             -- {}\n-- Each migration is recorded in {} after it ran.\n",
            self.about, self.table
        );
        let todo: Vec<&Step> = self
            .steps
            .iter()
            .filter(|s| s.state != State::Applied)
            .collect();
        if todo.is_empty() {
            let _ = writeln!(
                out,
                "-- Nothing to run: all {} migrations are applied.",
                self.steps.len()
            );
        }
        for s in todo {
            let _ = write!(
                out,
                "\n-- ---- migration {:04} {} ({}) ----\n{}",
                s.version,
                s.description,
                s.state.as_str(),
                s.sql
            );
            if !s.sql.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}
