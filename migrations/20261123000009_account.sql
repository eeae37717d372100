-- The account page (changing one's own password) runs under the sign-in
-- role, which may now set a password hash too; role, e-mail and tenant stay
-- out of its reach.
GRANT UPDATE (password_hash) ON users TO bulkhead_auth;

-- The Team page: a tenant admin reads the admins of their own tenant, and of
-- their rows only what the page shows (never a password hash or a secret).
CREATE POLICY tenant_team ON users FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
GRANT SELECT (id, email, role, tenant_id, totp_enrolled_at, disabled_at, created_at) ON users TO bulkhead_tenant;
