-- API calls per tenant and day (UTC), written by the routing check with its
-- monthly totals: the usage page's 30-day chart of calls.
CREATE TABLE api_calls_daily (
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    day       date NOT NULL,
    calls     bigint NOT NULL CHECK (calls >= 0),
    PRIMARY KEY (tenant_id, day)
);

ALTER TABLE api_calls_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_calls_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON api_calls_daily TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON api_calls_daily FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY tenant_read ON api_calls_daily FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
REVOKE ALL ON api_calls_daily FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON api_calls_daily TO bulkhead_platform;
GRANT SELECT ON api_calls_daily TO bulkhead_auditor, bulkhead_tenant;
