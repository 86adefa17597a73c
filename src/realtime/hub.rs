//! The hub: fed from stored events, never from handlers.
//!
//! A write commits its events to `tbl_chat_events`, then calls [`Hub::notify`]. One feeder
//! task reads the log after the last event it published, in commit order, serialises
//! each event **once**, and routes it to the subscriptions that may see it: every admin,
//! the chat's worker (and the previous one on reassignment), its user or guest. Another
//! node's writes reach this hub the same way once something calls `notify` for them, and
//! a periodic tick covers any missed wake-up.
//!
//! Subscriptions have bounded queues. One that falls behind is cut off rather than
//! allowed to grow: its socket closes with "resume" and the client reconnects from the
//! last event it saw.

use axum::extract::ws::Utf8Bytes;
use chat_core::model::StoredEvent;
use chat_core::{Actor, Store};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};

/// A serialised frame, shared (reference-counted, not copied) by every socket it goes to.
pub type Frame = Utf8Bytes;

/// Which bucket a subscription sits in: what its owner may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    Admins,
    Worker(i64),
    User(i64),
    Guest(i64),
}

impl Audience {
    pub fn of(actor: &Actor) -> Audience {
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
struct EventFrame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    event_id: i64,
    chat_id: i64,
    seq: i64,
    data: &'a serde_json::Value,
}

/// What a socket needs to know about an event besides its frame, to keep its bell count
/// without parsing JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Meta {
    /// A message; `sender` is `None` for system messages.
    Message {
        sender: Option<(String, i64)>,
        message_id: i64,
    },
    /// Someone's read position moved.
    Read {
        reader: (String, i64),
    },
    /// Status or assignment changed.
    ChatUpdated,
    Other,
}

/// One stored event, ready to send.
#[derive(Debug)]
pub struct Delivery {
    pub event_id: i64,
    pub chat_id: i64,
    pub meta: Meta,
    pub frame: Frame,
    /// When the writer stored it: where send→deliver time starts.
    pub written_at: time::OffsetDateTime,
}

impl Delivery {
    pub fn of(e: &StoredEvent) -> Delivery {
        let f = EventFrame {
            kind: &e.kind,
            event_id: e.event_id,
            chat_id: e.chat_id.0,
            seq: e.seq,
            data: &e.payload,
        };
        let frame: Frame =
            Utf8Bytes::from(serde_json::to_string(&f).unwrap_or_else(|_| "{}".to_owned()));
        let party = |t: &str, id: &str| {
            let ty = e.payload.get(t)?.as_str()?.to_owned();
            let id = e.payload.get(id)?.as_i64()?;
            Some((ty, id))
        };
        let meta = match e.kind.as_str() {
            "message.created" => Meta::Message {
                sender: party("sender_type", "sender_id").filter(|(t, _)| t != "system"),
                message_id: e
                    .payload
                    .get("message_id")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0),
            },
            "message.read" => match party("reader_type", "reader_id") {
                Some(reader) => Meta::Read { reader },
                None => Meta::Other,
            },
            "chat.updated" => Meta::ChatUpdated,
            _ => Meta::Other,
        };
        Delivery {
            event_id: e.event_id,
            chat_id: e.chat_id.0,
            meta,
            frame,
            written_at: e.created_at,
        }
    }
}

/// What travels down a subscription.
#[derive(Debug, Clone)]
pub enum Item {
    /// A stored event.
    Event(Arc<Delivery>),
    /// An ephemeral frame (typing, presence): not stored, not resumable.
    Ephemeral(Frame),
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

/// Close codes the server uses. Documented in `docs/realtime.md`.
pub mod close {
    /// The server is restarting: reconnect (and resume).
    pub const RESTART: u16 = 1012;
    /// The socket fell behind: reconnect and resume from the last event seen.
    pub const RESUME: u16 = 4000;
    /// No frame from the client within the idle timeout.
    pub const IDLE: u16 = 4001;
    /// A client frame that is not valid protocol.
    pub const PROTOCOL: u16 = 4002;
    /// The session ended (signed out, account deactivated, guest expired): do not
    /// reconnect with the same credentials.
    pub const SESSION_ENDED: u16 = 4401;
}

struct Slot {
    id: u64,
    actor: Actor,
    session: String,
    tx: mpsc::Sender<Item>,
}

/// Staff presence: per staff account, its sockets and whether any is "online" (not away).
#[derive(Default)]
struct Presence {
    sockets: HashMap<Actor, (usize, usize)>, // (sockets, away sockets)
}

struct Inner {
    store: Arc<dyn Store>,
    wake: Notify,
    /// Local commits to announce to other nodes (coalesced).
    announce: Notify,
    routes: Mutex<HashMap<Audience, Vec<Slot>>>,
    presence: Mutex<Presence>,
    /// Staff online on other nodes, as last read from the database.
    remote_staff: Mutex<HashSet<Actor>>,
    /// Local presence changed: publish it to the other nodes soon.
    presence_changed: Notify,
    /// How often presence is exchanged with other nodes, in milliseconds.
    presence_sync_millis: AtomicU64,
    /// How often the event log is read even without a wake-up, in milliseconds: how other
    /// nodes' events are found where the database has no push channel (MariaDB).
    event_poll_millis: AtomicU64,
    /// This process among the nodes sharing the database.
    node_id: String,
    next_id: AtomicU64,
    /// The newest event id published.
    published: AtomicI64,
    queue_len: usize,
    shutdown: watch::Sender<bool>,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

/// A live subscription; dropping it unregisters.
pub struct Subscription {
    pub rx: mpsc::Receiver<Item>,
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

/// A random id for this process among the nodes.
fn node_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Aborts a task when dropped, so the links die with the feeder.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Presence as shown to customers: is anybody there?
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct StaffPresence {
    /// Staff members with at least one open panel that is not "away".
    pub staff_online: usize,
}

impl Hub {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let (shutdown, _) = watch::channel(false);
        Hub {
            inner: Arc::new(Inner {
                store,
                wake: Notify::new(),
                announce: Notify::new(),
                routes: Mutex::new(HashMap::new()),
                presence: Mutex::new(Presence::default()),
                remote_staff: Mutex::new(HashSet::new()),
                presence_changed: Notify::new(),
                presence_sync_millis: AtomicU64::new(5000),
                event_poll_millis: AtomicU64::new(500),
                node_id: node_id(),
                next_id: AtomicU64::new(1),
                published: AtomicI64::new(0),
                queue_len: 1024,
                shutdown,
            }),
        }
    }

    fn routes(&self) -> MutexGuard<'_, HashMap<Audience, Vec<Slot>>> {
        self.inner.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn presence(&self) -> MutexGuard<'_, Presence> {
        self.inner
            .presence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Something was committed here: read the log soon, and tell the other nodes.
    pub fn notify(&self) {
        self.inner.wake.notify_one();
        self.inner.announce.notify_one();
    }

    /// The newest event id this hub has published.
    pub fn published(&self) -> i64 {
        self.inner.published.load(Ordering::Acquire)
    }

    /// Resolves when the server starts shutting down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Tell every socket to close with "restart".
    pub fn shut_down(&self) {
        // Stored even with no receiver yet, so a socket that opens during shutdown sees it.
        self.inner.shutdown.send_replace(true);
    }

    /// Register a subscription for an actor's socket under a session.
    pub fn subscribe(&self, actor: Actor, session: &str) -> Subscription {
        let (tx, rx) = mpsc::channel(self.inner.queue_len);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let audience = Audience::of(&actor);
        self.routes().entry(audience).or_default().push(Slot {
            id,
            actor,
            session: session.to_owned(),
            tx,
        });
        Subscription {
            rx,
            id,
            audience,
            hub: self.clone(),
        }
    }

    /// Number of live subscriptions.
    pub fn subscriptions(&self) -> usize {
        self.routes().values().map(Vec::len).sum()
    }

    fn route(&self, audiences: &[Audience], item: &Item) {
        let mut routes = self.routes();
        for a in audiences {
            if let Some(slots) = routes.get_mut(a) {
                slots.retain(|s| s.tx.try_send(item.clone()).is_ok());
            }
        }
    }

    /// Send an ephemeral frame (typing) to these audiences.
    pub fn send_ephemeral(&self, audiences: &[Audience], frame: Frame) {
        self.route(audiences, &Item::Ephemeral(frame));
    }

    /// Publish a stored event to whoever may see it.
    pub fn publish(&self, e: &StoredEvent) {
        let item = Item::Event(Arc::new(Delivery::of(e)));
        self.route(&audiences(e), &item);
        self.inner.published.fetch_max(e.event_id, Ordering::AcqRel);
    }

    /// Close the sockets of one actor (all sessions, or only one), e.g. when an account
    /// is deactivated, a guest expires or a session signs out.
    pub fn disconnect(&self, actor: Actor, session: Option<&str>) {
        let mut routes = self.routes();
        if let Some(slots) = routes.get_mut(&Audience::of(&actor)) {
            slots.retain(|s| {
                let hit = s.actor == actor && session.is_none_or(|h| h == s.session);
                if hit {
                    let _ =
                        s.tx.try_send(Item::Close(close::SESSION_ENDED, "session ended"));
                }
                !hit
            });
        }
    }

    /// Staff online on this node: a panel open and not "away".
    fn local_staff_online(&self) -> Vec<Actor> {
        self.presence()
            .sockets
            .iter()
            .filter(|(_, (n, away))| n > away)
            .map(|(a, _)| *a)
            .collect()
    }

    /// Staff online now: a panel open and not "away", on this node or, as last heard, on
    /// the others. Who may be given chats automatically (`jobs::router`).
    pub fn staff_online(&self) -> HashSet<Actor> {
        let mut online: HashSet<Actor> = self.local_staff_online().into_iter().collect();
        online.extend(
            self.inner
                .remote_staff
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .copied(),
        );
        online
    }

    /// Staff presence now: staff online on this node or, as last heard, on the others.
    pub fn staff_presence(&self) -> StaffPresence {
        StaffPresence {
            staff_online: self.staff_online().len(),
        }
    }

    /// How often this node exchanges staff presence with the others sharing its database.
    pub fn set_presence_sync(&self, every: Duration) {
        self.inner
            .presence_sync_millis
            .store(every.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    /// How often the event log is read without a wake-up (local writes and PostgreSQL's
    /// `NOTIFY` wake the hub at once; on MariaDB this is how other nodes' events arrive).
    pub fn set_event_poll(&self, every: Duration) {
        self.inner
            .event_poll_millis
            .store(every.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    /// Tell every socket the number of staff online, if it changed since `before`.
    fn announce_presence(&self, before: StaffPresence) {
        let after = self.staff_presence();
        if before != after {
            let frame: Frame = Utf8Bytes::from(
                serde_json::json!({"type": "presence", "staff_online": after.staff_online})
                    .to_string(),
            );
            let all: Vec<Audience> = self.routes().keys().copied().collect();
            self.route(&all, &Item::Ephemeral(frame));
        }
    }

    /// Exchange staff presence with the other nodes: publish this node's, read theirs.
    /// Single-node stores keep nothing, so this changes nothing there.
    async fn sync_presence(&self) {
        let every = Duration::from_millis(self.inner.presence_sync_millis.load(Ordering::Relaxed));
        let now = time::OffsetDateTime::now_utc();
        let store = &self.inner.store;
        if let Err(e) = store
            .publish_presence(&self.inner.node_id, &self.local_staff_online(), now)
            .await
        {
            tracing::warn!(error = %e, "hub: cannot publish staff presence");
        }
        // A node that has not refreshed for three rounds is gone.
        let since = now - time::Duration::try_from(every * 3).unwrap_or(time::Duration::MINUTE);
        match store.presence_elsewhere(&self.inner.node_id, since).await {
            Ok(remote) => {
                let before = self.staff_presence();
                *self
                    .inner
                    .remote_staff
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = remote.into_iter().collect();
                self.announce_presence(before);
            }
            Err(e) => tracing::warn!(error = %e, "hub: cannot read other nodes' staff presence"),
        }
    }

    /// A staff socket opened, closed, or went away/back; tells everyone when the number of
    /// staff online changes.
    pub fn staff_socket(&self, actor: Actor, sockets_delta: isize, away_delta: isize) {
        if !actor.is_staff() {
            return;
        }
        let before = self.staff_presence();
        {
            let mut p = self.presence();
            let e = p.sockets.entry(actor).or_insert((0, 0));
            e.0 = e.0.saturating_add_signed(sockets_delta);
            e.1 = e.1.saturating_add_signed(away_delta).min(e.0);
            if e.0 == 0 {
                p.sockets.remove(&actor);
            }
        }
        self.announce_presence(before);
        // Let the other nodes know soon, not at the next round.
        self.inner.presence_changed.notify_one();
    }

    /// Start the feeder (reads the event log from its current end and publishes), and the
    /// two links to other nodes: announcing local commits, and waking on theirs. Runs
    /// until the returned handle is aborted.
    pub fn start(&self) -> tokio::task::JoinHandle<()> {
        let links = {
            let hub = self.clone();
            tokio::spawn(async move {
                let announce = {
                    let hub = hub.clone();
                    async move {
                        loop {
                            hub.inner.announce.notified().await;
                            if let Err(e) = hub.inner.store.announce_events().await {
                                tracing::warn!(error = %e, "hub: cannot announce events to other nodes");
                            }
                        }
                    }
                };
                let listen = {
                    let hub = hub.clone();
                    async move {
                        loop {
                            match hub.inner.store.remote_events().await {
                                Ok(()) => hub.inner.wake.notify_one(),
                                Err(e) => {
                                    tracing::warn!(error = %e, "hub: listening for other nodes failed; retrying");
                                    tokio::time::sleep(Duration::from_millis(500)).await;
                                }
                            }
                        }
                    }
                };
                let presence = {
                    let hub = hub.clone();
                    async move {
                        loop {
                            hub.sync_presence().await;
                            let every = Duration::from_millis(
                                hub.inner.presence_sync_millis.load(Ordering::Relaxed),
                            );
                            let _ =
                                tokio::time::timeout(every, hub.inner.presence_changed.notified())
                                    .await;
                        }
                    }
                };
                tokio::join!(announce, listen, presence);
            })
        };
        let hub = self.clone();
        tokio::spawn(async move {
            let _links = AbortOnDrop(links);
            let mut last = match hub.inner.store.last_event_id().await {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(error = %e, "hub: cannot read the event log");
                    0
                }
            };
            hub.inner.published.store(last, Ordering::Release);
            loop {
                let poll =
                    Duration::from_millis(hub.inner.event_poll_millis.load(Ordering::Relaxed));
                let _ = tokio::time::timeout(poll, hub.inner.wake.notified()).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::{ChatId, UserId, WorkerId};

    async fn hub() -> (Hub, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("h.db").display());
        let store = chat_store_sqlite::SqliteStore::open(&url, &Default::default())
            .await
            .expect("open");
        (Hub::new(Arc::new(store)), dir)
    }

    fn event(id: i64, worker: Option<i64>, previous: Option<i64>) -> StoredEvent {
        StoredEvent {
            event_id: id,
            chat_id: ChatId(1),
            seq: id,
            kind: "message.created".into(),
            payload: serde_json::json!({"sender_type": "user", "sender_id": 1, "message": "x"}),
            worker_id: worker.map(WorkerId),
            previous_worker_id: previous.map(WorkerId),
            user_id: Some(UserId(1)),
            guest_id: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn a_slow_subscription_is_cut_off_not_grown() {
        let (hub, _dir) = hub().await;
        let mut slow = hub.subscribe(Actor::User(UserId(1)), "s");
        let mut fast = hub.subscribe(Actor::Admin(chat_core::AdminId(1)), "a");
        for i in 1..=1500 {
            hub.publish(&event(i, None, None));
            // The fast one keeps up.
            assert!(matches!(fast.rx.try_recv(), Ok(Item::Event(_))));
        }
        // The slow one got exactly its queue's worth, then the channel closed.
        let mut got = 0;
        while let Some(item) = slow.rx.recv().await {
            assert!(matches!(item, Item::Event(_)));
            got += 1;
        }
        assert_eq!(got, 1024);
        assert_eq!(
            hub.subscriptions(),
            1,
            "the slow one is gone, the fast one stays"
        );
    }

    #[tokio::test]
    async fn events_go_only_to_their_audiences_and_serialise_once() {
        let (hub, _dir) = hub().await;
        let mut w1 = hub.subscribe(Actor::Worker(WorkerId(1)), "w1");
        let mut w2 = hub.subscribe(Actor::Worker(WorkerId(2)), "w2");
        let mut u2 = hub.subscribe(Actor::User(UserId(2)), "u2");
        hub.publish(&event(1, Some(2), Some(1)));
        let (Ok(Item::Event(a)), Ok(Item::Event(b))) = (w1.rx.try_recv(), w2.rx.try_recv()) else {
            panic!("both workers hear of a reassignment");
        };
        assert!(Arc::ptr_eq(&a, &b), "one delivery, shared");
        assert!(u2.rx.try_recv().is_err(), "another customer hears nothing");
        hub.publish(&event(2, Some(2), None));
        assert!(
            w1.rx.try_recv().is_err(),
            "the old worker hears nothing more"
        );
        assert!(w2.rx.try_recv().is_ok());
        drop(w2);
        assert_eq!(hub.subscriptions(), 2);
        hub.disconnect(Actor::Worker(WorkerId(1)), Some("other-session"));
        assert!(
            w1.rx.try_recv().is_err(),
            "another session's sign-out leaves this one"
        );
        hub.disconnect(Actor::Worker(WorkerId(1)), None);
        assert!(matches!(
            w1.rx.try_recv(),
            Ok(Item::Close(close::SESSION_ENDED, _))
        ));
    }
}
