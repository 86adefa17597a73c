//! The schema: the migration templates, what they are rendered with, and the checks made
//! before anything runs.
//!
//! The migrations in `migrations/` are templates because host mode cannot be written down
//! in advance: the chat's columns that point at the host's `tbl_user`, `tbl_admin` and
//! `tbl_worker` must have exactly the type of the host's key (an `INT UNSIGNED` column
//! cannot reference a `BIGINT UNSIGNED` one: errno 150), and the chat's text columns take
//! the collation of the host's tables (text of two collations compared in one query fails
//! with error 1267). So each file is rendered once, with [`SchemaParams`] read from the
//! database and the settings, and handed to sqlx's own migrator, which records it in
//! `_nati_chat_migrations` (not `_sqlx_migrations`: the host may have one of its own) with a
//! checksum of the rendered text. Re-rendering with other parameters (another accounts
//! mode, key type or collation) therefore stops the start with "previously applied but
//! modified" instead of silently building a different schema.

use crate::rows::{db, int};
use crate::{Accounts, HostAccounts};
use chat_core::StoreError;
use sqlx::mysql::MySqlConnection;
use sqlx::{Row, SqlSafeStr};
use std::borrow::Cow;

/// Where this backend records its applied migrations.
pub const MIGRATIONS_TABLE: &str = "_nati_chat_migrations";

/// The collation of the chat's own text columns when it keeps its own accounts.
pub const OWN_COLLATION: &str = "utf8mb4_unicode_ci";

/// The migration templates, in order, with sqlx's description of each file name.
const TEMPLATES: [(i64, &str, &str); 6] = [
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "ws tickets",
        include_str!("../migrations/0002_ws_tickets.sql"),
    ),
    (
        3,
        "email outbox",
        include_str!("../migrations/0003_email_outbox.sql"),
    ),
    (
        4,
        "host identity",
        include_str!("../migrations/0004_host_identity.sql"),
    ),
    (
        5,
        "webhooks",
        include_str!("../migrations/0005_webhooks.sql"),
    ),
    (
        6,
        "presence",
        include_str!("../migrations/0006_presence.sql"),
    ),
];

/// A column the chat's foreign keys point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    pub table: &'static str,
    pub column: String,
    /// The column's exact type, as the referencing columns must have it (`INT UNSIGNED`).
    pub sql_type: String,
}

/// Everything a migration template is rendered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaParams {
    pub host: bool,
    pub collation: String,
    pub user: KeyRef,
    pub admin: KeyRef,
    pub worker: KeyRef,
}

impl SchemaParams {
    /// The chat keeps its own account tables.
    pub fn own() -> Self {
        let key = |table| KeyRef {
            table,
            column: "id".into(),
            sql_type: "BIGINT".into(),
        };
        SchemaParams {
            host: false,
            collation: OWN_COLLATION.into(),
            user: key("tbl_user"),
            admin: key("tbl_admin"),
            worker: key("tbl_worker"),
        }
    }
}

/// One template, rendered: mode sections kept or dropped, placeholders filled in.
pub fn render(template: &str, p: &SchemaParams) -> Result<String, StoreError> {
    let reference = |k: &KeyRef| format!("{} (`{}`)", k.table, k.column);
    let mut out = String::with_capacity(template.len());
    let mut section: Option<bool> = None; // Some(true): host only, Some(false): own only
    for line in template.lines() {
        match line.trim() {
            "-- @own" => section = Some(false),
            "-- @host" => section = Some(true),
            "-- @end" => section = None,
            _ if section.is_none_or(|host| host == p.host) => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    let out = out
        .replace("{{COLLATION}}", &p.collation)
        .replace("{{USER_ID}}", &p.user.sql_type)
        .replace("{{ADMIN_ID}}", &p.admin.sql_type)
        .replace("{{WORKER_ID}}", &p.worker.sql_type)
        .replace("{{USER_REF}}", &reference(&p.user))
        .replace("{{ADMIN_REF}}", &reference(&p.admin))
        .replace("{{WORKER_REF}}", &reference(&p.worker));
    if let Some(at) = out.find("{{") {
        let end = out[at..].find("}}").map_or(out.len(), |e| at + e + 2);
        return Err(StoreError::Database(format!(
            "migration template has an unknown placeholder {}",
            &out[at..end]
        )));
    }
    Ok(out)
}

/// sqlx's migrator over the rendered templates, recording in [`MIGRATIONS_TABLE`].
pub fn migrator(p: &SchemaParams) -> Result<sqlx::migrate::Migrator, StoreError> {
    let mut migrations = Vec::new();
    for (version, description, template) in TEMPLATES {
        let sql = render(template, p)?;
        migrations.push(sqlx::migrate::Migration::new(
            version,
            Cow::Borrowed(description),
            sqlx::migrate::MigrationType::Simple,
            sqlx::AssertSqlSafe(sql).into_sql_str(),
            false,
        ));
    }
    let mut m = sqlx::migrate::Migrator::with_migrations(migrations);
    m.dangerous_set_table_name(MIGRATIONS_TABLE);
    Ok(m)
}

/// The server must have `SKIP LOCKED` (MariaDB 10.6, MySQL 8.0). Returns its version text.
pub async fn check_server(conn: &mut MySqlConnection) -> Result<String, StoreError> {
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let mut nums = version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let (major, minor) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    let ok = if version.to_ascii_lowercase().contains("mariadb") {
        (major, minor) >= (10, 6)
    } else {
        major >= 8
    };
    if !ok {
        return Err(StoreError::Database(format!(
            "server version {version} is too old: Nati Chat needs MariaDB 10.6+ or MySQL 8.0+ \
             (for SELECT ... FOR UPDATE SKIP LOCKED)"
        )));
    }
    Ok(version)
}

/// Are the named migrations recorded at all (any row, applied or failed)?
pub async fn migrations_table_exists(conn: &mut MySqlConnection) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    Ok(n > 0)
}

/// Work out the parameters for this database and settings, refusing what cannot work:
/// in own mode, account tables that are somebody else's; in host mode, host tables that
/// are missing, not InnoDB, or whose key is not an integer key of the configured type.
pub async fn resolve(
    conn: &mut MySqlConnection,
    accounts: &Accounts,
) -> Result<SchemaParams, StoreError> {
    match accounts {
        Accounts::Own => {
            // Once migration 1 has run, the account tables are the chat's own (and later
            // migrations may change them); the check is for the first install.
            if !first_migration_applied(conn).await? {
                check_own_tables(conn).await?;
            }
            Ok(SchemaParams::own())
        }
        Accounts::Host(h) => resolve_host(conn, h).await,
    }
}

async fn first_migration_applied(conn: &mut MySqlConnection) -> Result<bool, StoreError> {
    if !migrations_table_exists(conn).await? {
        return Ok(false);
    }
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {MIGRATIONS_TABLE} WHERE version = 1 AND success = TRUE"
    )))
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    Ok(n > 0)
}

/// The columns of the account tables migration 1 creates in own mode.
const OWN_ACCOUNT_COLUMNS: [&str; 8] = [
    "active",
    "avatar_url",
    "created_at",
    "email",
    "id",
    "name",
    "password_hash",
    "updated_at",
];

async fn check_own_tables(conn: &mut MySqlConnection) -> Result<(), StoreError> {
    for table in ["tbl_user", "tbl_admin", "tbl_worker"] {
        let mut cols: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(COLUMN_NAME AS CHAR(64)) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
        )
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        cols.sort();
        if !cols.is_empty() && cols != OWN_ACCOUNT_COLUMNS {
            return Err(StoreError::Database(format!(
                "this database already has a `{table}` that Nati Chat did not create (columns: {}). \
                 If it is the host site's, set accounts = \"host\" so that the chat references \
                 it instead of creating its own",
                cols.join(", ")
            )));
        }
    }
    Ok(())
}

/// A column or key name from the settings, checked before it is put into SQL.
pub fn identifier(what: &str, name: &str) -> Result<String, StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(StoreError::Database(format!(
            "{what} `{name}` is not a plain column name (letters, digits, _ and $)"
        )))
    }
}

/// `int(10) unsigned` → `INT UNSIGNED`: the display width means nothing to a key.
pub fn normalize_int_type(t: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in t.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace()
        .map(str::to_ascii_uppercase)
        .map(|w| if w == "INTEGER" { "INT".to_owned() } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn resolve_host(
    conn: &mut MySqlConnection,
    h: &HostAccounts,
) -> Result<SchemaParams, StoreError> {
    let column = identifier("host_account_pk", &h.pk_column)?;
    let wanted = h
        .pk_type
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(normalize_int_type);
    let mut keys = Vec::new();
    let mut collation = None;
    for table in ["tbl_user", "tbl_admin", "tbl_worker"] {
        let t = sqlx::query(
            "SELECT CAST(ENGINE AS CHAR(64)) AS engine, CAST(TABLE_COLLATION AS CHAR(64)) AS coll, \
             CAST(TABLE_TYPE AS CHAR(64)) AS kind FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
        )
        .bind(table)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or_else(|| {
            StoreError::Database(format!(
                "accounts = \"host\": the host's table `{table}` is not in this database"
            ))
        })?;
        let engine: Option<String> = t.try_get("engine").map_err(db)?;
        if !engine
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("InnoDB"))
        {
            return Err(StoreError::Database(format!(
                "accounts = \"host\": `{table}` uses engine {}, but foreign keys need InnoDB \
                 (ALTER TABLE {table} ENGINE=InnoDB, a decision for the site's DBA)",
                engine.as_deref().unwrap_or("none (a view?)")
            )));
        }
        if collation.is_none() {
            collation = t.try_get::<Option<String>, _>("coll").map_err(db)?;
        }
        let c = sqlx::query(
            "SELECT CAST(COLUMN_TYPE AS CHAR(64)) AS column_type, CAST(DATA_TYPE AS CHAR(64)) AS data_type, \
             CAST(COLUMN_KEY AS CHAR(3)) AS column_key FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
        )
        .bind(table)
        .bind(&column)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?
        .ok_or_else(|| {
            StoreError::Database(format!(
                "accounts = \"host\": `{table}` has no column `{column}` (host_account_pk)"
            ))
        })?;
        let column_type: String = c.try_get("column_type").map_err(db)?;
        let data_type: String = c.try_get("data_type").map_err(db)?;
        let column_key: String = c.try_get("column_key").map_err(db)?;
        if !matches!(
            data_type.to_ascii_lowercase().as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
        ) || !matches!(column_key.as_str(), "PRI" | "UNI")
        {
            return Err(StoreError::Database(format!(
                "accounts = \"host\": `{table}`.`{column}` is `{column_type}` ({}); the chat needs \
                 an integer primary or unique key there",
                if column_key.is_empty() {
                    "no key"
                } else {
                    column_key.as_str()
                }
            )));
        }
        if let Some(email) = h.email_column.as_deref().filter(|c| !c.is_empty()) {
            let email = identifier("host_account_email_column", email)?;
            let found: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
            )
            .bind(table)
            .bind(&email)
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
            if found == 0 {
                return Err(StoreError::Database(format!(
                    "accounts = \"host\": `{table}` has no column `{email}` \
                     (host_account_email_column; set it to \"\" to link people by id only)"
                )));
            }
        }
        let actual = normalize_int_type(&column_type);
        if let Some(w) = &wanted
            && *w != actual
        {
            return Err(StoreError::Database(format!(
                "host_account_pk_type = \"{w}\", but `{table}`.`{column}` is {actual}: a foreign \
                 key needs exactly the referenced column's type (errno 150 otherwise)"
            )));
        }
        keys.push(KeyRef {
            table,
            column: column.clone(),
            sql_type: actual,
        });
    }
    let collation = chat_collation(conn, collation.as_deref()).await?;
    let mut keys = keys.into_iter();
    let mut next = || {
        keys.next()
            .ok_or_else(|| StoreError::Database("host key missing".into()))
    };
    Ok(SchemaParams {
        host: true,
        collation,
        user: next()?,
        admin: next()?,
        worker: next()?,
    })
}

/// The collation for the chat's tables in host mode: the host's `tbl_user`'s, in its
/// `utf8mb4` form (`utf8mb3_general_ci` → `utf8mb4_general_ci`) so that an emoji fits. A
/// host on another character set (latin1, ...) gets the chat's default and a warning: its
/// text compared with the chat's needs an explicit COLLATE.
async fn chat_collation(
    conn: &mut MySqlConnection,
    host: Option<&str>,
) -> Result<String, StoreError> {
    let Some(host) = host else {
        return Ok(OWN_COLLATION.into());
    };
    let candidate = if let Some(rest) = host.strip_prefix("utf8mb3_") {
        format!("utf8mb4_{rest}")
    } else if let Some(rest) = host.strip_prefix("utf8_") {
        format!("utf8mb4_{rest}")
    } else {
        host.to_owned()
    };
    let known = sqlx::query(
        "SELECT COUNT(*) AS n FROM information_schema.COLLATIONS WHERE COLLATION_NAME = ? AND CHARACTER_SET_NAME = 'utf8mb4'",
    )
    .bind(&candidate)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    if int(&known, "n")? > 0 {
        Ok(candidate)
    } else {
        tracing::warn!(
            host_collation = host,
            "the host's tables are not utf8: the chat's tables use {OWN_COLLATION}; \
             queries comparing their text with the host's need COLLATE"
        );
        Ok(OWN_COLLATION.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_types_lose_their_display_width() {
        assert_eq!(normalize_int_type("int(10) unsigned"), "INT UNSIGNED");
        assert_eq!(normalize_int_type("INT UNSIGNED"), "INT UNSIGNED");
        assert_eq!(normalize_int_type("bigint(20)"), "BIGINT");
        assert_eq!(normalize_int_type(" integer  unsigned "), "INT UNSIGNED");
    }

    #[test]
    fn own_mode_has_its_own_tables_and_no_host_tables() {
        let p = SchemaParams::own();
        let sql = render(TEMPLATES[0].2, &p).expect("render");
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS tbl_user ("));
        assert!(!sql.contains("tbl_chat_user_accounts"));
        assert!(sql.contains("REFERENCES tbl_user (`id`)"));
        assert!(!sql.contains("{{"));
        assert!(!sql.lines().any(|l| l.trim_start().starts_with("-- @")));
    }

    #[test]
    fn host_mode_references_the_hosts_key_with_its_type() {
        let key = |table| KeyRef {
            table,
            column: "uid".into(),
            sql_type: "INT UNSIGNED".into(),
        };
        let p = SchemaParams {
            host: true,
            collation: "utf8mb4_general_ci".into(),
            user: key("tbl_user"),
            admin: key("tbl_admin"),
            worker: key("tbl_worker"),
        };
        let sql = render(TEMPLATES[0].2, &p).expect("render");
        let squashed = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(!sql.contains("CREATE TABLE IF NOT EXISTS tbl_user ("));
        assert!(squashed.contains("host_id INT UNSIGNED NOT NULL PRIMARY KEY"));
        assert!(squashed.contains("user_id INT UNSIGNED NULL"));
        assert!(sql.contains("REFERENCES tbl_user (`uid`) ON DELETE CASCADE"));
        assert!(sql.contains("COLLATE=utf8mb4_general_ci"));
        for (_, _, t) in TEMPLATES {
            assert!(!render(t, &p).expect("render").contains("{{"));
        }
    }

    #[test]
    fn identifiers_are_plain_names() {
        assert!(identifier("pk", "id").is_ok());
        assert!(identifier("pk", "user_id").is_ok());
        assert!(identifier("pk", "id`; DROP TABLE x").is_err());
        assert!(identifier("pk", "").is_err());
    }
}
