//! `nati-chat doctor`: checks a setup and says, in words, what is wrong and what to do.
//! It changes nothing: it reads the migrations' state, opens the store only when the schema
//! is already current, greets the SMTP server (EHLO, no mail sent), and reads this process's
//! limits. Settings that cannot work (secrets, origins, webhooks) already stop start-up with
//! their reason, before any command runs.

use crate::config::Settings;
use crate::migrations::State;
use std::fmt;

/// One check's verdict.
pub struct Finding {
    pub ok: bool,
    pub topic: &'static str,
    pub text: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.ok { "ok     " } else { "PROBLEM" };
        write!(f, "{mark} {:<10} {}", self.topic, self.text)
    }
}

fn ok(topic: &'static str, text: impl Into<String>) -> Finding {
    Finding {
        ok: true,
        topic,
        text: text.into(),
    }
}

fn problem(topic: &'static str, text: impl Into<String>) -> Finding {
    Finding {
        ok: false,
        topic,
        text: text.into(),
    }
}

/// The soft limit on open files of this process (each socket and database connection
/// takes one), from `/proc/self/limits`.
pub fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    match soft {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

/// Enough open files for a busy support desk: a few thousand sockets.
pub const MIN_OPEN_FILES: u64 = 4096;

/// Every check, in order.
pub async fn run(settings: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    let url = settings.database_url();
    let shown = crate::redact(&url);

    // ---- the database and its schema
    let sqlite_missing = url.starts_with("sqlite:")
        && chat_store_sqlite::backup::file_of(&url).is_ok_and(|p| !p.exists());
    let mut current = false;
    if sqlite_missing {
        out.push(ok(
            "database",
            format!("{shown} does not exist yet; `serve` (or `migrate`) creates it"),
        ));
    } else {
        match crate::migrations::report(settings).await {
            Err(e) => out.push(problem(
                "database",
                format!("cannot read {shown}: {e}. Check database_url, that the server runs, and the account's password and grants"),
            )),
            Ok(r) => {
                let count = |s: State| r.steps.iter().filter(|x| x.state == s).count();
                let (failed, changed, pending) =
                    (count(State::Failed), count(State::Changed), count(State::Pending));
                if failed > 0 {
                    out.push(problem("database", format!("{failed} migration(s) failed halfway: see `nati-chat migrate --status` and docs/mariadb.md, \"A migration that failed halfway\"")));
                } else if changed > 0 {
                    out.push(problem("database", format!("{changed} migration(s) were applied with other settings (accounts mode, key type or collation) than these: the schema cannot change mode in place")));
                } else if pending > 0 {
                    out.push(problem("database", format!("{pending} migration(s) pending on {shown}: run `nati-chat migrate` (or start the server as an account that may alter tables)")));
                } else {
                    current = true;
                    out.push(ok(
                        "database",
                        format!("{shown} answers; all {} migrations applied ({})", r.steps.len(), r.about),
                    ));
                }
            }
        }
    }

    // ---- someone can sign in
    if current {
        match crate::open_store(settings).await {
            Ok(store) => match store
                .list_accounts(Some(chat_core::AccountRole::Admin))
                .await
            {
                Ok(admins) if admins.iter().any(|a| a.active) => out.push(ok(
                    "accounts",
                    format!(
                        "{} active admin(s)",
                        admins.iter().filter(|a| a.active).count()
                    ),
                )),
                Ok(_) => out.push(problem(
                    "accounts",
                    format!(
                        "no active admin: nobody can run the desk. Create one: {}",
                        crate::http::FIRST_ADMIN_COMMAND
                    ),
                )),
                Err(e) => out.push(problem("accounts", format!("cannot list accounts: {e}"))),
            },
            Err(e) => out.push(problem("accounts", format!("cannot open the store: {e}"))),
        }
    }

    // ---- attachments: where the files go, and the virus scanner
    let storage = match settings.attachment_storage.as_deref() {
        Some("database") => "in the database (tbl_chat_blob_chunks)".to_owned(),
        Some("disk") => format!(
            "on disk under {}",
            settings.data_dir.join("attachments").display()
        ),
        _ if url.starts_with("sqlite:") => format!(
            "on disk under {}",
            settings.data_dir.join("attachments").display()
        ),
        _ => "in the database (tbl_chat_blob_chunks)".to_owned(),
    };
    match &settings.clamd_socket {
        None => out.push(ok(
            "attachments",
            format!("files kept {storage}; not scanned (set clamd_socket to scan them with clamd)"),
        )),
        Some(socket) => match crate::attachments::scan::ping(socket).await {
            Ok(()) => out.push(ok(
                "attachments",
                format!("files kept {storage}; clamd at {} answers", socket.display()),
            )),
            Err(e) => out.push(problem(
                "attachments",
                format!("{e}: uploads are refused until clamd answers (apt-get install clamav-daemon; systemctl start clamav-daemon)"),
            )),
        },
    }

    // ---- email
    match settings.smtp_host.as_deref().filter(|h| !h.is_empty()) {
        None => out.push(ok(
            "email",
            format!(
                "no smtp_host: missed-message emails are written to {} instead of sent",
                settings.data_dir.join("outbox").display()
            ),
        )),
        Some(host) => {
            let security = format!("{:?}", settings.smtp_security).to_lowercase();
            let target = format!("{host}:{} ({security})", settings.smtp_port);
            match crate::mail::Mailer::from_settings(settings) {
                Err(e) => out.push(problem("email", format!("SMTP settings for {target}: {e}"))),
                Ok(m) => match m.check().await {
                    Ok(()) => out.push(ok("email", format!("{target} answers (EHLO); no mail was sent"))),
                    Err(e) => out.push(problem(
                        "email",
                        format!("{target}: {e}. Check smtp_host, smtp_port, smtp_security and the credentials"),
                    )),
                },
            }
        }
    }

    // ---- sign-in from the host site and embedding
    let keys = settings.host_token_keys.len();
    let origins = settings.embed_origins();
    out.push(ok(
        "host",
        match (keys, origins.len()) {
            (0, 0) => "no host sign-in keys, no embed origins: the panels are for this site only, the guest widget may be embedded anywhere".to_owned(),
            (k, 0) => format!("{k} host sign-in key(s); no embed_origins, so pages of the host site cannot frame the panels"),
            (0, o) => format!("{o} embed origin(s); no host_token_keys, so embedded panels ask people to sign in themselves"),
            (k, o) => format!("{k} host sign-in key(s), {o} embed origin(s)"),
        },
    ));

    // ---- limits of this machine
    match open_file_limit() {
        Some(n) if n >= MIN_OPEN_FILES => out.push(ok(
            "limits",
            if n == u64::MAX {
                "open files: unlimited".to_owned()
            } else {
                format!("open files: {n}")
            },
        )),
        Some(n) => out.push(problem(
            "limits",
            format!("open files limited to {n}: each socket takes one, so about {n} people at once at most. Raise it to 65536 (`ulimit -n 65536`, or LimitNOFILE=65536 in the systemd unit)"),
        )),
        None => out.push(ok("limits", "open files: unknown (no /proc/self/limits)")),
    }

    // ---- the clock (tokens, links and email delays depend on it)
    let now = time::OffsetDateTime::now_utc();
    let shown = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.to_string());
    if (2025..2100).contains(&now.year()) {
        out.push(ok("clock", shown));
    } else {
        out.push(problem(
            "clock",
            format!("the system clock says {shown}: set it (NTP) before serving; sign-in tokens and links would be judged wrongly"),
        ));
    }
    out
}
