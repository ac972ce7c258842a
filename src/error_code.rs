//! Every machine-readable error code the service answers or stores, in one
//! list: problem documents of the API (`code`), job errors (`error.code`,
//! `attempt_errors[].code`) and the `error.code` of metrics and logs. The
//! conversion engine's own codes (`ragged-row`, `invalid-value`…) come from
//! `parquetry_convert::ErrorKind::code`.
//!
//! A code is part of the API: clients branch on it. Never rename one.

/// A machine-readable error code.
pub type ErrorCode = &'static str;

// The request: options, body, headers, query.
pub const INVALID_OPTION: ErrorCode = "invalid-option";
pub const OPTIONS_TOO_LARGE: ErrorCode = "options-too-large";
pub const INVALID_FILENAME: ErrorCode = "invalid-filename";
pub const MISSING_FILE: ErrorCode = "missing-file";
pub const INVALID_MULTIPART: ErrorCode = "invalid-multipart";
pub const UPLOAD_INTERRUPTED: ErrorCode = "upload-interrupted";
pub const EMPTY_FILE: ErrorCode = "empty-file";
pub const UPLOAD_TIMEOUT: ErrorCode = "upload-timeout";
pub const INVALID_HEADER: ErrorCode = "invalid-header";
pub const IDEMPOTENCY_KEY_REUSED: ErrorCode = "idempotency-key-reused";
pub const RANGE_NOT_SATISFIABLE: ErrorCode = "range-not-satisfiable";
pub const PAYLOAD_TOO_LARGE: ErrorCode = "payload-too-large";
pub const UNSUPPORTED_MEDIA_TYPE: ErrorCode = "unsupported-media-type";
pub const INVALID_QUERY: ErrorCode = "invalid-query";
pub const INVALID_CURSOR: ErrorCode = "invalid-cursor";
pub const CROSS_ORIGIN_FORBIDDEN: ErrorCode = "cross-origin-forbidden";
/// A `callback_url` that is not http(s), does not resolve, or reaches an
/// address webhooks may not call (loopback, private, link-local, metadata).
pub const CALLBACK_URL_REFUSED: ErrorCode = "callback-url-refused";
/// A `callback_url` on a server with no webhook secret configured.
pub const WEBHOOKS_DISABLED: ErrorCode = "webhooks-disabled";

// Who is asking (issue 14).
/// No `Authorization: Bearer` key, where one is needed.
pub const UNAUTHORIZED: ErrorCode = "unauthorized";
/// A key that is no key of this server (or not a Bearer one).
pub const INVALID_API_KEY: ErrorCode = "invalid-api-key";
/// The right key, revoked.
pub const API_KEY_REVOKED: ErrorCode = "api-key-revoked";
/// A route for admin keys only (key management, a protected `/metrics`).
pub const ADMIN_KEY_REQUIRED: ErrorCode = "admin-key-required";
/// `POST /v1/keys` with a name another key has (revoked ones included).
pub const KEY_NAME_TAKEN: ErrorCode = "key-name-taken";
/// A request body that is not what the route takes (`POST /v1/keys`).
pub const INVALID_BODY: ErrorCode = "invalid-body";

// Quotas of a tenant (issue 14): 429 with Retry-After.
/// Queued plus running jobs at the tenant's limit.
pub const QUOTA_ACTIVE_JOBS: ErrorCode = "quota-active-jobs";
/// Stored inputs and results at the tenant's limit, or an upload that
/// would pass it.
pub const QUOTA_STORED_BYTES: ErrorCode = "quota-stored-bytes";
/// As many uploads in the last minute as the tenant may make.
pub const QUOTA_UPLOADS_PER_MINUTE: ErrorCode = "quota-uploads-per-minute";

// Share links of a result (issue 14).
/// A share link whose signature is not this server's, or was made with a
/// secret since rotated.
pub const INVALID_LINK: ErrorCode = "invalid-link";
/// A share link past its expiry.
pub const LINK_EXPIRED: ErrorCode = "link-expired";

// Routes and jobs.
pub const NOT_FOUND: ErrorCode = "not-found";
pub const NO_SUCH_ROUTE: ErrorCode = "no-such-route";
pub const METHOD_NOT_ALLOWED: ErrorCode = "method-not-allowed";
pub const GONE: ErrorCode = "gone";
pub const JOB_NOT_SUCCEEDED: ErrorCode = "job-not-succeeded";
pub const JOB_NOT_FINISHED: ErrorCode = "job-not-finished";

// The server's state: retry later.
pub const QUEUE_FULL: ErrorCode = "queue-full";
pub const INSUFFICIENT_STORAGE: ErrorCode = "insufficient-storage";
pub const DATABASE_UNAVAILABLE: ErrorCode = "database-unavailable";
pub const INTERNAL_ERROR: ErrorCode = "internal-error";

// A job's attempt that did not succeed (besides the engine's codes).
/// The job's files could not be read or written; retried.
pub const STORAGE_ERROR: ErrorCode = "storage-error";
/// The worker running the attempt stopped heartbeating (killed, machine lost).
pub const LEASE_EXPIRED: ErrorCode = "lease-expired";
