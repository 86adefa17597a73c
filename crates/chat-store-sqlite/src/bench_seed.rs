//! `nati-chat bench-seed` (this crate's SQL, called by the binary): fill a SQLite database with many messages, fast, for the history
//! benchmark (`docs/BENCHMARKS.md`). Benchmark data only: never run it on a real database.
//!
//! Seeding a million messages through the API would take far too long on a disk that
//! fsyncs every commit (each message is its own transaction), so this writes the rows
//! directly, in large multi-row INSERTs inside a few big transactions, with
//! `synchronous = OFF` for this connection only. The rows are what the SQLite store itself
//! writes (schema in `crates/chat-store-sqlite/migrations`): one guest session per chat
//! (`tbl_guest_sessions`, with the hash of a token nobody holds), the chats (`tbl_chats`,
//! `pending`, `last_seq` and times kept up to date), the messages (`tbl_chat_messages`,
//! all from the chat's guest, spread round robin over the chats so their ids interleave
//! as in a busy desk), and the event log (`tbl_chat_events`: one `chat.created` per chat
//! and one `message.created` per message, payloads serialised from the same model types
//! as the store's).
//!
//! Run it while the server is stopped: a running server's hub would publish every seeded
//! event to the open sockets.

use crate::rows::db;
use chat_core::StoreError;
use chat_core::model::{Chat, Message};
use chat_core::{ChatId, ChatStatus, GuestId, MessageId, SenderType, secret};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Connection, SqliteConnection};
use std::str::FromStr;
use time::OffsetDateTime;

/// Rows per INSERT statement (10 columns at most: well under SQLite's variable limit).
const BATCH: usize = 500;
/// Messages per transaction.
const TX_MESSAGES: u64 = 100_000;

/// What was written.
#[derive(Debug)]
pub struct Seeded {
    pub chats: u64,
    pub messages: u64,
    pub first_chat_id: i64,
    pub seconds: f64,
}

fn ts(t: OffsetDateTime) -> String {
    // The store's format: UTC, microseconds, so text order is time order.
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000000Z".to_owned())
}

const LINES: [&str; 8] = [
    "My brakes squeal when I stop, mostly in the morning.",
    "Could you check whether the part for my car is in stock?",
    "The dashboard shows a yellow engine light since yesterday; is it safe to drive to the workshop?",
    "Thanks, that helps.",
    "I booked the service for Tuesday at 9, can I bring it in an hour later instead?",
    "What would the 60,000 km inspection cost for a 2019 hatchback with the 1.4 litre engine and the automatic gearbox?",
    "ok",
    "The invoice lists two oil filters but I think only one was changed. Could someone look at it before I pay?",
];

async fn max_id(
    conn: &mut SqliteConnection,
    table: &'static str,
    col: &'static str,
) -> Result<i64, StoreError> {
    let sql = format!("SELECT COALESCE(MAX({col}), 0) FROM {table}");
    let max: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = ?1")
        .bind(table)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    Ok(max.max(seq.unwrap_or(0)))
}

fn insert_sql(table: &str, cols: &str, n_cols: usize, rows: usize) -> String {
    let one = format!("({})", vec!["?"; n_cols].join(", "));
    format!(
        "INSERT INTO {table} ({cols}) VALUES {}",
        vec![one; rows].join(", ")
    )
}

/// Add `messages` messages spread over `chats` new chats to the database at `url`
/// (`sqlite://PATH`), applying migrations first.
pub async fn seed(url: &str, messages: u64, chats: u64) -> Result<Seeded, StoreError> {
    let t0 = std::time::Instant::now();
    let chats = chats.max(1);
    crate::SqliteStore::migrate(url)
        .await
        .map_err(|e| StoreError::Database(format!("migrating {url}: {e}")))?;
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(db)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Off)
        .foreign_keys(true);
    let mut conn = SqliteConnection::connect_with(&opts)
        .await
        .map_err(|e| StoreError::Database(format!("opening {url}: {e}")))?;

    let guest0 = max_id(&mut conn, "tbl_guest_sessions", "guest_id").await?;
    let chat0 = max_id(&mut conn, "tbl_chats", "chat_id").await?;
    let msg0 = max_id(&mut conn, "tbl_chat_messages", "message_id").await?;
    let event0 = max_id(&mut conn, "tbl_chat_events", "event_id").await?;
    let now = OffsetDateTime::now_utc();
    // One millisecond between messages, ending now.
    let start = now - time::Duration::milliseconds(messages as i64 + 1000);
    let msg_time = |k: u64| start + time::Duration::milliseconds(k as i64 + 1000);
    let per_chat = |c: u64| messages / chats + u64::from(c < messages % chats);

    // Guests, chats and their chat.created events.
    let mut tx = conn.begin().await.map_err(db)?;
    for lo in (0..chats).step_by(BATCH) {
        let hi = (lo + BATCH as u64).min(chats);
        let n = (hi - lo) as usize;
        let sql = insert_sql(
            "tbl_guest_sessions",
            "guest_id, session_token, name, created_at, last_seen_at",
            5,
            n,
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for c in lo..hi {
            q = q
                .bind(guest0 + 1 + c as i64)
                .bind(secret::hash_token(&secret::new_token("ng_")))
                .bind(format!("Seed guest {}", c + 1))
                .bind(ts(start))
                .bind(ts(now));
        }
        q.execute(&mut *tx).await.map_err(db)?;

        let sql = insert_sql(
            "tbl_chats",
            "chat_id, guest_id, status, topic, last_seq, created_at, updated_at, last_message_at",
            8,
            n,
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for c in lo..hi {
            let count = per_chat(c);
            // The newest message of chat c is message number c + (count - 1) * chats.
            let last = (count > 0).then(|| msg_time(c + (count - 1) * chats));
            q = q
                .bind(chat0 + 1 + c as i64)
                .bind(guest0 + 1 + c as i64)
                .bind(ChatStatus::Pending.as_str())
                .bind(format!("Seeded chat {}", c + 1))
                .bind(1 + count as i64)
                .bind(ts(start))
                .bind(ts(last.unwrap_or(start)))
                .bind(last.map(ts));
        }
        q.execute(&mut *tx).await.map_err(db)?;

        let sql = insert_sql(
            "tbl_chat_events",
            "event_id, chat_id, seq, kind, payload, guest_id, created_at",
            7,
            n,
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for c in lo..hi {
            let chat = Chat {
                chat_id: ChatId(chat0 + 1 + c as i64),
                user_id: None,
                guest_id: Some(GuestId(guest0 + 1 + c as i64)),
                admin_id: None,
                worker_id: None,
                assigned_by: None,
                status: ChatStatus::Pending,
                topic: format!("Seeded chat {}", c + 1),
                last_seq: 1,
                created_at: start,
                updated_at: start,
                last_message_at: None,
            };
            q = q
                .bind(event0 + 1 + c as i64)
                .bind(chat.chat_id.0)
                .bind(1i64)
                .bind("chat.created")
                .bind(
                    serde_json::to_string(&chat)
                        .map_err(|e| StoreError::Database(e.to_string()))?,
                )
                .bind(chat.guest_id.map(|g| g.0))
                .bind(ts(start));
        }
        q.execute(&mut *tx).await.map_err(db)?;
    }
    tx.commit().await.map_err(db)?;

    // Messages and their message.created events, round robin over the chats.
    let mut k = 0u64;
    while k < messages {
        let mut tx = conn.begin().await.map_err(db)?;
        let tx_end = (k + TX_MESSAGES).min(messages);
        while k < tx_end {
            let hi = (k + BATCH as u64).min(tx_end);
            let rows: Vec<Message> = (k..hi)
                .map(|k| {
                    let c = k % chats;
                    let when = msg_time(k);
                    Message {
                        message_id: MessageId(msg0 + 1 + k as i64),
                        chat_id: ChatId(chat0 + 1 + c as i64),
                        // seq 1 is the chat.created event.
                        seq: 2 + (k / chats) as i64,
                        sender_type: SenderType::Guest,
                        sender_id: Some(guest0 + 1 + c as i64),
                        sender_name: format!("Seed guest {}", c + 1),
                        message: format!("#{} {}", k + 1, LINES[(k % 8) as usize]),
                        is_read: false,
                        client_id: None,
                        created_at: when,
                        is_private: false,
                        attachments: Vec::new(),
                    }
                })
                .collect();
            let sql = insert_sql(
                "tbl_chat_messages",
                "message_id, chat_id, seq, sender_type, sender_id, sender_name, message, is_read, created_at",
                9,
                rows.len(),
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for m in &rows {
                q = q
                    .bind(m.message_id.0)
                    .bind(m.chat_id.0)
                    .bind(m.seq)
                    .bind(m.sender_type.as_str())
                    .bind(m.sender_id)
                    .bind(m.sender_name.clone())
                    .bind(m.message.clone())
                    .bind(0i64)
                    .bind(ts(m.created_at));
            }
            q.execute(&mut *tx).await.map_err(db)?;

            let sql = insert_sql(
                "tbl_chat_events",
                "event_id, chat_id, seq, kind, payload, guest_id, created_at",
                7,
                rows.len(),
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for m in &rows {
                q = q
                    .bind(event0 + chats as i64 + m.message_id.0 - msg0)
                    .bind(m.chat_id.0)
                    .bind(m.seq)
                    .bind("message.created")
                    .bind(
                        serde_json::to_string(m)
                            .map_err(|e| StoreError::Database(e.to_string()))?,
                    )
                    .bind(m.sender_id)
                    .bind(ts(m.created_at));
            }
            q.execute(&mut *tx).await.map_err(db)?;
            k = hi;
        }
        tx.commit().await.map_err(db)?;
        eprintln!("  {k}/{messages} messages");
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .map_err(db)?;
    conn.close().await.map_err(db)?;
    Ok(Seeded {
        chats,
        messages,
        first_chat_id: chat0 + 1,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
