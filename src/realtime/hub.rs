//! The hub: fed from stored events, never from handlers.
//!
//! A write commits its events to `tbl_chat_events`, then calls [`Hub::notify`]. One feeder
//! task reads the log after the last event it published, in commit order, serialises
//! each event **once**, and routes the frame to the subscriptions that may see it:
//! every admin, the chat's worker (and the previous one on reassignment), its user or
//! guest. Another node's writes reach this hub the same way once something calls
//! `notify` for them (PostgreSQL `LISTEN`), and a periodic tick covers any missed wake-up.
//!
//! Subscriptions have bounded queues. One that falls behind is cut off rather than
//! allowed to grow: its receiver sees the channel close, and the client resumes from
//! the last event it saw.

use chat_core::Store;
use chat_core::model::StoredEvent;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// A serialised frame, shared by every socket it goes to.
pub type Frame = Arc<str>;

/// Which bucket a subscription sits in: what its owner may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    Admins,
    Worker(i64),
    User(i64),
    Guest(i64),
}

impl Audience {
    pub fn of(actor: &chat_core::Actor) -> Audience {
        use chat_core::Actor;
        match actor {
            Actor::Admin(_) => Audience::Admins,
            Actor::Worker(w) => Audience::Worker(w.0),
            Actor::User(u) => Audience::User(u.0),
            Actor::Guest(g) => Audience::Guest(g.0),
        }
    }
}

/// Who may see a stored event, from the visibility columns written with it.
pub fn audiences(e: &StoredEvent) -> Vec<Audience> {
    let mut out = vec![Audience::Admins];
    out.extend(e.worker_id.map(|w| Audience::Worker(w.0)));
    out.extend(
        e.previous_worker_id
            .filter(|p| Some(*p) != e.worker_id)
            .map(|w| Audience::Worker(w.0)),
    );
    out.extend(e.user_id.map(|u| Audience::User(u.0)));
    out.extend(e.guest_id.map(|g| Audience::Guest(g.0)));
    out
}

/// The JSON a client receives for a stored event.
#[derive(Serialize)]
pub struct EventFrame<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub event_id: i64,
    pub chat_id: i64,
    pub seq: i64,
    pub data: &'a serde_json::Value,
}

pub fn frame_of(e: &StoredEvent) -> Frame {
    let f = EventFrame {
        kind: &e.kind,
        event_id: e.event_id,
        chat_id: e.chat_id.0,
        seq: e.seq,
        data: &e.payload,
    };
    Arc::from(serde_json::to_string(&f).unwrap_or_else(|_| "{}".to_owned()))
}

struct Slot {
    id: u64,
    tx: mpsc::Sender<Frame>,
}

struct Inner {
    store: Arc<dyn Store>,
    wake: Notify,
    routes: Mutex<HashMap<Audience, Vec<Slot>>>,
    next_id: AtomicU64,
    /// The newest event id published.
    published: AtomicI64,
    queue_len: usize,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

/// A live subscription; dropping it unregisters.
pub struct Subscription {
    pub rx: mpsc::Receiver<Frame>,
    id: u64,
    audience: Audience,
    hub: Hub,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut routes = self.hub.routes();
        if let Some(v) = routes.get_mut(&self.audience) {
            v.retain(|s| s.id != self.id);
            if v.is_empty() {
                routes.remove(&self.audience);
            }
        }
    }
}

impl Hub {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Hub {
            inner: Arc::new(Inner {
                store,
                wake: Notify::new(),
                routes: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                published: AtomicI64::new(0),
                queue_len: 1024,
            }),
        }
    }

    fn routes(&self) -> MutexGuard<'_, HashMap<Audience, Vec<Slot>>> {
        self.inner.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Something was committed: read the log soon.
    pub fn notify(&self) {
        self.inner.wake.notify_one();
    }

    /// The newest event id this hub has published (a resume below it is answered from
    /// the log; events after it arrive live).
    pub fn published(&self) -> i64 {
        self.inner.published.load(Ordering::Acquire)
    }

    /// Register a subscription for one audience.
    pub fn subscribe(&self, audience: Audience) -> Subscription {
        let (tx, rx) = mpsc::channel(self.inner.queue_len);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.routes()
            .entry(audience)
            .or_default()
            .push(Slot { id, tx });
        Subscription {
            rx,
            id,
            audience,
            hub: self.clone(),
        }
    }

    /// Number of live subscriptions (for metrics and tests).
    pub fn subscriptions(&self) -> usize {
        self.routes().values().map(Vec::len).sum()
    }

    /// Send a frame to every subscription of these audiences. A full queue cuts that
    /// subscription off.
    pub fn send_to(&self, audiences: &[Audience], frame: &Frame) {
        let mut routes = self.routes();
        for a in audiences {
            if let Some(slots) = routes.get_mut(a) {
                slots.retain(|s| s.tx.try_send(frame.clone()).is_ok());
            }
        }
    }

    /// Publish a stored event to whoever may see it.
    pub fn publish(&self, e: &StoredEvent) {
        let frame = frame_of(e);
        self.send_to(&audiences(e), &frame);
        self.inner.published.fetch_max(e.event_id, Ordering::AcqRel);
    }

    /// Start the feeder: reads the event log from its current end and publishes. Runs
    /// until the returned handle is aborted.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut last = match hub.inner.store.last_event_id().await {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(error = %e, "hub: cannot read the event log");
                    0
                }
            };
            hub.inner.published.store(last, Ordering::Release);
            loop {
                let _ = tokio::time::timeout(Duration::from_millis(500), hub.inner.wake.notified())
                    .await;
                loop {
                    match hub.inner.store.events_after(last, 1000).await {
                        Ok(events) => {
                            let done = events.len() < 1000;
                            for e in &events {
                                hub.publish(e);
                                last = e.event_id;
                            }
                            if done {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "hub: reading the event log failed; retrying");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            break;
                        }
                    }
                }
            }
        })
    }
}
