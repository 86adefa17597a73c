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
    /// This node's lasting id (`<data_dir>/node.id`): what it holds in the database (webhook
    /// leases) is marked with it, so a restart after a crash can give it back at once.
    pub node: Arc<str>,
    /// What this node's router remembers between rounds (`jobs::router`).
    pub router: Arc<std::sync::Mutex<crate::jobs::router::RouterMemory>>,
}

/// This node's lasting id: read from `<data_dir>/node.id`, made there on the first start.
/// Several nodes on one database each have their own data directory, hence their own id.
/// Without a writable data directory the id lasts only as long as the process.
fn node_id(settings: &Settings) -> String {
    let path = settings.data_dir.join("node.id");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let t = existing.trim();
        if !t.is_empty()
            && t.len() <= 64
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return t.to_owned();
        }
    }
    let fresh = format!("node-{}", &chat_core::secret::new_token("")[..16]);
    let fresh: String = fresh
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                'x'
            }
        })
        .collect();
    if let Err(e) = std::fs::create_dir_all(&settings.data_dir)
        .and_then(|()| std::fs::write(&path, format!("{fresh}\n")))
    {
        tracing::warn!(error = %e, path = %path.display(), "cannot store the node id; it lasts until this process ends");
    }
    fresh
}

impl AppState {
    /// The state for a server. Loads (or creates) the link-signing key; panics only if
    /// the data directory cannot be written, which `open_store` would already have hit.
    pub fn new(store: Arc<dyn Store>, settings: Settings) -> Self {
        // Installed before anything is recorded (one recorder per process).
        crate::metrics::handle();
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
            node: node_id(&settings).into(),
            hashing: crate::hashing::Hashing::default(),
            links,
            hub,
            store,
            settings: Arc::new(settings),
            limits,
            router: Arc::default(),
        }
    }
}
