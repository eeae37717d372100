-- Calendar months closed for billing: each closes once (whichever console
-- gets there first), and its closing sends every tenant's figures to the
-- billing webhooks in the same transaction.
CREATE TABLE billing_periods (
    month     date PRIMARY KEY CHECK (extract(day FROM month) = 1),
    closed_at timestamptz NOT NULL DEFAULT now(),
    tenants   integer NOT NULL CHECK (tenants >= 0)
);

ALTER TABLE billing_periods ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing_periods FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON billing_periods TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON billing_periods FOR SELECT TO bulkhead_auditor USING (true);
REVOKE ALL ON billing_periods FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON billing_periods TO bulkhead_platform;
GRANT SELECT ON billing_periods TO bulkhead_auditor;
