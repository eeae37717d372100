-- Each tenant's current usage per metric, one row each, kept by a trigger
-- from usage_samples (the history): reading "usage now" for a tenant, for
-- alerts or for 100,000 tenants in /metrics is a key lookup, not a search
-- for the newest of a growing history.
CREATE TABLE usage_current (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    metric      text NOT NULL,
    value       bigint NOT NULL CHECK (value >= 0),
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, metric)
);

INSERT INTO usage_current (tenant_id, metric, value, recorded_at)
SELECT DISTINCT ON (tenant_id, metric) tenant_id, metric, value, recorded_at
  FROM usage_samples ORDER BY tenant_id, metric, recorded_at DESC;

CREATE FUNCTION usage_current_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_current (tenant_id, metric, value, recorded_at)
    VALUES (NEW.tenant_id, NEW.metric, NEW.value, NEW.recorded_at)
    ON CONFLICT (tenant_id, metric) DO UPDATE SET value = EXCLUDED.value, recorded_at = EXCLUDED.recorded_at
      WHERE usage_current.recorded_at <= EXCLUDED.recorded_at;
    RETURN NULL;
END
$$;
CREATE TRIGGER usage_current_follow AFTER INSERT ON usage_samples
    FOR EACH ROW EXECUTE FUNCTION usage_current_follow();

ALTER TABLE usage_current ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_current FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON usage_current TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON usage_current FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY tenant_own ON usage_current TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
REVOKE ALL ON usage_current FROM PUBLIC;
-- Whoever may add a sample keeps the current value with it.
GRANT SELECT, INSERT, UPDATE ON usage_current TO bulkhead_platform, bulkhead_tenant;
GRANT SELECT ON usage_current TO bulkhead_auditor;
