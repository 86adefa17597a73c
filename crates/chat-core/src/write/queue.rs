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

use super::{WriteCommand, WriteOutcome};
use crate::error::ChatError;
use crate::store::StoreError;
use async_trait::async_trait;
use std::sync::Arc;
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
    /// Start the writer task (needs a Tokio runtime). `max_batch` bounds a batch's size.
    pub fn start<E: BatchExecutor>(exec: Arc<E>, max_batch: usize) -> Self {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch * 8);
        tokio::spawn(run(exec, rx, max_batch));
        WriteQueue { tx }
    }

    /// Queue a command and wait for its outcome (after its batch committed).
    pub async fn submit(&self, cmd: WriteCommand) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((cmd, reply))
            .await
            .map_err(|_| StoreError::Database("the writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| StoreError::Database("the writer dropped a command".to_owned()))?
    }
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
        let outcomes = run_batch(&*exec, &cmds).await;
        for (reply, outcome) in replies.drain(..).zip(outcomes) {
            // A caller that went away still had its write committed; nobody to tell.
            let _ = reply.send(outcome);
        }
        cmds.clear();
    }
}

/// One batch, with retries; then, if it still fails, each command on its own.
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
