//! Attachments: what a file is (decided from its bytes, never from its name or the
//! client's word), which kinds are allowed, the limits, what a message says about its
//! files ("2 photos"), and the record kept for each upload.
//!
//! The bytes themselves never pass through here: the edge streams them to a file, asks
//! [`sniff`] about the first bytes, and keeps them behind the binary's file storage. A
//! message carries its files' [`AttachmentMeta`] (stored with the message row), so every
//! place a message goes (sockets, history, emails, transcripts, webhooks) knows its files
//! without another read.

use crate::SenderType;
use crate::ids::ChatId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The most files one message carries.
pub const MAX_FILES_PER_MESSAGE: usize = 10;
/// The longest file name kept (characters); longer names are shortened.
pub const MAX_NAME_CHARS: usize = 120;
/// How many leading bytes [`sniff`] needs to decide.
pub const SNIFF_BYTES: usize = 64;

/// What kind of file an attachment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentKind {
    /// JPEG, PNG or WebP (re-encoded without metadata, with a thumbnail).
    Image,
    /// A PDF document.
    Pdf,
    /// MP3, M4A, Ogg, WAV or WebM audio.
    Audio,
    /// MP4, QuickTime or WebM video.
    Video,
}

impl AttachmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Image => "image",
            AttachmentKind::Pdf => "pdf",
            AttachmentKind::Audio => "audio",
            AttachmentKind::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image" => Some(AttachmentKind::Image),
            "pdf" => Some(AttachmentKind::Pdf),
            "audio" => Some(AttachmentKind::Audio),
            "video" => Some(AttachmentKind::Video),
            _ => None,
        }
    }

    /// "photo", "PDF", ... and their plurals, for "2 photos".
    fn noun(self, n: usize) -> &'static str {
        match (self, n == 1) {
            (AttachmentKind::Image, true) => "photo",
            (AttachmentKind::Image, false) => "photos",
            (AttachmentKind::Pdf, true) => "PDF",
            (AttachmentKind::Pdf, false) => "PDFs",
            (AttachmentKind::Audio, true) => "recording",
            (AttachmentKind::Audio, false) => "recordings",
            (AttachmentKind::Video, true) => "video",
            (AttachmentKind::Video, false) => "videos",
        }
    }
}

/// What [`sniff`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub kind: AttachmentKind,
    /// The type the file is served with.
    pub mime: &'static str,
    /// The extension a download gets when its name has none.
    pub ext: &'static str,
}

/// Why a file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "HEIC/HEIF photos cannot be shown in the chat yet: send it as JPEG (on an iPhone: Settings > Camera > Formats > Most Compatible), or take the photo from the chat"
    )]
    Heic,
    #[error(
        "this kind of file cannot be sent: photos (JPEG, PNG, WebP), PDF documents and short audio or video recordings can"
    )]
    NotAllowed,
    #[error("the file is empty")]
    Empty,
}

fn ftyp_brand(head: &[u8]) -> Option<&[u8]> {
    (head.len() >= 12 && &head[4..8] == b"ftyp").then(|| &head[8..12])
}

/// Decide what a file is from its first bytes ([`SNIFF_BYTES`] are enough). Anything not
/// on the allowed list is refused, whatever its name says.
pub fn sniff(head: &[u8]) -> Result<Sniffed, Refusal> {
    let s = |kind, mime, ext| Ok(Sniffed { kind, mime, ext });
    if head.is_empty() {
        return Err(Refusal::Empty);
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return s(AttachmentKind::Image, "image/jpeg", "jpg");
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return s(AttachmentKind::Image, "image/png", "png");
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        return s(AttachmentKind::Image, "image/webp", "webp");
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WAVE" {
        return s(AttachmentKind::Audio, "audio/wav", "wav");
    }
    if head.starts_with(b"%PDF-") {
        return s(AttachmentKind::Pdf, "application/pdf", "pdf");
    }
    if let Some(brand) = ftyp_brand(head) {
        return match brand {
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1"
            | b"avif" => Err(Refusal::Heic),
            b"M4A " | b"M4B " => s(AttachmentKind::Audio, "audio/mp4", "m4a"),
            b"qt  " => s(AttachmentKind::Video, "video/quicktime", "mov"),
            b"isom" | b"iso2" | b"iso4" | b"iso5" | b"iso6" | b"mp41" | b"mp42" | b"avc1"
            | b"M4V " | b"3gp4" | b"3gp5" | b"3g2a" | b"dash" => {
                s(AttachmentKind::Video, "video/mp4", "mp4")
            }
            _ => Err(Refusal::NotAllowed),
        };
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        // Matroska or WebM: the doc type says which; only WebM is allowed.
        let webm = head.windows(4).any(|w| w == b"webm");
        return if webm {
            s(AttachmentKind::Video, "video/webm", "webm")
        } else {
            Err(Refusal::NotAllowed)
        };
    }
    if head.starts_with(b"OggS") {
        return s(AttachmentKind::Audio, "audio/ogg", "ogg");
    }
    if head.starts_with(b"ID3")
        || (head.len() >= 2 && head[0] == 0xFF && (head[1] & 0xE6) == 0xE2 && head[1] != 0xFF)
    {
        return s(AttachmentKind::Audio, "audio/mpeg", "mp3");
    }
    Err(Refusal::NotAllowed)
}

/// A file name as kept and offered on download: the last path part, without control
/// characters or quotes, at most [`MAX_NAME_CHARS`]; with the sniffed extension when it
/// has none; "file.<ext>" when nothing is left.
pub fn clean_name(name: &str, ext: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | '|' | '*' | '?' | ':'))
        .collect();
    let mut cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.chars().count() > MAX_NAME_CHARS {
        cleaned = cleaned.chars().take(MAX_NAME_CHARS).collect();
    }
    if cleaned.is_empty() {
        return format!("file.{ext}");
    }
    if !cleaned.contains('.') {
        cleaned.push('.');
        cleaned.push_str(ext);
    }
    cleaned
}

/// What a message says about one of its files: everything but the bytes. Stored with the
/// message; sent on sockets, in history and in webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttachmentMeta {
    /// The unguessable id it is downloaded by: `GET /api/chat/attachments/{id}`.
    pub id: String,
    pub kind: AttachmentKind,
    /// The type it is served with (decided from the content).
    pub mime: String,
    /// The file's name as the sender had it (cleaned).
    pub name: String,
    /// Bytes, as stored (after re-encoding for images).
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    /// A thumbnail is at `GET /api/chat/attachments/{id}/thumb`.
    #[serde(default)]
    pub thumb: bool,
}

/// One upload as kept: its meta, who uploaded it for which chat, and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub meta: AttachmentMeta,
    pub chat_id: ChatId,
    pub uploader_type: SenderType,
    pub uploader_id: i64,
    /// The uploader's own id for the upload: a retry with the same one is the same file.
    pub client_id: String,
    /// The SHA-256 of the stored bytes: their address in the file storage.
    pub sha256: String,
    pub thumb_sha256: Option<String>,
    /// Sent in a message (before that only its uploader may download it).
    pub sent: bool,
    /// Sent in a private note: only the staff may download it.
    pub private: bool,
    pub created_at: OffsetDateTime,
}

/// The limits on uploads (settings `attachment_max_bytes`, `attachment_message_max_bytes`,
/// `attachment_daily_quota_bytes`, `attachment_unsent_ttl_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_file: u64,
    pub max_message: u64,
    pub daily_quota: u64,
    /// How long an upload may wait unsent before the sweep removes it (none: forever).
    pub unsent_ttl: Option<time::Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file: 10 * 1024 * 1024,
            max_message: 10 * 1024 * 1024,
            daily_quota: 100 * 1024 * 1024,
            unsent_ttl: None,
        }
    }
}

impl Limits {
    /// The oldest unsent upload a message may still take at `now`. The sweep removes unsent
    /// uploads older than the TTL, outside the writer; so that it never takes a file while a
    /// message with it is being written, the last minute of that time (the last half of a
    /// TTL shorter than two minutes) is refused in messages as well.
    pub fn oldest_usable(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let ttl = self.unsent_ttl?;
        now.checked_sub(ttl)?
            .checked_add((ttl / 2_i32).min(time::Duration::minutes(1)))
    }
}

/// Why files cannot go into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("a message carries at most {MAX_FILES_PER_MESSAGE} files")]
    TooMany,
    #[error("attachment {0} was not found")]
    Unknown(String),
    #[error("the files of one message may be at most {0} bytes together")]
    TooLarge(u64),
    /// The file's name: the sender knows it, not its id.
    #[error("{0} waited too long to be sent and is being removed: upload it again")]
    Expired(String),
}

/// May `sender` put these uploads into a message of `chat` at `now`? Only their uploader, in
/// the chat they were uploaded for, within the per-message size, and not an unsent upload
/// the sweep is about to remove ([`Limits::oldest_usable`]; a file sent before may be sent
/// again). Returns the metas in the order given, each file once.
pub fn attach(
    uploads: &[Attachment],
    ids: &[String],
    chat: ChatId,
    sender_type: SenderType,
    sender_id: i64,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<Vec<AttachmentMeta>, AttachError> {
    let oldest = limits.oldest_usable(now);
    if ids.len() > MAX_FILES_PER_MESSAGE {
        return Err(AttachError::TooMany);
    }
    let mut metas: Vec<AttachmentMeta> = Vec::with_capacity(ids.len());
    let mut total = 0u64;
    for id in ids {
        if metas.iter().any(|m| &m.id == id) {
            continue;
        }
        let found = uploads.iter().find(|a| {
            &a.meta.id == id
                && a.chat_id == chat
                && a.uploader_type == sender_type
                && a.uploader_id == sender_id
        });
        let Some(a) = found else {
            return Err(AttachError::Unknown(id.clone()));
        };
        if !a.sent && oldest.is_some_and(|o| a.created_at < o) {
            return Err(AttachError::Expired(a.meta.name.clone()));
        }
        total = total.saturating_add(a.meta.size.max(0) as u64);
        metas.push(a.meta.clone());
    }
    if total > limits.max_message {
        return Err(AttachError::TooLarge(limits.max_message));
    }
    Ok(metas)
}

/// Whether a file is private (staff only) once a message holding it is stored: private only
/// while every message holding it is a private note. A file the customer has stays theirs
/// when a note holds it again; a note's file sent to the customer becomes theirs. Each
/// backend's writer applies this in one statement (`WriteTx::mark_files_sent`), checked
/// against this function by the conformance story.
pub fn private_after(sent_before: bool, private_before: bool, in_note: bool) -> bool {
    if sent_before {
        private_before && in_note
    } else {
        in_note
    }
}

/// The content addresses (file and thumbnail) of these uploads, each once: what may go
/// from the file storage when no other record uses it.
pub fn content_keys(uploads: &[Attachment]) -> Vec<String> {
    let mut keys: Vec<String> = uploads
        .iter()
        .flat_map(|a| std::iter::once(a.sha256.clone()).chain(a.thumb_sha256.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// "a photo", "2 photos", "a photo and a PDF": what the files of a message are, for emails,
/// previews and transcripts. Empty for none.
pub fn summary(files: &[AttachmentMeta]) -> String {
    let mut counts: Vec<(AttachmentKind, usize)> = Vec::new();
    for f in files {
        match counts.iter_mut().find(|(k, _)| *k == f.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((f.kind, 1)),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(k, n)| {
            if *n == 1 {
                format!("a {}", k.noun(1))
            } else {
                format!("{n} {}", k.noun(*n))
            }
        })
        .collect();
    match parts.len() {
        0 => String::new(),
        1 => parts[0].clone(),
        _ => {
            let (last, rest) = parts.split_last().unwrap_or((&parts[0], &[]));
            format!("{} and {last}", rest.join(", "))
        }
    }
}

/// A message's text as a line of an email or a transcript: the caption, and its files.
pub fn text_with_files(text: &str, files: &[AttachmentMeta]) -> String {
    if files.is_empty() {
        return text.to_owned();
    }
    let s = summary(files);
    if text.trim().is_empty() {
        format!("[{s}]")
    } else {
        format!("{text} [{s}]")
    }
}

/// What a chat list shows of a message: its text, or for a message of files only a clip and
/// what they are ("📎 A photo", "📎 2 photos and a PDF"). The panels build the same line for a
/// message that arrives live (`filesPreview` in web/assets/panel.js).
pub fn preview(text: &str, files: &[AttachmentMeta]) -> String {
    if !text.is_empty() || files.is_empty() {
        return text.to_owned();
    }
    let s = summary(files);
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => format!("📎 {}{}", first.to_uppercase(), chars.as_str()),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_decides_from_content() {
        assert_eq!(
            sniff(b"\xFF\xD8\xFF\xE0rest").map(|s| s.mime),
            Ok("image/jpeg")
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n....").map(|s| s.kind),
            Ok(AttachmentKind::Image)
        );
        assert_eq!(
            sniff(b"RIFF\0\0\0\0WEBPVP8 ").map(|s| s.mime),
            Ok("image/webp")
        );
        assert_eq!(
            sniff(b"%PDF-1.7\n").map(|s| s.kind),
            Ok(AttachmentKind::Pdf)
        );
        assert_eq!(
            sniff(b"\0\0\0\x18ftypmp42\0\0\0\0").map(|s| s.mime),
            Ok("video/mp4")
        );
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Err(Refusal::Heic));
        assert_eq!(sniff(b"\0\0\0\x18ftypmif1\0\0\0\0"), Err(Refusal::Heic));
        assert_eq!(
            sniff(b"OggS\0\x02").map(|s| s.kind),
            Ok(AttachmentKind::Audio)
        );
        assert_eq!(sniff(b"ID3\x04\0").map(|s| s.mime), Ok("audio/mpeg"));
        assert_eq!(sniff(b"<html><script>"), Err(Refusal::NotAllowed));
        assert_eq!(sniff(b"<svg xmlns="), Err(Refusal::NotAllowed));
        assert_eq!(sniff(b"MZ\x90\0"), Err(Refusal::NotAllowed));
        assert_eq!(sniff(b"PK\x03\x04"), Err(Refusal::NotAllowed));
        assert_eq!(
            sniff(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR"),
            Err(Refusal::NotAllowed)
        );
        assert_eq!(sniff(b""), Err(Refusal::Empty));
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name("../../etc/passwd", "pdf"), "passwd.pdf");
        assert_eq!(clean_name("C:\\photos\\IMG_1.JPG", "jpg"), "IMG_1.JPG");
        assert_eq!(clean_name("a\"b\r\n.pdf", "pdf"), "ab.pdf");
        assert_eq!(clean_name("", "png"), "file.png");
        assert_eq!(clean_name("...", "png"), "file.png");
        assert_eq!(clean_name(&"x".repeat(300), "pdf").chars().count(), 124);
    }

    fn meta(id: &str, kind: AttachmentKind, size: i64) -> AttachmentMeta {
        AttachmentMeta {
            id: id.into(),
            kind,
            mime: "x".into(),
            name: "n".into(),
            size,
            width: None,
            height: None,
            thumb: false,
        }
    }

    #[test]
    fn a_file_is_private_while_only_notes_hold_it() {
        // (sent before, private before, in a note) -> private after
        assert!(
            private_after(false, false, true),
            "a note's new file: staff only"
        );
        assert!(!private_after(false, false, false), "sent to the customer");
        assert!(
            private_after(true, true, true),
            "a note's file in another note"
        );
        assert!(
            !private_after(true, true, false),
            "a note's file sent to the customer"
        );
        assert!(
            !private_after(true, false, true),
            "the customer's file stays theirs"
        );
        assert!(!private_after(true, false, false));
    }

    #[test]
    fn summaries_count_by_kind() {
        let p = |id| meta(id, AttachmentKind::Image, 1);
        assert_eq!(summary(&[]), "");
        assert_eq!(summary(&[p("a")]), "a photo");
        assert_eq!(summary(&[p("a"), p("b")]), "2 photos");
        assert_eq!(
            summary(&[p("a"), meta("c", AttachmentKind::Pdf, 1), p("b")]),
            "2 photos and a PDF"
        );
        assert_eq!(text_with_files("", &[p("a"), p("b")]), "[2 photos]");
        assert_eq!(text_with_files("Look", &[p("a")]), "Look [a photo]");
        assert_eq!(text_with_files("Look", &[]), "Look");
        assert_eq!(preview("", &[p("a")]), "📎 A photo");
        assert_eq!(
            preview("", &[meta("c", AttachmentKind::Pdf, 1), p("a"), p("b")]),
            "📎 A PDF and 2 photos"
        );
        assert_eq!(preview("", &[p("a"), p("b")]), "📎 2 photos");
        assert_eq!(preview("Look", &[p("a")]), "Look");
        assert_eq!(preview("", &[]), "");
    }

    fn upload(id: &str, chat: i64, who: i64, size: i64) -> Attachment {
        Attachment {
            meta: meta(id, AttachmentKind::Image, size),
            chat_id: ChatId(chat),
            uploader_type: SenderType::User,
            uploader_id: who,
            client_id: id.into(),
            sha256: String::new(),
            thumb_sha256: None,
            sent: false,
            private: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn only_the_uploader_attaches_in_its_chat() {
        let ups = [
            upload("a", 1, 7, 10),
            upload("b", 2, 7, 10),
            upload("c", 1, 8, 10),
        ];
        let l = Limits::default();
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = attach(
            &ups,
            &ids(&["a", "a"]),
            ChatId(1),
            SenderType::User,
            7,
            &l,
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(ok.map(|m| m.len()), Ok(1));
        for bad in ["b", "c", "zz"] {
            assert_eq!(
                attach(
                    &ups,
                    &ids(&[bad]),
                    ChatId(1),
                    SenderType::User,
                    7,
                    &l,
                    OffsetDateTime::UNIX_EPOCH
                ),
                Err(AttachError::Unknown(bad.into()))
            );
        }
        assert_eq!(
            attach(
                &ups,
                &ids(&["a"]),
                ChatId(1),
                SenderType::Guest,
                7,
                &l,
                OffsetDateTime::UNIX_EPOCH
            ),
            Err(AttachError::Unknown("a".into()))
        );
        let small = Limits {
            max_message: 5,
            ..l
        };
        assert_eq!(
            attach(
                &ups,
                &ids(&["a"]),
                ChatId(1),
                SenderType::User,
                7,
                &small,
                OffsetDateTime::UNIX_EPOCH
            ),
            Err(AttachError::TooLarge(5))
        );
        // An unsent upload the sweep is about to take is refused; a sent one is not.
        let ttl = Limits {
            unsent_ttl: Some(time::Duration::hours(24)),
            ..l
        };
        let t = OffsetDateTime::UNIX_EPOCH;
        let at = |age: time::Duration| t + age;
        let as_user = |ups: &[Attachment], now| {
            attach(ups, &ids(&["a"]), ChatId(1), SenderType::User, 7, &ttl, now)
        };
        let fresh = at(time::Duration::hours(23) + time::Duration::minutes(58));
        assert_eq!(as_user(&ups, fresh).map(|m| m.len()), Ok(1));
        let late = at(time::Duration::hours(23) + time::Duration::seconds(3599));
        assert_eq!(as_user(&ups, late), Err(AttachError::Expired("n".into())));
        let mut sent = ups.clone();
        sent[0].sent = true;
        assert!(
            as_user(&sent, late).is_ok(),
            "a sent file may be sent again"
        );
        let many: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        assert_eq!(
            attach(
                &ups,
                &many,
                ChatId(1),
                SenderType::User,
                7,
                &l,
                OffsetDateTime::UNIX_EPOCH
            ),
            Err(AttachError::TooMany)
        );
    }
}
