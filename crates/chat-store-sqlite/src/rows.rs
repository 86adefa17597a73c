//! Row mapping and the time format. Private to this crate.

use chat_core::StoreError;
use chat_core::rows::Columns;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// A driver error, keeping it as the source. SQLite's busy and locked codes (another
/// process holds the file) and a pool that timed out are worth a retry.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    let retryable = match &e {
        sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("5" | "6" | "517" | "262")),
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    };
    StoreError::backend(e, retryable)
}

/// UTC with microseconds, fixed width, so text order is time order.
pub(crate) fn ts(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000Z".to_owned())
}

pub(crate) fn parse_ts(s: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| StoreError::Database(format!("bad time `{s}`: {e}")))
}

/// A row as `chat_core::rows` reads it. Times are text ([`ts`]).
pub struct Cols<R>(pub(crate) R);

impl<R: std::borrow::Borrow<SqliteRow>> Columns for Cols<R> {
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.0.borrow().try_get(col).map_err(db)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.0.borrow().try_get(col).map_err(db)
    }
    fn opt_flag(&self, col: &str) -> Result<Option<bool>, StoreError> {
        self.0.borrow().try_get(col).map_err(db)
    }
    fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        self.opt_text(col)?.as_deref().map(parse_ts).transpose()
    }
}
