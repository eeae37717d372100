-- Per-tenant overrides of a tier's limits, each with its reason and author.

CREATE TABLE quota_overrides (
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    metric            text NOT NULL
                      CHECK (metric IN ('cpu', 'memory', 'storage', 'users', 'api_calls', 'db_connections')),
    value             bigint NOT NULL CHECK (value > 0),
    reason            text NOT NULL CHECK (char_length(reason) BETWEEN 3 AND 500),
    created_by        uuid REFERENCES users (id),
    created_by_email  text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, metric)
);

ALTER TABLE quota_overrides ENABLE ROW LEVEL SECURITY;
ALTER TABLE quota_overrides FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON quota_overrides TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY tenant_read ON quota_overrides FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
GRANT SELECT, INSERT, UPDATE, DELETE ON quota_overrides TO bulkhead_platform;
GRANT SELECT ON quota_overrides TO bulkhead_tenant;
