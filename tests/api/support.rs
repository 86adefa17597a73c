//! The test harness: a real server on 127.0.0.1 port 0 with a temporary SQLite file, and
//! a small HTTP client that speaks to it. No mocks, no start-up sleeps: the listener is
//! bound before the server task starts.
//!
//! With `NATI_TEST_DATABASE_URL=postgres://user@host:port/db` (or `mysql://...`, a
//! MariaDB/MySQL server) each server gets a throwaway database (`nati_it_<random>`) on that
//! server instead, dropped with it.

#![allow(dead_code)]

use chat_core::AccountRole;
use nati_chat::config::Settings;
use nati_chat::state::AppState;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "test-password";

pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    pub state: AppState,
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The throwaway PostgreSQL or MariaDB database of this server, dropped with it.
    pg: Option<ScratchGuard>,
}

/// A throwaway database on the PostgreSQL or MariaDB/MySQL server of a URL.
#[derive(Debug, Clone)]
pub enum ScratchDb {
    Pg(chat_store_postgres::scratch::ScratchDb),
    My(chat_store_mysql::scratch::ScratchDb),
}

impl ScratchDb {
    pub async fn create(url: &str, prefix: &str) -> Result<ScratchDb, chat_core::StoreError> {
        if chat_store_mysql::handles(url) {
            chat_store_mysql::scratch::ScratchDb::create(url, prefix)
                .await
                .map(ScratchDb::My)
        } else {
            chat_store_postgres::scratch::ScratchDb::create(url, prefix)
                .await
                .map(ScratchDb::Pg)
        }
    }

    pub fn url(&self) -> &str {
        match self {
            ScratchDb::Pg(d) => d.url(),
            ScratchDb::My(d) => d.url(),
        }
    }

    pub async fn drop_database(&self) -> Result<(), chat_core::StoreError> {
        match self {
            ScratchDb::Pg(d) => d.drop_database().await,
            ScratchDb::My(d) => d.drop_database().await,
        }
    }
}

/// Drops its database with it, unless disarmed.
enum ScratchGuard {
    Pg(chat_store_postgres::scratch::ScratchGuard),
    My(chat_store_mysql::scratch::ScratchGuard),
}

impl ScratchGuard {
    fn new(db: ScratchDb) -> ScratchGuard {
        match db {
            ScratchDb::Pg(d) => {
                ScratchGuard::Pg(chat_store_postgres::scratch::ScratchGuard::new(d))
            }
            ScratchDb::My(d) => ScratchGuard::My(chat_store_mysql::scratch::ScratchGuard::new(d)),
        }
    }

    fn disarm(&mut self) -> Option<ScratchDb> {
        match self {
            ScratchGuard::Pg(g) => g.disarm().map(ScratchDb::Pg),
            ScratchGuard::My(g) => g.disarm().map(ScratchDb::My),
        }
    }
}

/// Whether `url` names a database server the suites can make throwaway databases on.
pub fn is_server_url(url: &str) -> bool {
    url.starts_with("postgres") || chat_store_mysql::handles(url)
}

/// Throwaway databases of stopped servers, kept for a restart on the same
/// settings (`stop` then `start_in`), which takes them back.
static PARKED_DBS: std::sync::Mutex<Vec<ScratchDb>> = std::sync::Mutex::new(Vec::new());

/// With `NATI_TEST_DATABASE_URL=postgres://...` or `mysql://...` (a server URL), a fresh
/// database on that server for one test server; otherwise `None` (the temporary SQLite file).
async fn throwaway_pg_database() -> Option<ScratchDb> {
    let url = std::env::var("NATI_TEST_DATABASE_URL").ok()?;
    if !is_server_url(&url) {
        return None;
    }
    Some(
        ScratchDb::create(&url, "nati_it_")
            .await
            .expect("create a throwaway database"),
    )
}

/// Settings for tests: a temp data dir, generous rate limits, fast fsync.
pub fn test_settings(dir: &TempDir) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().to_path_buf(),
        login_rate_per_minute: 100_000,
        guest_start_rate_per_minute: 100_000,
        host_sign_in_rate_per_minute: 100_000,
        sqlite_synchronous_full: false,
        ..Settings::default()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = test_settings(&dir);
        tweak(&mut settings);
        if settings.database_url.is_none()
            && let Some(db) = throwaway_pg_database().await
        {
            settings.database_url = Some(db.url().to_owned());
            PARKED_DBS.lock().expect("parked").push(db);
        }
        Self::start_in(dir, settings).await
    }

    /// Start on an existing data dir (for restart tests).
    pub async fn start_in(dir: TempDir, settings: Settings) -> TestServer {
        let pg = {
            let mut parked = PARKED_DBS.lock().expect("parked");
            let i = parked
                .iter()
                .position(|db| settings.database_url.as_deref() == Some(db.url()));
            i.map(|i| ScratchGuard::new(parked.remove(i)))
        };
        let store = nati_chat::open_store(&settings).await.expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = AppState::new(store, settings);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(nati_chat::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            addr,
            state,
            dir,
            stop: Some(tx),
            task: Some(task),
            pg,
        }
    }

    /// Stop the server and give back its data dir.
    pub async fn stop(mut self) -> (TempDir, Settings) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let settings = (*self.state.settings).clone();
        if let Some(db) = self.pg.as_mut().and_then(ScratchGuard::disarm) {
            PARKED_DBS.lock().expect("parked").push(db);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let old = std::mem::replace(&mut self.dir, dir);
        (old, settings)
    }

    pub fn anon(&self) -> Client {
        Client::new(&self.base, None)
    }

    /// Create an account directly (as the CLI would) and sign it in.
    pub async fn account(&self, role: AccountRole, email: &str, name: &str) -> (Client, i64) {
        let acc = nati_chat::http::admin::create_account(
            self.state.store.as_ref(),
            &self.state.hashing,
            role,
            email,
            name,
            PASSWORD,
        )
        .await
        .expect("create account");
        (self.login(email).await, acc.id)
    }

    pub async fn login(&self, email: &str) -> Client {
        let (st, body) = self
            .anon()
            .post(
                "/api/auth/login",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "login {email}: {body}");
        Client::new(&self.base, body["token"].as_str().map(String::from))
    }

    /// Start a guest chat; returns the guest's client, the chat id and the guest id.
    pub async fn guest_chat(&self, name: &str, message: &str) -> (Client, i64, i64) {
        let (st, body) = self
            .anon()
            .post(
                "/api/chat/start",
                json!({"name": name, "topic": "help", "message": message}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        let token = body["guest_token"]
            .as_str()
            .expect("guest token")
            .to_owned();
        (
            Client::new(&self.base, Some(token)),
            body["chat"]["chat_id"].as_i64().expect("chat id"),
            body["guest"]["guest_id"].as_i64().expect("guest id"),
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// An HTTP client with an optional bearer token.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client {
            base: base.to_owned(),
            token,
            http: reqwest::Client::new(),
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    pub async fn send(rb: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = rb.send().await.expect("request");
        let st = resp.status();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (st, v)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        Self::send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        Self::send(self.request(Method::POST, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        Self::send(self.request(Method::PUT, path).json(&body)).await
    }

    /// POST a raw body with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        Self::send(
            self.request(Method::POST, path)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn send_message(&self, chat_id: i64, text: &str) -> (StatusCode, Value) {
        self.post(
            "/api/chat/send_message",
            json!({"chat_id": chat_id, "message": text}),
        )
        .await
    }
}

/// Assert an error response has the common shape and the given status and code.
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "body: {}", got.1);
    assert_eq!(got.1["error"]["code"], code, "body: {}", got.1);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "message: {}",
        got.1
    );
}

/// The cast of a typical desk: an admin, two workers, two users, a guest, and one chat
/// per customer. Worker 1 is assigned to the first user's chat.
pub struct Desk {
    pub server: TestServer,
    pub admin: Client,
    pub admin_id: i64,
    pub w1: Client,
    pub w1_id: i64,
    pub w2: Client,
    pub w2_id: i64,
    pub u1: Client,
    pub u1_id: i64,
    pub u2: Client,
    pub u2_id: i64,
    pub guest: Client,
    pub guest_id: i64,
    /// u1's chat, assigned to w1.
    pub chat_u1: i64,
    /// u2's chat, unassigned.
    pub chat_u2: i64,
    /// the guest's chat, unassigned.
    pub chat_g: i64,
}

impl Desk {
    pub async fn new() -> Desk {
        Self::on(TestServer::start().await).await
    }

    pub async fn on(server: TestServer) -> Desk {
        let (admin, admin_id) = server
            .account(AccountRole::Admin, "admin@t.test", "Ada Admin")
            .await;
        let (w1, w1_id) = server
            .account(AccountRole::Worker, "w1@t.test", "Walt")
            .await;
        let (w2, w2_id) = server
            .account(AccountRole::Worker, "w2@t.test", "Wendy")
            .await;
        let (u1, u1_id) = server.account(AccountRole::User, "u1@t.test", "Umar").await;
        let (u2, u2_id) = server
            .account(AccountRole::User, "u2@t.test", "Ursula")
            .await;
        let start = |c: Client, topic: &'static str| async move {
            let (st, b) = c
                .post(
                    "/api/chat/start",
                    json!({"topic": topic, "message": "hello"}),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{b}");
            b["chat"]["chat_id"].as_i64().expect("id")
        };
        let chat_u1 = start(u1.clone(), "brakes").await;
        let chat_u2 = start(u2.clone(), "tyres").await;
        let (guest, chat_g, guest_id) = server.guest_chat("Gus", "anyone there?").await;
        let (st, b) = admin
            .post(
                "/api/chat/assign_worker",
                json!({"chat_id": chat_u1, "worker_id": w1_id}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        Desk {
            server,
            admin,
            admin_id,
            w1,
            w1_id,
            w2,
            w2_id,
            u1,
            u1_id,
            u2,
            u2_id,
            guest,
            guest_id,
            chat_u1,
            chat_u2,
            chat_g,
        }
    }
}

// ---- Helpers for the access, transitions, input and sessions suites (appended). ----------

/// A response with its headers and raw text, for tests that look past the JSON body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub raw: String,
    pub body: Value,
}

impl Reply {
    /// The `(status, body)` pair [`assert_error`] takes.
    pub fn pair(&self) -> (StatusCode, Value) {
        (self.status, self.body.clone())
    }

    /// Every value of a response header.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect()
    }
}

/// Send a request and keep the headers and the raw body.
pub async fn send_full(rb: reqwest::RequestBuilder) -> Reply {
    let resp = rb.send().await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = resp.text().await.expect("body");
    let body = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&raw).unwrap_or(Value::String(raw.clone()))
    };
    Reply {
        status,
        headers,
        raw,
        body,
    }
}

/// A plain client with no credentials, for hand-built requests (cookies, odd headers).
pub fn raw_http() -> reqwest::Client {
    reqwest::Client::new()
}

impl Desk {
    /// A chat as the admin sees it (`details`).
    pub async fn chat(&self, chat: i64) -> Value {
        let (st, b) = self
            .admin
            .get(&format!("/api/chat/details?chat_id={chat}"))
            .await;
        assert_eq!(st, StatusCode::OK, "details {chat}: {b}");
        b["chat"].clone()
    }

    /// The chat's status, as the admin sees it.
    pub async fn status(&self, chat: i64) -> String {
        self.chat(chat).await["status"]
            .as_str()
            .expect("status")
            .to_owned()
    }

    /// Every message of the chat, oldest first, as the admin reads them (all pages).
    pub async fn all_messages(&self, chat: i64) -> Vec<Value> {
        let mut out: Vec<Value> = Vec::new();
        let mut after = 0i64;
        loop {
            let (st, b) = self
                .admin
                .get(&format!(
                    "/api/chat/messages?chat_id={chat}&after={after}&limit=100"
                ))
                .await;
            assert_eq!(st, StatusCode::OK, "messages {chat}: {b}");
            let page = b["messages"].as_array().expect("messages").clone();
            if let Some(last) = page.last() {
                after = last["message_id"].as_i64().expect("id");
            }
            out.extend(page);
            if b["has_more"] != true {
                return out;
            }
        }
    }

    /// Everything a refused request could have changed about one chat: the admin's view
    /// of it (status, worker, sequence, times, unread) and all its messages.
    pub async fn chat_snapshot(&self, chat: i64) -> Value {
        json!({"chat": self.chat(chat).await, "messages": self.all_messages(chat).await})
    }

    /// Everything the admin can see: the chat list, every chat's messages, the accounts.
    pub async fn snapshot(&self) -> Value {
        let (st, list) = self.admin.get("/api/chat/list?limit=100").await;
        assert_eq!(st, StatusCode::OK, "{list}");
        let mut messages = serde_json::Map::new();
        for c in list["chats"].as_array().expect("chats") {
            let id = c["chat_id"].as_i64().expect("id");
            messages.insert(id.to_string(), json!(self.all_messages(id).await));
        }
        let (st, accounts) = self.admin.get("/api/admin/accounts").await;
        assert_eq!(st, StatusCode::OK, "{accounts}");
        json!({"list": list, "messages": messages, "accounts": accounts})
    }

    /// A new chat started by `customer` (no first message unless given).
    pub async fn start_chat(&self, customer: &Client, topic: &str, message: Option<&str>) -> i64 {
        let mut body = json!({"topic": topic});
        if let Some(m) = message {
            body["message"] = json!(m);
        }
        let (st, b) = customer.post("/api/chat/start", body).await;
        assert_eq!(st, StatusCode::CREATED, "start: {b}");
        b["chat"]["chat_id"].as_i64().expect("chat id")
    }

    /// The admin assigns `worker` to `chat`.
    pub async fn assign(&self, chat: i64, worker: i64) {
        let (st, b) = self
            .admin
            .post(
                "/api/chat/assign_worker",
                json!({"chat_id": chat, "worker_id": worker}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "assign {chat} to {worker}: {b}");
    }
}

/// The chat ids in a list response, in order.
pub fn chat_ids(list: &Value) -> Vec<i64> {
    list["chats"]
        .as_array()
        .expect("chats")
        .iter()
        .map(|c| c["chat_id"].as_i64().expect("chat id"))
        .collect()
}

impl Client {
    /// GET with query parameters, encoded by the client (for values with `&`, `%`, emoji...).
    pub async fn get_query(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        Self::send(self.request(Method::GET, path).query(query)).await
    }
}

/// An answer without its request id (each request has its own): for comparing two answers.
pub fn without_request_id(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(e) = v.get_mut("error").and_then(Value::as_object_mut) {
        e.remove("request_id");
    }
    v
}
