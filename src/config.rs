//! Settings: defaults, then a TOML file (`--config` or `NATI_CONFIG`), then `NATI_*`
//! environment variables, then command-line flags. One struct, passed in the app state.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// How log lines are written (to standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line of text per event, for people.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields, the request's span with
    /// its id), for log collectors.
    Json,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    Starttls,
    /// Implicit TLS from the first byte (port 465).
    Tls,
    /// No TLS (a relay on this machine or a test server).
    None,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where to listen. `127.0.0.1:8080` keeps a fresh install private to the machine.
    pub bind: SocketAddr,
    /// Holds the SQLite file (`nati-chat.db`) and, later, the email outbox.
    pub data_dir: PathBuf,
    /// `sqlite://...`, `postgres://user:password@host/db` or
    /// `mysql://user:password@host:3306/db` (also `mariadb://`); empty means the SQLite
    /// file in `data_dir`.
    pub database_url: Option<String>,
    /// Connections in the PostgreSQL or MariaDB pool, at most (SQLite ignores it).
    pub database_pool_size: u32,
    /// Where people's accounts live. `own`: the chat's own `tbl_user`, `tbl_admin`,
    /// `tbl_worker`. `host` (MariaDB/MySQL only): those are the host site's tables, in the
    /// same database; the chat's foreign keys reference them, nothing of them is altered,
    /// and what the chat needs about a person is kept in tables of its own
    /// (docs/mariadb.md).
    pub accounts: AccountsMode,
    /// Host accounts: the key column of the host's `tbl_user`, `tbl_admin`, `tbl_worker`.
    pub host_account_pk: String,
    /// Host accounts: that column's exact type (`INT UNSIGNED`), checked against the
    /// database before anything is created; unset, it is read from the database.
    pub host_account_pk_type: Option<String>,
    /// Host accounts: the host's email column, by which `account create` finds the person
    /// to give a chat account; empty: people are linked by their host id only.
    pub host_account_email_column: String,
    /// The address people use to reach the server (`https://chat.example.com`): the
    /// origin accepted for cookie-authenticated writes, and the base of links in email.
    pub public_url: Option<String>,
    /// A guest session expires after this long without activity.
    pub guest_inactivity_secs: u64,
    /// How often the expiry job looks for inactive guests.
    pub expiry_sweep_secs: u64,
    /// Login session lifetime.
    pub session_ttl_secs: u64,
    /// Lifetime of a session opened with a host token (`POST /api/auth/host`). Short,
    /// because signing out on the host site does not end it; the embedded chat asks the
    /// page for a fresh token when it runs out.
    pub host_session_ttl_secs: u64,
    /// Login attempts per client address per minute.
    pub login_rate_per_minute: u32,
    /// Guest chat starts per client address per minute.
    pub guest_start_rate_per_minute: u32,
    /// Host-token sign-ins (`POST /api/auth/host`) per client address per minute: each
    /// page view of the embedding site signs in, and offices share an address.
    pub host_sign_in_rate_per_minute: u32,
    /// Reverse proxies / load balancers in front of the server (addresses or CIDR
    /// networks, a list or one comma-separated string). When a request comes from one of
    /// them, its client address (for rate limits) is taken from `X-Forwarded-For`;
    /// otherwise the header is ignored.
    #[serde(deserialize_with = "list_or_csv")]
    pub trusted_proxies: Vec<String>,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub cookie_secure: bool,
    /// The server pings each socket this often.
    pub ws_ping_secs: u64,
    /// A socket that sends nothing (not even a pong) for this long is closed.
    pub ws_idle_secs: u64,
    /// An open socket checks again that its session still stands (it may end on another
    /// node) before a send or read, and at every ping, at most this often. 0: every time.
    pub ws_session_check_millis: u64,
    /// Several nodes: how often each node tells the others which staff are online on it
    /// (and learns theirs), in milliseconds; also right after a local change. A node not
    /// heard from for three rounds counts as gone.
    pub presence_sync_millis: u64,
    /// `GET /metrics` (Prometheus) needs `Authorization: Bearer <this>`. Unset: /metrics
    /// answers only requests from this machine that came through no proxy.
    pub metrics_token: Option<String>,
    /// `text` (default) or `json`: one JSON object per log line, for log collectors.
    pub log_format: LogFormat,
    /// An OpenTelemetry collector's OTLP/HTTP address (`http://127.0.0.1:4318`): spans
    /// (each request with its id, each socket, the write path) are sent to
    /// `<this>/v1/traces` as protobuf, in batches (`OTEL_BSP_*` tune them). Unset: none.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` the spans carry.
    pub otlp_service_name: String,
    /// Which spans go to the collector, as a `RUST_LOG`-style filter (`info`: requests and
    /// sockets; `info,chat_core::write=debug`: every write and write batch too).
    pub otlp_filter: String,
    /// How often each node reads the event log without being woken, in milliseconds.
    /// Local writes and PostgreSQL's `NOTIFY` wake it at once, so this is a safety net
    /// there (default 500); on MariaDB/MySQL, which has no push channel, it is how events
    /// written through other nodes arrive (default 25). Unset: that default.
    pub event_poll_millis: Option<u64>,
    /// SMTP server for outgoing email. Unset: each email is written as an `.eml` file
    /// under `<data_dir>/outbox/` and logged, so the embedded default needs nothing else.
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `starttls` (default), `tls` (implicit TLS, usually port 465) or `none`. Anything
    /// else is refused at start, not at the first email.
    pub smtp_security: SmtpSecurity,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    /// The From address of chat emails.
    pub email_from: String,
    /// The business name shown in emails and pages.
    pub business_name: String,
    /// How often the email job looks for work, in milliseconds.
    pub email_poll_millis: u64,
    /// The largest file one upload may be, in bytes.
    pub attachment_max_bytes: u64,
    /// The most bytes of files one message may carry.
    pub attachment_message_max_bytes: u64,
    /// The most bytes of files one account (or guest) may upload in 24 hours.
    pub attachment_daily_quota_bytes: u64,
    /// Where attachment bytes are kept: `disk` (content-addressed under
    /// `<data_dir>/attachments`) or `database` (PostgreSQL and MariaDB: every node serves
    /// every file without a shared disk). Unset: `disk` on SQLite, `database` otherwise.
    pub attachment_storage: Option<String>,
    /// Uploads never sent in a message are removed after this many seconds.
    pub attachment_unsent_ttl_secs: u64,
    /// clamd's local socket (`/run/clamav/clamd.ctl`): every upload is scanned and an
    /// infected file refused; while clamd cannot be reached, uploads are refused (503).
    pub clamd_socket: Option<PathBuf>,
    /// How often the router looks at the queue for chats to give to available workers
    /// (when an admin turned automatic assignment on), in milliseconds.
    pub routing_poll_millis: u64,
    /// How long a staff reply may stay unread by a guest (who has no preferences) before
    /// it is emailed, in seconds.
    pub guest_email_delay_secs: i64,
    /// First retry after a failed send, doubling each time (capped at an hour).
    pub email_retry_base_secs: u64,
    /// Give up after this many failed attempts (shown to admins).
    pub email_max_attempts: u32,
    /// Signs links sent by email (guest resume links). Set the same value on every node;
    /// unset, a key is generated once into `<data_dir>/secret.key`.
    pub secret_key: Option<String>,
    /// How long a guest's resume link stays valid.
    pub guest_link_ttl_secs: u64,
    /// `FULL` fsyncs every commit (nothing acknowledged is lost on power loss); `false`
    /// uses `NORMAL` (safe across process crashes only).
    pub sqlite_synchronous_full: bool,
    /// Sign-in from the host site (`POST /api/auth/host`): `kid` → shared HS256 secret.
    /// Several at once while a secret rotates. Empty: host sign-in is off.
    pub host_token_keys: BTreeMap<String, String>,
    /// The `iss` the host's tokens must carry (the host site's URL, say).
    pub host_token_issuer: String,
    /// The `aud` the host's tokens must carry: names this chat server.
    pub host_token_audience: String,
    /// A host token's `exp` may be at most this far ahead: tokens are short-lived.
    pub host_token_max_lifetime_secs: i64,
    /// Allowed clock difference between the host and this server.
    pub host_token_leeway_secs: i64,
    /// Per role: may people sign in with a password? Turn it off where the host signs
    /// everyone in.
    pub password_login: PasswordLogin,
    /// May anonymous visitors start chats? `false`: only signed-in customers (the widget
    /// then says "sign in on the site to chat").
    pub guests_allowed: bool,
    /// The host site's origins (`https://shop.example.com`) allowed to embed the panels
    /// and the widget in an iframe, and to hand them a token by `postMessage`. Empty: the
    /// widget may be framed by any site (guests only) and the panels only by this origin.
    pub embed_origins: Vec<String>,
    /// Webhook endpoints (docs/webhooks.md): `[[webhooks]]` tables in TOML, or
    /// `NATI_WEBHOOKS` holding the same as a JSON array.
    #[serde(deserialize_with = "endpoints")]
    pub webhooks: Vec<WebhookEndpoint>,
    /// How often the webhook job looks for work when idle, in milliseconds.
    pub webhook_poll_millis: u64,
    /// How long one delivery attempt may take before it counts as failed.
    pub webhook_timeout_millis: u64,
    /// First retry after a failed attempt; doubles each time, with jitter.
    pub webhook_retry_base_millis: u64,
    /// The longest wait between two attempts.
    pub webhook_retry_max_secs: u64,
    /// A delivery not made this long after its event is given up (`failed`).
    pub webhook_max_age_secs: u64,
}

/// Which roles may sign in with a password (see [`Settings::password_login`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordLogin {
    pub user: bool,
    pub admin: bool,
    pub worker: bool,
}

impl Default for PasswordLogin {
    fn default() -> Self {
        PasswordLogin {
            user: true,
            admin: true,
            worker: true,
        }
    }
}

impl PasswordLogin {
    pub fn allows(&self, role: chat_core::AccountRole) -> bool {
        match role {
            chat_core::AccountRole::User => self.user,
            chat_core::AccountRole::Admin => self.admin,
            chat_core::AccountRole::Worker => self.worker,
        }
    }
}

/// One webhook endpoint, configured by the operator.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    /// Unique; the delivery log names endpoints by it, so keep it when the URL changes.
    pub name: String,
    /// Where events are POSTed (`https://...`, or `http://` on a private network).
    pub url: String,
    /// `whsec_<base64>` secrets; each delivery is signed with every one (two during a
    /// rotation).
    pub secrets: Vec<String>,
    /// The event types to send (`chat.started`, ...); empty or absent means all.
    #[serde(default)]
    pub events: Vec<String>,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secrets", &format!("<{} hidden>", self.secrets.len()))
            .field("events", &self.events)
            .finish()
    }
}

impl WebhookEndpoint {
    /// Whether this endpoint wants events of this type.
    pub fn wants(&self, t: chat_core::webhook::EventType) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == t.as_str())
    }
}

/// `webhooks` is a list in TOML, and a JSON string in the environment.
fn endpoints<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<WebhookEndpoint>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrJson {
        List(Vec<WebhookEndpoint>),
        Json(String),
    }
    match ListOrJson::deserialize(d)? {
        ListOrJson::List(l) => Ok(l),
        ListOrJson::Json(s) if s.trim().is_empty() => Ok(Vec::new()),
        ListOrJson::Json(s) => serde_json::from_str(&s).map_err(|e| {
            serde::de::Error::custom(format!("webhooks: not a JSON array of endpoints: {e}"))
        }),
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The database URL may hold a password.
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_ref().map(|_| "<set>"))
            .field("public_url", &self.public_url)
            .field("guest_inactivity_secs", &self.guest_inactivity_secs)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field(
                "smtp_password",
                &self.smtp_password.as_ref().map(|_| "<hidden>"),
            )
            .field(
                "host_token_keys",
                &self.host_token_keys.keys().collect::<Vec<_>>(),
            )
            .field("embed_origins", &self.embed_origins)
            .field("otlp_endpoint", &self.otlp_endpoint)
            .finish_non_exhaustive()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_pool_size: 10,
            accounts: AccountsMode::Own,
            host_account_pk: "id".into(),
            host_account_pk_type: None,
            host_account_email_column: "email".into(),
            public_url: None,
            guest_inactivity_secs: 24 * 3600,
            expiry_sweep_secs: 60,
            session_ttl_secs: 30 * 24 * 3600,
            host_session_ttl_secs: 8 * 3600,
            login_rate_per_minute: 10,
            guest_start_rate_per_minute: 30,
            host_sign_in_rate_per_minute: 600,
            trusted_proxies: Vec::new(),
            cookie_secure: false,
            smtp_host: None,
            smtp_port: 587,
            smtp_security: SmtpSecurity::Starttls,
            smtp_username: None,
            smtp_password: None,
            email_from: "Nati Automotive <chat@localhost>".into(),
            business_name: "Nati Automotive".into(),
            email_poll_millis: 2000,
            routing_poll_millis: 1000,
            attachment_max_bytes: 10 * 1024 * 1024,
            attachment_message_max_bytes: 10 * 1024 * 1024,
            attachment_daily_quota_bytes: 200 * 1024 * 1024,
            attachment_storage: None,
            attachment_unsent_ttl_secs: 24 * 3600,
            clamd_socket: None,
            guest_email_delay_secs: 600,
            email_retry_base_secs: 30,
            email_max_attempts: 10,
            secret_key: None,
            guest_link_ttl_secs: 7 * 24 * 3600,
            ws_ping_secs: 20,
            ws_idle_secs: 60,
            ws_session_check_millis: 1000,
            presence_sync_millis: 5000,
            metrics_token: None,
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            otlp_service_name: "nati-chat".into(),
            otlp_filter: "info".into(),
            event_poll_millis: None,
            sqlite_synchronous_full: true,
            host_token_keys: BTreeMap::new(),
            host_token_issuer: String::new(),
            host_token_audience: "nati-chat".into(),
            host_token_max_lifetime_secs: 300,
            host_token_leeway_secs: 30,
            password_login: PasswordLogin::default(),
            guests_allowed: true,
            embed_origins: Vec::new(),
            webhooks: Vec::new(),
            webhook_poll_millis: 500,
            webhook_timeout_millis: 5000,
            webhook_retry_base_millis: 5000,
            webhook_retry_max_secs: 3600,
            webhook_max_age_secs: 24 * 3600,
        }
    }
}

/// `http(s)://host[:port]`, nothing more.
fn is_origin(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (rest, None),
    };
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()))
}

/// A list setting given as a list (TOML) or as one comma-separated string (environment).
fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match Form::deserialize(d)? {
        Form::List(l) => l,
        Form::Csv(s) => s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect(),
    })
}

/// Where people's accounts live (see [`Settings::accounts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountsMode {
    Own,
    Host,
}

/// Overrides from the command line (only those given).
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `own` or `host`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accounts: Option<String>,
}

impl Settings {
    /// Defaults, then the TOML file, then `NATI_*`, then flags.
    pub fn load(
        config_file: Option<&std::path::Path>,
        flags: &FlagOverrides,
    ) -> Result<Settings, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = config_file {
            fig = fig.merge(Toml::file_exact(path));
        }
        fig = fig
            .merge(Env::prefixed("NATI_").ignore(&[
                "config",
                "password",
                "test_database_url",
                "test_pg_url",
                "test_mysql_url",
                "test_clamd_socket",
            ]))
            .merge(Serialized::defaults(flags));
        let settings: Settings = fig.extract().map_err(Box::new)?;
        settings
            .check_webhooks()
            .map_err(|e| Box::new(figment::Error::from(e)))?;
        settings
            .check_host()
            .map_err(|e| Box::new(figment::Error::from(e)))?;
        settings
            .check_attachments()
            .map_err(|e| Box::new(figment::Error::from(e)))?;
        Ok(settings)
    }

    /// Refuse attachment settings that could never work: a storage that does not exist
    /// here (`database` is for PostgreSQL and MariaDB), a limit of zero, or a message
    /// limit smaller than one file's.
    pub fn check_attachments(&self) -> Result<(), String> {
        let sqlite = self.database_url().starts_with("sqlite:");
        match self.attachment_storage.as_deref() {
            None | Some("disk") => {}
            Some("database") if !sqlite => {}
            Some("database") => {
                return Err("attachment_storage = \"database\" is for PostgreSQL and MariaDB; the embedded SQLite keeps files on disk (leave it unset)".into());
            }
            Some(other) => {
                return Err(format!(
                    "attachment_storage must be \"disk\" or \"database\", not `{}`",
                    other.escape_debug()
                ));
            }
        }
        if self.attachment_max_bytes == 0 || self.attachment_daily_quota_bytes == 0 {
            return Err(
                "attachment_max_bytes and attachment_daily_quota_bytes must be more than 0".into(),
            );
        }
        if self.attachment_message_max_bytes < self.attachment_max_bytes {
            return Err(
                "attachment_message_max_bytes must be at least attachment_max_bytes (one file must fit in a message)".into(),
            );
        }
        Ok(())
    }

    /// Refuse host sign-in and embedding settings that would be unsafe or break every
    /// sign-in: short secrets (an empty HMAC key lets anyone sign), unbounded clock
    /// leeway or token lifetime, embed origins that are not exactly `scheme://host[:port]`
    /// (a wildcard or a stray character would widen or break `frame-ancestors`).
    pub fn check_host(&self) -> Result<(), String> {
        for (kid, secret) in &self.host_token_keys {
            if kid.trim().is_empty() || kid.chars().any(char::is_control) {
                return Err("host_token_keys: every key needs a kid (a short name)".into());
            }
            if secret.len() < 32 {
                return Err(format!(
                    "host_token_keys: the secret of `{kid}` is {} bytes; use at least 32 random bytes (openssl rand -base64 32)",
                    secret.len()
                ));
            }
        }
        if !(0..=300).contains(&self.host_token_leeway_secs) {
            return Err("host_token_leeway_secs must be between 0 and 300".into());
        }
        if !(1..=3600).contains(&self.host_token_max_lifetime_secs) {
            return Err("host_token_max_lifetime_secs must be between 1 and 3600".into());
        }
        for o in &self.embed_origins {
            if !is_origin(o.trim().trim_end_matches('/')) {
                return Err(format!(
                    "embed_origins: `{}` is not an origin like https://www.example.com (scheme, host, optional port; no path, no wildcard)",
                    o.escape_debug()
                ));
            }
        }
        Ok(())
    }

    /// Refuse webhook settings that could never work: names missing or repeated, URLs
    /// that are not http(s), secrets that are not `whsec_<base64>`, unknown event types.
    pub fn check_webhooks(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for e in &self.webhooks {
            if e.name.trim().is_empty() || !names.insert(e.name.as_str()) {
                return Err(format!(
                    "webhooks: every endpoint needs a unique name (`{}`)",
                    e.name
                ));
            }
            // The delivery log stores the name in a 100-character column (MariaDB refuses
            // longer text, which would stop every endpoint's deliveries).
            if e.name.chars().count() > 100 || e.name.chars().any(char::is_control) {
                return Err(format!(
                    "webhooks: endpoint name `{}` must be at most 100 characters, without control characters",
                    e.name.escape_debug()
                ));
            }
            if !(e.url.starts_with("http://") || e.url.starts_with("https://")) {
                return Err(format!(
                    "webhooks: endpoint `{}`: url must start with http:// or https://",
                    e.name
                ));
            }
            if e.url
                .split_once("://")
                .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
                .is_some_and(|authority| authority.contains('@'))
            {
                return Err(format!(
                    "webhooks: endpoint `{}`: no user:password@ in the url (it would be shown in the delivery log); sign requests with the secret instead",
                    e.name
                ));
            }
            if e.secrets.is_empty() {
                return Err(format!(
                    "webhooks: endpoint `{}` needs at least one secret",
                    e.name
                ));
            }
            for s in &e.secrets {
                chat_core::webhook::secret_bytes(s)
                    .map_err(|err| format!("webhooks: endpoint `{}`: {err}", e.name))?;
            }
            for t in &e.events {
                chat_core::webhook::EventType::parse(t)
                    .map_err(|err| format!("webhooks: endpoint `{}`: {err}", e.name))?;
            }
        }
        Ok(())
    }

    /// The base of links in emails: the public URL, else the bind address.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) if !u.is_empty() => u.trim_end_matches('/').to_owned(),
            _ => format!("http://{}", self.bind),
        }
    }

    /// The rules a host sign-in token must satisfy.
    pub fn host_token_rules(&self) -> chat_core::hosttoken::HostTokenRules {
        chat_core::hosttoken::HostTokenRules {
            keys: self.host_token_keys.clone(),
            issuer: self.host_token_issuer.clone(),
            audience: self.host_token_audience.clone(),
            max_lifetime_secs: self.host_token_max_lifetime_secs,
            leeway_secs: self.host_token_leeway_secs,
        }
    }

    /// The embed origins, normalised (no trailing slash), `*` and empty entries left out.
    pub fn embed_origins(&self) -> Vec<String> {
        self.embed_origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty() && o != "*")
            .collect()
    }

    /// The event-log poll interval in force (see [`Settings::event_poll_millis`]).
    pub fn event_poll_millis(&self) -> u64 {
        self.event_poll_millis.unwrap_or_else(|| {
            let url = self.database_url();
            if url.starts_with("mysql:") || url.starts_with("mariadb:") {
                25
            } else {
                500
            }
        })
    }

    /// The database to open: the configured URL or the SQLite file in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("nati-chat.db").display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// Settings with `webhooks` given as the environment gives it: the text of
    /// `NATI_WEBHOOKS`, parsed the way figment's `Env` provider parses values.
    fn from_env_text(text: &str) -> Result<Settings, Box<figment::Error>> {
        let value: figment::value::Value = text.parse().expect("infallible");
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default("webhooks", value))
            .extract()
            .map_err(Box::new)
    }

    /// A typo in `smtp_security` stops the server at start with a message that names the
    /// choices, instead of disabling email at the first send.
    #[test]
    fn smtp_security_is_one_of_three_words_checked_at_start() {
        let load = |toml: &str| {
            Figment::from(Serialized::defaults(Settings::default()))
                .merge(Toml::string(toml))
                .extract::<Settings>()
                .map_err(|e| e.to_string())
        };
        let s = load("smtp_security = \"tls\"").expect("tls");
        assert_eq!(s.smtp_security, SmtpSecurity::Tls);
        assert_eq!(
            Settings::default().smtp_security,
            SmtpSecurity::Starttls,
            "the default"
        );
        let err = load("smtp_security = \"startls\"").expect_err("a typo is refused");
        assert!(
            err.contains("startls") && err.contains("starttls") && err.contains("none"),
            "{err}"
        );
    }

    #[test]
    fn webhooks_come_from_toml_tables_or_json_in_the_environment() {
        let json = format!(
            r#"[{{"name":"bell","url":"https://host.test/hooks","secrets":["{SECRET}"],"events":["message.missed"]}}]"#
        );
        let s = from_env_text(&json).expect("json");
        assert_eq!(s.webhooks.len(), 1);
        assert_eq!(s.webhooks[0].name, "bell");
        assert_eq!(s.webhooks[0].events, ["message.missed"]);
        assert!(s.check_webhooks().is_ok());
        assert!(from_env_text("").expect("empty").webhooks.is_empty());
        assert!(from_env_text("[{\"name\": 1}]").is_err());

        let toml = format!(
            "[[webhooks]]\nname = \"bell\"\nurl = \"http://127.0.0.1:9/h\"\nsecrets = [\"{SECRET}\", \"{SECRET}\"]\n"
        );
        let s: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(&toml))
            .extract()
            .expect("toml");
        assert_eq!(s.webhooks[0].secrets.len(), 2);
        assert!(s.webhooks[0].events.is_empty(), "all events by default");
        assert!(
            !format!("{:?}", s.webhooks[0]).contains("whsec_"),
            "secrets hidden"
        );
    }

    #[test]
    fn webhook_settings_that_cannot_work_are_refused() {
        let ok = WebhookEndpoint {
            name: "bell".into(),
            url: "https://host.test/hooks".into(),
            secrets: vec![SECRET.into()],
            events: Vec::new(),
        };
        let check = |e: WebhookEndpoint| {
            Settings {
                webhooks: vec![e],
                ..Settings::default()
            }
            .check_webhooks()
        };
        assert!(check(ok.clone()).is_ok());
        assert!(
            check(WebhookEndpoint {
                url: "ftp://x".into(),
                ..ok.clone()
            })
            .is_err()
        );
        assert!(
            check(WebhookEndpoint {
                secrets: vec![],
                ..ok.clone()
            })
            .is_err()
        );
        assert!(
            check(WebhookEndpoint {
                secrets: vec!["hunter2".into()],
                ..ok.clone()
            })
            .is_err()
        );
        assert!(
            check(WebhookEndpoint {
                events: vec!["chat.deleted".into()],
                ..ok.clone()
            })
            .is_err()
        );
        assert!(
            check(WebhookEndpoint {
                name: " ".into(),
                ..ok.clone()
            })
            .is_err()
        );
        let twice = Settings {
            webhooks: vec![ok.clone(), ok],
            ..Settings::default()
        };
        assert!(twice.check_webhooks().is_err(), "names are unique");
    }

    #[test]
    fn host_settings_are_checked() {
        let ok = Settings {
            host_token_keys: [("k1".to_owned(), "x".repeat(32))].into_iter().collect(),
            embed_origins: vec![
                "https://shop.example.com".into(),
                "http://127.0.0.1:8081/".into(),
            ],
            ..Settings::default()
        };
        assert!(ok.check_host().is_ok());
        let short = Settings {
            host_token_keys: [("k1".to_owned(), "short".to_owned())]
                .into_iter()
                .collect(),
            ..Settings::default()
        };
        assert!(short.check_host().is_err(), "short secret");
        for bad in [
            "https://*",
            "https://*.example.com",
            "https://shop.example.com/path",
            "shop.example.com",
            "javascript://x",
            "https://shop.example.com\r\nX: y",
            "https://shop.example.com:port",
        ] {
            let s = Settings {
                embed_origins: vec![bad.into()],
                ..Settings::default()
            };
            assert!(s.check_host().is_err(), "{bad}");
        }
        let leeway = Settings {
            host_token_leeway_secs: i64::MAX,
            ..Settings::default()
        };
        assert!(leeway.check_host().is_err());
    }

    #[test]
    fn webhook_names_fit_the_log_and_urls_carry_no_credentials() {
        let with = |name: &str, url: &str| Settings {
            webhooks: vec![WebhookEndpoint {
                name: name.into(),
                url: url.into(),
                secrets: vec![SECRET.into()],
                events: Vec::new(),
            }],
            ..Settings::default()
        };
        assert!(
            with("bell", "https://shop.test/hooks?x=1")
                .check_webhooks()
                .is_ok()
        );
        assert!(
            with(&"n".repeat(101), "https://shop.test/h")
                .check_webhooks()
                .is_err()
        );
        assert!(
            with("bell\n", "https://shop.test/h")
                .check_webhooks()
                .is_err()
        );
        assert!(
            with("bell", "https://user:pw@shop.test/h")
                .check_webhooks()
                .is_err()
        );
        // An @ in the path or query is not a credential.
        assert!(
            with("bell", "https://shop.test/h?to=a@b")
                .check_webhooks()
                .is_ok()
        );
    }

    #[test]
    fn attachment_settings_that_cannot_work_are_refused() {
        let ok = Settings::default();
        assert!(ok.check_attachments().is_ok());
        let db_on_sqlite = Settings {
            attachment_storage: Some("database".into()),
            ..Settings::default()
        };
        assert!(db_on_sqlite.check_attachments().is_err());
        let db_on_pg = Settings {
            attachment_storage: Some("database".into()),
            database_url: Some("postgres://u@127.0.0.1/db".into()),
            ..Settings::default()
        };
        assert!(db_on_pg.check_attachments().is_ok());
        let typo = Settings {
            attachment_storage: Some("s3".into()),
            ..Settings::default()
        };
        assert!(typo.check_attachments().is_err());
        let small = Settings {
            attachment_message_max_bytes: 10,
            ..Settings::default()
        };
        assert!(small.check_attachments().is_err());
    }
}
