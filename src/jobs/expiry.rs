//! Guest expiry: guests idle longer than `guest_inactivity_secs` are expired and their
//! open chats closed. Requests also expire an idle guest on sight (see `auth`); this sweep
//! catches the ones that never come back.

use crate::state::AppState;
use std::time::Duration;
use time::OffsetDateTime;

/// Expire one guest now: close its chats, publish, and close its sockets.
pub async fn expire(
    state: &AppState,
    guest: chat_core::GuestId,
) -> Result<(), chat_core::StoreError> {
    let now = OffsetDateTime::now_utc();
    // Queued first: a crash in between still sends it, and a second call adds nothing.
    crate::jobs::webhooks::guest_expired(state, guest, now).await?;
    state.store.expire_guest(guest, now).await?;
    state.hub.notify();
    state.hub.disconnect(chat_core::Actor::Guest(guest), None);
    Ok(())
}

/// Expire every guest idle past the limit; returns how many.
pub async fn sweep(state: &AppState) -> Result<usize, chat_core::StoreError> {
    let cutoff = OffsetDateTime::now_utc()
        - time::Duration::seconds(state.settings.guest_inactivity_secs as i64);
    let mut total = 0;
    loop {
        let idle = state.store.guests_inactive_since(cutoff, 200).await?;
        if idle.is_empty() {
            break;
        }
        for g in &idle {
            expire(state, *g).await?;
        }
        total += idle.len();
        if idle.len() < 200 {
            break;
        }
    }
    Ok(total)
}

/// Run the sweep every `expiry_sweep_secs` until aborted.
pub fn start(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(state.settings.expiry_sweep_secs.max(1));
        loop {
            match sweep(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "guest sessions expired"),
                Err(e) => tracing::warn!(error = %e, "guest expiry sweep failed; will retry"),
            }
            tokio::time::sleep(every).await;
        }
    })
}
