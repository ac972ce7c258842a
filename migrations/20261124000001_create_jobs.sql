-- The job table is the queue: a row is created when an upload is stored and
-- workers claim rows with `FOR UPDATE SKIP LOCKED`, so several processes can
-- share one database without a job running twice.
CREATE TABLE jobs (
    id              uuid        PRIMARY KEY,
    status          text        NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    input_filename  text        NOT NULL,
    input_bytes     bigint      NOT NULL,
    -- Conversion options exactly as the user gave them (name -> text value);
    -- they were validated at upload time and are parsed again by the worker.
    options         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    result          jsonb,
    error_code      text,
    error_message   text,
    error_line      bigint,
    error_column    text,
    -- W3C trace context of the enqueue (PRODUCER) span, so a worker in any
    -- process continues the uploader's trace.
    traceparent     text,
    tracestate      text,
    trace_id        text,
    worker_id       text,
    attempts        integer     NOT NULL DEFAULT 0,
    heartbeat_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz
);

-- Claiming takes the oldest queued job: a partial index keeps that lookup
-- small however many finished jobs the table holds.
CREATE INDEX jobs_queued_idx ON jobs (created_at, id) WHERE status = 'queued';

-- Listing is newest first with keyset pagination on (created_at, id).
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_status_created_idx ON jobs (status, created_at DESC, id DESC);

-- Finding running jobs whose worker stopped heartbeating.
CREATE INDEX jobs_running_heartbeat_idx ON jobs (heartbeat_at) WHERE status = 'running';
