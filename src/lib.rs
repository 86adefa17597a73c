//! Nati Chat: a self-hosted, real-time support chat server.
//!
//! - [`http`]: the thin HTTP edge (`app(state) -> Router`), one file per resource;
//! - [`service`]: what a request does, shared by HTTP and WebSocket;
//! - [`auth`]: who is asking (sessions, guests, same-origin checks);
//! - [`hostauth`]: sign-in from the host site (its signed token becomes a session);
//! - [`http::hostapi`]: the server-to-server API for the host's back end (API keys);
//! - [`realtime`]: the hub fed from stored events;
//! - [`jobs`]: background work that survives restarts (guest expiry, email, webhooks);
//! - [`config`], [`error`], [`state`].
//!
//! The rules themselves (roles, statuses, who may see what) live in `chat_core`; the SQL
//! in the store crates. The library never binds a socket: [`serve`] takes a listener.
#![forbid(unsafe_code)]

pub mod attachments;
pub mod auth;
pub mod clientip;
pub mod config;
pub mod demo;
pub mod doctor;
pub mod error;
pub mod hashing;
pub mod hostauth;
pub mod http;
pub mod jobs;
pub mod links;
pub mod mail;
pub mod metrics;
pub mod migrations;
pub mod ratelimit;
pub mod realtime;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod web;
pub mod web_assets;
pub mod webhook_http;

use crate::config::Settings;
use crate::state::AppState;
use axum::serve::ListenerExt;
use chat_core::{Store, StoreError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use http::app;

/// Open the configured database, applying migrations. Refuses URLs it does not know,
/// rather than silently creating a SQLite file.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StoreError> {
    let url = settings.database_url();
    if chat_store_mysql::handles(&url) {
        return Ok(Arc::new(
            chat_store_mysql::MysqlStore::open(&url, &mysql_options(settings)).await?,
        ));
    }
    if settings.accounts == config::AccountsMode::Host {
        return Err(StoreError::Database(
            "accounts = \"host\" needs a MariaDB/MySQL database_url (mysql://...)".into(),
        ));
    }
    if url.starts_with("sqlite:") {
        if let Some(parent) = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .rsplit_once('/')
            .map(|(d, _)| d)
            && !parent.is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Database(format!("cannot create {parent}: {e}")))?;
        }
        let opts = chat_store_sqlite::SqliteOptions {
            synchronous_full: settings.sqlite_synchronous_full,
            ..Default::default()
        };
        return Ok(Arc::new(
            chat_store_sqlite::SqliteStore::open(&url, &opts).await?,
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let opts = chat_store_postgres::PgOptions {
            max_connections: settings.database_pool_size,
        };
        return Ok(Arc::new(
            chat_store_postgres::PgStore::open(&url, &opts).await?,
        ));
    }
    Err(unsupported_url(&url))
}

fn unsupported_url(url: &str) -> StoreError {
    let scheme = url.split(':').next().unwrap_or("");
    StoreError::Database(format!(
        "unsupported database URL scheme `{scheme}:`; use sqlite://PATH, postgres://... or mysql://..."
    ))
}

/// The MariaDB/MySQL store's options from the settings.
pub fn mysql_options(settings: &Settings) -> chat_store_mysql::MysqlOptions {
    let accounts = match settings.accounts {
        config::AccountsMode::Own => chat_store_mysql::Accounts::Own,
        config::AccountsMode::Host => {
            chat_store_mysql::Accounts::Host(chat_store_mysql::HostAccounts {
                pk_column: settings.host_account_pk.clone(),
                pk_type: settings
                    .host_account_pk_type
                    .clone()
                    .filter(|t| !t.trim().is_empty()),
                email_column: Some(settings.host_account_email_column.clone())
                    .filter(|c| !c.is_empty()),
            })
        }
    };
    chat_store_mysql::MysqlOptions {
        accounts,
        max_connections: settings.database_pool_size,
    }
}

/// Serve on `listener` until `shutdown` resolves: starts the hub and the background jobs.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Before the first request is accepted (see `init_cursor`).
    if let Err(e) = jobs::email::init_cursor(&state).await {
        tracing::error!(error = %e, "email: cannot set the planner's starting point; it will on its first run");
    }
    let hub = state.hub.start();
    let expiry = jobs::expiry::start(state.clone());
    let email = jobs::email::start(state.clone());
    let webhooks = jobs::webhooks::start(state.clone());
    let router = jobs::router::start(state.clone());
    let attachments = jobs::attachments::start(state.clone());
    let pruning = state
        .limits
        .start_pruning(std::time::Duration::from_secs(60));
    let hub_handle = state.hub.clone();
    let app = app(state);
    // On shutdown, sockets are told to reconnect (close code 1012), so that the graceful
    // shutdown does not wait on them.
    let shutdown = async move {
        shutdown.await;
        hub_handle.shut_down();
    };
    // Chat frames are small and latency-bound: Nagle's algorithm would hold each one back
    // until the previous one is acknowledged (tens of milliseconds on a busy socket).
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "could not set TCP_NODELAY on an accepted socket");
        }
    });
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    // The email job stops between emails; give it a moment to record the one in flight.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), email).await;
    // The webhook job gives back what it claimed and has not started.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), webhooks).await;
    hub.abort();
    expiry.abort();
    router.abort();
    attachments.abort();
    pruning.abort();
    result
}

/// A database URL with its credentials hidden, for messages and logs.
pub fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((head, tail)) if head.contains("://") => {
            let scheme = head.split("://").next().unwrap_or("");
            format!("{scheme}://***@{tail}")
        }
        _ => url.to_owned(),
    }
}
