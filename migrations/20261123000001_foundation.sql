-- Bulkhead foundation: runtime roles, users and sessions, login throttling,
-- tenants (minimal; widened by the tenants capability) and the audit trail.

-- Runtime roles. The pool demotes every connection to bulkhead_app; each
-- transaction then takes exactly one scoped role (see src/server/db.rs).
-- None of them owns a table, and none bypasses Row-Level Security.
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['bulkhead_app', 'bulkhead_auth', 'bulkhead_platform', 'bulkhead_tenant'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL; -- created concurrently by another database's migration
      END;
    END IF;
  END LOOP;
END $$;

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- Tenants: the platform's customers. Tenant admins see only their own row.
CREATE TABLE tenants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL,
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'provisioning'
                CHECK (status IN ('provisioning', 'active', 'suspended', 'deleted')),
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

-- People who sign in to the console.
CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL CHECK (email = lower(email)),
    password_hash  text NOT NULL,
    role           text NOT NULL
                   CHECK (role IN ('platform_admin', 'platform_auditor', 'tenant_admin')),
    tenant_id      uuid REFERENCES tenants (id),
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_tenant_matches_role CHECK ((role = 'tenant_admin') = (tenant_id IS NOT NULL))
);
CREATE INDEX users_tenant_id_idx ON users (tenant_id);

-- One row per successful login. The browser's session (tower_sessions.session)
-- holds only this row's id; the row carries the absolute expiry and the idle
-- clock, and revoking rows ends a user's sessions wherever they are.
CREATE TABLE auth_sessions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    ip            text,
    user_agent    text
);
CREATE INDEX auth_sessions_user_live_idx ON auth_sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX auth_sessions_expires_idx ON auth_sessions (expires_at);

-- Failed-login counters, keyed by 'account:<email>' or 'ip:<address>'. The key
-- is the e-mail as typed, so unknown addresses are throttled exactly like real ones.
CREATE TABLE login_throttle (
    key           text PRIMARY KEY,
    failures      integer NOT NULL,
    locked_until  timestamptz,
    updated_at    timestamptz NOT NULL
);

-- Session store of tower-sessions (same shape as PostgresStore::migrate creates),
-- created here so that its privileges are granted with everything else.
CREATE SCHEMA IF NOT EXISTS tower_sessions;
CREATE TABLE IF NOT EXISTS tower_sessions.session (
    id           text PRIMARY KEY NOT NULL,
    data         bytea NOT NULL,
    expiry_date  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS session_expiry_idx ON tower_sessions.session (expiry_date);

-- The audit trail. Append-only: id, prev_hash and hash are set by a trigger
-- under a lock on the chain head, so the chain follows id order without gaps.
CREATE TABLE audit_chain_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_id    bigint NOT NULL,
    last_hash  bytea NOT NULL
);
INSERT INTO audit_chain_head (last_id, last_hash) VALUES (0, sha256('bulkhead audit genesis'::bytea));

CREATE TABLE audit_events (
    id             bigint PRIMARY KEY,
    occurred_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_user_id  uuid,
    actor_email    text,
    actor_role     text,
    ip             text,
    user_agent     text,
    tenant_id      uuid,
    action         text NOT NULL,
    target         text,
    before         jsonb,
    after          jsonb,
    prev_hash      bytea NOT NULL,
    hash           bytea NOT NULL
);
CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, id DESC);
CREATE INDEX audit_events_action_idx ON audit_events (action, id DESC);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_user_id, id DESC);

-- The digest of one event: the previous hash followed by a canonical JSON
-- array of its fields (jsonb's text form and epoch seconds do not depend on
-- session settings). Verification recomputes exactly this.
CREATE FUNCTION audit_event_digest(e audit_events) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
  SELECT sha256(e.prev_hash || convert_to(jsonb_build_array(
      e.id, extract(epoch FROM e.occurred_at)::text, e.actor_user_id, e.actor_email,
      e.actor_role, e.ip, e.user_agent, e.tenant_id, e.action, e.target, e.before, e.after
  )::text, 'UTF8'))
$$;

CREATE FUNCTION audit_events_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE head audit_chain_head;
BEGIN
  SELECT * INTO head FROM audit_chain_head WHERE singleton FOR UPDATE;
  NEW.id := head.last_id + 1;
  NEW.occurred_at := clock_timestamp();
  NEW.prev_hash := head.last_hash;
  NEW.hash := audit_event_digest(NEW);
  UPDATE audit_chain_head SET last_id = NEW.id, last_hash = NEW.hash WHERE singleton;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_chain();

-- Only the owner (migrations, repairs) may ever change or remove an event.
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID) THEN
    RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Row-Level Security, enabled and forced on every table a tenant may own.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;

CREATE POLICY platform_all ON tenants TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY tenant_own ON tenants TO bulkhead_tenant
  USING (id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));

CREATE POLICY platform_all ON users TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auth_read ON users FOR SELECT TO bulkhead_auth USING (true);

CREATE POLICY platform_all ON audit_events TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auth_insert ON audit_events FOR INSERT TO bulkhead_auth WITH CHECK (true);
CREATE POLICY tenant_read ON audit_events FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY tenant_insert ON audit_events FOR INSERT TO bulkhead_tenant
  WITH CHECK (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));

-- Privileges: nothing by default, then exactly what each scope needs.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_events_chain() FROM PUBLIC;

GRANT USAGE ON SCHEMA tower_sessions TO bulkhead_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tower_sessions.session TO bulkhead_app;

GRANT SELECT ON users TO bulkhead_auth;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_sessions, login_throttle TO bulkhead_auth;
GRANT INSERT ON audit_events TO bulkhead_auth;

GRANT SELECT, INSERT, UPDATE ON tenants, users TO bulkhead_platform;
GRANT SELECT, UPDATE, DELETE ON auth_sessions TO bulkhead_platform;
GRANT SELECT, INSERT ON audit_events TO bulkhead_platform;

GRANT SELECT ON tenants TO bulkhead_tenant;
GRANT SELECT, INSERT ON audit_events TO bulkhead_tenant;
