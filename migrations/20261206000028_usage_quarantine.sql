-- Usage that bad input cannot stop.
--
-- Sample ids are unique per tenant (another tenant's `s-1` is its own), and
-- kept only as long as a sample may arrive late (35 days), then pruned.
ALTER TABLE usage_sample_ids DROP CONSTRAINT usage_sample_ids_pkey;
ALTER TABLE usage_sample_ids ADD PRIMARY KEY (tenant_id, id);
CREATE INDEX usage_sample_ids_received ON usage_sample_ids (received_at);
GRANT DELETE ON usage_sample_ids TO bulkhead_platform;

-- Raw samples in the order they came, with the time they came: the fold takes
-- bounded batches in that order, and its lag is the oldest one's age.
-- (Numbers handed out a thousand at a time: a batch of 1,000 samples takes
-- one sequence lock, not a thousand.)
ALTER TABLE usage_raw
    ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000),
    ADD COLUMN received_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX usage_raw_seq ON usage_raw (seq);

-- What the fold cannot take, whatever the reason (a row written by hand, a
-- tenant gone, a value no bucket can hold), set aside with the reason, for
-- platform admins to read; the fold carries on with the rest.
CREATE TABLE usage_quarantine (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      uuid NOT NULL,
    metric         text NOT NULL,
    at             timestamptz NOT NULL,
    value          double precision NOT NULL,
    received_at    timestamptz NOT NULL,
    reason         text NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_quarantine_tenant ON usage_quarantine (tenant_id);
CREATE INDEX usage_quarantine_recent ON usage_quarantine (quarantined_at DESC);
ALTER TABLE usage_quarantine ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_quarantine FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON usage_quarantine TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON usage_quarantine FOR SELECT TO bulkhead_auditor USING (true);
REVOKE ALL ON usage_quarantine FROM PUBLIC;
GRANT SELECT, INSERT ON usage_quarantine TO bulkhead_platform;
GRANT SELECT ON usage_quarantine TO bulkhead_auditor;

-- Why a raw sample cannot be folded, or NULL when it can. The ingestion API
-- refuses all of these before they are written; rows that reach the table
-- another way meet this check. 2^53 is the largest integer a float8 holds
-- exactly, and far below bigint's limit, so a folded value always fits.
CREATE FUNCTION usage_sample_problem(p_tenant uuid, p_metric text, p_value double precision, p_at timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_metric NOT IN ('storage_bytes', 'users', 'db_connections', 'cpu_millicores', 'memory_bytes')
            THEN 'unknown metric ' || quote_literal(p_metric)
        WHEN p_value IS NULL OR p_value = 'NaN'::float8 OR p_value < 0 OR p_value > 9007199254740992
            THEN 'value out of range: ' || p_value::text
        WHEN p_value <> trunc(p_value) THEN 'not a whole number: ' || p_value::text
        WHEN NOT EXISTS (SELECT 1 FROM tenants WHERE id = p_tenant) THEN 'no such tenant'
        -- A month closed for billing (its figures sent) is not changed afterwards.
        WHEN EXISTS (SELECT 1 FROM billing_periods WHERE month = date_trunc('month', p_at AT TIME ZONE 'UTC')::date)
            THEN 'dated in ' || to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM') || ', a month closed for billing'
    END
$$;
GRANT EXECUTE ON FUNCTION usage_sample_problem(uuid, text, double precision, timestamptz) TO bulkhead_platform;

-- Tenant admins write no usage: their role reads its tenant's current usage only.
DROP POLICY tenant_own ON usage_current;
CREATE POLICY tenant_read ON usage_current FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
REVOKE INSERT, UPDATE ON usage_current FROM bulkhead_tenant;
