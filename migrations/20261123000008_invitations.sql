-- Invitations of tenant admins: a one-time link whose token is stored as its
-- SHA-256 only, valid 72 hours, revocable.
CREATE TABLE invitations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    email       text NOT NULL CHECK (email = lower(email)),
    token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    invited_by  uuid REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX invitations_tenant_idx ON invitations (tenant_id, created_at DESC);

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON invitations TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY tenant_own ON invitations TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid))
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
REVOKE ALL ON invitations FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON invitations TO bulkhead_platform, bulkhead_tenant;

-- The owner reads and writes what the two functions below need even where it
-- is not a superuser (Row-Level Security is forced, owner included).
CREATE POLICY owner_all ON invitations TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_all ON users TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_read ON tenants FOR SELECT TO CURRENT_USER USING (true);

-- What an invitation link shows before it is used, to whoever holds it.
CREATE FUNCTION invitation_status(p_token_hash bytea, OUT email text, OUT tenant_name text, OUT problem text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE inv invitations;
BEGIN
  SELECT * INTO inv FROM invitations WHERE token_hash = p_token_hash;
  IF NOT FOUND THEN problem := 'unknown'; RETURN; END IF;
  email := inv.email;
  SELECT t.name INTO tenant_name FROM tenants t WHERE t.id = inv.tenant_id;
  problem := CASE
    WHEN inv.revoked_at IS NOT NULL THEN 'revoked'
    WHEN inv.accepted_at IS NOT NULL THEN 'used'
    WHEN inv.expires_at <= now() THEN 'expired'
    WHEN EXISTS (SELECT 1 FROM users u WHERE u.email = inv.email) THEN 'exists'
  END;
END $$;

-- Accepting: checks the invitation again under a row lock, creates the
-- tenant admin and uses the invitation up, all or nothing. The sign-in role
-- may call this and cannot otherwise create users.
CREATE FUNCTION accept_invitation(p_token_hash bytea, p_password_hash text,
                                  OUT user_id uuid, OUT tenant_id uuid, OUT email text, OUT problem text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE inv invitations;
BEGIN
  SELECT * INTO inv FROM invitations i WHERE i.token_hash = p_token_hash FOR UPDATE;
  IF NOT FOUND THEN problem := 'unknown'; RETURN; END IF;
  email := inv.email;
  tenant_id := inv.tenant_id;
  IF inv.revoked_at IS NOT NULL THEN problem := 'revoked'; RETURN; END IF;
  IF inv.accepted_at IS NOT NULL THEN problem := 'used'; RETURN; END IF;
  IF inv.expires_at <= now() THEN problem := 'expired'; RETURN; END IF;
  IF EXISTS (SELECT 1 FROM users u WHERE u.email = inv.email) THEN problem := 'exists'; RETURN; END IF;
  INSERT INTO users (email, password_hash, role, tenant_id)
  VALUES (inv.email, p_password_hash, 'tenant_admin', inv.tenant_id)
  RETURNING id INTO user_id;
  UPDATE invitations SET accepted_at = now() WHERE id = inv.id;
END $$;

REVOKE ALL ON FUNCTION invitation_status(bytea), accept_invitation(bytea, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION invitation_status(bytea), accept_invitation(bytea, text) TO bulkhead_auth;
