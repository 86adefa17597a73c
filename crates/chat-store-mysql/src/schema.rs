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
//! modified" instead of silently building a different schema. The statements are run one at
//! a time by [`apply`], which skips a statement whose table, column or key is already there:
//! MariaDB DDL is not transactional, so a migration that a DBA applied by hand, or one that
//! died halfway, is finished rather than failed.

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
const TEMPLATES: [(i64, &str, &str); 12] = [
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
    (
        7,
        "claims, zones",
        include_str!("../migrations/0007_claims_time_zones.sql"),
    ),
    (
        8,
        "canned replies",
        include_str!("../migrations/0008_canned_replies.sql"),
    ),
    (
        9,
        "private notes",
        include_str!("../migrations/0009_private_notes.sql"),
    ),
    (
        10,
        "ratings",
        include_str!("../migrations/0010_ratings.sql"),
    ),
    (
        11,
        "settings",
        include_str!("../migrations/0011_settings.sql"),
    ),
    (
        12,
        "attachments",
        include_str!("../migrations/0012_attachments.sql"),
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

/// The statements of one rendered migration, in order, without comments: split at each `;`
/// outside quotes and comments.
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            cur.push(c);
            if c == '\\' && q != '`' {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => {
                quote = Some(c);
                cur.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                // A comment to the end of the line.
                for n in chars.by_ref() {
                    if n == '\n' {
                        cur.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
                cur.push(' ');
            }
            ';' => {
                let stmt = cur.trim();
                if !stmt.is_empty() {
                    out.push(stmt.to_owned());
                }
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    let stmt = cur.trim();
    if !stmt.is_empty() {
        out.push(stmt.to_owned());
    }
    out
}

/// Whether a statement that failed had already run before: by hand from
/// `migrate --print-sql`, or by a run that died before recording it. Each statement of a
/// migration is one `CREATE TABLE` or one `ALTER TABLE`, all or nothing in MariaDB, so:
/// - a `CREATE TABLE` that finds its table (1050) ran before;
/// - an `ALTER TABLE` that adds columns ran before if the error is about something that
///   exists or is gone already (duplicate column 1060 or key 1061 or foreign key 1826, or an
///   index to drop that is not there, 1091) **and** every column it adds is in the table.
///
/// Anything else is a real failure: a schema the migration does not know.
pub async fn already_done(
    conn: &mut MySqlConnection,
    stmt: &str,
    e: &sqlx::Error,
) -> Result<bool, StoreError> {
    let number = match e {
        sqlx::Error::Database(d) => d
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map(|m| m.number()),
        _ => None,
    };
    let Some(number) = number else {
        return Ok(false);
    };
    let upper = stmt.to_ascii_uppercase();
    if upper.starts_with("CREATE TABLE") {
        return Ok(number == 1050);
    }
    if !upper.starts_with("ALTER TABLE ") || ![1060, 1061, 1091, 1826].contains(&number) {
        return Ok(false);
    }
    let name = |rest: &str| -> String {
        rest.trim_start()
            .trim_start_matches('`')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let table = name(&stmt["ALTER TABLE ".len()..]);
    let added: Vec<String> = upper
        .match_indices("ADD COLUMN ")
        .map(|(at, m)| name(&stmt[at + m.len()..]))
        .filter(|c| !c.is_empty())
        .collect();
    if table.is_empty() || added.is_empty() {
        return Ok(false);
    }
    for column in &added {
        let there: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?",
        )
        .bind(&table)
        .bind(column)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        if there == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Apply what is pending, one statement at a time, recording each migration in
/// [`MIGRATIONS_TABLE`] as sqlx does (started as `success = FALSE`, then `TRUE`), under
/// sqlx's lock so that two nodes starting together do not both run it. A statement whose
/// work is already there (see [`already_done`]) is skipped, so a migration applied by hand
/// from `migrate --print-sql`, or one that failed halfway and had its row deleted, runs to
/// the end.
pub async fn apply(
    conn: &mut MySqlConnection,
    migrator: &sqlx::migrate::Migrator,
) -> Result<(), sqlx::migrate::MigrateError> {
    use sqlx::migrate::{Migrate, MigrateError};
    conn.lock().await?;
    let result = async {
        conn.ensure_migrations_table(MIGRATIONS_TABLE).await?;
        if let Some(v) = conn.dirty_version(MIGRATIONS_TABLE).await? {
            return Err(MigrateError::Dirty(v));
        }
        let applied = conn.list_applied_migrations(MIGRATIONS_TABLE).await?;
        for m in migrator.iter() {
            if let Some(a) = applied.iter().find(|a| a.version == m.version) {
                if a.checksum != m.checksum {
                    return Err(MigrateError::VersionMismatch(m.version));
                }
                continue;
            }
            let started = std::time::Instant::now();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {MIGRATIONS_TABLE} (version, description, success, checksum, execution_time) \
                 VALUES (?, ?, FALSE, ?, -1)"
            )))
            .bind(m.version)
            .bind(&*m.description)
            .bind(&*m.checksum)
            .execute(&mut *conn)
            .await?;
            for stmt in statements(m.sql.as_str()) {
                match sqlx::raw_sql(sqlx::AssertSqlSafe(stmt.clone()))
                    .execute(&mut *conn)
                    .await
                {
                    Ok(_) => {}
                    Err(e) => {
                        let done = already_done(&mut *conn, &stmt, &e)
                            .await
                            .map_err(|c| MigrateError::Source(Box::new(c)))?;
                        if !done {
                            return Err(MigrateError::ExecuteMigration(e, m.version));
                        }
                        let head: String = stmt.chars().take(80).collect();
                        tracing::info!(version = m.version, statement = %head, error = %e, "already applied (by hand, or by a run that stopped): skipped");
                    }
                }
            }
            let took = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {MIGRATIONS_TABLE} SET success = TRUE, execution_time = ? WHERE version = ?"
            )))
            .bind(took)
            .bind(m.version)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
    .await;
    let unlocked = conn.unlock().await;
    result?;
    unlocked
}

/// A MariaDB account name as `GRANT` takes it: `'user'@'host'` from `'user'@'host'`,
/// `user@host` or `user` (any host). Quotes, backslashes and control characters are refused,
/// so the printed grants are exactly what they look like.
pub fn grantee(text: &str) -> Result<String, StoreError> {
    let bad = || {
        StoreError::Database(format!(
            "`{text}` is not an account name like 'chat'@'%' or chat@10.0.0.%"
        ))
    };
    let (user, host) = match text.trim().rsplit_once('@') {
        Some((u, h)) => (u, h),
        None => (text.trim(), "%"),
    };
    let unquote = |part: &str| -> Result<String, StoreError> {
        let inner = part
            .strip_prefix('\'')
            .and_then(|p| p.strip_suffix('\''))
            .unwrap_or(part);
        if inner.is_empty()
            || inner.len() > 255
            || inner.chars().any(|c| {
                matches!(c, '\'' | '"' | '`' | '\\' | '@') || c.is_control() || c.is_whitespace()
            })
        {
            return Err(bad());
        }
        Ok(inner.to_owned())
    };
    Ok(format!("'{}'@'{}'", unquote(user)?, unquote(host)?))
}

/// The tables the rendered migrations create, in order.
pub fn chat_tables(p: &SchemaParams) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = Vec::new();
    for (_, _, template) in TEMPLATES {
        for stmt in statements(&render(template, p)?) {
            let Some(rest) = stmt.strip_prefix("CREATE TABLE IF NOT EXISTS ") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    Ok(out)
}

/// `nati-chat migrate --print-grants`: the privileges the serving account needs on
/// `database`, as `GRANT` statements, and as a comment those of an account that runs the
/// migrations. Serving needs only data privileges on the chat's own tables, `SELECT` on the
/// migrations table (to see that the schema is current), and in host mode `SELECT` on the
/// key and email columns of the host's account tables.
pub fn grants(
    p: &SchemaParams,
    email_column: Option<&str>,
    database: &str,
    grantee: &str,
) -> Result<String, StoreError> {
    let db = identifier("database", database)?;
    let mut out = format!(
        "-- Nati Chat: what the serving account needs on `{db}` ({} accounts).\n\
         -- Run as a user that may grant them; then serve with NATI_DATABASE_URL naming {grantee}.\n",
        if p.host { "host" } else { "own" }
    );
    for t in chat_tables(p)? {
        out.push_str(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON `{db}`.`{t}` TO {grantee};\n"
        ));
    }
    out.push_str(&format!(
        "GRANT SELECT ON `{db}`.`{MIGRATIONS_TABLE}` TO {grantee};\n"
    ));
    if p.host {
        for k in [&p.user, &p.admin, &p.worker] {
            let mut cols = vec![format!("`{}`", identifier("column", &k.column)?)];
            if let Some(e) = email_column.filter(|e| !e.is_empty()) {
                cols.push(format!("`{}`", identifier("column", e)?));
            }
            out.push_str(&format!(
                "GRANT SELECT ({}) ON `{db}`.`{}` TO {grantee};\n",
                cols.join(", "),
                identifier("table", k.table)?
            ));
        }
    }
    out.push_str(&format!(
        "-- Migrations (nati-chat migrate) need more, for a separate account such as 'chat_migrate'@'%':\n\
         -- GRANT CREATE, ALTER, INDEX, REFERENCES, SELECT, INSERT, UPDATE, DELETE ON `{db}`.* TO 'chat_migrate'@'%';\n"
    ));
    Ok(out)
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

/// The same after migration 4 (host identity) added `host_subject` and `password_email`:
/// what a DBA has who applied `migrate --print-sql` by hand before the first start.
const OWN_ACCOUNT_COLUMNS_4: [&str; 10] = [
    "active",
    "avatar_url",
    "created_at",
    "email",
    "host_subject",
    "id",
    "name",
    "password_email",
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
        if !cols.is_empty() && cols != OWN_ACCOUNT_COLUMNS && cols != OWN_ACCOUNT_COLUMNS_4 {
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
    fn statements_split_at_semicolons_outside_quotes_and_comments() {
        let sql = "-- a comment; not a statement\nCREATE TABLE a (x TEXT DEFAULT 'a;b');\n\
                   /* block; comment */ ALTER TABLE a ADD COLUMN `y;z` INT;\nINSERT INTO a VALUES ('it\\'s;')";
        assert_eq!(
            statements(sql),
            [
                "CREATE TABLE a (x TEXT DEFAULT 'a;b')",
                "ALTER TABLE a ADD COLUMN `y;z` INT",
                "INSERT INTO a VALUES ('it\\'s;')"
            ]
        );
        // Every template, in both modes, is whole statements that each begin with a verb.
        let key = |table| KeyRef {
            table,
            column: "id".into(),
            sql_type: "INT UNSIGNED".into(),
        };
        let host = SchemaParams {
            host: true,
            collation: "utf8mb4_general_ci".into(),
            user: key("tbl_user"),
            admin: key("tbl_admin"),
            worker: key("tbl_worker"),
        };
        for p in [SchemaParams::own(), host] {
            for (_, _, t) in TEMPLATES {
                for s in statements(&render(t, &p).expect("render")) {
                    assert!(
                        ["CREATE TABLE IF NOT EXISTS ", "ALTER TABLE ", "INSERT "]
                            .iter()
                            .any(|v| s.starts_with(v)),
                        "{s}"
                    );
                }
            }
        }
    }

    #[test]
    fn grants_name_every_chat_table_and_only_a_plain_account() {
        assert_eq!(grantee("'chat'@'%'").expect("quoted"), "'chat'@'%'");
        assert_eq!(
            grantee("chat@10.0.0.%").expect("plain"),
            "'chat'@'10.0.0.%'"
        );
        assert_eq!(grantee("chat").expect("any host"), "'chat'@'%'");
        for bad in [
            "'ch'at'@'%'",
            "chat@'%' WITH GRANT OPTION",
            "",
            "a\\b@%",
            "x@y@z",
        ] {
            assert!(grantee(bad).is_err(), "{bad}");
        }
        let text = grants(&SchemaParams::own(), None, "site", "'chat'@'%'").expect("grants");
        for t in [
            "tbl_chats",
            "tbl_chat_messages",
            "tbl_guest_sessions",
            "tbl_chat_api_keys",
            "tbl_chat_host_token_ids",
            "tbl_chat_webhook_deliveries",
            "tbl_chat_canned_replies",
            "tbl_chat_ratings",
            "tbl_chat_settings",
            "tbl_user",
        ] {
            assert!(
                text.contains(&format!("ON `site`.`{t}` TO 'chat'@'%';")),
                "{t}: {text}"
            );
        }
        assert!(text.contains("GRANT SELECT ON `site`.`_nati_chat_migrations`"));
    }

    #[test]
    fn identifiers_are_plain_names() {
        assert!(identifier("pk", "id").is_ok());
        assert!(identifier("pk", "user_id").is_ok());
        assert!(identifier("pk", "id`; DROP TABLE x").is_err());
        assert!(identifier("pk", "").is_err());
    }
}
