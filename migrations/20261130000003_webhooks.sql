-- Signed webhooks when a job finishes, delivered at least once through an
-- outbox: the delivery row is written by a trigger in the same statement that
-- finishes the job, so no writer (succeed, fail, a retry or a stale lease
-- running out of attempts, a cancel) can finish a job and lose its event, and
-- a process that dies after finishing a job still has the event delivered by
-- any other process.

-- Where the job's event goes: the upload's `callback_url` or the server's
-- default; NULL for no webhook.
ALTER TABLE jobs ADD COLUMN callback_url text;

-- One event per job (a finished job never changes status again), so the
-- job's id is the key. The row goes with its job (deleted, expired).
CREATE TABLE webhook_deliveries (
    job_id          uuid        PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    url             text        NOT NULL,
    -- `job.succeeded`, `job.failed` or `job.canceled`.
    event_type      text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    -- The event's id (`webhook-id`) and body, fixed by the first attempt so
    -- that every retry sends the same bytes under the same id. Text, not
    -- jsonb: the signature covers the exact bytes.
    event_id        text,
    payload         text,
    -- The job's trace context: each attempt is a span of the job's trace.
    traceparent     text,
    tracestate      text,
    -- Attempts started; a claim takes the next number, so two processes
    -- never make the same attempt.
    attempts        integer     NOT NULL DEFAULT 0,
    last_status     integer,
    last_error      text,
    -- When the next attempt is due; while an attempt runs, when it is
    -- deemed lost (its process died) and made again.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Retries stop a day after the event.
    give_up_at      timestamptz NOT NULL DEFAULT now() + interval '1 day',
    delivered_at    timestamptz,
    event_at        timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Dispatchers look for due deliveries only.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';

-- The outbox write, and a NOTIFY on `parquetry_webhooks` that wakes every
-- process's dispatcher at once (they also poll for due retries).
CREATE FUNCTION parquetry_enqueue_webhook() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (job_id, url, event_type, traceparent, tracestate)
    VALUES (NEW.id, NEW.callback_url, 'job.' || NEW.status, NEW.traceparent, NEW.tracestate)
    ON CONFLICT (job_id) DO NOTHING;
    PERFORM pg_notify('parquetry_webhooks', NEW.id::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER jobs_enqueue_webhook
    AFTER UPDATE OF status ON jobs
    FOR EACH ROW
    WHEN (NEW.callback_url IS NOT NULL
          AND NEW.status IN ('succeeded', 'failed', 'canceled')
          AND OLD.status NOT IN ('succeeded', 'failed', 'canceled'))
    EXECUTE FUNCTION parquetry_enqueue_webhook();
