-- Quotas, fair claiming and share links (issue 14); see the PostgreSQL
-- migration of the same name for why.
CREATE INDEX jobs_tenant_active_idx ON jobs (tenant, status) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_tenant_started_idx ON jobs (tenant, started_at);

CREATE TABLE server_secrets (
    name       TEXT    PRIMARY KEY,
    secret     BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
