//! The SQL of the PostgreSQL job table, one statement per operation.

use super::webhooks::jobs_with_webhook;

pub(super) const INSERT: &str =
    "INSERT INTO jobs (id, input_filename, input_bytes, options, traceparent, \
     tracestate, trace_id, idempotency_key, max_attempts, request_digest, received_at, \
     callback_url, tenant) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
     ON CONFLICT (tenant, idempotency_key) DO NOTHING RETURNING *";
pub(super) const SELECT_ONE: &str = concat!(
    "SELECT * FROM ",
    jobs_with_webhook!(),
    " WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)"
);
pub(super) const SELECT_BY_IDEMPOTENCY_KEY: &str = concat!(
    "SELECT * FROM ",
    jobs_with_webhook!(),
    " WHERE tenant = $1 AND idempotency_key = $2"
);
pub(super) const SELECT_EXPIRED: &str =
    "SELECT id FROM expired_jobs WHERE id = $1 AND ($2::text IS NULL OR tenant = $2)";
pub(super) const LIST: &str = concat!(
    "SELECT * FROM ",
    jobs_with_webhook!(),
    " \
     WHERE ($1::text IS NULL OR status = $1) \
       AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
       AND ($5::text IS NULL OR tenant = $5) \
     ORDER BY created_at DESC, id DESC LIMIT $4"
);
/// One autocommitted statement: the row lock of `SKIP LOCKED` lives only as
/// long as the statement, so no transaction is held while the job converts.
/// Fair across tenants: the tenant with the fewest running jobs goes first,
/// then the one served longest ago (its latest `started_at`, so with one
/// worker tenants take turns), then the oldest job. One tenant's thousand
/// queued jobs wait behind another's single job for one claim at most.
///
/// Nothing here reads every queued row: `queued_tenants` skips through
/// `jobs_queued_tenant_idx` one tenant at a time, `fair` (materialized, so
/// its lookups run once per tenant, not once per job) counts each tenant's
/// running jobs and finds its latest start by index, and only each tenant's
/// eight oldest claimable jobs are sorted. They are locked in that order,
/// skipping those another claimer holds; with more than eight claimers on
/// one tenant at once a claim may find none and its worker polls again.
/// `q.status` is re-checked on the locked row.
pub(super) const CLAIM: &str = "WITH RECURSIVE queued_tenants AS ( \
       (SELECT tenant FROM jobs WHERE status = 'queued' ORDER BY tenant LIMIT 1) \
       UNION ALL \
       SELECT (SELECT j.tenant FROM jobs j WHERE j.status = 'queued' AND j.tenant > t.tenant \
               ORDER BY j.tenant LIMIT 1) \
       FROM queued_tenants t WHERE t.tenant IS NOT NULL), \
     fair AS MATERIALIZED ( \
       SELECT t.tenant, \
         (SELECT count(*) FROM jobs r WHERE r.tenant = t.tenant AND r.status = 'running') AS running, \
         (SELECT max(s.started_at) FROM jobs s WHERE s.tenant = t.tenant) AS served \
       FROM queued_tenants t WHERE t.tenant IS NOT NULL) \
     UPDATE jobs SET status = 'running', worker_id = $1, \
     attempts = attempts + 1, started_at = now(), heartbeat_at = now(), updated_at = now(), \
     progress = NULL, timeline = '[]'::jsonb \
     WHERE id = (SELECT q.id FROM fair f CROSS JOIN LATERAL ( \
                   SELECT j.id, j.created_at FROM jobs j \
                   WHERE j.tenant = f.tenant AND j.status = 'queued' AND j.run_after <= now() \
                   ORDER BY j.created_at, j.id LIMIT 8) c \
                 JOIN jobs q ON q.id = c.id \
                 WHERE q.status = 'queued' \
                 ORDER BY f.running, f.served NULLS FIRST, c.created_at, c.id \
                 FOR UPDATE OF q SKIP LOCKED LIMIT 1) \
     RETURNING *";
/// Claims the job just inserted, in the same transaction (see `insert_claimed`).
pub(super) const CLAIM_ONE: &str = "UPDATE jobs SET status = 'running', worker_id = $2, \
     attempts = attempts + 1, started_at = $3, heartbeat_at = now(), updated_at = now(), \
     progress = NULL, timeline = '[]'::jsonb \
     WHERE id = $1 AND status = 'queued' RETURNING *";
/// Renews the lease and records the attempt's progress in the same statement.
pub(super) const HEARTBEAT: &str = "UPDATE jobs SET heartbeat_at = now(), updated_at = now(), \
     progress = $3, timeline = $4 \
     WHERE id = $1 AND worker_id = $2 AND status = 'running' RETURNING id";
pub(super) const SUCCEED: &str =
    "UPDATE jobs SET status = 'succeeded', result = $3, finished_at = now(), \
     progress = NULL, timeline = $5, \
     heartbeat_at = NULL, updated_at = now(), expires_at = now() + make_interval(secs => $4) \
     WHERE id = $1 AND worker_id = $2 AND status = 'running' RETURNING *";
pub(super) const FAIL: &str =
    "UPDATE jobs SET status = 'failed', error_code = $3, error_message = $4, \
     progress = NULL, timeline = $8, \
     error_line = $5, error_column = $6, finished_at = now(), heartbeat_at = NULL, \
     updated_at = now(), expires_at = now() + make_interval(secs => $7), \
     attempt_errors = attempt_errors || jsonb_build_array(jsonb_build_object( \
         'attempt', attempts, 'code', $3::text, 'message', $4::text, 'at', now())) \
     WHERE id = $1 AND worker_id = $2 AND status = 'running' RETURNING *";
/// A transient failure: back to the queue after `$5` seconds, or failed for
/// good once the attempts are spent.
pub(super) const RETRY: &str = "UPDATE jobs SET \
     status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
     error_code = CASE WHEN attempts >= max_attempts THEN $3::text END, \
     error_message = CASE WHEN attempts >= max_attempts THEN $4::text END, \
     finished_at = CASE WHEN attempts >= max_attempts THEN now() END, \
     expires_at = CASE WHEN attempts >= max_attempts THEN now() + make_interval(secs => $6) END, \
     run_after = now() + make_interval(secs => $5), worker_id = NULL, heartbeat_at = NULL, \
     progress = NULL, \
     updated_at = now(), \
     attempt_errors = attempt_errors || jsonb_build_array(jsonb_build_object( \
         'attempt', attempts, 'code', $3::text, 'message', $4::text, 'at', now())) \
     WHERE id = $1 AND worker_id = $2 AND status = 'running' RETURNING *";
/// A graceful shutdown gives the job back without spending an attempt.
pub(super) const REQUEUE: &str =
    "UPDATE jobs SET status = 'queued', worker_id = NULL, progress = NULL, \
     heartbeat_at = NULL, attempts = greatest(attempts - 1, 0), updated_at = now() \
     WHERE id = $1 AND worker_id = $2 AND status = 'running' RETURNING id";
/// A worker that stopped heartbeating (killed, machine gone) spent its
/// attempt; the job runs again elsewhere unless it keeps killing workers.
pub(super) const REQUEUE_STALE: &str = "UPDATE jobs SET \
     status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
     error_code = CASE WHEN attempts >= max_attempts THEN $3::text END, \
     error_message = CASE WHEN attempts >= max_attempts \
         THEN 'the worker running this job stopped responding on every attempt' END, \
     finished_at = CASE WHEN attempts >= max_attempts THEN now() END, \
     expires_at = CASE WHEN attempts >= max_attempts THEN now() + make_interval(secs => $2) END, \
     worker_id = NULL, heartbeat_at = NULL, updated_at = now(), progress = NULL, \
     attempt_errors = attempt_errors || jsonb_build_array(jsonb_build_object( \
         'attempt', attempts, 'code', $3::text, \
         'message', 'the worker stopped heartbeating', 'at', now())) \
     WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $1) \
     RETURNING id";
pub(super) const CANCEL: &str =
    "UPDATE jobs SET status = 'canceled', finished_at = now(), progress = NULL, \
     heartbeat_at = NULL, updated_at = now(), expires_at = now() + make_interval(secs => $2) \
     WHERE id = $1 AND status IN ('queued', 'running') AND ($3::text IS NULL OR tenant = $3) \
     RETURNING traceparent, tracestate";
pub(super) const DELETE_FINISHED: &str = "DELETE FROM jobs WHERE id = $1 \
     AND status IN ('succeeded', 'failed', 'canceled') AND ($2::text IS NULL OR tenant = $2) \
     RETURNING id";
pub(super) const COUNT_ACTIVE: &str =
    "SELECT count(*) FILTER (WHERE status = 'queued') AS queued, \
     count(*) FILTER (WHERE status = 'running') AS running FROM jobs";
pub(super) const COUNT_QUEUED: &str = "SELECT count(*) FROM jobs WHERE status = 'queued'";
/// Removes expired jobs and leaves their tombstones, in one statement.
pub(super) const EXPIRE: &str =
    "WITH expired AS (DELETE FROM jobs WHERE expires_at < now() RETURNING id, tenant) \
     INSERT INTO expired_jobs (id, tenant) SELECT id, tenant FROM expired \
     ON CONFLICT DO NOTHING RETURNING id";
pub(super) const PURGE_TOMBSTONES: &str =
    "DELETE FROM expired_jobs WHERE expired_at < now() - make_interval(secs => $1)";
pub(super) const JOB_STATES: &str = "SELECT id, status, attempts FROM jobs WHERE id = ANY($1)";
