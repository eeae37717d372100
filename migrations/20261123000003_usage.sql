-- Usage per tenant, one sample per metric and time. Tenant-owned: forced
-- Row-Level Security, a tenant sees and writes only its own samples.

CREATE TABLE usage_samples (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    metric       text NOT NULL
                 CHECK (metric IN ('cpu', 'memory', 'storage', 'users', 'api_calls', 'db_connections')),
    value        bigint NOT NULL CHECK (value >= 0),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, metric, recorded_at)
);

ALTER TABLE usage_samples ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_samples FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON usage_samples TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY tenant_own ON usage_samples TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
GRANT SELECT, INSERT ON usage_samples TO bulkhead_platform, bulkhead_tenant;
