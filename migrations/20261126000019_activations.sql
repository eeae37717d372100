-- The activation checklist of a dedicated instance (isolation level 3). An
-- activation moves requested → rendered → validated → applied → verified →
-- active, or to failed (its step tried again) and, when the tenant leaves
-- level 3, rolled_back; every step is recorded with who, when, the evidence
-- and the outcome. A tenant runs dedicated only through an active activation.
CREATE TABLE activations (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    state            text NOT NULL DEFAULT 'requested'
                     CHECK (state IN ('requested', 'rendered', 'validated', 'applied', 'verified', 'active',
                                      'failed', 'rolled_back')),
    failed_step      text CHECK (failed_step IN ('render', 'validate', 'apply', 'verify', 'activate')),
    failure          text,
    dedicated_domain text CHECK (dedicated_domain = lower(dedicated_domain)),
    upstream         text CHECK (upstream ~ '^https?://'),
    health_url       text CHECK (health_url ~ '^https?://'),
    manifests_digest bytea,
    -- The password of the tenant's Redis user, sealed with the console's key.
    queue_secret     bytea,
    -- Once active: the probe that failed on the last scheduled re-run, if one did.
    drift            text,
    drift_checked_at timestamptz,
    version          integer NOT NULL DEFAULT 1,
    created_by       uuid REFERENCES users (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'failed') = (failed_step IS NOT NULL))
);
-- One live activation per tenant; rolled back ones are history.
CREATE UNIQUE INDEX activations_live ON activations (tenant_id) WHERE state <> 'rolled_back';
-- A dedicated domain belongs to one tenant.
CREATE UNIQUE INDEX activations_domain ON activations (dedicated_domain) WHERE state <> 'rolled_back';

CREATE TABLE activation_steps (
    id            bigserial PRIMARY KEY,
    activation_id uuid NOT NULL REFERENCES activations (id),
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    step          text NOT NULL CHECK (step IN ('configure', 'render', 'validate', 'apply', 'verify', 'activate',
                                                'roll_back')),
    outcome       text NOT NULL CHECK (outcome IN ('passed', 'failed')),
    evidence      jsonb NOT NULL DEFAULT '{}',
    actor_user_id uuid REFERENCES users (id),
    actor         text NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX activation_steps_activation ON activation_steps (activation_id, id);

ALTER TABLE activations ENABLE ROW LEVEL SECURITY;
ALTER TABLE activations FORCE ROW LEVEL SECURITY;
ALTER TABLE activation_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE activation_steps FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON activations TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON activations FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY tenant_read ON activations FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY platform_all ON activation_steps TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON activation_steps FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY tenant_read ON activation_steps FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
-- The owner reads activations for the trigger below where it is not a superuser.
CREATE POLICY owner_read ON activations FOR SELECT TO CURRENT_USER USING (true);
REVOKE ALL ON activations, activation_steps FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON activations TO bulkhead_platform;
GRANT SELECT, INSERT ON activation_steps TO bulkhead_platform;
GRANT USAGE ON SEQUENCE activation_steps_id_seq TO bulkhead_platform;
GRANT SELECT ON activations, activation_steps TO bulkhead_auditor, bulkhead_tenant;

-- Level-3 tenants that were marked active without a checklist wait for it now.
UPDATE tenants SET status = 'provisioning', version = version + 1, updated_at = now()
 WHERE isolation_level = 3 AND status = 'active' AND NOT dedicated_instance;
INSERT INTO activations (tenant_id)
  SELECT id FROM tenants WHERE isolation_level = 3 AND status <> 'deleted' AND NOT dedicated_instance;

-- Dedicated only at level 3; active at level 3 only when dedicated.
ALTER TABLE tenants
  ADD CONSTRAINT tenants_dedicated_at_level_3 CHECK (NOT dedicated_instance OR isolation_level = 3),
  ADD CONSTRAINT tenants_level_3_active_when_dedicated
      CHECK (NOT (isolation_level = 3 AND status = 'active' AND NOT dedicated_instance));

-- And dedicated only through an activation that reached its end.
CREATE FUNCTION tenants_dedicated_by_checklist() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF NEW.dedicated_instance
     AND (TG_OP = 'INSERT' OR NOT OLD.dedicated_instance)
     AND NOT EXISTS (SELECT 1 FROM activations a WHERE a.tenant_id = NEW.id AND a.state = 'active') THEN
    RAISE EXCEPTION 'tenant % runs dedicated only once its activation checklist is complete', NEW.slug
      USING ERRCODE = 'check_violation', CONSTRAINT = 'tenants_dedicated_by_checklist';
  END IF;
  RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION tenants_dedicated_by_checklist() FROM PUBLIC;
CREATE TRIGGER tenants_dedicated_by_checklist BEFORE INSERT OR UPDATE OF dedicated_instance ON tenants
  FOR EACH ROW EXECUTE FUNCTION tenants_dedicated_by_checklist();

-- Signed isolation integrity reports (DSSE envelopes over in-toto statements).
CREATE TABLE isolation_reports (
    id            bigserial PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    activation_id uuid NOT NULL REFERENCES activations (id),
    envelope      jsonb NOT NULL,
    sha256        bytea NOT NULL,
    key_id        text NOT NULL,
    issued_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX isolation_reports_tenant ON isolation_reports (tenant_id, id DESC);
ALTER TABLE isolation_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE isolation_reports FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON isolation_reports TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON isolation_reports FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY tenant_read ON isolation_reports FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
REVOKE ALL ON isolation_reports FROM PUBLIC;
GRANT SELECT, INSERT ON isolation_reports TO bulkhead_platform;
GRANT USAGE ON SEQUENCE isolation_reports_id_seq TO bulkhead_platform;
GRANT SELECT ON isolation_reports TO bulkhead_auditor, bulkhead_tenant;

-- The audit trail's load seed writes its level-3 tenants as waiting for their checklist.
CREATE OR REPLACE FUNCTION audit_seed(events bigint, tenant_count int, days int DEFAULT 365) RETURNS bigint
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  head audit_chain_head;
  e audit_events;
  start_at timestamptz := now() - make_interval(days => days);
  step interval;
  tenant_ids uuid[];
  tenant_slugs text[];
  k int;
  a int;
  actions text[] := ARRAY['tenant.tier_changed', 'tenant.quota_override_set', 'tenant.suspended',
                          'tenant.reactivated', 'tenant.isolation_changed', 'tenant.quota_override_removed',
                          'tenant.deletion_protection', 'auth.login.succeeded', 'auth.login.failed', 'auth.logout'];
  tiers text[] := ARRAY['free', 'standard', 'premium', 'enterprise'];
  agents text[] := ARRAY['Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0',
                         'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) Safari/605.1.15',
                         'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36'];
BEGIN
  IF events < 1 OR tenant_count < 1 OR days < 1 THEN
    RAISE EXCEPTION 'events, tenant count and days must be positive';
  END IF;
  SELECT * INTO head FROM audit_chain_head WHERE singleton FOR UPDATE;
  IF EXISTS (SELECT 1 FROM audit_events WHERE occurred_at >= start_at) THEN
    RAISE EXCEPTION 'the trail already has events in the last % days: seed a new database', days;
  END IF;
  PERFORM setseed(0.42);

  INSERT INTO tenants (slug, name, tier_id, isolation_level, status, region, environment, created_at)
  SELECT 'audit-seed-' || n, 'Audit seed ' || n, tiers[1 + n % 4], (ARRAY[1, 1, 2, 3])[1 + n % 4],
         CASE WHEN n % 4 = 3 THEN 'provisioning' ELSE 'active' END, 'eu-west-1', 'production', start_at
  FROM generate_series(1, tenant_count) AS n
  ON CONFLICT (slug) DO NOTHING;
  SELECT array_agg(id ORDER BY id), array_agg(slug ORDER BY id) INTO tenant_ids, tenant_slugs
  FROM tenants WHERE slug ~ '^audit-seed-[0-9]+$';
  tenant_count := cardinality(tenant_ids);

  ALTER TABLE audit_events DISABLE TRIGGER audit_events_chain;
  step := make_interval(days => days) / events;
  e.id := head.last_id;
  e.hash := head.last_hash;
  FOR i IN 1..events LOOP
    k := 1 + floor(random() * tenant_count)::int;
    a := 1 + floor(random() * cardinality(actions))::int;
    e.prev_hash := e.hash;
    e.id := e.id + 1;
    e.occurred_at := start_at + step * i;
    e.actor_user_id := NULL;
    e.actor_email := 'staff-' || (1 + (k + a) % 40) || '@example.com';
    e.actor_role := CASE WHEN a % 5 = 0 THEN 'platform_auditor' ELSE 'platform_admin' END;
    e.ip := '10.' || (k % 250) || '.' || (a * 7 % 250) || '.' || (i % 250);
    e.user_agent := agents[1 + i % 3];
    e.action := actions[a];
    IF e.action LIKE 'auth.%' THEN
      e.tenant_id := NULL;
      e.target := e.actor_email;
      e.before := NULL;
      e.after := NULL;
    ELSE
      e.tenant_id := tenant_ids[k];
      e.target := tenant_slugs[k];
      e.before := jsonb_build_object('tier_id', tiers[1 + (i % 4)::int], 'version', i % 50);
      e.after := jsonb_build_object('tier_id', tiers[1 + ((i + 1) % 4)::int], 'version', i % 50 + 1);
    END IF;
    e.hash := audit_event_digest(e);
    INSERT INTO audit_events VALUES (e.*);
  END LOOP;
  ALTER TABLE audit_events ENABLE TRIGGER audit_events_chain;
  UPDATE audit_chain_head SET last_id = e.id, last_hash = e.hash WHERE singleton;
  RETURN events;
END $$;
REVOKE ALL ON FUNCTION audit_seed(bigint, int, int) FROM PUBLIC;
