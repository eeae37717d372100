-- Least privilege: auditors read through a role of their own that can write
-- nothing but audit events (their exports and checks are audited); tenant
-- admins update only the columns their pages change.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bulkhead_auditor') THEN
    BEGIN
      CREATE ROLE bulkhead_auditor NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- created concurrently by another database's migration
    END;
  END IF;
END $$;

-- What platform staff may read, column by column, but the secrets: password
-- and second-factor hashes, token hashes. Every table platform staff see
-- (their policies show every row) gets a read-only policy for auditors.
DO $$
DECLARE t record;
BEGIN
  FOR t IN
    SELECT table_name, string_agg(quote_ident(column_name), ', ' ORDER BY column_name) AS columns
      FROM information_schema.column_privileges
     WHERE grantee = 'bulkhead_platform' AND privilege_type = 'SELECT' AND table_schema = 'public'
       AND column_name NOT IN ('password_hash', 'totp_secret', 'totp_last_step', 'token_hash', 'code_hash')
     GROUP BY table_name
  LOOP
    EXECUTE format('GRANT SELECT (%s) ON %I TO bulkhead_auditor', t.columns, t.table_name);
  END LOOP;
  FOR t IN
    SELECT DISTINCT tablename AS table_name FROM pg_policies
     WHERE schemaname = 'public' AND 'bulkhead_platform' = ANY (roles) AND cmd IN ('ALL', 'SELECT')
  LOOP
    EXECUTE format('CREATE POLICY auditor_read ON %I FOR SELECT TO bulkhead_auditor USING (true)', t.table_name);
  END LOOP;
END $$;
CREATE POLICY auditor_insert ON audit_events FOR INSERT TO bulkhead_auditor WITH CHECK (true);
GRANT INSERT ON audit_events TO bulkhead_auditor;
GRANT INSERT ON outbox_mail TO bulkhead_auditor;
GRANT USAGE ON SEQUENCE outbox_mail_id_seq TO bulkhead_auditor;
GRANT EXECUTE ON FUNCTION audit_verify() TO bulkhead_auditor;

-- Whoever may already take the platform role (the console's login role) may
-- take the auditors' one, so an upgrade needs no new grant by hand.
DO $$
DECLARE m text;
BEGIN
  FOR m IN
    SELECT r.rolname FROM pg_auth_members am
      JOIN pg_roles g ON g.oid = am.roleid JOIN pg_roles r ON r.oid = am.member
     WHERE g.rolname = 'bulkhead_platform'
  LOOP
    EXECUTE format('GRANT bulkhead_auditor TO %I', m);
  END LOOP;
END $$;

-- Tenant admins: revoking an invitation is the only change their pages make
-- to one; nothing of theirs writes usage.
REVOKE UPDATE ON invitations FROM bulkhead_tenant;
GRANT UPDATE (revoked_at) ON invitations TO bulkhead_tenant;
REVOKE INSERT ON usage_samples FROM bulkhead_tenant;
