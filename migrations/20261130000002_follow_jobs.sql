-- Following a job without polling: its progress and timeline, and a
-- notification on every change a waiting client cares about.

ALTER TABLE jobs
    -- When the upload began to arrive (the job row is created once it is
    -- stored): the first entry of the job's timeline.
    ADD COLUMN received_at timestamptz,
    -- How far the running attempt got, written by its heartbeat:
    -- {"stage", "bytes_read", "total_bytes", "rows", "percent", ...}.
    ADD COLUMN progress    jsonb,
    -- When each stage of the current attempt began: [{"stage", "at"}].
    ADD COLUMN timeline    jsonb NOT NULL DEFAULT '[]'::jsonb;

-- Requests waiting on a job (`?wait=`, the event stream) LISTEN on
-- `parquetry_job_changes` through one connection per process and wake when
-- the job's status or progress changed, in whatever process changed it. The
-- payload says which, so that a request waiting for a status change is not
-- woken by every heartbeat.
CREATE FUNCTION parquetry_notify_job_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('parquetry_job_changes', NEW.id::text || CASE
        WHEN OLD.status IS DISTINCT FROM NEW.status THEN ' status' ELSE ' progress' END);
    RETURN NEW;
END;
$$;

CREATE TRIGGER jobs_notify_changed
    AFTER UPDATE OF status, progress ON jobs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.progress IS DISTINCT FROM NEW.progress)
    EXECUTE FUNCTION parquetry_notify_job_changed();
