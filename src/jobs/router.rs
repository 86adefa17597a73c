//! The router: takes chats from workers who stay silent, and gives waiting chats to
//! available workers when an admin chose automatic assignment (the rules:
//! `chat_core::routing`).
//!
//! Every `routing_poll_millis` it reads the settings; then
//! 1. **silence** (when `silence_secs` is set): the chats whose worker has not answered a
//!    customer in time go back to the queue (or to the admins), each through the writer,
//!    which acts only if the chat is exactly as it was found — so with several nodes one
//!    acts, once;
//! 2. **assignment** (round robin or least busy): the queue (oldest first), the workers
//!    online (the hub's presence across nodes) with their open chats, [`routing::plan`],
//!    and each assignment handed to the writer, which checks it again on the chat as
//!    locked and the worker's open chats as committed. An assignment another node made
//!    first is refused ("no longer waiting") and changes nothing; capacity is never
//!    exceeded.
//!
//! What it acts on is the database's, so a restart loses nothing; it remembers only whom it
//! gave a chat last (round robin) and which worker a chat just left (not straight back).

use crate::state::AppState;
use chat_core::routing::{self, Candidate, RoutingMode, RoutingSettings};
use chat_core::{AccountRole, Actor, ChatError, ChatId, StoreError, WorkerId};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

/// What this node's router remembers between rounds.
#[derive(Debug, Default)]
pub struct RouterMemory {
    /// The worker given a chat most recently (round robin goes on after them).
    last: Option<WorkerId>,
    /// Chats taken from a silent worker: not straight back to them.
    avoid: HashMap<ChatId, WorkerId>,
}

fn memory(state: &AppState) -> std::sync::MutexGuard<'_, RouterMemory> {
    state.router.lock().unwrap_or_else(|p| p.into_inner())
}

/// One round; returns how many chats were moved (taken back or assigned).
pub async fn route(state: &AppState) -> Result<usize, StoreError> {
    let store = &state.store;
    let settings = store.routing_settings().await?;
    if settings.mode == RoutingMode::Manual && settings.silence_secs == 0 {
        return Ok(0);
    }
    let workers: HashMap<WorkerId, (String, bool)> = store
        .list_accounts(Some(AccountRole::Worker))
        .await?
        .into_iter()
        .map(|a| (WorkerId(a.id), (a.name, a.active)))
        .collect();
    let mut moved = take_back_from_silent(state, &settings, &workers).await?;
    if settings.mode != RoutingMode::Manual {
        moved += assign(state, &settings, &workers).await?;
    }
    if moved > 0 {
        state.hub.notify();
    }
    Ok(moved)
}

async fn take_back_from_silent(
    state: &AppState,
    settings: &RoutingSettings,
    workers: &HashMap<WorkerId, (String, bool)>,
) -> Result<usize, StoreError> {
    if settings.silence_secs == 0 {
        return Ok(0);
    }
    let now = OffsetDateTime::now_utc();
    let cutoff = now - time::Duration::seconds(settings.silence_secs);
    let mut moved = 0;
    for chat in state.store.silent_chats(cutoff, 100).await? {
        let Some(worker) = chat.worker_id else {
            continue;
        };
        let name = workers
            .get(&worker)
            .map_or_else(|| "The worker".to_owned(), |(n, _)| n.clone());
        let seen = chat.last_seq;
        let settings = settings.clone();
        let rule: chat_core::write::Rule =
            Box::new(move |c| routing::on_silence(c, worker, &name, seen, &settings));
        match state.store.update_chat(chat.chat_id, rule, now).await {
            Ok(_) => {
                moved += 1;
                memory(state).avoid.insert(chat.chat_id, worker);
                metrics::counter!("nati_silence_reassignments_total").increment(1);
                tracing::info!(
                    chat = chat.chat_id.0,
                    worker = worker.0,
                    "worker silent; chat taken back"
                );
            }
            // Something happened meanwhile (an answer, another node): nothing to do.
            Err(StoreError::Rule(ChatError::Conflict(_))) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(moved)
}

async fn assign(
    state: &AppState,
    settings: &RoutingSettings,
    workers: &HashMap<WorkerId, (String, bool)>,
) -> Result<usize, StoreError> {
    let store = &state.store;
    let waiting = store.waiting_chats(100).await?;
    {
        // Forget chats that no longer wait.
        let mut m = memory(state);
        m.avoid
            .retain(|chat, _| waiting.iter().any(|c| c.chat_id == *chat));
    }
    if waiting.is_empty() {
        return Ok(0);
    }
    let online = state.hub.staff_online();
    let open: HashMap<WorkerId, i64> = store.open_chats_per_worker().await?.into_iter().collect();
    let candidates: Vec<Candidate> = workers
        .iter()
        .filter(|(w, (_, active))| *active && online.contains(&Actor::Worker(**w)))
        .map(|(w, _)| Candidate {
            worker: *w,
            open_chats: open.get(w).copied().unwrap_or(0),
        })
        .collect();
    if candidates.is_empty() {
        return Ok(0);
    }
    let ids: Vec<ChatId> = waiting.iter().map(|c| c.chat_id).collect();
    let (last, avoid) = {
        let m = memory(state);
        (
            m.last,
            m.avoid.iter().map(|(c, w)| (*c, *w)).collect::<Vec<_>>(),
        )
    };
    let mut given = 0;
    for (chat, worker) in routing::plan(settings, &ids, candidates, last, &avoid) {
        let name = workers.get(&worker).map_or("a worker", |(n, _)| n.as_str());
        let now = OffsetDateTime::now_utc();
        match store
            .auto_assign_chat(chat, worker, name, settings.clone(), false, now)
            .await
        {
            Ok(_) => {
                given += 1;
                memory(state).last = Some(worker);
                metrics::counter!("nati_auto_assignments_total").increment(1);
            }
            // Another node was first, or the worker filled up meanwhile: next round.
            Err(StoreError::Rule(ChatError::Conflict(why))) => {
                tracing::debug!(chat = chat.0, worker = worker.0, %why, "not assigned");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(given)
}

/// Route every `routing_poll_millis` until aborted.
pub fn start(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_millis(state.settings.routing_poll_millis.max(20));
        loop {
            match route(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(moved = n, "routing moved chats"),
                Err(e) => tracing::warn!(error = %e, "routing failed; will retry"),
            }
            tokio::time::sleep(every).await;
        }
    })
}
