-- The IETF Idempotency-Key draft: a key reused with a different request is
-- refused (422), not answered with the first job. The digest identifies the
-- request a key was first used for: SHA-256 of its options, file name and
-- body. NULL for jobs created before it was kept (any reuse then replays).
ALTER TABLE jobs ADD COLUMN request_digest text;
