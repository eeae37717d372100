-- API tokens for machines (a proxy's routing check, usage ingestion, metrics,
-- billing): shown once, stored as their SHA-256 only, scoped, revocable.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    -- The first characters after `bkh_`, so people can tell their tokens apart.
    hint         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    scopes       text[] NOT NULL
                 CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['routing', 'ingest', 'metrics', 'billing']),
    created_by   uuid REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
-- Platform staff manage tokens; the sign-in role checks a presented token and
-- notes its last use. Tenants never see them.
CREATE POLICY platform_all ON api_tokens TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auth_check ON api_tokens TO bulkhead_auth USING (true);
REVOKE ALL ON api_tokens FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE (revoked_at) ON api_tokens TO bulkhead_platform;
GRANT SELECT (id, name, scopes, expires_at, revoked_at, token_hash, last_used_at), UPDATE (last_used_at)
  ON api_tokens TO bulkhead_auth;
