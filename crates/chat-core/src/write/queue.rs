//! The node's writer: many callers' commands, one transaction per batch.
//!
//! Callers hand their [`WriteCommand`] to the queue and wait. One task takes the first
//! command waiting, then everything else already queued (up to a bound), and has the
//! store run them as one batch in one transaction — on PostgreSQL and MariaDB under one
//! event-order lock for the whole batch, not one per message — commits once, then answers
//! each caller. Nobody is answered before the commit that holds their write, so nothing
//! acknowledged can be lost. Under light load a batch is one command; under heavy load the
//! commands that queue during one commit form the next batch, with no timer.
//!
//! A command refused by its rule answers its own caller and spoils nothing. A database
//! failure of the whole batch is retried when the error says a retry can help
//! (serialization failure, deadlock, busy); otherwise each command is run again on its own,
//! so one bad command cannot take others down with it.

use super::{Rule, WriteCommand, WriteOutcome};
use crate::actor::Actor;
use crate::error::ChatError;
use crate::ids::{ChatId, GuestId, MessageId};
use crate::model::{Chat, ChatStart, NewChat, NewMessage, ReadPosition, SendOutcome};
use crate::store::StoreError;
use async_trait::async_trait;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

/// How many times a batch is retried after a retryable database error.
const RETRIES: usize = 5;

/// A backend's write path: run a batch in one transaction and commit it.
#[async_trait]
pub trait BatchExecutor: Send + Sync + 'static {
    /// Run `cmds` in one transaction (see [`super::apply`]) and commit. `Err` means nothing
    /// was committed.
    async fn execute(
        &self,
        cmds: &[WriteCommand],
    ) -> Result<Vec<Result<WriteOutcome, ChatError>>, StoreError>;
}

type Reply = oneshot::Sender<Result<WriteOutcome, StoreError>>;

/// The handle callers submit to. Cheap to clone.
#[derive(Clone)]
pub struct WriteQueue {
    tx: mpsc::Sender<(WriteCommand, Reply)>,
}

impl WriteQueue {
    /// Start the writer on a thread of its own, with a runtime of its own, and make its
    /// executor there with `make` (so a network database's connection belongs to that
    /// runtime). On the server's runtime every statement of a batch would wait to be
    /// polled behind all the socket tasks that are ready to run; alone, the writer is
    /// woken at once. The thread ends when the last handle is dropped. `max_batch` bounds
    /// a batch's size. Returns once the executor is made, or with its error.
    pub async fn spawn<E, F, Fut>(make: F, max_batch: usize) -> Result<Self, StoreError>
    where
        E: BatchExecutor,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<E, StoreError>>,
    {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch * 8);
        let (ready_tx, ready) = oneshot::channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database(format!("writer runtime: {e}")))?;
        std::thread::Builder::new()
            .name("nati-writer".into())
            .spawn(move || {
                rt.block_on(async move {
                    match make().await {
                        Ok(exec) => {
                            let _ = ready_tx.send(Ok(()));
                            run(Arc::new(exec), rx, max_batch).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                })
            })
            .map_err(|e| StoreError::Database(format!("writer thread: {e}")))?;
        ready
            .await
            .map_err(|_| StoreError::Database("the writer thread ended at start".into()))??;
        Ok(WriteQueue { tx })
    }

    /// Queue a command and wait for its outcome (after its batch committed). Its span is a
    /// child of the caller's (a request's, with its id).
    #[tracing::instrument(level = "debug", name = "write", skip_all, fields(kind = cmd.kind()))]
    pub async fn submit(&self, cmd: WriteCommand) -> Result<WriteOutcome, StoreError> {
        let queued = std::time::Instant::now();
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((cmd, reply))
            .await
            .map_err(|_| StoreError::Database("the writer has stopped".to_owned()))?;
        let out = answer
            .await
            .map_err(|_| StoreError::Database("the writer dropped a command".to_owned()))?;
        // Queued, batched, committed: what a client waits for its acknowledgement.
        metrics::histogram!("nati_write_ack_seconds").record(queued.elapsed().as_secs_f64());
        out
    }
}

/// The typed front of the queue: what each kind of write answers.
impl WriteQueue {
    /// Store a message (see [`WriteCommand::Send`]).
    pub async fn send(
        &self,
        new: NewMessage,
        rule: Rule,
        now: OffsetDateTime,
    ) -> Result<(SendOutcome, Chat), StoreError> {
        match self.submit(WriteCommand::Send { new, rule, now }).await? {
            WriteOutcome::Sent(out, chat) => Ok((out, chat)),
            other => Err(unexpected("send", &other)),
        }
    }

    /// Change a chat as `rule` decides (see [`WriteCommand::Update`]).
    pub async fn update(
        &self,
        chat_id: ChatId,
        rule: Rule,
        now: OffsetDateTime,
    ) -> Result<Chat, StoreError> {
        match self
            .submit(WriteCommand::Update { chat_id, rule, now })
            .await?
        {
            WriteOutcome::Updated(chat) => Ok(chat),
            other => Err(unexpected("update", &other)),
        }
    }

    /// Start a chat (see [`WriteCommand::Start`]).
    pub async fn start(&self, new: NewChat, now: OffsetDateTime) -> Result<ChatStart, StoreError> {
        match self.submit(WriteCommand::Start { new, now }).await? {
            WriteOutcome::Started(start) => Ok(start),
            other => Err(unexpected("start", &other)),
        }
    }

    /// Move a reader's position (see [`WriteCommand::Read`]).
    pub async fn read(
        &self,
        chat_id: ChatId,
        reader: Actor,
        up_to: Option<MessageId>,
        now: OffsetDateTime,
    ) -> Result<ReadPosition, StoreError> {
        let cmd = WriteCommand::Read {
            chat_id,
            reader,
            up_to,
            now,
        };
        match self.submit(cmd).await? {
            WriteOutcome::Read(pos) => Ok(pos),
            other => Err(unexpected("read", &other)),
        }
    }

    /// Give a waiting chat to a worker (see [`WriteCommand::AutoAssign`]).
    pub async fn auto_assign(
        &self,
        chat_id: ChatId,
        worker: crate::ids::WorkerId,
        worker_name: String,
        settings: crate::routing::RoutingSettings,
        taken: bool,
        now: OffsetDateTime,
    ) -> Result<Chat, StoreError> {
        let cmd = WriteCommand::AutoAssign {
            chat_id,
            worker,
            worker_name,
            settings,
            taken,
            now,
        };
        match self.submit(cmd).await? {
            WriteOutcome::Updated(chat) => Ok(chat),
            other => Err(unexpected("automatic assignment", &other)),
        }
    }

    /// Rate a closed chat (see [`WriteCommand::Rate`]).
    pub async fn rate(
        &self,
        rating: crate::model::NewRating,
        now: OffsetDateTime,
    ) -> Result<crate::model::ChatRating, StoreError> {
        match self.submit(WriteCommand::Rate { rating, now }).await? {
            WriteOutcome::Rated(r) => Ok(r),
            other => Err(unexpected("rating", &other)),
        }
    }

    /// Expire a guest's session and close its chats (see [`WriteCommand::ExpireGuest`]).
    pub async fn expire_guest(
        &self,
        guest: GuestId,
        now: OffsetDateTime,
    ) -> Result<Vec<ChatId>, StoreError> {
        match self
            .submit(WriteCommand::ExpireGuest { guest, now })
            .await?
        {
            WriteOutcome::Expired(ids) => Ok(ids),
            other => Err(unexpected("guest expiry", &other)),
        }
    }
}

fn unexpected(what: &str, got: &WriteOutcome) -> StoreError {
    StoreError::Database(format!("the writer answered a {what} with {got:?}"))
}

async fn run<E: BatchExecutor>(
    exec: Arc<E>,
    mut rx: mpsc::Receiver<(WriteCommand, Reply)>,
    max_batch: usize,
) {
    let mut cmds = Vec::with_capacity(max_batch);
    let mut replies = Vec::with_capacity(max_batch);
    while let Some((cmd, reply)) = rx.recv().await {
        cmds.push(cmd);
        replies.push(reply);
        while cmds.len() < max_batch {
            match rx.try_recv() {
                Ok((cmd, reply)) => {
                    cmds.push(cmd);
                    replies.push(reply);
                }
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let outcomes = run_batch(&*exec, &cmds).await;
        metrics::histogram!("nati_write_batch_size").record(cmds.len() as f64);
        metrics::histogram!("nati_write_batch_seconds").record(started.elapsed().as_secs_f64());
        let stored = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(WriteOutcome::Sent(SendOutcome::Created(_), _))))
            .count();
        metrics::counter!("nati_messages_stored_total").increment(stored as u64);
        let failed = outcomes.iter().filter(|o| o.is_err()).count();
        metrics::counter!("nati_write_commands_total", "result" => "ok")
            .increment((outcomes.len() - failed) as u64);
        metrics::counter!("nati_write_commands_total", "result" => "error")
            .increment(failed as u64);
        tracing::debug!(
            target: "nati_chat::writer",
            batch = cmds.len(),
            micros = started.elapsed().as_micros() as u64,
            "write batch committed"
        );
        for (reply, outcome) in replies.drain(..).zip(outcomes) {
            // A caller that went away still had its write committed; nobody to tell.
            let _ = reply.send(outcome);
        }
        cmds.clear();
    }
}

/// One batch, with retries; then, if it still fails, each command on its own.
#[tracing::instrument(level = "debug", name = "write_batch", skip_all, fields(commands = cmds.len()))]
async fn run_batch<E: BatchExecutor + ?Sized>(
    exec: &E,
    cmds: &[WriteCommand],
) -> Vec<Result<WriteOutcome, StoreError>> {
    let mut attempt = 0;
    let err = loop {
        match exec.execute(cmds).await {
            Ok(out) => {
                return out
                    .into_iter()
                    .map(|o| o.map_err(StoreError::from))
                    .collect();
            }
            Err(e) if e.is_retryable() && attempt < RETRIES => {
                attempt += 1;
                tracing_backoff(attempt).await;
            }
            Err(e) => break e,
        }
    };
    if cmds.len() == 1 {
        return vec![Err(err)];
    }
    let mut out = Vec::with_capacity(cmds.len());
    for cmd in cmds {
        let one = Box::pin(run_batch(exec, std::slice::from_ref(cmd))).await;
        out.extend(one);
    }
    out
}

async fn tracing_backoff(attempt: usize) {
    tokio::time::sleep(std::time::Duration::from_millis(2u64 << attempt.min(6))).await;
}
