-- The routing check: a tenant's own domain and upstream, the API calls it made
-- each month, and a notification whenever what the check reads changes, so
-- every console's in-memory routing table follows within a second.

ALTER TABLE tenants
    ADD COLUMN domain   text UNIQUE CHECK (domain = lower(domain) AND domain !~ '\.$'),
    ADD COLUMN upstream text CHECK (upstream ~ '^https?://');

-- API calls counted by the routing check, per tenant and calendar month (UTC).
CREATE TABLE api_calls (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    month      date NOT NULL CHECK (extract(day FROM month) = 1),
    calls      bigint NOT NULL CHECK (calls >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, month)
);

ALTER TABLE api_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_calls FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON api_calls TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY tenant_read ON api_calls FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
REVOKE ALL ON api_calls FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON api_calls TO bulkhead_platform;
GRANT SELECT ON api_calls TO bulkhead_tenant;

CREATE FUNCTION routing_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bulkhead_routing', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER routing_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION routing_changed();
CREATE TRIGGER routing_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tiers
    FOR EACH STATEMENT EXECUTE FUNCTION routing_changed();
CREATE TRIGGER routing_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON quota_overrides
    FOR EACH STATEMENT EXECUTE FUNCTION routing_changed();
-- Not on last_used_at alone: noting a token's use must not reload every table.
CREATE TRIGGER routing_changed AFTER INSERT OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION routing_changed();
CREATE TRIGGER routing_changed_update AFTER UPDATE OF revoked_at, expires_at, scopes ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION routing_changed();
