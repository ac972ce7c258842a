-- Quotas, fair claiming and share links (issue 14).

-- Fair claiming orders the queued jobs by their tenant's running jobs, then
-- by the tenant's latest claim (round robin): both are one short index
-- lookup per tenant with queued jobs. The active-jobs quota counts the same
-- rows.
CREATE INDEX jobs_tenant_active_idx ON jobs (tenant, status) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_tenant_started_idx ON jobs (tenant, started_at);

-- Secrets the server makes for itself when none is configured, shared by
-- every process of the database: share links signed by one API process
-- must verify in another. Rotating is setting PARQUETRY_LINK_SECRET (or
-- deleting the row while the servers are stopped).
CREATE TABLE server_secrets (
    name       text        PRIMARY KEY,
    secret     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
