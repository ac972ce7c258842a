-- See the PostgreSQL migration of the same name.
CREATE INDEX jobs_queued_tenant_idx ON jobs (tenant, created_at, id) WHERE status = 'queued';
