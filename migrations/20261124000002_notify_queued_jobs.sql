-- Idle workers LISTEN on `parquetry_jobs` and wake at once when a job becomes
-- claimable (created, or put back in the queue), instead of waiting for their
-- next poll. A trigger keeps that promise for every writer of the table.
CREATE FUNCTION parquetry_notify_job_queued() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('parquetry_jobs', NEW.id::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER jobs_notify_queued
    AFTER INSERT OR UPDATE OF status ON jobs
    FOR EACH ROW
    WHEN (NEW.status = 'queued')
    EXECUTE FUNCTION parquetry_notify_job_queued();
