-- The audit page filters by actor, by tenant and action together, and by
-- period; tenant alone and action alone already have (column, id DESC) indexes.
CREATE INDEX audit_events_actor_email_idx ON audit_events (actor_email, id DESC);
CREATE INDEX audit_events_tenant_action_idx ON audit_events (tenant_id, action, id DESC);
-- A period is turned into a range of ids (time follows id: the chain trigger
-- assigns both under the chain head's lock), found through this index.
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at);

-- Writes a synthetic history of `events` events over the last `days` days,
-- across `tenant_count` tenants (audit-seed-1, audit-seed-2, …, created here
-- when missing), for load and paging tests. Owner only.
--
-- The chain trigger would update the chain head once per row; in one
-- transaction that makes a million rows quadratic. So the trigger is switched
-- off for the duration and this function builds the same chain itself, with
-- the same digest, and moves the head once at the end: `verify_chain` checks
-- seeded events exactly like real ones.
CREATE FUNCTION audit_seed(events bigint, tenant_count int, days int DEFAULT 365) RETURNS bigint
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
         'active', 'eu-west-1', 'production', start_at
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

-- Checks the whole chain, whoever asks: it runs as the owner, so a caller
-- limited by Row-Level Security learns the result, not other tenants' events.
-- An event is broken when its hash does not match its content, its link does
-- not match the previous event's hash, or its id does not follow the previous
-- one; removing the newest events shows as the chain head pointing past the
-- last event.
CREATE FUNCTION audit_verify(OUT checked bigint, OUT first_broken bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH chain AS (
    SELECT e.id, e.hash, e.prev_hash, audit_event_digest(e) AS computed,
           lag(e.hash) OVER (ORDER BY e.id) AS expected_prev,
           lag(e.id) OVER (ORDER BY e.id) AS previous_id
    FROM audit_events e),
  last AS (SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1)
  SELECT (SELECT count(*) FROM chain),
         coalesce(
           (SELECT min(id) FROM chain
             WHERE computed <> hash
                OR prev_hash <> coalesce(expected_prev, sha256('bulkhead audit genesis'::bytea))
                OR id <> coalesce(previous_id, 0) + 1),
           (SELECT coalesce((SELECT id FROM last), 0) + 1 FROM audit_chain_head h
             WHERE singleton
               AND (h.last_id <> coalesce((SELECT id FROM last), 0)
                    OR h.last_hash <> coalesce((SELECT hash FROM last), sha256('bulkhead audit genesis'::bytea)))))
$$;
REVOKE ALL ON FUNCTION audit_verify() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_verify() TO bulkhead_platform;

-- The owner reads the trail even where it is not a superuser (Row-Level
-- Security is forced on the table, owner included), so the check above sees it all.
CREATE POLICY owner_read ON audit_events FOR SELECT TO CURRENT_USER USING (true);
