//! The application state every handler receives. No globals: tests build as many
//! independent servers in one process as they like.

use crate::config::Settings;
use crate::ratelimit::RateLimits;
use crate::realtime::hub::Hub;
use chat_core::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
    /// Fans stored events out to sockets.
    pub hub: Hub,
    pub limits: Arc<RateLimits>,
    /// Signs links sent by email.
    pub links: crate::links::LinkKey,
    /// Password hashes and checks, a bounded number at a time.
    pub hashing: crate::hashing::Hashing,
}

impl AppState {
    /// The state for a server. Loads (or creates) the link-signing key; panics only if
    /// the data directory cannot be written, which `open_store` would already have hit.
    pub fn new(store: Arc<dyn Store>, settings: Settings) -> Self {
        let limits = Arc::new(RateLimits::new(&settings));
        let links = crate::links::LinkKey::load(&settings).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot store the link key; links will not survive a restart");
            crate::links::LinkKey::ephemeral()
        });
        let hub = Hub::new(store.clone());
        hub.set_presence_sync(std::time::Duration::from_millis(
            settings.presence_sync_millis,
        ));
        hub.set_event_poll(std::time::Duration::from_millis(
            settings.event_poll_millis(),
        ));
        AppState {
            hashing: crate::hashing::Hashing::default(),
            links,
            hub,
            store,
            settings: Arc::new(settings),
            limits,
        }
    }
}
