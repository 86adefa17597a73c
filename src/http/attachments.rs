//! Attachments: upload (`POST /api/chat/attachments`, the file as the raw body), download
//! and thumbnail (`GET /api/chat/attachments/{id}`, `.../thumb`). See
//! [`crate::attachments`] for what happens to a file.

use crate::attachments::{self as files, UploadRequest, storage::Files};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody, Query};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chat_core::ChatId;
use chat_core::attachment::{AttachmentKind, AttachmentMeta};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The chat the file is for: the uploader must be able to write in it.
    pub chat_id: ChatId,
    /// Your id for this upload: a retry with the same id returns the file kept the first
    /// time (200) instead of keeping a second one.
    #[param(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9._:-]{1,64}$")]
    pub client_id: String,
    /// The file's name as the sender has it (shown to the other side; its type is decided
    /// from the content, never from the name).
    #[param(max_length = 255)]
    pub name: Option<String>,
}

/// POST /api/chat/attachments — upload one file for a chat. The body is the file itself
/// (any `Content-Type`; the type is decided from the content). Allowed: JPEG, PNG, WebP
/// (written again without metadata, with a thumbnail), PDF, and MP3/M4A/Ogg/WAV/MP4/
/// QuickTime/WebM audio or video. Then send it: `POST /api/chat/send_message` with
/// `attachments: [id]`. Unsent uploads are removed after `attachment_unsent_ttl_secs`.
#[utoipa::path(post, path = "/api/chat/attachments", tag = "chat", params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file, at most `attachment_max_bytes` (10 MB by default)"),
    responses((status = 201, body = AttachmentMeta), (status = 200, description = "a retry of an upload kept already", body = AttachmentMeta),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, description = "larger than `attachment_max_bytes`", body = ErrorBody),
        (status = 415, description = "not an allowed kind of file (HEIC is refused with a hint)", body = ErrorBody),
        (status = 422, description = "a virus scanner found something, or bad parameters", body = ErrorBody),
        (status = 429, description = "the account's daily quota is used up", body = ErrorBody),
        (status = 503, description = "the virus scanner cannot be reached", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let req = UploadRequest {
        chat_id: q.chat_id,
        client_id: &q.client_id,
        name: q.name.as_deref().unwrap_or(""),
        length,
    };
    let (kept, new) = match files::upload(&state, &who, req, body).await {
        Ok(done) => done,
        Err(e) => {
            let reason = match &e {
                ApiError::FileTooLarge(_) => Some("too_large"),
                ApiError::FileRefused(_) => Some("type"),
                ApiError::QuotaExceeded(_) => Some("quota"),
                ApiError::Infected(_) => Some("infected"),
                ApiError::ScannerUnavailable => Some("scanner_unavailable"),
                _ => None,
            };
            if let Some(reason) = reason {
                metrics::counter!("nati_attachments_refused_total", "reason" => reason)
                    .increment(1);
            }
            return Err(e);
        }
    };
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(kept.meta)).into_response())
}

/// A single byte range from a `Range` header, against a file of `size` bytes: `None` when
/// there is none (or several, answered whole), `Err` when it cannot be satisfied.
fn range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Err(());
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            b.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if size == 0 || start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `attachment; filename="..."; filename*=UTF-8''...`, safe for any name.
fn disposition(kind: &str, name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

async fn serve(
    state: &AppState,
    who: &Principal,
    id: &str,
    thumb: bool,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    // Ids are 32 hex digits; anything else is not one (and never reaches the database).
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::NotFound("attachment"));
    }
    let a = state
        .store
        .attachment(id)
        .await?
        .ok_or(ApiError::NotFound("attachment"))?;
    // Not a participant: the same answer as an id that does not exist.
    if !files::may_download(state, who, &a).await? {
        return Err(ApiError::NotFound("attachment"));
    }
    let store = Files::of(state)?;
    let (key, mime, size) = if thumb {
        let key = a
            .thumb_sha256
            .clone()
            .ok_or(ApiError::NotFound("thumbnail"))?;
        (key, "image/jpeg".to_owned(), None)
    } else {
        (
            a.sha256.clone(),
            a.meta.mime.clone(),
            Some(a.meta.size as u64),
        )
    };
    let mut h = HeaderMap::new();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set(&mut h, header::CONTENT_TYPE, &mime);
    set(&mut h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        &mut h,
        header::CONTENT_SECURITY_POLICY,
        "sandbox; default-src 'none'; img-src 'self'; media-src 'self'",
    );
    // Only the person signed in may keep it, and the bytes never change.
    set(
        &mut h,
        header::CACHE_CONTROL,
        "private, max-age=86400, immutable",
    );
    set(&mut h, header::ETAG, &format!("\"{key}\""));
    let inline = thumb || a.meta.kind == AttachmentKind::Image;
    h.insert(
        header::CONTENT_DISPOSITION,
        disposition(if inline { "inline" } else { "attachment" }, &a.meta.name),
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == format!("\"{key}\"")))
    {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }
    let Some(size) = size else {
        let body = store.read(&key, 0, u64::MAX).await?;
        return Ok((StatusCode::OK, h, body).into_response());
    };
    set(&mut h, header::ACCEPT_RANGES, "bytes");
    match range(headers, size) {
        Err(()) => {
            set(&mut h, header::CONTENT_RANGE, &format!("bytes */{size}"));
            h.remove(header::CONTENT_TYPE);
            let e = ApiError::RangeNotSatisfiable(size);
            Ok((h, e).into_response())
        }
        Ok(None) => {
            set(&mut h, header::CONTENT_LENGTH, &size.to_string());
            let body = store.read(&key, 0, size).await?;
            Ok((StatusCode::OK, h, body).into_response())
        }
        Ok(Some((start, end))) => {
            let len = end - start + 1;
            set(&mut h, header::CONTENT_LENGTH, &len.to_string());
            set(
                &mut h,
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{size}"),
            );
            let body = store.read(&key, start, len).await?;
            Ok((StatusCode::PARTIAL_CONTENT, h, body).into_response())
        }
    }
}

/// GET /api/chat/attachments/{id} — the file, to whoever may read its message (before it
/// is sent: its uploader). Images inline, everything else as a download; always with
/// `Content-Security-Policy: sandbox` and `nosniff`. Single byte ranges are served (206).
#[utoipa::path(get, path = "/api/chat/attachments/{id}", tag = "chat",
    params(("id" = String, Path, description = "The attachment's id (32 hex digits)", min_length = 32, max_length = 32, pattern = r"^[0-9a-f]{32}$")),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 206, description = "a byte range of the file"),
        (status = 304, description = "not modified (If-None-Match)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 416, description = "the range is outside the file", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn download(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve(&state, &who, &id, false, &headers).await
}

/// GET /api/chat/attachments/{id}/thumb — a photo's thumbnail (JPEG, at most 320 pixels a
/// side), to the same people as the file.
#[utoipa::path(get, path = "/api/chat/attachments/{id}/thumb", tag = "chat",
    params(("id" = String, Path, description = "The attachment's id (32 hex digits)", min_length = 32, max_length = 32, pattern = r"^[0-9a-f]{32}$")),
    responses((status = 200, description = "the thumbnail", content_type = "image/jpeg"),
        (status = 304, description = "not modified (If-None-Match)"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn thumb(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve(&state, &who, &id, true, &headers).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::RANGE, HeaderValue::from_str(v).expect("header"));
        m
    }

    #[test]
    fn ranges() {
        assert_eq!(range(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(range(&h("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(range(&h("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(range(&h("bytes=-4"), 10), Ok(Some((6, 9))));
        assert_eq!(range(&h("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(range(&h("bytes=10-"), 10), Err(()));
        assert_eq!(range(&h("bytes=4-2"), 10), Err(()));
        assert_eq!(range(&h("bytes=x-2"), 10), Err(()));
        assert_eq!(range(&h("bytes=0-1,4-5"), 10), Ok(None));
        assert_eq!(range(&h("items=0-1"), 10), Ok(None));
    }

    #[test]
    fn dispositions_are_safe() {
        let v = disposition("attachment", "fa\"k\r\ne.pdf");
        let s = v.to_str().expect("ascii");
        assert!(s.starts_with("attachment; filename=\"fa_k__e.pdf\""), "{s}");
        let v = disposition("inline", "Übersicht.pdf");
        assert!(
            v.to_str()
                .expect("ascii")
                .contains("filename*=UTF-8''%C3%9Cbersicht.pdf")
        );
    }
}
