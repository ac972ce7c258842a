-- API keys and tenants (issue 14); see the PostgreSQL migration for why a
-- SHA-256 of the key is kept. Instants are microseconds since the epoch.
CREATE TABLE api_keys (
    id                 TEXT    PRIMARY KEY,
    name               TEXT    NOT NULL UNIQUE,
    tenant             TEXT    NOT NULL,
    admin              INTEGER NOT NULL DEFAULT 0,
    key_hash           BLOB    NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    last_used_at       INTEGER,
    revoked_at         INTEGER,
    max_active_jobs    INTEGER,
    max_stored_bytes   INTEGER,
    uploads_per_minute INTEGER
);

-- The Idempotency-Key becomes unique per tenant. SQLite cannot drop the
-- column's UNIQUE constraint, so the table is rebuilt. Dropping the old
-- table deletes its webhook deliveries (ON DELETE CASCADE), so they are
-- kept aside and put back.
CREATE TABLE jobs_new (
    id              BLOB    PRIMARY KEY,
    status          TEXT    NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    input_filename  TEXT    NOT NULL,
    input_bytes     INTEGER NOT NULL,
    options         TEXT    NOT NULL DEFAULT '{}',
    result          TEXT,
    error_code      TEXT,
    error_message   TEXT,
    error_line      INTEGER,
    error_column    TEXT,
    traceparent     TEXT,
    tracestate      TEXT,
    trace_id        TEXT,
    worker_id       TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL DEFAULT 5,
    attempt_errors  TEXT    NOT NULL DEFAULT '[]',
    idempotency_key TEXT,
    run_after       INTEGER NOT NULL,
    heartbeat_at    INTEGER,
    expires_at      INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    request_digest  TEXT,
    received_at     INTEGER,
    progress        TEXT,
    timeline        TEXT    NOT NULL DEFAULT '[]',
    callback_url    TEXT,
    -- Jobs made while the service ran open belong to the `default` tenant.
    tenant          TEXT    NOT NULL DEFAULT 'default',
    UNIQUE (tenant, idempotency_key)
);

INSERT INTO jobs_new (id, status, input_filename, input_bytes, options, result, error_code,
    error_message, error_line, error_column, traceparent, tracestate, trace_id, worker_id,
    attempts, max_attempts, attempt_errors, idempotency_key, run_after, heartbeat_at,
    expires_at, created_at, updated_at, started_at, finished_at, request_digest, received_at,
    progress, timeline, callback_url)
SELECT id, status, input_filename, input_bytes, options, result, error_code,
    error_message, error_line, error_column, traceparent, tracestate, trace_id, worker_id,
    attempts, max_attempts, attempt_errors, idempotency_key, run_after, heartbeat_at,
    expires_at, created_at, updated_at, started_at, finished_at, request_digest, received_at,
    progress, timeline, callback_url
FROM jobs;

CREATE TEMP TABLE webhook_deliveries_kept AS SELECT * FROM webhook_deliveries;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
INSERT INTO webhook_deliveries SELECT * FROM temp.webhook_deliveries_kept;
DROP TABLE temp.webhook_deliveries_kept;

CREATE INDEX jobs_queued_idx ON jobs (created_at, id) WHERE status = 'queued';
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_tenant_created_idx ON jobs (tenant, created_at DESC, id DESC);
CREATE INDEX jobs_running_heartbeat_idx ON jobs (heartbeat_at) WHERE status = 'running';
CREATE INDEX jobs_expires_idx ON jobs (expires_at) WHERE expires_at IS NOT NULL;

-- The webhook outbox's trigger went with the old table: the same again.
CREATE TRIGGER jobs_enqueue_webhook
    AFTER UPDATE OF status ON jobs
    FOR EACH ROW
    WHEN NEW.callback_url IS NOT NULL
         AND NEW.status IN ('succeeded', 'failed', 'canceled')
         AND OLD.status NOT IN ('succeeded', 'failed', 'canceled')
BEGIN
    INSERT OR IGNORE INTO webhook_deliveries
        (job_id, url, event_type, traceparent, tracestate,
         next_attempt_at, give_up_at, event_at, updated_at)
    VALUES (NEW.id, NEW.callback_url, 'job.' || NEW.status, NEW.traceparent, NEW.tracestate,
            NEW.updated_at, NEW.updated_at + 86400000000, NEW.updated_at, NEW.updated_at);
END;

-- A tombstone answers 410 only to the tenant whose job it was.
ALTER TABLE expired_jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
