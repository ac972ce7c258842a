-- The job table of the zero-set-up store: an embedded SQLite file under the
-- data directory, for one `parquetry serve` process (PostgreSQL is the store
-- that several processes share). The same columns as the PostgreSQL table;
-- instants are microseconds since the Unix epoch so that comparisons and
-- ordering are plain integer ones, and JSON documents are text.
CREATE TABLE jobs (
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
    idempotency_key TEXT    UNIQUE,
    run_after       INTEGER NOT NULL,
    heartbeat_at    INTEGER,
    expires_at      INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER
);

CREATE INDEX jobs_queued_idx ON jobs (created_at, id) WHERE status = 'queued';
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_running_heartbeat_idx ON jobs (heartbeat_at) WHERE status = 'running';
CREATE INDEX jobs_expires_idx ON jobs (expires_at) WHERE expires_at IS NOT NULL;

-- Expired jobs answer 410 Gone rather than 404 for a while.
CREATE TABLE expired_jobs (
    id         BLOB    PRIMARY KEY,
    expired_at INTEGER NOT NULL
);
