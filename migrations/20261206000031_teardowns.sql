-- A dedicated tenant's leaving (deleted, or moved below level 3): what
-- Bulkhead removes itself (the Redis ACL user and stream, observed gone) and
-- the list of what the operator must remove, recorded as a signed statement.
-- Written when the activation is rolled back, in that transaction; carried
-- out by the console's background work until it is done.
CREATE TABLE teardowns (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    activation_id  uuid NOT NULL UNIQUE REFERENCES activations (id),
    reason         text NOT NULL CHECK (reason IN ('deleted', 'left_level_3')),
    -- What was released when it was requested (the tenant's own domain).
    released       jsonb NOT NULL DEFAULT '{}',
    requested_at   timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 0,
    last_failure   text,
    -- The Redis removal as observed.
    redis_evidence jsonb,
    -- The signed statement (a DSSE envelope), once everything Bulkhead does is done.
    envelope       jsonb,
    sha256         bytea,
    key_id         text,
    done_at        timestamptz,
    CHECK ((done_at IS NULL) = (envelope IS NULL))
);
CREATE INDEX teardowns_pending ON teardowns (id) WHERE done_at IS NULL;
ALTER TABLE teardowns ENABLE ROW LEVEL SECURITY;
ALTER TABLE teardowns FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON teardowns TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON teardowns FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY tenant_read ON teardowns FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
REVOKE ALL ON teardowns FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE (attempts, last_failure, redis_evidence, envelope, sha256, key_id, done_at) ON teardowns
    TO bulkhead_platform;
GRANT SELECT ON teardowns TO bulkhead_auditor, bulkhead_tenant;
