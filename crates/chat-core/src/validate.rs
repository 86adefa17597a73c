//! Input rules, one function per kind of field. Each returns the value to store or a
//! [`ChatError::Invalid`] naming the field.

use crate::error::ChatError;

/// Longest message, in characters, after trimming.
pub const MAX_MESSAGE_CHARS: usize = 4000;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_TOPIC_CHARS: usize = 200;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 1024;
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// A control character other than newline and tab (a `\r` is allowed only before `\n`).
fn first_bad_control(s: &str) -> Option<char> {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue;
        }
        if c.is_control() && c != '\n' && c != '\t' {
            return Some(c);
        }
    }
    None
}

/// Message text: 1 to 4000 characters after trimming, no control characters other than
/// newline and tab. Stored exactly as sent (untrimmed): it is never HTML.
pub fn message_text(text: &str) -> Result<String, ChatError> {
    let n = text.trim().chars().count();
    if n == 0 {
        return Err(ChatError::invalid("message", "must not be empty"));
    }
    if n > MAX_MESSAGE_CHARS {
        return Err(ChatError::invalid(
            "message",
            format!("is {n} characters long; at most {MAX_MESSAGE_CHARS} are allowed"),
        ));
    }
    if let Some(c) = first_bad_control(text) {
        return Err(ChatError::invalid(
            "message",
            format!("contains the control character U+{:04X}", c as u32),
        ));
    }
    Ok(text.to_owned())
}

fn single_line(
    field: &'static str,
    value: &str,
    max: usize,
    allow_empty: bool,
) -> Result<String, ChatError> {
    let v = value.trim();
    if v.is_empty() && !allow_empty {
        return Err(ChatError::invalid(field, "must not be empty"));
    }
    let n = v.chars().count();
    if n > max {
        return Err(ChatError::invalid(
            field,
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(ChatError::invalid(
            field,
            "must be a single line without control characters",
        ));
    }
    Ok(v.to_owned())
}

/// The longest canned-reply shortcut.
pub const MAX_SHORTCUT_CHARS: usize = 32;

/// A canned reply's shortcut: a leading `/` is dropped, then 1-32 of `A-Z`, `a-z`, `0-9`,
/// `-`, `_`, kept in lowercase.
pub fn canned_shortcut(value: &str) -> Result<String, ChatError> {
    let v = value.strip_prefix('/').unwrap_or(value);
    if v.is_empty() {
        return Err(ChatError::invalid("shortcut", "must not be empty"));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ChatError::invalid(
            "shortcut",
            "only letters a-z, digits, - and _ (it is typed after /)",
        ));
    }
    if v.len() > MAX_SHORTCUT_CHARS {
        return Err(ChatError::invalid(
            "shortcut",
            format!("at most {MAX_SHORTCUT_CHARS} characters"),
        ));
    }
    Ok(v.to_ascii_lowercase())
}

/// A canned reply's text: the rules of a message (it becomes one).
pub fn canned_text(value: &str) -> Result<String, ChatError> {
    message_text(value).map_err(|e| match e {
        ChatError::Invalid { message, .. } => ChatError::invalid("text", message),
        other => other,
    })
}

/// Most characters in a rating's comment.
pub const MAX_RATING_COMMENT_CHARS: usize = 1000;

/// A satisfaction rating: 1 to 5 stars, and a comment (trimmed; empty when none) of at
/// most [`MAX_RATING_COMMENT_CHARS`] without control characters other than new lines.
pub fn rating(stars: i64, comment: Option<&str>) -> Result<(i64, String), ChatError> {
    if !(1..=5).contains(&stars) {
        return Err(ChatError::invalid("stars", "must be 1 to 5"));
    }
    let comment = comment.unwrap_or("").trim();
    let n = comment.chars().count();
    if n > MAX_RATING_COMMENT_CHARS {
        return Err(ChatError::invalid(
            "comment",
            format!("is {n} characters long; at most {MAX_RATING_COMMENT_CHARS} are allowed"),
        ));
    }
    if let Some(c) = first_bad_control(comment) {
        return Err(ChatError::invalid(
            "comment",
            format!("contains the control character U+{:04X}", c as u32),
        ));
    }
    Ok((stars, comment.to_owned()))
}

/// A person's display name.
pub fn name(value: &str) -> Result<String, ChatError> {
    single_line("name", value, MAX_NAME_CHARS, false)
}

/// A chat's topic (may be empty).
pub fn topic(value: &str) -> Result<String, ChatError> {
    single_line("topic", value, MAX_TOPIC_CHARS, true)
}

/// An email address: trimmed, lower-cased, one `@`, a dot in the domain, no spaces.
pub fn email(value: &str) -> Result<String, ChatError> {
    let v = value.trim().to_lowercase();
    let bad = || ChatError::invalid("email", "is not an email address");
    if v.chars().count() > MAX_EMAIL_CHARS {
        return Err(ChatError::invalid("email", "is too long"));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = v.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(v)
}

/// A new password: 8 to 1024 characters.
pub fn password(value: &str) -> Result<(), ChatError> {
    let n = value.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(ChatError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(ChatError::invalid("password", "is too long"));
    }
    Ok(())
}

/// A client-generated id (for idempotent retries): 1 to 64 of `A-Z a-z 0-9 - _ . :`.
pub fn client_id(value: &str) -> Result<String, ChatError> {
    let ok = !value.is_empty()
        && value.chars().count() <= MAX_CLIENT_ID_CHARS
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ChatError::invalid(
            "client_id",
            "must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.', ':'",
        ))
    }
}

/// A page size: 1 to 100, 50 when absent.
pub fn page_limit(value: Option<i64>) -> Result<i64, ChatError> {
    match value {
        None => Ok(50),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(ChatError::invalid("limit", "must be between 1 and 100")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_rules() {
        assert!(message_text("").is_err());
        assert!(message_text(" \n\t ").is_err());
        assert_eq!(message_text("  hi  ").as_deref(), Ok("  hi  "));
        assert!(message_text(&"x".repeat(4000)).is_ok());
        assert!(message_text(&format!("  {}  ", "x".repeat(4000))).is_ok());
        assert!(message_text(&"x".repeat(4001)).is_err());
        assert!(
            message_text(&"é".repeat(4000)).is_ok(),
            "characters, not bytes"
        );
        assert!(message_text("a\u{0}b").is_err());
        assert!(message_text("a\u{1b}[31mb").is_err());
        assert!(message_text("line\nline\ttab").is_ok());
        assert!(message_text("windows\r\nline").is_ok());
        assert!(message_text("bare\rreturn").is_err());
        assert_eq!(
            message_text("<img src=x onerror=alert(1)>").as_deref(),
            Ok("<img src=x onerror=alert(1)>")
        );
    }

    #[test]
    fn emails_names_ids() {
        assert_eq!(email(" Ann@Example.COM ").as_deref(), Ok("ann@example.com"));
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "ann@x",
            "a b@x.com",
            "a@b@c.com",
            "ann@x.",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(name("  ").is_err());
        assert!(name("Ann\nB").is_err());
        assert_eq!(name(" Ann ").as_deref(), Ok("Ann"));
        assert!(topic("").is_ok());
        assert!(client_id("abc-123_x.y:z").is_ok());
        assert!(client_id("").is_err());
        assert!(client_id("has space").is_err());
        assert!(client_id(&"a".repeat(65)).is_err());
        assert!(password("short").is_err());
        assert!(password("long enough").is_ok());
        assert_eq!(page_limit(None), Ok(50));
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(101)).is_err());
    }
}
