-- Tenant API keys (seed 002's service accounts): a tenant's own callers
-- present one, and the routing check counts a call against a tenant only when
-- it carries a key of that tenant. Shown once, stored as their SHA-256 only,
-- each with optional limits of its own inside the tenant's.

CREATE TABLE tenant_api_keys (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    -- `bk_live_` and the first characters of the key, to tell keys apart.
    hint            text NOT NULL,
    key_hash        bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    -- Its own token bucket (calls a second, burst), inside the tier's.
    rate_per_second integer CHECK (rate_per_second > 0),
    burst           integer CHECK (burst > 0),
    -- Its own monthly cap, inside the tenant's allowance.
    monthly_calls   bigint CHECK (monthly_calls > 0),
    created_by      uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    revoked_at      timestamptz,
    last_used_at    timestamptz,
    CHECK ((rate_per_second IS NULL) = (burst IS NULL)),
    UNIQUE (tenant_id, name)
);
CREATE INDEX tenant_api_keys_tenant ON tenant_api_keys (tenant_id);

ALTER TABLE tenant_api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON tenant_api_keys TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON tenant_api_keys FOR SELECT TO bulkhead_auditor USING (true);
-- A tenant admin makes, reads and revokes their own tenant's keys, and no other's.
CREATE POLICY tenant_own ON tenant_api_keys TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
REVOKE ALL ON tenant_api_keys FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE (revoked_at, last_used_at, rate_per_second, burst, monthly_calls, expires_at)
  ON tenant_api_keys TO bulkhead_platform;
GRANT SELECT, INSERT, UPDATE (revoked_at) ON tenant_api_keys TO bulkhead_tenant;
GRANT SELECT (id, tenant_id, name, hint, rate_per_second, burst, monthly_calls, created_by, created_at,
              expires_at, revoked_at, last_used_at) ON tenant_api_keys TO bulkhead_auditor;

-- Calls counted per key and calendar month (UTC), for the keys' own caps.
CREATE TABLE api_key_calls (
    key_id     uuid NOT NULL REFERENCES tenant_api_keys (id),
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    month      date NOT NULL CHECK (extract(day FROM month) = 1),
    calls      bigint NOT NULL CHECK (calls >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_id, month)
);
CREATE INDEX api_key_calls_tenant ON api_key_calls (tenant_id);
CREATE INDEX api_key_calls_month ON api_key_calls (month, updated_at);

ALTER TABLE api_key_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_key_calls FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON api_key_calls TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON api_key_calls FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY tenant_read ON api_key_calls FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
REVOKE ALL ON api_key_calls FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON api_key_calls TO bulkhead_platform;
GRANT SELECT ON api_key_calls TO bulkhead_auditor, bulkhead_tenant;

-- What the check does with a call that carries no key of the tenant:
--   refuse  (the default) 401 at the edge; nothing of any tenant's is spent.
--   pass    the upstream authenticates it: it goes through uncounted, limited
--           per client address, never against the tenant's allowance.
ALTER TABLE tenants ADD COLUMN anonymous_calls text NOT NULL DEFAULT 'refuse'
    CHECK (anonymous_calls IN ('refuse', 'pass'));
GRANT SELECT (anonymous_calls) ON tenants TO bulkhead_auditor;

-- The routing table follows keys as it follows tokens (not their last use).
CREATE TRIGGER routing_changed AFTER INSERT OR DELETE OR TRUNCATE ON tenant_api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION routing_changed();
CREATE TRIGGER routing_changed_update AFTER UPDATE OF revoked_at, expires_at, rate_per_second, burst, monthly_calls
    ON tenant_api_keys FOR EACH STATEMENT EXECUTE FUNCTION routing_changed();
