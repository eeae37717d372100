-- The second factor. A TOTP secret is stored sealed (AES-256-GCM, bound to
-- the user's id; see src/auth/totp.rs), never in clear. `totp_last_step` is
-- the last time step accepted: a code is accepted only for a later step, in
-- one UPDATE, so a replayed code, or two requests racing with one code,
-- cannot both pass.
ALTER TABLE users
  ADD COLUMN totp_secret bytea,
  ADD COLUMN totp_enrolled_at timestamptz,
  ADD COLUMN totp_last_step bigint,
  ADD CONSTRAINT users_enrolled_has_secret CHECK (totp_enrolled_at IS NULL OR totp_secret IS NOT NULL);

-- Recovery codes, stored as SHA-256 of the code (the codes carry ~79 random
-- bits, so a fast hash cannot be searched); each works once.
CREATE TABLE recovery_codes (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
ALTER TABLE recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE recovery_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON recovery_codes TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auth_read ON recovery_codes FOR SELECT TO bulkhead_auth USING (true);
CREATE POLICY auth_use ON recovery_codes FOR UPDATE TO bulkhead_auth USING (true) WITH CHECK (true);
CREATE POLICY auth_issue ON recovery_codes FOR INSERT TO bulkhead_auth WITH CHECK (true);
CREATE POLICY auth_replace ON recovery_codes FOR DELETE TO bulkhead_auth USING (true);
REVOKE ALL ON recovery_codes FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON recovery_codes TO bulkhead_platform;
GRANT SELECT, INSERT, DELETE, UPDATE (used_at) ON recovery_codes TO bulkhead_auth;

-- Sign-in and enrolment (the sign-in role) may set the second factor's
-- columns, and no other: not the password, the role, the e-mail or the tenant.
CREATE POLICY auth_mfa ON users FOR UPDATE TO bulkhead_auth USING (true) WITH CHECK (true);
GRANT UPDATE (totp_secret, totp_enrolled_at, totp_last_step) ON users TO bulkhead_auth;
