//! Online backup and restore of the SQLite database (`nati-chat backup` / `restore`).
//!
//! A backup is `VACUUM INTO`: one read transaction over the live database, so the copy is
//! exactly one committed state (every message acknowledged before it began is in it) while
//! the server goes on writing through WAL; the copy is compact and self-contained (no
//! `-wal` file). It is checked (`PRAGMA integrity_check`) before the command says it is done.
//! A restore puts such a file into an empty data directory, checked the same way first.

use crate::rows::db;
use chat_core::StoreError;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What a backup or restore holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub chats: i64,
    pub messages: i64,
    pub last_message_id: i64,
    pub bytes: u64,
}

/// The database file a `sqlite:` URL names.
pub fn file_of(url: &str) -> Result<PathBuf, StoreError> {
    let opts = SqliteConnectOptions::from_str(url).map_err(db)?;
    Ok(opts.get_filename().to_path_buf())
}

fn err(what: String) -> StoreError {
    StoreError::Database(what)
}

/// Open `file` read-only, check it, and count what it holds.
async fn inspect(file: &Path) -> Result<Snapshot, StoreError> {
    let mut conn: SqliteConnection = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| {
            err(format!(
                "{} is not a readable SQLite database: {e}",
                file.display()
            ))
        })?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| err(format!("{} is not a SQLite database: {e}", file.display())))?;
    if check != "ok" {
        return Err(err(format!(
            "{} failed its integrity check: {check}",
            file.display()
        )));
    }
    let ours: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('_sqlx_migrations', 'tbl_chats', 'tbl_chat_messages')",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(db)?;
    if ours != 3 {
        return Err(err(format!(
            "{} is a SQLite database, but not a Nati Chat one",
            file.display()
        )));
    }
    let (chats, messages, last): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM tbl_chats), (SELECT COUNT(*) FROM tbl_chat_messages), \
         (SELECT COALESCE(MAX(message_id), 0) FROM tbl_chat_messages)",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(db)?;
    conn.close().await.map_err(db)?;
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    Ok(Snapshot {
        chats,
        messages,
        last_message_id: last,
        bytes,
    })
}

/// Copy the live database of `url` into `dest` (which must not exist), consistently, while
/// the server keeps serving. Returns what the copy holds.
pub async fn backup(url: &str, dest: &Path) -> Result<Snapshot, StoreError> {
    let source = file_of(url)?;
    if !source.exists() {
        return Err(err(format!("there is no database at {}", source.display())));
    }
    if dest.exists() {
        return Err(err(format!(
            "{} exists already; give a new file name",
            dest.display()
        )));
    }
    let dest_text = dest
        .to_str()
        .ok_or_else(|| err(format!("{} is not a UTF-8 path", dest.display())))?;
    let mut conn: SqliteConnection = SqliteConnectOptions::new()
        .filename(&source)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .map_err(db)?;
    sqlx::query("VACUUM INTO ?1")
        .bind(dest_text)
        .execute(&mut conn)
        .await
        .map_err(|e| err(format!("backing up into {}: {e}", dest.display())))?;
    conn.close().await.map_err(db)?;
    inspect(dest).await
}

/// Put the backup `src` in place as the database of `url`, which must not exist yet (an
/// empty data directory). The file is checked first, copied next to its place, and renamed
/// into it, so a failed restore leaves nothing half-written.
pub async fn restore(src: &Path, url: &str) -> Result<Snapshot, StoreError> {
    let target = file_of(url)?;
    if target.exists() {
        return Err(err(format!(
            "{} exists already: restore into an empty data directory (move the old database away first)",
            target.display()
        )));
    }
    let snapshot = inspect(src).await?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
    }
    let partial = target.with_extension("db.restoring");
    std::fs::copy(src, &partial).map_err(|e| {
        err(format!(
            "copying {} to {}: {e}",
            src.display(),
            partial.display()
        ))
    })?;
    std::fs::rename(&partial, &target)
        .map_err(|e| err(format!("moving {} into place: {e}", partial.display())))?;
    Ok(snapshot)
}
