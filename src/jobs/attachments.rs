//! Removes uploads never sent in a message (after `attachment_unsent_ttl_secs`) and the
//! bytes no record uses any more; at start, what interrupted uploads left behind. The
//! records are in the database, so a restart loses nothing.

use crate::attachments::{clear_temp, storage::Files, sweep};
use crate::state::AppState;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Sweep every ten minutes (and once at start) until aborted.
pub fn start(state: AppState) -> JoinHandle<()> {
    clear_temp(&Files::temp_dir(&state));
    let every = Duration::from_secs((state.settings.attachment_unsent_ttl_secs / 4).clamp(1, 600));
    tokio::spawn(async move {
        loop {
            match sweep(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "attachments: removed unsent uploads"),
                Err(e) => tracing::warn!(error = %e, "attachments: sweep failed"),
            }
            tokio::time::sleep(every).await;
        }
    })
}
