-- API keys and tenants (issue 14): every job belongs to the tenant of the key
-- that created it, and no tenant sees another's jobs.

-- A key is `pqt_<id>_<secret>`. The id is looked up here; only a SHA-256 of
-- the whole key is kept. A fast hash is enough: the secret is 256 random
-- bits, so unlike a password it cannot be guessed from a leaked hash, and a
-- slow hash would only cost every request its time.
CREATE TABLE api_keys (
    id                 text        PRIMARY KEY,
    name               text        NOT NULL UNIQUE,
    tenant             text        NOT NULL,
    -- An admin key sees every tenant and manages keys.
    admin              boolean     NOT NULL DEFAULT false,
    key_hash           bytea       NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- Written at most once a minute per key, not on every request.
    last_used_at       timestamptz,
    -- A revoked key is kept (never deleted): its name stays taken and the
    -- service stays in authenticated mode once any key ever existed.
    revoked_at         timestamptz,
    -- Per-key quota overrides (NULL: the server's defaults), for the quotas
    -- of issue 14.
    max_active_jobs    bigint,
    max_stored_bytes   bigint,
    uploads_per_minute integer
);

-- Jobs made while the service ran open belong to the `default` tenant.
ALTER TABLE jobs ADD COLUMN tenant text NOT NULL DEFAULT 'default';

-- An Idempotency-Key is one tenant's: another tenant's use of the same key
-- is another job, and must not even learn that the key is taken.
ALTER TABLE jobs DROP CONSTRAINT jobs_idempotency_key_key;
ALTER TABLE jobs ADD CONSTRAINT jobs_tenant_idempotency_key_key UNIQUE (tenant, idempotency_key);

-- A tenant's listing, newest first.
CREATE INDEX jobs_tenant_created_idx ON jobs (tenant, created_at DESC, id DESC);

-- A tombstone answers 410 only to the tenant whose job it was.
ALTER TABLE expired_jobs ADD COLUMN tenant text NOT NULL DEFAULT 'default';
