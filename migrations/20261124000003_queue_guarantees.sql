-- Retries, idempotent uploads and retention.

ALTER TABLE jobs
    -- A transiently failed attempt puts the job back with a backoff: it is
    -- not claimable before `run_after`.
    ADD COLUMN run_after      timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN max_attempts   integer     NOT NULL DEFAULT 5,
    -- The error of each attempt that did not succeed, oldest first:
    -- [{"attempt": 1, "code": "...", "message": "...", "at": "..."}].
    ADD COLUMN attempt_errors jsonb       NOT NULL DEFAULT '[]'::jsonb,
    -- `Idempotency-Key` of the upload: a retried upload returns this job.
    ADD COLUMN idempotency_key text,
    -- Finished jobs and their files are removed after this instant.
    ADD COLUMN expires_at     timestamptz;

ALTER TABLE jobs ADD CONSTRAINT jobs_idempotency_key_key UNIQUE (idempotency_key);

DROP INDEX jobs_queued_idx;
CREATE INDEX jobs_queued_idx ON jobs (created_at, id) WHERE status = 'queued';
CREATE INDEX jobs_expires_idx ON jobs (expires_at) WHERE expires_at IS NOT NULL;

-- Expired jobs leave a tombstone so their id answers 410 Gone rather than
-- 404; tombstones themselves are purged after a while.
CREATE TABLE expired_jobs (
    id         uuid        PRIMARY KEY,
    expired_at timestamptz NOT NULL DEFAULT now()
);
