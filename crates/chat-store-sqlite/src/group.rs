//! Group commit: many message writes share one transaction and one `fsync`.
//!
//! A single-row commit costs one `fsync`; with `synchronous = FULL` that, not the SQL, is
//! what limits how many messages per second SQLite can store. So message writes join the
//! transaction that is open on the writer connection, each inside its own `SAVEPOINT`
//! (a write refused by its rule, or failing, rolls back only itself), and one commit makes
//! the whole group durable. Nobody is answered before the commit that holds their write:
//! nothing acknowledged can be lost.
//!
//! How a group forms: the first writer to find no transaction open takes the writer
//! connection from the pool, begins, and spawns the group's committer. The committer
//! queues for the lock like everyone else (the lock is fair, first come first served), so
//! it commits after every writer that was already waiting, and whoever arrives after it
//! joins the next group. Under light load a group is one write; under heavy load the
//! writers that queue during a commit's `fsync` form the next group, with no timer.
//!
//! Cancellation (a request's future dropped anywhere): opening a group runs in a spawned
//! task, so a transaction is never left half-begun; a writer dropped inside its savepoint
//! leaves it marked unfinished and the next holder of the lock rolls it back before
//! anything else; the committer is a spawned task, so a group is committed (and the
//! connection given back to the pool) even if every writer in it went away.

use crate::rows::db;
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use chat_core::StoreError;

/// How many failed groups are remembered for writers that look late.
const FAILURES_KEPT: usize = 256;

/// The shared state of group commits on the writer connection.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    state: Arc<Mutex<State>>,
    /// The number of the newest group whose commit has ended (committed or failed).
    done: watch::Sender<u64>,
}

struct State {
    /// The writer connection while a group's transaction is open.
    conn: Option<PoolConnection<Sqlite>>,
    /// The number of the open (or newest) group.
    group: u64,
    /// A writer was interrupted inside its savepoint: roll it back before anything else.
    savepoint_open: bool,
    /// Groups whose commit failed, with the error, newest last.
    failed: VecDeque<(u64, String)>,
}

impl State {
    fn conn(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        self.conn.as_deref_mut().ok_or_else(|| {
            StoreError::Database("group commit: the writer connection is not held".to_owned())
        })
    }

    /// Undo what an interrupted writer left inside its savepoint.
    async fn undo_interrupted(&mut self) -> Result<(), StoreError> {
        if !self.savepoint_open {
            return Ok(());
        }
        match sqlx::query("ROLLBACK TO group_write; RELEASE group_write")
            .execute(self.conn()?)
            .await
        {
            Ok(_) => {}
            // Interrupted after its savepoint was already ended: nothing to undo.
            Err(e) if e.to_string().contains("no such savepoint") => {}
            Err(e) => return Err(db(e)),
        }
        self.savepoint_open = false;
        Ok(())
    }
}

impl GroupCommit {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        let (done, _) = watch::channel(0);
        GroupCommit {
            inner: Arc::new(Inner {
                pool,
                state: Arc::new(Mutex::new(State {
                    conn: None,
                    group: 0,
                    savepoint_open: false,
                    failed: VecDeque::new(),
                })),
                done,
            }),
        }
    }

    /// Join the open group (or open one) and start this writer's savepoint. Use the
    /// returned [`Write`] as the connection, then call [`Write::finish`].
    pub(crate) async fn join(&self) -> Result<Write, StoreError> {
        let mut state = self.inner.state.clone().lock_owned().await;
        if state.conn.is_none() {
            // Acquiring the connection and BEGIN run in their own task: dropped halfway,
            // they would leave a transaction open on a pooled connection.
            let this = self.clone();
            state = tokio::spawn(async move { this.open(state).await })
                .await
                .map_err(|e| StoreError::Database(format!("opening a write group: {e}")))??;
        }
        state.undo_interrupted().await?;
        let group = state.group;
        sqlx::query("SAVEPOINT group_write")
            .execute(state.conn()?)
            .await
            .map_err(db)?;
        state.savepoint_open = true;
        Ok(Write {
            commit: self.clone(),
            state: Some(state),
            group,
        })
    }

    /// Begin a group's transaction and start its committer.
    async fn open(
        &self,
        mut state: OwnedMutexGuard<State>,
    ) -> Result<OwnedMutexGuard<State>, StoreError> {
        let mut conn = self.inner.pool.acquire().await.map_err(db)?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        state.conn = Some(conn);
        state.group += 1;
        state.savepoint_open = false;
        let group = state.group;
        let this = self.clone();
        tokio::spawn(async move { this.commit(group).await });
        Ok(state)
    }

    /// Commit group `group`: runs once per group, after the writers queued before it.
    async fn commit(&self, group: u64) {
        let mut state = self.inner.state.clone().lock_owned().await;
        if state.group != group || state.conn.is_none() {
            return;
        }
        let mut outcome = state.undo_interrupted().await;
        if outcome.is_ok() {
            outcome = match state.conn() {
                Ok(conn) => sqlx::query("COMMIT")
                    .execute(conn)
                    .await
                    .map(|_| ())
                    .map_err(db),
                Err(e) => Err(e),
            };
        }
        if let Err(e) = outcome {
            tracing::error!(group, error = %e, "group commit failed; its writes are not stored");
            // Leave no transaction behind on the pooled connection.
            if let Ok(conn) = state.conn() {
                let _ = sqlx::query("ROLLBACK").execute(conn).await;
            }
            state.savepoint_open = false;
            state.failed.push_back((group, e.to_string()));
            while state.failed.len() > FAILURES_KEPT {
                state.failed.pop_front();
            }
        }
        state.conn = None;
        drop(state);
        self.inner.done.send_replace(group);
    }

    /// Wait until `group` has been committed; its error if the commit failed.
    async fn committed(&self, group: u64) -> Result<(), StoreError> {
        let mut done = self.inner.done.subscribe();
        done.wait_for(|&g| g >= group).await.map_err(|_| {
            StoreError::Database("group commit stopped before committing".to_owned())
        })?;
        let state = self.inner.state.lock().await;
        match state.failed.iter().find(|(g, _)| *g == group) {
            Some((_, e)) => Err(StoreError::Database(format!("commit failed: {e}"))),
            None => Ok(()),
        }
    }
}

/// One writer's part of a group: the connection, inside the writer's savepoint.
pub(crate) struct Write {
    commit: GroupCommit,
    /// Held until [`Write::finish`] lets the next writer in.
    state: Option<OwnedMutexGuard<State>>,
    group: u64,
}

impl Write {
    /// End this writer's savepoint (kept when `keep`, rolled back otherwise), let the next
    /// writer in, and wait until the group is committed. `Ok` means the write is durable
    /// (when kept).
    pub(crate) async fn finish(mut self, keep: bool) -> Result<(), StoreError> {
        let sql = if keep {
            "RELEASE group_write"
        } else {
            "ROLLBACK TO group_write; RELEASE group_write"
        };
        if let Some(mut state) = self.state.take() {
            sqlx::query(sql).execute(state.conn()?).await.map_err(db)?;
            state.savepoint_open = false;
        }
        self.commit.committed(self.group).await
    }
}

impl Deref for Write {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        // `join` hands out a Write only while the connection is held, and only `finish`
        // (which consumes the Write) lets it go.
        match self.state.as_ref().and_then(|s| s.conn.as_deref()) {
            Some(conn) => conn,
            None => unreachable!("a group write holds the connection until it finishes"),
        }
    }
}

impl DerefMut for Write {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self.state.as_mut().and_then(|s| s.conn.as_deref_mut()) {
            Some(conn) => conn,
            None => unreachable!("a group write holds the connection until it finishes"),
        }
    }
}
