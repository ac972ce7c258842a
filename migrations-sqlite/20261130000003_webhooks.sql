-- Signed webhooks when a job finishes, through an outbox: the delivery row is
-- written by a trigger in the same statement that finishes the job, so no
-- writer can finish a job and lose its event (see the PostgreSQL migration).
-- Instants are microseconds since the epoch, as in `jobs`.

ALTER TABLE jobs ADD COLUMN callback_url TEXT;

CREATE TABLE webhook_deliveries (
    job_id          BLOB    PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    url             TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    event_id        TEXT,
    payload         TEXT,
    traceparent     TEXT,
    tracestate      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL,
    give_up_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    event_at        INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';

-- Every finishing statement sets the job's `updated_at` to the instant it
-- finished: the event's time, and a day later the end of its retries.
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
