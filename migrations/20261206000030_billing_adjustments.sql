-- Closed months stay closed: a correction to a month whose figures were sent
-- is an explicit adjustment, with its reason and author, never a late sample.
-- API calls are adjusted by a signed number of calls (the month's count may
-- not go below zero); a gauge by the value its peak should have been (the
-- newest adjustment of a gauge wins). Each adjustment re-sends the tenant's
-- figures for the month as `billing.period_adjusted`.
CREATE TABLE billing_adjustments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    month      date NOT NULL REFERENCES billing_periods (month),
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    metric     text NOT NULL CHECK (metric IN ('api_calls', 'storage_bytes', 'memory_bytes', 'cpu_millicores',
                                               'users', 'db_connections')),
    value      bigint NOT NULL CHECK (metric = 'api_calls' OR value >= 0),
    reason     text NOT NULL CHECK (length(btrim(reason)) BETWEEN 3 AND 500),
    actor      text NOT NULL CHECK (length(actor) <= 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_adjustments_month ON billing_adjustments (month, tenant_id, metric, id);
ALTER TABLE billing_adjustments ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing_adjustments FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON billing_adjustments TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON billing_adjustments FOR SELECT TO bulkhead_auditor USING (true);
REVOKE ALL ON billing_adjustments FROM PUBLIC;
-- Adjustments are appended, never changed: a wrong one is corrected by another.
GRANT SELECT, INSERT ON billing_adjustments TO bulkhead_platform;
GRANT SELECT ON billing_adjustments TO bulkhead_auditor;

ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_event_types_check;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_event_types_check
    CHECK (cardinality(event_types) > 0
           AND event_types <@ ARRAY['quota.warning', 'quota.exceeded', 'quota.recovered', 'tenant.throttled',
                                    'billing.period_closed', 'billing.period_adjusted']);
