-- What a level-2 tenant's namespace is rendered as (Namespace, NetworkPolicy,
-- ResourceQuota, LimitRange), each time its level makes it so: the YAML's
-- SHA-256, the invariants checked on it as written (none broken: `problems`
-- empty), who and when. Appended, never changed.
CREATE TABLE namespace_renders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    level       smallint NOT NULL CHECK (level IN (2, 3)),
    namespace   text NOT NULL,
    sha256      bytea NOT NULL,
    problems    text[] NOT NULL DEFAULT '{}',
    actor       text NOT NULL,
    rendered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX namespace_renders_tenant ON namespace_renders (tenant_id, id DESC);
ALTER TABLE namespace_renders ENABLE ROW LEVEL SECURITY;
ALTER TABLE namespace_renders FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON namespace_renders TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON namespace_renders FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY tenant_read ON namespace_renders FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
REVOKE ALL ON namespace_renders FROM PUBLIC;
GRANT SELECT, INSERT ON namespace_renders TO bulkhead_platform;
GRANT SELECT ON namespace_renders TO bulkhead_auditor, bulkhead_tenant;
