-- The routing check: a tenant's own domain and upstream, the API calls it made
-- each month, and a notification whenever what the check reads changes, so
-- every console's in-memory routing table follows within a second.

ALTER TABLE tenants
    ADD COLUMN domain   text UNIQUE CHECK (domain = lower(domain) AND domain !~ '\.$'),
    ADD COLUMN upstream text CHECK (upstream ~ '^https?://');

-- How fast a tenant may call its API: a token bucket refilled at the rate,
-- holding at most the burst.
ALTER TABLE tiers
    ADD COLUMN api_rate_per_second integer NOT NULL DEFAULT 50 CHECK (api_rate_per_second > 0),
    ADD COLUMN api_burst integer NOT NULL DEFAULT 100 CHECK (api_burst > 0);
UPDATE tiers SET api_rate_per_second = 5, api_burst = 10 WHERE id = 'free';
UPDATE tiers SET api_rate_per_second = 50, api_burst = 100 WHERE id = 'standard';
UPDATE tiers SET api_rate_per_second = 200, api_burst = 400 WHERE id = 'premium';
UPDATE tiers SET api_rate_per_second = 1000, api_burst = 2000 WHERE id = 'enterprise';

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
