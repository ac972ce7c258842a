//! The HTTP layer's one error type, answered as `application/problem+json`
//! (RFC 9457) with a stable machine-readable `code`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error_code::{self as code, ErrorCode};
use crate::jobs::{JobStatus, StoreError};

impl From<StoreError> for ApiError {
    /// What a store failure means to the client: come back later, a full
    /// disk, a value that cannot be stored, or the server's own fault.
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "the database is unavailable");
                ApiError::DatabaseUnavailable
            }
            StoreError::DiskFull(cause) => {
                tracing::error!(error = %cause, "the database's disk is full");
                ApiError::InsufficientStorage
            }
            StoreError::InvalidValue(cause) => {
                tracing::warn!(error = %cause, "the database refused a value of a request");
                ApiError::InvalidValue(
                    "a value of the request cannot be stored (control characters or out of range)"
                        .into(),
                )
            }
            other => ApiError::Database(other),
        }
    }
}

/// Why a request was not authenticated (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    NotBearer,
    Invalid,
    Revoked,
}

/// Everything a request can fail with. Client mistakes are 4xx with a
/// message that says what to fix; a 5xx is logged with its cause and answered
/// with a fixed message, so internals never leak.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidOption(String),
    #[error("{0}")]
    OptionsTooLarge(String),
    #[error("{0}")]
    InvalidFilename(String),
    #[error("the Idempotency-Key was first used for a different upload (other options or another file); use a new key for a new upload")]
    IdempotencyKeyReused,
    #[error("{0}")]
    CrossOriginForbidden(String),
    #[error("{0}")]
    CallbackUrlRefused(String),
    #[error("this server sends no webhooks: it has no signing secret (--webhook-secret / PARQUETRY_WEBHOOK_SECRET); upload without callback_url")]
    WebhooksDisabled,
    #[error("the upload has no part named `file`{}; send the CSV as `-F file=@data.csv` or as the raw request body", missing_file_parts(.0))]
    MissingFile(Vec<String>),
    #[error("the multipart body could not be read: {0}")]
    InvalidMultipart(String),
    #[error("the upload could not be read: {0}")]
    UploadInterrupted(String),
    #[error("the uploaded file is empty; send the CSV as `-F file=@data.csv` or as the raw request body")]
    EmptyFile,
    #[error("no upload data arrived for {0} seconds; the partial upload was discarded")]
    UploadTimeout(u64),
    #[error("{0}")]
    InvalidHeader(String),
    #[error("the requested range is outside the file of {0} bytes")]
    RangeNotSatisfiable(u64),
    #[error("the upload is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("content type {0:?} is not accepted: send multipart/form-data, or the raw CSV with no content type or as one of {accepted}", accepted = super::upload_body::RAW_MEDIA_TYPES.join(", "))]
    UnsupportedMediaType(String),
    #[error("no job with this id")]
    NotFound,
    #[error("{}", unauthorized_detail(*.0))]
    Unauthorized(AuthFailure),
    #[error("this route needs an admin key (parquetry keys create --admin)")]
    AdminKeyRequired,
    #[error(
        "a key named {0:?} exists already (revoked keys keep their names); choose another name"
    )]
    KeyNameTaken(String),
    #[error("no API key with this name")]
    KeyNotFound,
    #[error("{0}")]
    InvalidBody(String),
    #[error("the job expired and was removed with its files")]
    Gone,
    #[error("{}", quota_detail(*.quota, *.limit))]
    QuotaExceeded {
        quota: super::quota::Quota,
        limit: u64,
        retry_after: u64,
    },
    #[error("this share link is not valid (altered, or its server's link secret changed); ask for a new link")]
    InvalidLink,
    #[error("this share link has expired; ask for a new link")]
    LinkExpired,
    #[error("{queued} jobs are waiting in the queue; retry later")]
    QueueFull { queued: i64 },
    #[error("the server is low on disk space; retry later")]
    InsufficientStorage,
    /// `/readyz`: this process should not get traffic now, for the reason
    /// `code` names.
    #[error("{detail}")]
    NotReady { code: ErrorCode, detail: String },
    #[error("this method is not allowed on this route; the API is described in openapi.yaml")]
    MethodNotAllowed { allow: String },
    #[error("no such route; the API is described in openapi.yaml")]
    NoSuchRoute,
    #[error("the job is {} and has no result; a result exists once the job has succeeded", .0.as_str())]
    JobNotSucceeded(JobStatus),
    #[error("the job is {} and may still reject rows; its rejects are known once it has finished", .0.as_str())]
    JobNotFinished(JobStatus),
    /// The file cannot be read as the options say (an inspection): the
    /// engine's code, with the line and column where it is known.
    #[error("{}", .0.message)]
    Unreadable(parquetry_convert::ConvertError),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("the cursor is not one this server gave out")]
    InvalidCursor,
    #[error("the database cannot be reached")]
    DatabaseUnavailable,
    #[error("a value could not be stored: {0}")]
    InvalidValue(String),
    #[error("database error")]
    Database(#[source] StoreError),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// The stable machine-readable code of the problem.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidOption(_) => code::INVALID_OPTION,
            ApiError::OptionsTooLarge(_) => code::OPTIONS_TOO_LARGE,
            ApiError::InvalidFilename(_) => code::INVALID_FILENAME,
            ApiError::IdempotencyKeyReused => code::IDEMPOTENCY_KEY_REUSED,
            ApiError::CrossOriginForbidden(_) => code::CROSS_ORIGIN_FORBIDDEN,
            ApiError::CallbackUrlRefused(_) => code::CALLBACK_URL_REFUSED,
            ApiError::WebhooksDisabled => code::WEBHOOKS_DISABLED,
            ApiError::MissingFile(_) => code::MISSING_FILE,
            ApiError::InvalidMultipart(_) => code::INVALID_MULTIPART,
            ApiError::UploadInterrupted(_) => code::UPLOAD_INTERRUPTED,
            ApiError::EmptyFile => code::EMPTY_FILE,
            ApiError::UploadTimeout(_) => code::UPLOAD_TIMEOUT,
            ApiError::InvalidHeader(_) => code::INVALID_HEADER,
            ApiError::RangeNotSatisfiable(_) => code::RANGE_NOT_SATISFIABLE,
            ApiError::PayloadTooLarge { .. } => code::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => code::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound | ApiError::KeyNotFound => code::NOT_FOUND,
            ApiError::Unauthorized(AuthFailure::Missing) => code::UNAUTHORIZED,
            ApiError::Unauthorized(AuthFailure::NotBearer | AuthFailure::Invalid) => {
                code::INVALID_API_KEY
            }
            ApiError::Unauthorized(AuthFailure::Revoked) => code::API_KEY_REVOKED,
            ApiError::AdminKeyRequired => code::ADMIN_KEY_REQUIRED,
            ApiError::KeyNameTaken(_) => code::KEY_NAME_TAKEN,
            ApiError::InvalidBody(_) => code::INVALID_BODY,
            ApiError::NoSuchRoute => code::NO_SUCH_ROUTE,
            ApiError::MethodNotAllowed { .. } => code::METHOD_NOT_ALLOWED,
            ApiError::Gone => code::GONE,
            ApiError::QueueFull { .. } => code::QUEUE_FULL,
            ApiError::QuotaExceeded { quota, .. } => match quota {
                super::quota::Quota::ActiveJobs => code::QUOTA_ACTIVE_JOBS,
                super::quota::Quota::StoredBytes => code::QUOTA_STORED_BYTES,
                super::quota::Quota::UploadsPerMinute => code::QUOTA_UPLOADS_PER_MINUTE,
            },
            ApiError::InvalidLink => code::INVALID_LINK,
            ApiError::LinkExpired => code::LINK_EXPIRED,
            ApiError::InsufficientStorage => code::INSUFFICIENT_STORAGE,
            ApiError::NotReady { code, .. } => code,
            ApiError::JobNotSucceeded(_) => code::JOB_NOT_SUCCEEDED,
            ApiError::JobNotFinished(_) => code::JOB_NOT_FINISHED,
            ApiError::Unreadable(error) => error.code(),
            ApiError::InvalidQuery(_) => code::INVALID_QUERY,
            ApiError::InvalidCursor => code::INVALID_CURSOR,
            ApiError::InvalidValue(_) => code::INVALID_OPTION,
            ApiError::DatabaseUnavailable => code::DATABASE_UNAVAILABLE,
            ApiError::Database(_) | ApiError::Internal(_) => code::INTERNAL_ERROR,
        }
    }

    /// `Retry-After` of a refusal that is only for now.
    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::QueueFull { .. } => Some(30),
            ApiError::QuotaExceeded { retry_after, .. } => Some((*retry_after).max(1)),
            ApiError::InsufficientStorage | ApiError::NotReady { .. } => Some(60),
            ApiError::DatabaseUnavailable => Some(5),
            _ => None,
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::InvalidOption(_) => "Invalid conversion option",
            ApiError::OptionsTooLarge(_) => "Too many or too long options",
            ApiError::InvalidFilename(_) => "Invalid file name",
            ApiError::IdempotencyKeyReused => "Idempotency key reused",
            ApiError::CrossOriginForbidden(_) => "Cross-origin request refused",
            ApiError::CallbackUrlRefused(_) => "Callback URL refused",
            ApiError::WebhooksDisabled => "Webhooks disabled",
            ApiError::NotReady { .. } => "Not ready",
            ApiError::InvalidValue(_) => "Invalid value",
            ApiError::MissingFile(_) => "No file in the upload",
            ApiError::InvalidMultipart(_) => "Malformed multipart body",
            ApiError::UploadInterrupted(_) => "Upload interrupted",
            ApiError::EmptyFile => "Empty file",
            ApiError::UploadTimeout(_) => "Upload timed out",
            ApiError::InvalidHeader(_) => "Invalid header",
            ApiError::RangeNotSatisfiable(_) => "Range not satisfiable",
            ApiError::PayloadTooLarge { .. } => "Upload too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::NotFound => "Job not found",
            ApiError::KeyNotFound => "Key not found",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::AdminKeyRequired => "Admin key required",
            ApiError::KeyNameTaken(_) => "Key name taken",
            ApiError::InvalidBody(_) => "Invalid request body",
            ApiError::NoSuchRoute => "Not found",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::Gone => "Job expired",
            ApiError::QueueFull { .. } => "Queue full",
            ApiError::QuotaExceeded { .. } => "Quota exceeded",
            ApiError::InvalidLink => "Invalid share link",
            ApiError::LinkExpired => "Share link expired",
            ApiError::InsufficientStorage => "Low on disk space",
            ApiError::JobNotSucceeded(_) => "Job has no result",
            ApiError::JobNotFinished(_) => "Job not finished",
            ApiError::Unreadable(_) => "File cannot be read",
            ApiError::InvalidQuery(_) => "Invalid query",
            ApiError::InvalidCursor => "Invalid cursor",
            ApiError::DatabaseUnavailable => "Database unavailable",
            ApiError::Database(_) | ApiError::Internal(_) => "Internal error",
        }
    }
}

/// What a 401 says to do.
fn unauthorized_detail(failure: AuthFailure) -> &'static str {
    match failure {
        AuthFailure::Missing => {
            "this server needs an API key: send it as `Authorization: Bearer KEY` \
             (the server's operator makes keys with `parquetry keys create`)"
        }
        AuthFailure::NotBearer => "send the API key as `Authorization: Bearer KEY`",
        AuthFailure::Invalid => "this API key is not valid here",
        AuthFailure::Revoked => "this API key was revoked",
    }
}

/// What a 429 of a quota says: the limit, in the tenant's terms.
fn quota_detail(quota: super::quota::Quota, limit: u64) -> String {
    use super::quota::Quota;
    match quota {
        Quota::ActiveJobs => format!(
            "this tenant has {limit} queued or running jobs, its limit; retry once one has finished"
        ),
        Quota::StoredBytes => format!(
            "this upload would take this tenant's stored files past its limit of {limit} bytes; \
             delete finished jobs (DELETE /v1/jobs/{{id}}) or wait for them to expire"
        ),
        Quota::UploadsPerMinute => format!(
            "this tenant may make {limit} uploads a minute; retry after the time in Retry-After"
        ),
    }
}

/// The parts a multipart upload sent instead of `file`, for its message.
fn missing_file_parts(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        parts => {
            let shown: Vec<String> = parts.iter().take(5).map(|p| format!("`{p}`")).collect();
            format!(" (it has {})", shown.join(", "))
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub code: &'static str,
    /// The request path, so a problem read out of context says what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// For a CSV that cannot be read: the line where the faulty record starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// And the column at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

tokio::task_local! {
    /// The path of the request being answered, set by the middleware around
    /// the handler: `ResponseError::error_response` gets no request.
    pub(super) static REQUEST_PATH: String;
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidOption(_)
            | ApiError::OptionsTooLarge(_)
            | ApiError::InvalidFilename(_)
            | ApiError::InvalidValue(_)
            | ApiError::MissingFile(_)
            | ApiError::InvalidMultipart(_)
            | ApiError::UploadInterrupted(_)
            | ApiError::EmptyFile
            | ApiError::InvalidHeader(_)
            | ApiError::InvalidQuery(_)
            | ApiError::InvalidCursor
            | ApiError::CallbackUrlRefused(_)
            | ApiError::WebhooksDisabled
            | ApiError::InvalidBody(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::AdminKeyRequired => StatusCode::FORBIDDEN,
            ApiError::KeyNameTaken(_) => StatusCode::CONFLICT,
            ApiError::KeyNotFound => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UploadTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound | ApiError::NoSuchRoute => StatusCode::NOT_FOUND,
            ApiError::JobNotSucceeded(_) | ApiError::JobNotFinished(_) => StatusCode::CONFLICT,
            ApiError::Unreadable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Gone | ApiError::LinkExpired => StatusCode::GONE,
            ApiError::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InvalidLink => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::CrossOriginForbidden(_) => StatusCode::FORBIDDEN,
            ApiError::DatabaseUnavailable
            | ApiError::QueueFull { .. }
            | ApiError::NotReady { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Database(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let trace_id = crate::telemetry::trace_id_of(&tracing::Span::current());
        // Only the catch-all 500s hide their cause; a 503 says why it refuses.
        let detail = if matches!(self, ApiError::Database(_) | ApiError::Internal(_)) {
            tracing::error!(error.code = self.code(), error = ?self, "request failed");
            match &trace_id {
                Some(_) => "The server could not complete the request; its trace_id identifies it in the logs.",
                None => "The server could not complete the request; the cause is in the server's logs.",
            }
            .to_string()
        } else {
            self.to_string()
        };
        let problem = Problem {
            problem_type: format!("https://parquetry.dev/problems/{}", self.code()),
            title: self.title(),
            status: status.as_u16(),
            detail,
            code: self.code(),
            instance: REQUEST_PATH.try_with(Clone::clone).ok(),
            // What a client quotes when reporting a failure.
            trace_id,
            line: match self {
                ApiError::Unreadable(error) => error.line,
                _ => None,
            },
            column: match self {
                ApiError::Unreadable(error) => error.column.clone(),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        if let Some(seconds) = self.retry_after_secs() {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if let ApiError::Unauthorized(failure) = self {
            // RFC 6750: a key that was presented and refused is an invalid token.
            let challenge = match failure {
                AuthFailure::Missing => r#"Bearer realm="parquetry""#,
                _ => r#"Bearer realm="parquetry", error="invalid_token""#,
            };
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let ApiError::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, allow.as_str()));
        }
        if let ApiError::RangeNotSatisfiable(length) = self {
            response.insert_header((header::CONTENT_RANGE, format!("bytes */{length}")));
        }
        response
            .insert_header((header::CONTENT_TYPE, "application/problem+json"))
            .body(serde_json::to_string(&problem).unwrap_or_default())
    }
}
