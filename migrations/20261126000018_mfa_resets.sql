-- Second-factor resets by link: a platform admin's reset makes a one-time
-- enrolment link (its token stored as SHA-256 only, valid 72 hours). The
-- old factor keeps working until the holder of the link has entered their
-- password and confirmed a new secret with a code from it.
CREATE TABLE mfa_resets (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    requested_by uuid REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX mfa_resets_user ON mfa_resets (user_id, created_at DESC);

ALTER TABLE mfa_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_resets FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON mfa_resets TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON mfa_resets FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY auth_use ON mfa_resets TO bulkhead_auth USING (true) WITH CHECK (true);
REVOKE ALL ON mfa_resets FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE (revoked_at) ON mfa_resets TO bulkhead_platform;
GRANT SELECT (id, user_id, requested_by, created_at, expires_at, used_at, revoked_at) ON mfa_resets TO bulkhead_auditor;
GRANT SELECT, UPDATE (used_at) ON mfa_resets TO bulkhead_auth;
