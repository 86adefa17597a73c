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
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, settings: Settings) -> Self {
        let limits = Arc::new(RateLimits::new(&settings));
        AppState {
            hub: Hub::new(store.clone()),
            store,
            settings: Arc::new(settings),
            limits,
        }
    }
}
