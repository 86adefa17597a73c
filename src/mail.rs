//! Outgoing email: composing the missed-message summary (plain text and HTML, user text
//! escaped) and the transport (SMTP, or `.eml` files when no SMTP is configured).

use crate::config::{Settings, SmtpSecurity};
use chat_core::model::{Chat, Message};
use chat_core::{Actor, Role};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::fmt::Write as _;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("bad address `{0}`: {1}")]
    Address(String, String),
    #[error("cannot build the email: {0}")]
    Build(String),
    #[error("sending failed: {0}")]
    Send(String),
    #[error("email configuration: {0}")]
    Config(String),
}

/// Where emails go.
#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, std::path::PathBuf),
}

impl Mailer {
    pub fn from_settings(s: &Settings) -> Result<Mailer, MailError> {
        let Some(host) = s.smtp_host.as_deref().filter(|h| !h.is_empty()) else {
            let dir = s.data_dir.join("outbox");
            std::fs::create_dir_all(&dir)
                .map_err(|e| MailError::Config(format!("cannot create {}: {e}", dir.display())))?;
            return Ok(Mailer::Files(AsyncFileTransport::new(&dir), dir));
        };
        let tls = |h: &str| {
            TlsParameters::new(h.to_owned()).map_err(|e| MailError::Config(e.to_string()))
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(s.smtp_port);
        b = match s.smtp_security {
            SmtpSecurity::None => b.tls(Tls::None),
            SmtpSecurity::Tls => b.tls(Tls::Wrapper(tls(host)?)),
            SmtpSecurity::Starttls => b.tls(Tls::Required(tls(host)?)),
        };
        if let (Some(u), Some(p)) = (&s.smtp_username, &s.smtp_password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        b = b.timeout(Some(std::time::Duration::from_secs(20)));
        Ok(Mailer::Smtp(b.build()))
    }

    /// Greet the SMTP server (connect, TLS as configured, EHLO, credentials if any) and send
    /// no mail. The file mailer has nothing to check.
    pub async fn check(&self) -> Result<(), MailError> {
        match self {
            Mailer::Smtp(t) => match t.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => Err(MailError::Send("the server did not answer".into())),
                Err(e) => Err(MailError::Send(e.to_string())),
            },
            Mailer::Files(..) => Ok(()),
        }
    }

    pub async fn send(&self, m: lettre::Message) -> Result<(), MailError> {
        match self {
            Mailer::Smtp(t) => t
                .send(m)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Send(e.to_string())),
            Mailer::Files(t, dir) => {
                let id = t
                    .send(m)
                    .await
                    .map_err(|e| MailError::Send(e.to_string()))?;
                tracing::info!(file = %dir.join(format!("{id}.eml")).display(), "email written (no SMTP configured)");
                Ok(())
            }
        }
    }
}

/// Escape text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Message text as HTML: escaped, with each http(s) URL a link that opens in a new tab and
/// passes no referrer-based trust (`rel="noopener nofollow ugc"`). Anything else, other
/// schemes (`javascript:`) included, stays text. Punctuation that ends a sentence is not
/// part of the link ("see https://nati.test/a." links `https://nati.test/a`), nor is a
/// closing bracket without its opening one.
pub fn linkify_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = find_url_start(rest) {
        out.push_str(&escape_html(&rest[..at]));
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| {
                c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '`')
            })
            .unwrap_or(tail.len());
        let mut url = &tail[..end];
        loop {
            let trimmed = url.trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '*']);
            let trimmed = match trimmed.strip_suffix(')') {
                Some(t) if trimmed.matches('(').count() < trimmed.matches(')').count() => t,
                _ => trimmed,
            };
            let trimmed = match trimmed.strip_suffix(']') {
                Some(t) if trimmed.matches('[').count() < trimmed.matches(']').count() => t,
                _ => trimmed,
            };
            if trimmed.len() == url.len() {
                break;
            }
            url = trimmed;
        }
        let host = url.split_once("://").map_or("", |(_, h)| h);
        if host.is_empty() || host.starts_with('/') {
            // "http://" alone is not a link.
            out.push_str(&escape_html(url));
        } else {
            let u = escape_html(url);
            out.push_str(&format!(
                "<a href=\"{u}\" target=\"_blank\" rel=\"noopener nofollow ugc\">{u}</a>"
            ));
        }
        rest = &tail[url.len()..];
    }
    out.push_str(&escape_html(rest));
    out
}

/// Where the next `http://` or `https://` (any case) starts, at a word boundary.
fn find_url_start(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("http") {
        let at = from + i;
        let after = &lower[at..];
        let starts = after.starts_with("http://") || after.starts_with("https://");
        let boundary = s[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if starts && boundary {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// Where a file of a message is downloaded (signing in first: the link alone opens
/// nothing).
fn file_url(settings: &Settings, id: &str) -> String {
    format!("{}/api/chat/attachments/{id}", settings.base_url())
}

/// A message's files as plain-text lines: name, size and link (empty without files).
fn file_lines(settings: &Settings, m: &Message) -> String {
    let mut out = String::new();
    for f in &m.attachments {
        let _ = writeln!(
            out,
            "  {} ({}): {} (sign in to open)",
            f.name,
            human_size(f.size),
            file_url(settings, &f.id)
        );
    }
    out
}

/// The same as links.
fn file_links_html(settings: &Settings, m: &Message) -> String {
    let mut out = String::new();
    for f in &m.attachments {
        let _ = write!(
            out,
            "<div><a href=\"{}\">{}</a> <span style=\"color:#666\">({}; sign in to open)</span></div>",
            escape_html(&file_url(settings, &f.id)),
            escape_html(&f.name),
            human_size(f.size)
        );
    }
    out
}

/// "830 KB", "2.4 MB".
pub fn human_size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b < 1000.0 {
        format!("{bytes} B")
    } else if b < 1_000_000.0 {
        format!("{:.0} KB", b / 1000.0)
    } else {
        format!("{:.1} MB", b / 1_000_000.0)
    }
}

/// The panel a recipient opens the chat in.
pub fn chat_link(settings: &Settings, recipient: &Actor, chat: &Chat) -> String {
    let panel = match recipient.role() {
        Role::Admin => "admin",
        Role::Worker => "worker",
        Role::User => "chat",
        Role::Guest => "guest",
    };
    format!("{}/{panel}?chat={}", settings.base_url(), chat.chat_id)
}

/// The missed-message summary for one recipient and one chat.
pub struct Summary<'a> {
    pub to_name: &'a str,
    pub to_email: &'a str,
    pub chat: &'a Chat,
    pub messages: &'a [Message],
    /// Messages beyond those listed.
    pub more: usize,
    pub link: String,
    pub idempotency_key: &'a str,
}

fn fmt_time(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

pub fn compose(settings: &Settings, s: &Summary<'_>) -> Result<lettre::Message, MailError> {
    let business = &settings.business_name;
    let n = s.messages.len() + s.more;
    let topic = if s.chat.topic.is_empty() {
        format!("chat #{}", s.chat.chat_id)
    } else {
        s.chat.topic.clone()
    };
    let subject = format!(
        "{business}: {n} unread message{} in “{topic}”",
        if n == 1 { "" } else { "s" }
    );
    let mut plain = format!(
        "Hello {},\n\nYou have {n} unread message{} in “{topic}”:\n\n",
        s.to_name,
        if n == 1 { "" } else { "s" }
    );
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Hello {},</p><p>You have {n} unread message{} in “{}”:</p>",
        escape_html(s.to_name),
        if n == 1 { "" } else { "s" },
        escape_html(&topic)
    );
    for m in s.messages {
        let _ = write!(
            plain,
            "{} — {}\n{}\n{}\n",
            m.sender_name,
            fmt_time(m.created_at),
            chat_core::attachment::text_with_files(&m.message, &m.attachments),
            file_lines(settings, m)
        );
        let _ = write!(
            html,
            "<div style=\"margin:12px 0\"><b>{}</b> <span style=\"color:#666\">{}</span><div style=\"white-space:pre-wrap\">{}</div>{}</div>",
            escape_html(&m.sender_name),
            fmt_time(m.created_at),
            linkify_html(&chat_core::attachment::text_with_files(
                &m.message,
                &m.attachments
            )),
            file_links_html(settings, m)
        );
    }
    if s.more > 0 {
        let _ = write!(plain, "…and {} more.\n\n", s.more);
        let _ = write!(html, "<p>…and {} more.</p>", s.more);
    }
    let _ = write!(plain, "Open the conversation: {}\n\n— {business}\n", s.link);
    let _ = write!(
        html,
        "<p><a href=\"{0}\">Open the conversation</a></p><p style=\"color:#666\">— {1}</p></body></html>",
        escape_html(&s.link),
        escape_html(business)
    );
    build(settings, s, subject, plain, html)
}

/// The whole conversation, for a guest who asked for it when the chat closed.
pub fn compose_transcript(
    settings: &Settings,
    s: &Summary<'_>,
) -> Result<lettre::Message, MailError> {
    let business = &settings.business_name;
    let topic = if s.chat.topic.is_empty() {
        format!("chat #{}", s.chat.chat_id)
    } else {
        s.chat.topic.clone()
    };
    let subject = format!("{business}: transcript of “{topic}”");
    let mut plain = format!(
        "Hello {},\n\nHere is the transcript of your conversation “{topic}”:\n\n",
        s.to_name
    );
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Hello {},</p><p>Here is the transcript of your conversation “{}”:</p>",
        escape_html(s.to_name),
        escape_html(&topic)
    );
    for m in s.messages {
        let _ = write!(
            plain,
            "{} — {}\n{}\n{}\n",
            m.sender_name,
            fmt_time(m.created_at),
            chat_core::attachment::text_with_files(&m.message, &m.attachments),
            file_lines(settings, m)
        );
        let _ = write!(
            html,
            "<div style=\"margin:12px 0\"><b>{}</b> <span style=\"color:#666\">{}</span><div style=\"white-space:pre-wrap\">{}</div>{}</div>",
            escape_html(&m.sender_name),
            fmt_time(m.created_at),
            linkify_html(&chat_core::attachment::text_with_files(
                &m.message,
                &m.attachments
            )),
            file_links_html(settings, m)
        );
    }
    // The same signed link: the page it opens asks a closed chat's guest for a rating.
    let sep = if s.link.contains('?') { '&' } else { '?' };
    let rate = format!("{}{sep}rate=1", s.link);
    let _ = write!(
        plain,
        "How did we do? Rate this conversation (1 to 5 stars): {rate}\n\nContinue the conversation: {}\n\n— {business}\n",
        s.link
    );
    let _ = write!(
        html,
        "<p><a href=\"{}\">How did we do? Rate this conversation</a> (1 to 5 stars)</p><p><a href=\"{}\">Continue the conversation</a></p><p style=\"color:#666\">— {}</p></body></html>",
        escape_html(&rate),
        escape_html(&s.link),
        escape_html(business)
    );
    build(settings, s, subject, plain, html)
}

fn build(
    settings: &Settings,
    s: &Summary<'_>,
    subject: String,
    plain: String,
    html: String,
) -> Result<lettre::Message, MailError> {
    let from: Mailbox =
        settings
            .email_from
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                MailError::Address(settings.email_from.clone(), e.to_string())
            })?;
    let to = Mailbox::new(
        Some(s.to_name.to_owned()),
        s.to_email
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                MailError::Address(s.to_email.to_owned(), e.to_string())
            })?,
    );
    lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{}@nati-chat>", s.idempotency_key)))
        .multipart(MultiPart::alternative_plain_html(plain, html))
        .map_err(|e| MailError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_links_and_everything_else_stays_text() {
        assert_eq!(
            linkify_html("see https://nati.test/a?b=1&c=2. <img src=x onerror=alert(1)>"),
            "see <a href=\"https://nati.test/a?b=1&amp;c=2\" target=\"_blank\" rel=\"noopener nofollow ugc\">https://nati.test/a?b=1&amp;c=2</a>. &lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(
            linkify_html("(http://x.test/wiki/Car_(vehicle)) and HTTP://Y.TEST!"),
            "(<a href=\"http://x.test/wiki/Car_(vehicle)\" target=\"_blank\" rel=\"noopener nofollow ugc\">http://x.test/wiki/Car_(vehicle)</a>) and <a href=\"HTTP://Y.TEST\" target=\"_blank\" rel=\"noopener nofollow ugc\">HTTP://Y.TEST</a>!"
        );
        for text in [
            "javascript:alert(1)",
            "<a href=\"javascript:alert(1)\">x</a>",
            "http:// alone",
            "nothttps://x.test",
            "ftp://files.test",
            "https:///path",
        ] {
            assert!(!linkify_html(text).contains("<a "), "{text}");
        }
        assert_eq!(
            linkify_html("a \"https://q.test/\"onmouseover=x"),
            "a &quot;<a href=\"https://q.test/\" target=\"_blank\" rel=\"noopener nofollow ugc\">https://q.test/</a>&quot;onmouseover=x"
        );
    }

    #[test]
    fn files_are_named_with_links_that_need_sign_in() {
        use chat_core::attachment::{AttachmentKind, AttachmentMeta};
        let photo = |id: &str, name: &str| AttachmentMeta {
            id: id.into(),
            kind: AttachmentKind::Image,
            mime: "image/jpeg".into(),
            name: name.into(),
            size: 2_400_000,
            width: Some(10),
            height: Some(10),
            thumb: true,
        };
        let settings = Settings {
            public_url: Some("https://chat.nati.test".into()),
            ..Settings::default()
        };
        let m = Message {
            message_id: chat_core::MessageId(1),
            chat_id: chat_core::ChatId(2),
            seq: 3,
            sender_type: chat_core::SenderType::User,
            sender_id: Some(4),
            sender_name: "Umar".into(),
            message: String::new(),
            is_read: false,
            client_id: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            is_private: false,
            attachments: vec![photo("ab", "light.jpg"), photo("cd", "<b>dash</b>.jpg")],
        };
        assert_eq!(
            chat_core::attachment::text_with_files(&m.message, &m.attachments),
            "[2 photos]"
        );
        let lines = file_lines(&settings, &m);
        assert!(lines.contains(
            "light.jpg (2.4 MB): https://chat.nati.test/api/chat/attachments/ab (sign in to open)"
        ));
        let html = file_links_html(&settings, &m);
        assert!(html.contains("href=\"https://chat.nati.test/api/chat/attachments/cd\""));
        assert!(html.contains("&lt;b&gt;dash&lt;/b&gt;.jpg") && !html.contains("<b>dash"));
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(830_000), "830 KB");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<img src=x onerror=\"a\">&'"),
            "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;"
        );
    }
}
