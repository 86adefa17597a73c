//! GET /api/chat/ws — one socket: authenticate, replay what the client missed, then
//! stream live events, and take the client's sends, reads, typing and presence.
//!
//! The protocol is documented in `docs/realtime.md`. In short: the server speaks first
//! (`ready`), then, if the client asked with `?after=<event_id>`, every stored event after
//! it that the account may see, in order, then live events; each stored event carries its
//! global `event_id` and its chat's `seq`. Frames already sent are never sent twice.

use crate::auth::{self, Principal, SessionKind};
use crate::error::{ApiError, ApiResult};
use crate::realtime::hub::{Delivery, Item, Meta, Subscription, close};
use crate::service;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use chat_core::policy;
use chat_core::{Actor, ChatId, MessageId, secret};
use futures_util::SinkExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use utoipa::{IntoParams, ToSchema};

/// Largest client frame accepted.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Replay page size when resuming.
const REPLAY_PAGE: i64 = 500;
/// A `typing: started` is forwarded at most this often per chat per socket.
const TYPING_EVERY: Duration = Duration::from_secs(2);

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// A ticket from `POST /api/chat/ws_ticket` (browsers: they cannot set headers).
    #[param(max_length = 256)]
    pub ticket: Option<String>,
    /// Resume: replay every event after this `event_id` before going live.
    pub after: Option<i64>,
}

/// Frames a client may send.
#[derive(Deserialize, Debug)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientFrame {
    Send {
        chat_id: ChatId,
        /// The text; may be left out when `attachments` are given.
        message: Option<String>,
        client_id: Option<String>,
        /// A private note for the staff (see `POST /api/chat/send_message`).
        #[serde(default)]
        private: bool,
        /// Ids of uploads for this message (see `POST /api/chat/attachments`).
        #[serde(default)]
        attachments: Vec<String>,
    },
    Read {
        chat_id: ChatId,
        message_id: Option<MessageId>,
    },
    Typing {
        chat_id: ChatId,
        state: TypingState,
    },
    Presence {
        status: PresenceStatus,
    },
    Ping,
}

#[derive(Deserialize, Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum TypingState {
    Started,
    Stopped,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum PresenceStatus {
    Online,
    Away,
}

#[derive(Serialize, ToSchema)]
pub struct TicketResponse {
    /// Single use; connect within `expires_in_secs` as `/api/chat/ws?ticket=...`.
    pub ticket: String,
    pub expires_in_secs: u64,
}

const TICKET_SECS: u64 = 30;

/// POST /api/chat/ws_ticket — a single-use, 30-second ticket to open the socket from a
/// browser, standing for the current session (never a long-lived token in a URL).
#[utoipa::path(post, path = "/api/chat/ws_ticket", tag = "realtime",
    responses((status = 200, body = TicketResponse), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn ticket(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<crate::error::Json<TicketResponse>> {
    let ticket = secret::new_token("nt_");
    let kind = if who.account.is_some() {
        SessionKind::Login
    } else {
        SessionKind::Guest
    };
    let now = time::OffsetDateTime::now_utc();
    state
        .store
        .create_ws_ticket(
            &secret::hash_token(&ticket),
            kind.as_str(),
            &who.token_hash,
            now + time::Duration::seconds(TICKET_SECS as i64),
            now,
        )
        .await?;
    Ok(crate::error::Json(TicketResponse {
        ticket,
        expires_in_secs: TICKET_SECS,
    }))
}

/// GET /api/chat/ws — upgrade to the real-time stream.
///
/// Authenticate with `?ticket=` (browsers), the session cookie (same origin only), or an
/// `Authorization: Bearer` header (other clients). `?after=<event_id>` resumes.
#[utoipa::path(get, path = "/api/chat/ws", tag = "realtime", params(WsQuery),
    responses((status = 101, description = "switching to the WebSocket protocol"), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)),
    security((), ("bearer" = []), ("cookie" = [])))]
pub async fn connect(State(state): State<AppState>, upgrade: Upgrade) -> ApiResult<Response> {
    let Upgrade { ws, query, who } = upgrade;
    let after = query.after;
    let ws = ws
        // Chat frames are far below 2 KiB; a bigger one (up to MAX_FRAME_BYTES) takes
        // several reads. Every idle socket holds this buffer.
        .read_buffer_size(2 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES);
    // The socket lives on in the request's span: its log lines carry the request id.
    let span = tracing::Span::current();
    Ok(ws.on_upgrade(move |socket| {
        tracing::Instrument::instrument(run(socket, state, who, after), span)
    }))
}

/// The upgrade, its query and who is connecting; credentials are checked before upgrading.
pub struct Upgrade {
    ws: WebSocketUpgrade,
    query: WsQuery,
    who: Principal,
}

impl FromRequestParts<AppState> for Upgrade {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let crate::error::Query(query) =
            crate::error::Query::<WsQuery>::from_request_parts(parts, state).await?;
        if query.after.is_some_and(|a| a < 0) {
            return Err(ApiError::Unprocessable(
                "after: must be an event id (0 or more)".into(),
            ));
        }
        // Check the upgrade before spending a single-use ticket on it.
        let ws = WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("not a WebSocket upgrade: {e}")))?;
        let who = match &query.ticket {
            Some(t) => {
                let now = time::OffsetDateTime::now_utc();
                let (kind, hash) = state
                    .store
                    .take_ws_ticket(&secret::hash_token(t), now)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Unauthenticated("unknown, used or expired ticket".into())
                    })?;
                let kind = SessionKind::parse(&kind)
                    .ok_or_else(|| ApiError::Internal(format!("bad ticket kind {kind}")))?;
                auth::resolve_hash(state, kind, &hash).await?
            }
            None => auth::authenticate_socket(parts, state)
                .await?
                .ok_or_else(ApiError::unauthenticated)?,
        };
        Ok(Upgrade { ws, query, who })
    }
}

/// Per-socket state.
struct Conn {
    who: Principal,
    state: AppState,
    /// The newest stored event sent on this socket; older ones are never sent again.
    sent_through: i64,
    /// The bell: unread per chat, counting events up to `counted_through`.
    unread: HashMap<i64, i64>,
    counted_through: i64,
    typing: HashMap<ChatId, Instant>,
    away: bool,
    last_guest_touch: Instant,
    /// When the session was last found still standing (see [`Conn::session_stands`]).
    last_session_check: Instant,
    /// The socket's writer, started with its first `send` (see [`Writer`]).
    writer: Option<Writer>,
    /// `send`s handed to the writer and not answered yet.
    in_flight: usize,
    /// The newest message id this socket acknowledged.
    acked_through: i64,
}

/// Most `send`s of one socket taken but not yet answered; more wait on the socket.
const SENDS_IN_FLIGHT: usize = 64;

/// A `send` taken off the socket, for the socket's writer.
struct SendJob {
    chat_id: ChatId,
    message: Option<String>,
    client_id: Option<String>,
    private: bool,
    attachments: Vec<String>,
}

/// A stored (or refused) `send`, back from the writer.
struct SendDone {
    chat_id: ChatId,
    client_id: Option<String>,
    result: ApiResult<chat_core::model::SendOutcome>,
}

/// Stores a socket's `send`s one after the other, in the order they came, in a task of
/// its own: while a message waits for its commit, the socket goes on reading and, above
/// all, delivering events. (Waiting inline, a busy staff socket stopped draining its
/// queue and was cut off with 4000 under load.) Acks return in the same order.
struct Writer {
    jobs: mpsc::Sender<SendJob>,
    done: mpsc::Receiver<SendDone>,
}

impl Writer {
    fn start(state: AppState, who: Principal) -> Writer {
        let (jobs, mut job_rx) = mpsc::channel::<SendJob>(SENDS_IN_FLIGHT);
        let (done_tx, done) = mpsc::channel::<SendDone>(SENDS_IN_FLIGHT);
        tokio::spawn(async move {
            // Ends when the socket drops its sender; sends already taken are still stored.
            while let Some(job) = job_rx.recv().await {
                let result = service::send_message(
                    &state,
                    &who,
                    job.chat_id,
                    job.message.as_deref(),
                    job.client_id.as_deref(),
                    job.private,
                    &job.attachments,
                )
                .await
                .map(|(out, _)| out);
                let _ = done_tx
                    .send(SendDone {
                        chat_id: job.chat_id,
                        client_id: job.client_id,
                        result,
                    })
                    .await;
            }
        });
        Writer { jobs, done }
    }
}

enum Stop {
    /// Client went away or the socket failed: nothing to say.
    Gone,
    Close(u16, &'static str),
}

async fn run(mut socket: WebSocket, state: AppState, who: Principal, after: Option<i64>) {
    let sub = state.hub.subscribe(who.actor, &who.token_hash);
    state.hub.staff_socket(who.actor, 1, 0);
    let open = metrics::gauge!("nati_sockets_open", "role" => who.actor.role().as_str());
    open.increment(1.0);
    let mut conn = Conn {
        who,
        state: state.clone(),
        sent_through: 0,
        unread: HashMap::new(),
        counted_through: 0,
        typing: HashMap::new(),
        away: false,
        last_guest_touch: Instant::now(),
        last_session_check: Instant::now(),
        writer: None,
        in_flight: 0,
        acked_through: 0,
    };
    let stop = conn.session(&mut socket, sub, after).await;
    state
        .hub
        .staff_socket(conn.who.actor, -1, if conn.away { -1 } else { 0 });
    open.decrement(1.0);
    if let Stop::Close(code, reason) = stop {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        let _ = timeout(
            Duration::from_secs(2),
            socket.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

fn write_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Conn {
    async fn send(&self, socket: &mut WebSocket, text: Utf8Bytes) -> Result<(), Stop> {
        match timeout(write_timeout(), socket.send(Message::Text(text))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Gone),
            Err(_) => Err(Stop::Close(close::RESUME, "too slow")),
        }
    }

    /// Queue a frame without flushing: the next `send` (or `flush`) writes both in one go.
    async fn feed(&self, socket: &mut WebSocket, text: Utf8Bytes) -> Result<(), Stop> {
        match timeout(write_timeout(), socket.feed(Message::Text(text))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Gone),
            Err(_) => Err(Stop::Close(close::RESUME, "too slow")),
        }
    }

    async fn flush(&self, socket: &mut WebSocket) -> Result<(), Stop> {
        match timeout(write_timeout(), SinkExt::<Message>::flush(socket)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Gone),
            Err(_) => Err(Stop::Close(close::RESUME, "too slow")),
        }
    }

    async fn send_json(&self, socket: &mut WebSocket, v: serde_json::Value) -> Result<(), Stop> {
        self.send(socket, Utf8Bytes::from(v.to_string())).await
    }

    async fn session(
        &mut self,
        socket: &mut WebSocket,
        mut sub: Subscription,
        after: Option<i64>,
    ) -> Stop {
        let mut shutdown = self.state.hub.shutdown_signal();
        match self.open(socket, after).await {
            Ok(()) => {}
            Err(stop) => return stop,
        }
        if *shutdown.borrow_and_update() {
            return Stop::Close(close::RESTART, "server restarting");
        }
        let settings = self.state.settings.clone();
        let mut ping = tokio::time::interval(Duration::from_secs(settings.ws_ping_secs.max(1)));
        ping.reset();
        let idle = Duration::from_secs(settings.ws_idle_secs.max(1));
        let mut last_heard = Instant::now();
        loop {
            let step = tokio::select! {
                _ = shutdown.changed() => Err(Stop::Close(close::RESTART, "server restarting")),
                item = sub.rx.recv() => match item {
                    None => Err(Stop::Close(close::RESUME, "fell behind; resume")),
                    Some(Item::Close(code, reason)) => Err(Stop::Close(code, reason)),
                    Some(Item::Ephemeral(frame)) => self.send(socket, frame).await,
                    Some(Item::Event(d)) => self.deliver(socket, &d).await,
                },
                msg = socket.recv() => {
                    last_heard = Instant::now();
                    match msg {
                        None | Some(Err(_)) => Err(Stop::Gone),
                        Some(Ok(Message::Close(_))) => Err(Stop::Close(1000, "bye")), // answer it: a clean close, not 1006
                        Some(Ok(Message::Text(t))) => self.on_frame(socket, t.as_str()).await,
                        Some(Ok(Message::Binary(_))) => Err(Stop::Close(close::PROTOCOL, "text frames only")),
                        Some(Ok(_)) => Ok(()),
                    }
                },
                Some(done) = async {
                    match self.writer.as_mut() {
                        Some(w) => w.done.recv().await,
                        None => std::future::pending().await,
                    }
                } => self.on_sent(socket, done).await,
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle {
                        Err(Stop::Close(close::IDLE, "idle"))
                    } else if let Err(stop) = self.session_stands().await {
                        Err(stop)
                    } else {
                        match timeout(write_timeout(), socket.send(Message::Ping(Default::default()))).await {
                            Ok(Ok(())) => Ok(()),
                            _ => Err(Stop::Gone),
                        }
                    }
                },
            };
            if let Err(stop) = step {
                return stop;
            }
        }
    }

    /// `ready`, the replay, then the bell.
    async fn open(&mut self, socket: &mut WebSocket, after: Option<i64>) -> Result<(), Stop> {
        let hub = &self.state.hub;
        self.send_json(
            socket,
            json!({
                "type": "ready",
                "role": self.who.role(),
                "id": self.who.actor.raw_id(),
                "name": self.who.name,
                "last_event_id": hub.published(),
                "staff_online": hub.staff_presence().staff_online,
            }),
        )
        .await?;
        if let Some(mut cursor) = after {
            let scope = policy::scope_for(&self.who.actor);
            loop {
                let page = self
                    .state
                    .store
                    .events_visible_after(scope, cursor, REPLAY_PAGE)
                    .await
                    .map_err(|_| Stop::Close(close::RESTART, "storage unavailable"))?;
                for e in &page {
                    let d = Delivery::of(e);
                    self.send(socket, d.frame.clone()).await?;
                    cursor = e.event_id;
                }
                self.sent_through = cursor;
                if (page.len() as i64) < REPLAY_PAGE {
                    break;
                }
            }
        }
        self.refresh_bell(socket).await
    }

    /// Recount the bell from the database, in one snapshot, and send it whole.
    async fn refresh_bell(&mut self, socket: &mut WebSocket) -> Result<(), Stop> {
        let (through, counts) = self
            .state
            .store
            .unread_snapshot(policy::scope_for(&self.who.actor), &self.who.actor)
            .await
            .map_err(|_| Stop::Close(close::RESTART, "storage unavailable"))?;
        self.counted_through = through;
        self.unread = counts.into_iter().map(|(c, n)| (c.0, n)).collect();
        let chats: Vec<_> = self
            .unread
            .iter()
            .map(|(c, n)| json!({"chat_id": c, "unread": n}))
            .collect();
        let total: i64 = self.unread.values().sum();
        self.send_json(
            socket,
            json!({"type": "unread", "snapshot": true, "total": total, "chats": chats}),
        )
        .await
    }

    async fn deliver(&mut self, socket: &mut WebSocket, d: &Delivery) -> Result<(), Stop> {
        if d.event_id <= self.sent_through {
            return Ok(());
        }
        // A `send`'s ack comes before its own `message.created` on this socket.
        if let Meta::Message {
            sender: Some((t, id)),
            message_id,
        } = &d.meta
            && self.in_flight > 0
            && *message_id > self.acked_through
            && (t.as_str(), *id)
                == (
                    self.who.actor.sender_type().as_str(),
                    self.who.actor.raw_id(),
                )
        {
            while self.in_flight > 0 && *message_id > self.acked_through {
                let next = match self.writer.as_mut() {
                    Some(w) => w.done.recv().await,
                    None => None,
                };
                match next {
                    Some(done) => self.on_sent(socket, done).await?,
                    None => break,
                }
            }
        }
        // The event and the bell change it causes leave in one write.
        self.feed(socket, d.frame.clone()).await?;
        self.sent_through = d.event_id;
        if let Meta::Message { .. } = d.meta {
            // From the writer's commit (its batch's time) to this socket.
            let waited = time::OffsetDateTime::now_utc() - d.written_at;
            metrics::histogram!("nati_send_to_deliver_seconds")
                .record(waited.as_seconds_f64().max(0.0));
        }
        if d.event_id <= self.counted_through {
            return self.flush(socket).await;
        }
        let me = (
            self.who.actor.sender_type().as_str(),
            self.who.actor.raw_id(),
        );
        match &d.meta {
            Meta::Message {
                sender: Some((t, id)),
                ..
            } if (t.as_str(), *id) != me => {
                let n = self.unread.entry(d.chat_id).or_insert(0);
                *n += 1;
                let n = *n;
                let total: i64 = self.unread.values().sum();
                self.send_json(
                    socket,
                    json!({"type": "unread", "snapshot": false, "total": total, "chats": [{"chat_id": d.chat_id, "unread": n}]}),
                )
                .await
            }
            // These recount from the database: let the event go first.
            Meta::Read { reader: (t, id) } if (t.as_str(), *id) == me => {
                self.flush(socket).await?;
                self.refresh_bell(socket).await
            }
            Meta::ChatUpdated if matches!(self.who.actor, Actor::Worker(_)) => {
                self.flush(socket).await?;
                self.refresh_bell(socket).await
            }
            _ => self.flush(socket).await,
        }
    }

    /// Does the session still stand? It can end on another node (signed out there, the
    /// account deactivated, the guest expired by that node's job), which this node's hub
    /// does not hear of; so before a send or a read, and at each ping, the socket looks
    /// again, at most every `ws_session_check_millis`.
    async fn session_stands(&mut self) -> Result<(), Stop> {
        let every = Duration::from_millis(self.state.settings.ws_session_check_millis);
        if !every.is_zero() && self.last_session_check.elapsed() < every {
            return Ok(());
        }
        match auth::session_alive(&self.state, self.who.session_kind(), &self.who.token_hash).await
        {
            Ok(true) => {
                self.last_session_check = Instant::now();
                Ok(())
            }
            Ok(false) => Err(Stop::Close(close::SESSION_ENDED, "session ended")),
            // The database did not answer: keep the socket, look again next time.
            Err(_) => Ok(()),
        }
    }

    /// Guests stay alive while they use the socket.
    async fn touch_guest(&mut self) {
        if let Actor::Guest(g) = self.who.actor {
            let every =
                Duration::from_secs((self.state.settings.guest_inactivity_secs / 4).clamp(1, 60));
            if self.last_guest_touch.elapsed() >= every {
                self.last_guest_touch = Instant::now();
                let _ = self
                    .state
                    .store
                    .touch_guest(g, time::OffsetDateTime::now_utc())
                    .await;
            }
        }
    }

    async fn on_frame(&mut self, socket: &mut WebSocket, text: &str) -> Result<(), Stop> {
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                return self
                    .send_json(socket, json!({"type": "error", "code": "bad_request", "message": format!("not a client frame: {e}")}))
                    .await;
            }
        };
        if matches!(frame, ClientFrame::Send { .. } | ClientFrame::Read { .. }) {
            self.session_stands().await?;
        }
        self.touch_guest().await;
        match frame {
            ClientFrame::Ping => self.send_json(socket, json!({"type": "pong"})).await,
            ClientFrame::Send { chat_id, message, client_id, private, attachments } => {
                let writer = self
                    .writer
                    .get_or_insert_with(|| Writer::start(self.state.clone(), self.who.clone()));
                // Full only with SENDS_IN_FLIGHT unanswered sends: then the socket waits.
                if writer.jobs.send(SendJob { chat_id, message, client_id, private, attachments }).await.is_err() {
                    return Err(Stop::Close(close::RESTART, "storage unavailable"));
                }
                self.in_flight += 1;
                Ok(())
            }
            ClientFrame::Read { chat_id, message_id } => {
                match service::mark_read(&self.state, &self.who, chat_id, message_id).await {
                    Ok(pos) => {
                        self.send_json(
                            socket,
                            json!({"type": "read_ack", "chat_id": chat_id, "last_read_message_id": pos.last_read_message_id}),
                        )
                        .await
                    }
                    Err(e) => self.error(socket, None, e).await,
                }
            }
            ClientFrame::Typing { chat_id, state } => self.typing(socket, chat_id, state).await,
            ClientFrame::Presence { status } => {
                let away = status == PresenceStatus::Away;
                if away != self.away && self.who.actor.is_staff() {
                    self.state.hub.staff_socket(self.who.actor, 0, if away { 1 } else { -1 });
                    self.away = away;
                }
                Ok(())
            }
        }
    }

    async fn typing(
        &mut self,
        socket: &mut WebSocket,
        chat_id: ChatId,
        state: TypingState,
    ) -> Result<(), Stop> {
        if state == TypingState::Started {
            if let Some(t) = self.typing.get(&chat_id)
                && t.elapsed() < TYPING_EVERY
            {
                return Ok(());
            }
            self.typing.insert(chat_id, Instant::now());
        } else {
            self.typing.remove(&chat_id);
        }
        let chat = match service::visible_chat(&self.state, &self.who, chat_id).await {
            Ok(c) => c,
            Err(e) => return self.error(socket, None, e).await,
        };
        let mut to = vec![crate::realtime::hub::Audience::Admins];
        to.extend(
            chat.worker_id
                .map(|w| crate::realtime::hub::Audience::Worker(w.0)),
        );
        to.extend(
            chat.user_id
                .map(|u| crate::realtime::hub::Audience::User(u.0)),
        );
        to.extend(
            chat.guest_id
                .map(|g| crate::realtime::hub::Audience::Guest(g.0)),
        );
        let frame = json!({"type": "typing", "chat_id": chat_id, "state": state,
            "sender_type": self.who.actor.sender_type(), "sender_id": self.who.actor.raw_id(), "name": self.who.name});
        self.state
            .hub
            .send_ephemeral(&to, Utf8Bytes::from(frame.to_string()));
        Ok(())
    }

    /// Answer a `send` the writer finished: `ack`, or an `error` frame.
    async fn on_sent(&mut self, socket: &mut WebSocket, done: SendDone) -> Result<(), Stop> {
        let SendDone {
            chat_id,
            client_id,
            result,
        } = done;
        self.in_flight = self.in_flight.saturating_sub(1);
        match result {
            Ok(out) => {
                let m = out.message();
                self.acked_through = self.acked_through.max(m.message_id.0);
                let duplicate = matches!(out, chat_core::model::SendOutcome::Duplicate(_));
                self.send_json(
                    socket,
                    json!({"type": "ack", "client_id": client_id, "chat_id": chat_id, "message_id": m.message_id,
                           "seq": m.seq, "created_at": m.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(), "duplicate": duplicate,
                           "is_private": m.is_private}),
                )
                .await
            }
            Err(e) => self.error(socket, client_id.as_deref(), e).await,
        }
    }

    async fn error(
        &self,
        socket: &mut WebSocket,
        client_id: Option<&str>,
        e: ApiError,
    ) -> Result<(), Stop> {
        if matches!(e, ApiError::GuestExpired | ApiError::Unauthenticated(_)) {
            return Err(Stop::Close(close::SESSION_ENDED, "session ended"));
        }
        let (_, code) = e.status_and_code();
        let message = match &e {
            ApiError::Internal(_) => "something went wrong on the server".to_owned(),
            other => other.to_string(),
        };
        self.send_json(
            socket,
            json!({"type": "error", "client_id": client_id, "code": code, "message": message}),
        )
        .await
    }
}
