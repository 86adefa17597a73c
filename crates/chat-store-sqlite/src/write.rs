//! The write path's SQL on SQLite: [`WriteTx`] for one open transaction, and the node's
//! batch executor. What to write is decided in `chat_core::write`; here are only the
//! statements.
//!
//! Every chat write (messages, assignments, status changes, starts, reads, guest expiry)
//! runs on one connection of its own, owned by the writer thread (see
//! `chat_core::write::WriteQueue`), through `rusqlite` with cached prepared statements.
//! A batch is then plain function calls: no statement waits for another thread to wake
//! up, which is what an async driver's per-statement hop costs (the profile in
//! `docs/BENCHMARKS.md`). Each batch is one `BEGIN IMMEDIATE ... COMMIT`: one `fsync` for
//! the whole batch. Other writes (accounts, outboxes) use the pool's writer connection;
//! SQLite's write lock and busy timeout let the two take turns.

use crate::rows::{parse_ts, ts};
use chat_core::model::{Chat, ChatRating, Message, NewChat, ReadPosition};
use chat_core::write::{
    self, BatchExecutor, ClientKey, EventRow, MessageRow, WriteCommand, WriteOutcome, WriteTx,
};
use chat_core::{
    Actor, AdminId, ChatError, ChatId, ChatStatus, GuestId, MessageId, SenderType, StoreError,
    UserId, WorkerId,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

use chat_core::rows::CHAT_COLUMNS as CHAT_COLS;
const MESSAGE_COLS: &str = "message_id, chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at, is_private, attachments";

/// A driver error, keeping it as the source. Busy and locked (another connection holds
/// the write lock past the busy timeout) are worth a retry.
fn db(e: rusqlite::Error) -> StoreError {
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    StoreError::backend(e, retryable)
}

/// A row's value that SQLite returned but we cannot read (a bad time or status).
fn bad(e: StoreError) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn time_at(row: &Row<'_>, i: usize) -> rusqlite::Result<OffsetDateTime> {
    parse_ts(&row.get::<_, String>(i)?).map_err(bad)
}

fn chat_row(row: &Row<'_>) -> rusqlite::Result<Chat> {
    let status: String = row.get(6)?;
    Ok(Chat {
        chat_id: ChatId(row.get(0)?),
        user_id: row.get::<_, Option<i64>>(1)?.map(UserId),
        guest_id: row.get::<_, Option<i64>>(2)?.map(GuestId),
        admin_id: row.get::<_, Option<i64>>(3)?.map(AdminId),
        worker_id: row.get::<_, Option<i64>>(4)?.map(WorkerId),
        assigned_by: row.get::<_, Option<i64>>(5)?.map(AdminId),
        status: status
            .parse::<ChatStatus>()
            .map_err(|e| bad(StoreError::Database(e)))?,
        topic: row.get(7)?,
        last_seq: row.get(8)?,
        created_at: time_at(row, 9)?,
        updated_at: time_at(row, 10)?,
        last_message_at: row
            .get::<_, Option<String>>(11)?
            .map(|t| parse_ts(&t).map_err(bad))
            .transpose()?,
    })
}

fn message_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    let st: String = row.get(3)?;
    Ok(Message {
        message_id: MessageId(row.get(0)?),
        chat_id: ChatId(row.get(1)?),
        seq: row.get(2)?,
        sender_type: SenderType::parse(&st)
            .ok_or_else(|| bad(StoreError::Database(format!("bad sender_type {st}"))))?,
        sender_id: row.get(4)?,
        sender_name: row.get(5)?,
        message: row.get(6)?,
        is_read: row.get::<_, i64>(7)? != 0,
        client_id: row.get(8)?,
        created_at: time_at(row, 9)?,
        is_private: row.get::<_, i64>(10)? != 0,
        attachments: chat_core::rows::attachments(row.get::<_, Option<String>>(11)?.as_deref())
            .map_err(bad)?,
    })
}

/// The write primitives inside the writer connection's open transaction.
pub(crate) struct SqliteWrite<'c>(&'c mut Connection);

/// Sent; private as `chat_core::attachment::private_after` says (`?1`: this message is a note).
const MARK_FILE_SENT: &str = "UPDATE tbl_chat_attachments \
     SET is_private = CASE WHEN sent THEN is_private AND ?1 ELSE ?1 END, sent = TRUE \
     WHERE attachment_id = ?2";

#[async_trait::async_trait]
impl WriteTx for SqliteWrite<'_> {
    async fn lock_chats(&mut self, ids: &[ChatId]) -> Result<Vec<Chat>, StoreError> {
        // The transaction began IMMEDIATE: it holds the write lock already.
        let mut st = self
            .0
            .prepare_cached(&format!(
                "SELECT {CHAT_COLS} FROM tbl_chats WHERE chat_id = ?1"
            ))
            .map_err(db)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = st.query_row([id.0], chat_row).optional().map_err(db)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn find_client_ids(&mut self, keys: &[ClientKey]) -> Result<Vec<Message>, StoreError> {
        let mut st = self
            .0
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLS} FROM tbl_chat_messages \
                 WHERE chat_id = ?1 AND sender_type = ?2 AND sender_id = ?3 AND client_id = ?4"
            ))
            .map_err(db)?;
        let mut out = Vec::new();
        for k in keys {
            let params = params![
                k.chat_id.0,
                k.sender_type.as_str(),
                k.sender_id,
                k.client_id
            ];
            if let Some(m) = st.query_row(params, message_row).optional().map_err(db)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    async fn insert_messages(&mut self, rows: &[MessageRow]) -> Result<Vec<MessageId>, StoreError> {
        let mut ids = Vec::with_capacity(rows.len());
        let mut st = self
            .0
            .prepare_cached(
                "INSERT INTO tbl_chat_messages (chat_id, seq, sender_type, sender_id, sender_name, message, is_read, client_id, created_at, is_private, attachments) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(db)?;
        for m in rows {
            st.execute(params![
                m.chat_id.0,
                m.seq,
                m.sender_type.as_str(),
                m.sender_id,
                m.sender_name,
                m.message,
                m.is_read as i64,
                m.client_id,
                ts(m.created_at),
                m.is_private as i64,
                m.attachments_column(),
            ])
            .map_err(db)?;
            ids.push(MessageId(self.0.last_insert_rowid()));
        }
        Ok(ids)
    }

    async fn mark_files_sent(&mut self, files: &[(String, bool)]) -> Result<(), StoreError> {
        let mut st = self.0.prepare_cached(MARK_FILE_SENT).map_err(db)?;
        for (id, private) in files {
            st.execute(params![*private as i64, id]).map_err(db)?;
        }
        Ok(())
    }

    async fn insert_events(&mut self, rows: &[EventRow]) -> Result<(), StoreError> {
        let mut st = self
            .0
            .prepare_cached(
                "INSERT INTO tbl_chat_events (chat_id, seq, kind, payload, worker_id, previous_worker_id, user_id, guest_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(db)?;
        for e in rows {
            st.execute(params![
                e.chat_id.0,
                e.seq,
                e.kind.as_str(),
                e.payload,
                e.visibility.worker_id.map(|w| w.0),
                e.visibility.previous_worker_id.map(|w| w.0),
                e.visibility.user_id.map(|u| u.0),
                e.visibility.guest_id.map(|g| g.0),
                ts(e.created_at),
            ])
            .map_err(db)?;
        }
        Ok(())
    }

    async fn save_chats(&mut self, chats: &[Chat]) -> Result<(), StoreError> {
        let mut st = self
            .0
            .prepare_cached(
                "UPDATE tbl_chats SET admin_id = ?1, worker_id = ?2, assigned_by = ?3, status = ?4, last_seq = ?5, \
                 updated_at = ?6, last_message_at = ?7 WHERE chat_id = ?8",
            )
            .map_err(db)?;
        for c in chats {
            st.execute(params![
                c.admin_id.map(|a| a.0),
                c.worker_id.map(|w| w.0),
                c.assigned_by.map(|a| a.0),
                c.status.as_str(),
                c.last_seq,
                ts(c.updated_at),
                c.last_message_at.map(ts),
                c.chat_id.0,
            ])
            .map_err(db)?;
        }
        Ok(())
    }

    async fn started_chat(
        &mut self,
        customer: &Actor,
        client_id: &str,
    ) -> Result<Option<ChatId>, StoreError> {
        let (user, guest) = customer.customer_columns();
        self.0
            .prepare_cached(
                "SELECT chat_id FROM tbl_chats WHERE client_id = ?1 AND (user_id = ?2 OR guest_id = ?3)",
            )
            .map_err(db)?
            .query_row(params![client_id, user, guest], |r| r.get(0).map(ChatId))
            .optional()
            .map_err(db)
    }

    async fn first_customer_message(
        &mut self,
        chat: ChatId,
    ) -> Result<Option<Message>, StoreError> {
        self.0
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLS} FROM tbl_chat_messages WHERE chat_id = ?1 AND sender_type IN ('user', 'guest') \
                 ORDER BY message_id LIMIT 1"
            ))
            .map_err(db)?
            .query_row([chat.0], message_row)
            .optional()
            .map_err(db)
    }

    async fn insert_chat(
        &mut self,
        new: &NewChat,
        now: OffsetDateTime,
    ) -> Result<Chat, StoreError> {
        let (user, guest) = new.customer.customer_columns();
        self.0
            .prepare_cached(&format!(
                "INSERT INTO tbl_chats (user_id, guest_id, status, topic, last_seq, client_id, created_at, updated_at) \
                 VALUES (?1, ?2, 'pending', ?3, 0, ?4, ?5, ?5) RETURNING {CHAT_COLS}"
            ))
            .map_err(db)?
            .query_row(
                params![user, guest, new.topic, new.client_id, ts(now)],
                chat_row,
            )
            .map_err(db)
    }

    async fn newest_message(&mut self, chat: ChatId) -> Result<MessageId, StoreError> {
        self.0
            .prepare_cached(
                "SELECT COALESCE(MAX(message_id), 0) FROM tbl_chat_messages WHERE chat_id = ?1",
            )
            .map_err(db)?
            .query_row([chat.0], |r| r.get(0).map(MessageId))
            .map_err(db)
    }

    async fn has_message(&mut self, chat: ChatId, id: MessageId) -> Result<bool, StoreError> {
        self.0
            .prepare_cached(
                "SELECT 1 FROM tbl_chat_messages WHERE chat_id = ?1 AND message_id = ?2",
            )
            .map_err(db)?
            .exists([chat.0, id.0])
            .map_err(db)
    }

    async fn read_position(
        &mut self,
        chat: ChatId,
        reader: &Actor,
    ) -> Result<Option<(MessageId, OffsetDateTime)>, StoreError> {
        self.0
            .prepare_cached(
                "SELECT last_read_message_id, updated_at FROM tbl_chat_read_positions \
                 WHERE chat_id = ?1 AND reader_type = ?2 AND reader_id = ?3",
            )
            .map_err(db)?
            .query_row(
                params![chat.0, reader.sender_type().as_str(), reader.raw_id()],
                |r| Ok((MessageId(r.get(0)?), time_at(r, 1)?)),
            )
            .optional()
            .map_err(db)
    }

    async fn worker_open_chats(&mut self, worker: WorkerId) -> Result<i64, StoreError> {
        // One writer: nobody else assigns until this transaction ends.
        self.0
            .prepare_cached(
                "SELECT COUNT(*) FROM tbl_chats WHERE worker_id = ?1 AND status <> 'closed'",
            )
            .map_err(db)?
            .query_row([worker.0], |r| r.get(0))
            .map_err(db)
    }

    async fn insert_rating(&mut self, r: &ChatRating) -> Result<bool, StoreError> {
        let n = self
            .0
            .prepare_cached(
                "INSERT INTO tbl_chat_ratings (chat_id, rater_type, rater_id, stars, comment, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (chat_id) DO NOTHING",
            )
            .map_err(db)?
            .execute(params![
                r.chat_id.0,
                r.rater_type.as_str(),
                r.rater_id,
                r.stars,
                r.comment,
                ts(r.created_at),
            ])
            .map_err(db)?;
        Ok(n == 1)
    }

    async fn save_read_position(&mut self, p: &ReadPosition) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO tbl_chat_read_positions (chat_id, reader_type, reader_id, last_read_message_id, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (chat_id, reader_type, reader_id) DO UPDATE SET \
                 last_read_message_id = excluded.last_read_message_id, updated_at = excluded.updated_at",
            )
            .map_err(db)?
            .execute(params![
                p.chat_id.0,
                p.reader_type.as_str(),
                p.reader_id,
                p.last_read_message_id.0,
                ts(p.updated_at),
            ])
            .map_err(db)?;
        Ok(())
    }

    async fn mark_messages_read(
        &mut self,
        chat: ChatId,
        up_to: MessageId,
        [a, b]: [SenderType; 2],
    ) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "UPDATE tbl_chat_messages SET is_read = 1 \
                 WHERE chat_id = ?1 AND message_id <= ?2 AND is_read = 0 AND sender_type IN (?3, ?4)",
            )
            .map_err(db)?
            .execute(params![chat.0, up_to.0, a.as_str(), b.as_str()])
            .map_err(db)?;
        Ok(())
    }

    async fn expire_guest_session(
        &mut self,
        guest: GuestId,
        now: OffsetDateTime,
    ) -> Result<Vec<ChatId>, StoreError> {
        self.0
            .prepare_cached(
                "UPDATE tbl_guest_sessions SET expired_at = ?1 WHERE guest_id = ?2 AND expired_at IS NULL",
            )
            .map_err(db)?
            .execute(params![ts(now), guest.0])
            .map_err(db)?;
        let mut st = self
            .0
            .prepare_cached(
                "SELECT chat_id FROM tbl_chats WHERE guest_id = ?1 AND status <> 'closed' ORDER BY chat_id",
            )
            .map_err(db)?;
        let ids = st
            .query_map([guest.0], |r| r.get(0).map(ChatId))
            .map_err(db)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db)?;
        Ok(ids)
    }
}

/// The writer connection's busy handler: `tries` is how many times SQLite has asked.
fn writer_busy(tries: i32) -> bool {
    const FAST_TRIES: i32 = 200; // 200 x 50 µs = 10 ms
    if tries < FAST_TRIES {
        std::thread::sleep(Duration::from_micros(50));
        true
    } else if tries < FAST_TRIES + 10_000 {
        std::thread::sleep(Duration::from_millis(1));
        true
    } else {
        false
    }
}

/// Runs batches on the writer thread's own connection.
pub(crate) struct SqliteExecutor {
    /// Taken out for the length of a batch (only the writer thread runs batches).
    conn: Mutex<Option<Connection>>,
    /// Stops with the executor.
    _checkpointer: Checkpointer,
}

/// How often the checkpointer copies committed WAL pages into the database file. A page
/// the writer changes many times in that span is copied once; and the WAL stays short,
/// which is what keeps reads fast: a reader finds each page it needs through the WAL's
/// index and reads it from the WAL file, so a longer WAL makes every read of the event
/// log slower (`latency-10k` send->deliver p99: 38-45 ms at 1 s, 10-15 ms at 250 ms,
/// 7 ms at 50 ms; `docs/BENCHMARKS.md`, pass 7).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection and thread every
/// [`CHECKPOINT_EVERY`]: a passive checkpoint takes no lock the writer or the readers
/// need, so commits and reads go on while it writes and syncs the database file. Once
/// the WAL is fully copied and no reader is still in it, the writer starts it again from
/// the beginning, which keeps the file from growing.
struct Checkpointer {
    /// Dropped with the executor: the thread sees the channel close and ends.
    _stop: std::sync::mpsc::Sender<()>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(db)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("nati-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(error = %e, "WAL checkpoint failed; the writer checkpoints instead");
                    }
                }
            })
            .map_err(|e| StoreError::Database(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { _stop: stop })
    }
}

impl SqliteExecutor {
    /// Open the writer connection on the database file (which `sqlx` has created and
    /// migrated already).
    pub(crate) fn open(path: &Path, synchronous_full: bool) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(db)?;
        // The pool's writer connection (accounts, outboxes) takes the write lock now and
        // then, briefly. SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries,
        // which puts whole milliseconds into a batch's latency; this one tries again
        // every 50 µs for the first 10 ms, then every millisecond, for 10 s in all.
        conn.busy_handler(Some(writer_busy)).map_err(db)?;
        conn.execute_batch(if synchronous_full {
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
        } else {
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
        })
        .map_err(db)?;
        // The writer touches the chat indexes all over: keep them in memory (64 MiB of
        // page cache) and read the file through a memory map instead of a `pread` per page.
        conn.execute_batch("PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;")
            .map_err(db)?;
        // Checkpoints (copying the WAL back into the database file, with an `fsync`) run
        // on a thread of their own, so that a commit never waits for one. The writer
        // checkpoints by itself only if that thread fell far behind (64 MiB of WAL).
        conn.pragma_update(None, "wal_autocheckpoint", 16384)
            .map_err(db)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(SqliteExecutor {
            conn: Mutex::new(Some(conn)),
            _checkpointer: Checkpointer::start(path)?,
        })
    }

    fn take(&self) -> Result<Connection, StoreError> {
        self.conn
            .lock()
            .ok()
            .and_then(|mut c| c.take())
            .ok_or_else(|| StoreError::Database("the writer connection is gone".into()))
    }

    fn put_back(&self, conn: Connection) {
        if let Ok(mut slot) = self.conn.lock() {
            *slot = Some(conn);
        }
    }
}

#[async_trait::async_trait]
impl BatchExecutor for SqliteExecutor {
    async fn execute(
        &self,
        cmds: &[WriteCommand],
    ) -> Result<Vec<Result<WriteOutcome, ChatError>>, StoreError> {
        let mut conn = self.take()?;
        let result = run(&mut conn, cmds).await;
        self.put_back(conn);
        result
    }
}

async fn run(
    conn: &mut Connection,
    cmds: &[WriteCommand],
) -> Result<Vec<Result<WriteOutcome, ChatError>>, StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
    match write::apply(&mut SqliteWrite(conn), cmds).await {
        Ok(out) => match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(out),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(db(e))
            }
        },
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
mod checkpoints {
    use super::{CHECKPOINT_EVERY, Checkpointer};
    use rusqlite::Connection;

    /// Rows written with the writer's own checkpoints off reach the database file only
    /// through the checkpoint thread, within a few of its periods; and the thread ends with
    /// its owner.
    #[test]
    fn the_checkpoint_thread_copies_the_wal_into_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
             CREATE TABLE t (x TEXT);",
        )
        .expect("setup");
        let before = std::fs::metadata(&path).expect("size").len();
        for _ in 0..200 {
            conn.execute("INSERT INTO t (x) VALUES (?1)", ["x".repeat(1000)])
                .expect("insert");
        }
        std::thread::sleep(CHECKPOINT_EVERY * 4);
        assert_eq!(
            std::fs::metadata(&path).expect("size").len(),
            before,
            "nothing copies the WAL yet"
        );
        let checkpointer = Checkpointer::start(&path).expect("start");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::metadata(&path).expect("size").len() < before + 200 * 1000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the checkpoint thread did not copy the WAL into the file"
            );
            std::thread::sleep(CHECKPOINT_EVERY);
        }
        drop(checkpointer);
        let n: i64 = Connection::open(&path)
            .expect("reopen")
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 200);
    }
}
