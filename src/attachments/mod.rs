//! Attachments at the edge: an upload is streamed to a file under the data directory
//! (hashing and counting as it arrives, refused as soon as it passes the size limit),
//! its kind decided from its bytes ([`chat_core::attachment::sniff`]), scanned by clamd
//! when one is configured ([`scan`]), photos written again without their metadata and
//! with a thumbnail ([`image`]), and the result kept in the file storage ([`storage`])
//! with a record in the database. Serving checks the chat's rule for every request.
//!
//! Who may do what is in `chat_core`: only a chat's participants upload to it (the same
//! rule as sending a message, [`chat_core::policy::rule`]), only the uploader sends an
//! upload ([`chat_core::attachment::attach`]), and only those who may read the message
//! download its files ([`chat_core::policy::may_download`]).

pub mod image;
pub mod scan;
pub mod storage;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::Body;
use chat_core::attachment::{self as att, Attachment, AttachmentMeta, Limits};
use chat_core::policy::{self, ChatAction};
use chat_core::{ChatId, StoreError};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use storage::Files;
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

/// The limits from the settings.
pub fn limits(state: &AppState) -> Limits {
    let s = &state.settings;
    Limits {
        max_file: s.attachment_max_bytes,
        max_message: s.attachment_message_max_bytes,
        daily_quota: s.attachment_daily_quota_bytes,
        unsent_ttl: i64::try_from(s.attachment_unsent_ttl_secs)
            .ok()
            .map(time::Duration::seconds),
    }
}

type PhotoJob = Box<dyn FnOnce() + Send>;

/// Photos are processed on threads of their own, one for every two cores, taking queued
/// uploads in turn. Decoding takes a photo's full size in memory (a 12-megapixel photo about 36 MB);
/// a burst of uploads waits in the queue instead of multiplying that, and the same few
/// threads reuse what their allocator keeps (on the blocking pool each photo landed on
/// another thread, and the server's peak grew with every one of them).
fn photo_threads() -> &'static std::sync::mpsc::Sender<PhotoJob> {
    static QUEUE: std::sync::OnceLock<std::sync::mpsc::Sender<PhotoJob>> =
        std::sync::OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<PhotoJob>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        // Half the cores: the other half keeps answering chats during a burst of photos.
        let threads = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("photo-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A photo that panics the decoder refuses that upload only.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a photo thread");
            }
        }
        tx
    })
}

/// Process a photo on the photo threads.
async fn process_photo(src: PathBuf, mime: &'static str) -> ApiResult<image::Processed> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    photo_threads()
        .send(Box::new(move || {
            let _ = tx.send(image::process(&src, mime));
        }))
        .map_err(|_| ApiError::Internal("the photo threads stopped".into()))?;
    let done = rx
        .await
        .map_err(|_| ApiError::Internal("a photo thread stopped".into()))?;
    match done {
        Ok(p) => Ok(p),
        Err(image::PhotoError::Io(e)) => Err(ApiError::Internal(format!("writing a photo: {e}"))),
        Err(e) => Err(ApiError::FileRefused(e.to_string())),
    }
}

/// A new unguessable attachment id: 128 random bits, hex.
fn new_id() -> String {
    let token = chat_core::secret::new_token("");
    format!("{:x}", Sha256::digest(token.as_bytes()))[..32].to_owned()
}

/// Removes a temporary file when dropped (an upload refused half way leaves nothing).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What the client said about an upload.
pub struct UploadRequest<'a> {
    pub chat_id: ChatId,
    pub client_id: &'a str,
    pub name: &'a str,
    /// The declared length, if any: refused at once when over the limit.
    pub length: Option<u64>,
}

/// Take an upload. `Ok((record, true))` for a new file, `false` for a retry of one kept
/// already under the same client id.
pub async fn upload(
    state: &AppState,
    who: &Principal,
    req: UploadRequest<'_>,
    body: Body,
) -> ApiResult<(Attachment, bool)> {
    let client_id = chat_core::validate::client_id(req.client_id)?;
    let chat = state
        .store
        .chat(req.chat_id)
        .await?
        .ok_or(ApiError::NotFound("chat"))?;
    // The same rule as a message: a participant of a chat that takes messages.
    policy::rule(who.actor, &who.name, ChatAction::Message)(&chat)?;
    let (ut, uid) = (who.actor.sender_type(), who.actor.raw_id());
    if let Some(existing) = state
        .store
        .attachment_by_client_id(ut, uid, &client_id)
        .await?
    {
        return Ok((existing, false));
    }
    let limits = limits(state);
    if req.length.is_some_and(|n| n > limits.max_file) {
        return Err(ApiError::FileTooLarge(limits.max_file));
    }
    let now = OffsetDateTime::now_utc();
    let used = state
        .store
        .uploaded_bytes_since(ut, uid, now - time::Duration::days(1))
        .await?
        .max(0) as u64;
    if used.saturating_add(req.length.unwrap_or(1)) > limits.daily_quota {
        return Err(ApiError::QuotaExceeded(limits.daily_quota));
    }

    // Stream the body to a file, hashing and counting.
    let dir = Files::temp_dir(state);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::Internal(format!("creating {}: {e}", dir.display())))?;
    let temp = TempFile(dir.join(format!("{}.upload", new_id())));
    let mut file = tokio::fs::File::create(&temp.0)
        .await
        .map_err(|e| ApiError::Internal(format!("creating an upload file: {e}")))?;
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut head = Vec::with_capacity(att::SNIFF_BYTES);
    let mut stream = body.into_data_stream();
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|e| ApiError::BadRequest(format!("reading the upload: {e}")))?;
        size += piece.len() as u64;
        if size > limits.max_file {
            return Err(ApiError::FileTooLarge(limits.max_file));
        }
        if head.len() < att::SNIFF_BYTES {
            let take = (att::SNIFF_BYTES - head.len()).min(piece.len());
            head.extend_from_slice(&piece[..take]);
        }
        hash.update(&piece);
        file.write_all(&piece)
            .await
            .map_err(|e| ApiError::Internal(format!("writing an upload: {e}")))?;
    }
    file.sync_all()
        .await
        .map_err(|e| ApiError::Internal(format!("syncing an upload: {e}")))?;
    drop(file);
    if used.saturating_add(size) > limits.daily_quota {
        return Err(ApiError::QuotaExceeded(limits.daily_quota));
    }
    // Scanned first: an infected file is told as such (and logged), whatever its kind.
    if let Some(socket) = &state.settings.clamd_socket {
        match scan::scan(socket, &temp.0).await {
            Ok(scan::Verdict::Clean) => {}
            Ok(scan::Verdict::Infected(sig)) => {
                tracing::warn!(chat_id = req.chat_id.0, signature = %sig, "infected upload refused");
                return Err(ApiError::Infected(sig));
            }
            Err(e) => {
                tracing::error!(error = %e, "clamd unavailable: upload refused");
                return Err(ApiError::ScannerUnavailable);
            }
        }
    }

    let sniffed = att::sniff(&head).map_err(|r| ApiError::FileRefused(r.to_string()))?;

    let files = Files::of(state)?;
    let mut meta = AttachmentMeta {
        id: new_id(),
        kind: sniffed.kind,
        mime: sniffed.mime.to_owned(),
        name: att::clean_name(req.name, sniffed.ext),
        size: size as i64,
        width: None,
        height: None,
        thumb: false,
    };
    let mut sha256 = format!("{:x}", hash.finalize());
    let mut thumb_sha256 = None;
    let mut stored = temp;
    if sniffed.kind == att::AttachmentKind::Image {
        let src = stored.0.clone();
        let mime = sniffed.mime;
        let photo = process_photo(src, mime).await?;
        let clean = TempFile(photo.path.clone());
        files.put_bytes(&photo.thumb_sha256, &photo.thumb).await?;
        thumb_sha256 = Some(photo.thumb_sha256.clone());
        meta.thumb = true;
        meta.width = Some(photo.width.into());
        meta.height = Some(photo.height.into());
        meta.size = photo.size as i64;
        if meta.mime != photo.mime {
            meta.name = renamed(&meta.name, photo.ext);
        }
        meta.mime = photo.mime.to_owned();
        sha256 = photo.sha256.clone();
        stored = clean;
    }
    files
        .put_file(&sha256, &stored.0, meta.size.max(0) as u64)
        .await?;
    let record = Attachment {
        meta,
        chat_id: req.chat_id,
        uploader_type: ut,
        uploader_id: uid,
        client_id,
        sha256,
        thumb_sha256,
        sent: false,
        private: false,
        created_at: now,
    };
    let kept = state.store.insert_attachment(&record).await?;
    metrics::counter!("nati_attachments_uploaded_total", "kind" => kept.meta.kind.as_str())
        .increment(1);
    metrics::counter!("nati_attachment_bytes_uploaded_total").increment(kept.meta.size as u64);
    Ok((kept.clone(), kept.meta.id == record.meta.id))
}

/// `name` with its extension replaced by `ext`.
fn renamed(name: &str, ext: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => format!("{stem}.{ext}"),
        _ => format!("{name}.{ext}"),
    }
}

/// May `who` download this file ([`policy::may_download`], with the file's chat loaded when
/// it has been sent)?
pub async fn may_download(
    state: &AppState,
    who: &Principal,
    a: &Attachment,
) -> Result<bool, StoreError> {
    let chat = if a.sent {
        state.store.chat(a.chat_id).await?
    } else {
        None
    };
    Ok(policy::may_download(&who.actor, a, chat.as_ref()))
}

/// The metas of uploads `who` puts into a message of `chat` (checked by
/// [`att::attach`]).
pub async fn for_message(
    state: &AppState,
    who: &Principal,
    chat: ChatId,
    ids: &[String],
) -> ApiResult<Vec<AttachmentMeta>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    if ids.len() > att::MAX_FILES_PER_MESSAGE {
        return Err(ApiError::Unprocessable(
            att::AttachError::TooMany.to_string(),
        ));
    }
    let found = state.store.attachments(ids).await?;
    att::attach(
        &found,
        ids,
        chat,
        who.actor.sender_type(),
        who.actor.raw_id(),
        &limits(state),
        OffsetDateTime::now_utc(),
    )
    .map_err(|e| match e {
        att::AttachError::Unknown(_) => ApiError::NotFound("attachment"),
        other => ApiError::Unprocessable(other.to_string()),
    })
}

/// Remove uploads never sent, older than `attachment_unsent_ttl_secs`, and bytes no record
/// uses any more. Returns how many records went.
pub async fn sweep(state: &AppState) -> ApiResult<usize> {
    let ttl = time::Duration::seconds(state.settings.attachment_unsent_ttl_secs as i64);
    let old = state
        .store
        .unsent_attachments(OffsetDateTime::now_utc() - ttl, 500)
        .await?;
    if old.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = old.iter().map(|a| a.meta.id.clone()).collect();
    remove_unsent(state, &ids).await?;
    Ok(ids.len())
}

/// Remove these uploads if they are still unsent (a message may have taken one since they
/// were listed), and the bytes no other record uses.
pub async fn remove_unsent(state: &AppState, ids: &[String]) -> ApiResult<()> {
    let unused = state.store.delete_unsent_attachments(ids).await?;
    let files = Files::of(state)?;
    for key in unused {
        files.delete(&key).await?;
    }
    Ok(())
}

/// Remove what interrupted uploads left in the temporary directory (at start).
pub fn clear_temp(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
