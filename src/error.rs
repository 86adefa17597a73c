//! The one error shape at the edge: `{"error": {"code": "...", "message": "..."}}`.
//!
//! Every failure becomes an [`ApiError`]; its `IntoResponse` is the only place that picks
//! a status code. Internal errors are logged here once and reach the client as a bare
//! `internal` code, never with their text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chat_core::{ChatError, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("the guest session has expired; start a new chat")]
    GuestExpired,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("cross-site request refused: the Origin does not match this server")]
    CrossSite,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no route for this path")]
    NoRoute,
    #[error("method not allowed here")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("expected a JSON body with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("{0}")]
    Unprocessable(String),
    #[error("too many requests; retry in {0} s")]
    RateLimited(u64),
    #[error("internal error: {0}")]
    Internal(String),
    /// A host sign-in token was refused (its code says why).
    #[error(transparent)]
    HostToken(#[from] chat_core::hosttoken::HostTokenError),
    /// Password sign-in is turned off for this role (`password_login`).
    #[error("password sign-in is turned off for {0}s here; sign in through the site")]
    PasswordLoginDisabled(chat_core::AccountRole),
    /// Anonymous chats are turned off (`guests_allowed = false`).
    #[error("sign in on the site to chat: anonymous chats are turned off")]
    GuestsNotAllowed,
    /// A server-to-server API key lacks the scope for this call.
    #[error("this API key lacks the scope `{0}`")]
    MissingScope(&'static str),
    /// An upload larger than a file may be (`attachment_max_bytes`).
    #[error("the file is larger than {0} bytes, the most a file may be")]
    FileTooLarge(u64),
    /// An upload whose kind is not allowed (decided from its bytes).
    #[error("{0}")]
    FileRefused(String),
    /// The account's uploads of the last 24 hours reached `attachment_daily_quota_bytes`.
    #[error(
        "you have sent {0} bytes of files in the last 24 hours, the most allowed; try again later"
    )]
    QuotaExceeded(u64),
    /// The virus scanner found something.
    #[error("the file was refused: the virus scanner found {0}")]
    Infected(String),
    /// The virus scanner is configured but cannot be reached: uploads wait for it.
    #[error("files cannot be checked right now; try again in a few minutes")]
    ScannerUnavailable,
    /// A byte range outside a file of this size.
    #[error("the range is outside the file ({0} bytes)")]
    RangeNotSatisfiable(u64),
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unauthenticated`, `guest_expired`,
    /// `invalid_credentials`, `forbidden`, `cross_site`, `not_found`, `method_not_allowed`,
    /// `conflict`, `payload_too_large`, `unsupported_media_type`, `invalid`,
    /// `rate_limited`, `internal`; host sign-in: `host_signin_disabled`, `token_malformed`,
    /// `token_algorithm`, `token_unknown_key`, `token_signature`, `token_expired`,
    /// `token_not_yet_valid`, `token_lifetime`, `token_issuer`, `token_audience`,
    /// `token_claims`, `token_replayed`; `password_login_disabled`, `guests_not_allowed`;
    /// API keys: `missing_scope`; attachments: `file_too_large`, `file_type_refused`,
    /// `quota_exceeded`, `file_infected`, `scanner_unavailable`.
    pub code: String,
    /// For people.
    pub message: String,
    /// The request's id (also the `X-Request-Id` response header and in the server's log
    /// lines for it): quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use ApiError::*;
        match self {
            BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            GuestExpired => (StatusCode::UNAUTHORIZED, "guest_expired"),
            InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            CrossSite => (StatusCode::FORBIDDEN, "cross_site"),
            NotFound(_) | NoRoute => (StatusCode::NOT_FOUND, "not_found"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            HostToken(e) => match e {
                chat_core::hosttoken::HostTokenError::NotConfigured => {
                    (StatusCode::FORBIDDEN, e.code())
                }
                chat_core::hosttoken::HostTokenError::Malformed(_) => {
                    (StatusCode::BAD_REQUEST, e.code())
                }
                _ => (StatusCode::UNAUTHORIZED, e.code()),
            },
            MissingScope(_) => (StatusCode::FORBIDDEN, "missing_scope"),
            PasswordLoginDisabled(_) => (StatusCode::FORBIDDEN, "password_login_disabled"),
            GuestsNotAllowed => (StatusCode::FORBIDDEN, "guests_not_allowed"),
            FileTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "file_too_large"),
            FileRefused(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "file_type_refused"),
            QuotaExceeded(_) => (StatusCode::TOO_MANY_REQUESTS, "quota_exceeded"),
            Infected(_) => (StatusCode::UNPROCESSABLE_ENTITY, "file_infected"),
            ScannerUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "scanner_unavailable"),
            RangeNotSatisfiable(_) => (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable"),
        }
    }

    pub fn unauthenticated() -> Self {
        ApiError::Unauthenticated(
            "sign in first (a session cookie or an `Authorization: Bearer` token)".into(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "something went wrong on the server".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = (
            status,
            axum::Json(ErrorBody {
                error: ErrorDetail {
                    code: code.to_owned(),
                    message,
                    request_id: crate::http::request_id::current(),
                },
            }),
        )
            .into_response();
        if let ApiError::RateLimited(secs) = self
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::NotFound(what) => ApiError::NotFound(what),
            ChatError::Forbidden(m) => ApiError::Forbidden(m),
            ChatError::Conflict(m) => ApiError::Conflict(m),
            e @ ChatError::Invalid { .. } => ApiError::Unprocessable(e.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rule(e) => e.into(),
            StoreError::Duplicate(what) => ApiError::Conflict(format!("{what} already exists")),
            StoreError::Database(m) => ApiError::Internal(m),
            e @ StoreError::Backend { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::Unprocessable(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge(crate::http::MAX_BODY_BYTES)
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(r.body_text())
    }
}

/// `Json<T>` whose rejection is an [`ApiError`], so malformed input gets the common shape:
/// a body that is not JSON is 400 `bad_request`; JSON of the wrong shape or type is 422
/// `invalid`.
pub struct Json<T>(pub T);

/// `application/json`, or `application/<something>+json`, as `axum::Json` accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some((kind, sub)) => kind == "application" && (sub == "json" || sub.ends_with("+json")),
        None => false,
    }
}

impl<T, S> axum::extract::FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(JsonRejection::from)?;
        // JSON is UTF-8 (RFC 8259): anything else is malformed, not merely the wrong shape.
        if let Err(e) = std::str::from_utf8(&bytes) {
            return Err(ApiError::BadRequest(format!(
                "the body is not valid UTF-8 (byte {}), so it is not JSON",
                e.valid_up_to()
            )));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Json(value)),
            // serde_json reports some type mismatches (an array or a number where an enum
            // is expected) as syntax errors; well-formed JSON is never a syntax error.
            Err(JsonRejection::JsonSyntaxError(e))
                if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() =>
            {
                Err(ApiError::Unprocessable(e.body_text().replacen(
                    "Failed to parse the request body as JSON",
                    "Failed to deserialize the JSON body into the target type",
                    1,
                )))
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Query<T>` whose rejection is an [`ApiError`].
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

pub type ApiResult<T> = Result<T, ApiError>;
