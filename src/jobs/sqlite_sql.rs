//! The SQL of the SQLite job table, one statement per operation. Instants
//! are bound as microseconds since the epoch.

use super::webhooks::jobs_with_webhook;

pub(super) const INSERT: &str =
    "INSERT INTO jobs (id, input_filename, input_bytes, options, traceparent, \
     tracestate, trace_id, idempotency_key, max_attempts, run_after, created_at, updated_at, \
     request_digest, received_at, callback_url, tenant) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?10, ?11, ?12, ?13, ?14) \
     ON CONFLICT (tenant, idempotency_key) DO NOTHING RETURNING *";
pub(super) const SELECT_ONE: &str = concat!(
    "SELECT * FROM ",
    jobs_with_webhook!(),
    " WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)"
);
pub(super) const SELECT_BY_IDEMPOTENCY_KEY: &str = concat!(
    "SELECT * FROM ",
    jobs_with_webhook!(),
    " WHERE tenant = ?1 AND idempotency_key = ?2"
);
pub(super) const SELECT_EXPIRED: &str =
    "SELECT id FROM expired_jobs WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)";
pub(super) const LIST: &str = concat!(
    "SELECT * FROM ",
    jobs_with_webhook!(),
    " \
     WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR (created_at, id) < (?2, ?3)) \
       AND (?5 IS NULL OR tenant = ?5) \
     ORDER BY created_at DESC, id DESC LIMIT ?4"
);
/// Fair across tenants, as on PostgreSQL (see `postgres_sql::CLAIM`); the
/// one writer needs no row locks. `fair` is materialized so its lookups run
/// once per tenant, not once per queued job.
pub(super) const CLAIM: &str = "WITH fair AS MATERIALIZED ( \
       SELECT t.tenant, \
         (SELECT count(*) FROM jobs r WHERE r.tenant = t.tenant AND r.status = 'running') AS running, \
         (SELECT max(s.started_at) FROM jobs s WHERE s.tenant = t.tenant) AS served \
       FROM (SELECT DISTINCT tenant FROM jobs WHERE status = 'queued') t) \
     UPDATE jobs SET status = 'running', worker_id = ?1, \
     attempts = attempts + 1, started_at = ?2, heartbeat_at = ?2, updated_at = ?2, \
     progress = NULL, timeline = '[]' \
     WHERE id = (SELECT q.id FROM jobs q JOIN fair f ON f.tenant = q.tenant \
                 WHERE q.status = 'queued' AND q.run_after <= ?2 \
                 ORDER BY f.running, f.served NULLS FIRST, q.created_at, q.id LIMIT 1) \
     RETURNING *";
/// Claims the job just inserted, in the same transaction (see `insert_claimed`).
pub(super) const CLAIM_ONE: &str = "UPDATE jobs SET status = 'running', worker_id = ?2, \
     attempts = attempts + 1, started_at = ?4, heartbeat_at = ?3, updated_at = ?3, \
     progress = NULL, timeline = '[]' \
     WHERE id = ?1 AND status = 'queued' RETURNING *";
/// Renews the lease and records the attempt's progress in the same statement.
pub(super) const HEARTBEAT: &str = "UPDATE jobs SET heartbeat_at = ?3, updated_at = ?3, \
     progress = ?4, timeline = ?5 \
     WHERE id = ?1 AND worker_id = ?2 AND status = 'running' RETURNING id";
pub(super) const SUCCEED: &str =
    "UPDATE jobs SET status = 'succeeded', result = ?3, finished_at = ?4, \
     progress = NULL, timeline = ?6, \
     heartbeat_at = NULL, updated_at = ?4, expires_at = ?5 \
     WHERE id = ?1 AND worker_id = ?2 AND status = 'running' RETURNING *";
pub(super) const FAIL: &str =
    "UPDATE jobs SET status = 'failed', error_code = ?3, error_message = ?4, \
     progress = NULL, timeline = ?10, \
     error_line = ?5, error_column = ?6, finished_at = ?7, heartbeat_at = NULL, \
     updated_at = ?7, expires_at = ?8, \
     attempt_errors = json_insert(attempt_errors, '$[#]', json_object( \
         'attempt', attempts, 'code', ?3, 'message', ?4, 'at', ?9)) \
     WHERE id = ?1 AND worker_id = ?2 AND status = 'running' RETURNING *";
pub(super) const RETRY: &str = "UPDATE jobs SET \
     status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
     error_code = CASE WHEN attempts >= max_attempts THEN ?3 END, \
     error_message = CASE WHEN attempts >= max_attempts THEN ?4 END, \
     finished_at = CASE WHEN attempts >= max_attempts THEN ?6 END, \
     expires_at = CASE WHEN attempts >= max_attempts THEN ?7 END, \
     run_after = ?5, worker_id = NULL, heartbeat_at = NULL, updated_at = ?6, progress = NULL, \
     attempt_errors = json_insert(attempt_errors, '$[#]', json_object( \
         'attempt', attempts, 'code', ?3, 'message', ?4, 'at', ?8)) \
     WHERE id = ?1 AND worker_id = ?2 AND status = 'running' RETURNING *";
pub(super) const REQUEUE: &str =
    "UPDATE jobs SET status = 'queued', worker_id = NULL, progress = NULL, \
     heartbeat_at = NULL, attempts = max(attempts - 1, 0), updated_at = ?3 \
     WHERE id = ?1 AND worker_id = ?2 AND status = 'running' RETURNING id";
pub(super) const REQUEUE_STALE: &str = "UPDATE jobs SET \
     status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
     error_code = CASE WHEN attempts >= max_attempts THEN ?5 END, \
     error_message = CASE WHEN attempts >= max_attempts \
         THEN 'the worker running this job stopped responding on every attempt' END, \
     finished_at = CASE WHEN attempts >= max_attempts THEN ?2 END, \
     expires_at = CASE WHEN attempts >= max_attempts THEN ?3 END, \
     worker_id = NULL, heartbeat_at = NULL, updated_at = ?2, progress = NULL, \
     attempt_errors = json_insert(attempt_errors, '$[#]', json_object( \
         'attempt', attempts, 'code', ?5, \
         'message', 'the worker stopped heartbeating', 'at', ?4)) \
     WHERE status = 'running' AND heartbeat_at < ?1 RETURNING id";
pub(super) const CANCEL: &str =
    "UPDATE jobs SET status = 'canceled', finished_at = ?2, progress = NULL, \
     heartbeat_at = NULL, updated_at = ?2, expires_at = ?3 \
     WHERE id = ?1 AND status IN ('queued', 'running') AND (?4 IS NULL OR tenant = ?4) \
     RETURNING traceparent, tracestate";
pub(super) const DELETE_FINISHED: &str = "DELETE FROM jobs WHERE id = ?1 \
     AND status IN ('succeeded', 'failed', 'canceled') AND (?2 IS NULL OR tenant = ?2) \
     RETURNING id";
pub(super) const COUNT_ACTIVE: &str = "SELECT coalesce(sum(status = 'queued'), 0) AS queued, \
     coalesce(sum(status = 'running'), 0) AS running FROM jobs";
pub(super) const COUNT_QUEUED: &str = "SELECT count(*) FROM jobs WHERE status = 'queued'";
pub(super) const EXPIRE: &str = "DELETE FROM jobs WHERE expires_at < ?1 RETURNING id, tenant";
pub(super) const TOMBSTONE: &str =
    "INSERT OR IGNORE INTO expired_jobs (id, expired_at, tenant) VALUES (?1, ?2, ?3)";
pub(super) const PURGE_TOMBSTONES: &str = "DELETE FROM expired_jobs WHERE expired_at < ?1";
/// Ids travel as a JSON array of text UUIDs; the table keeps them as blobs.
pub(super) const JOB_STATES: &str = "SELECT id, status, attempts FROM jobs \
     WHERE id IN (SELECT unhex(replace(value, '-', '')) FROM json_each(?1))";
