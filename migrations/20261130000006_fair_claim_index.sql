-- Fair claiming (issue 14) reads each tenant's few oldest queued jobs, not
-- every queued job sorted: this index serves that per-tenant lookup, and
-- the distinct tenants with queued jobs are found by skipping through it.
CREATE INDEX jobs_queued_tenant_idx ON jobs (tenant, created_at, id) WHERE status = 'queued';
