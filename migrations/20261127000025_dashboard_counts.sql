-- The dashboard's figures kept current by the statements that change them:
-- tenants per status and tier, and enabled users, so a dashboard view reads
-- a handful of rows instead of counting 100,000 tenants.
CREATE TABLE tenant_counts (
    status  text NOT NULL,
    tier_id text NOT NULL,
    -- (No CHECK (n >= 0): an upsert checks the row it proposes, a negative delta.)
    n       bigint NOT NULL,
    PRIMARY KEY (status, tier_id)
);
INSERT INTO tenant_counts (status, tier_id, n) SELECT status, tier_id, count(*) FROM tenants GROUP BY 1, 2;

CREATE FUNCTION tenant_counts_follow() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    WITH delta AS (
        SELECT status, tier_id, sum(d) AS d FROM (
            SELECT status, tier_id, 1 AS d FROM new_rows
            UNION ALL
            SELECT status, tier_id, -1 FROM old_rows) x
        GROUP BY status, tier_id HAVING sum(d) <> 0)
    INSERT INTO tenant_counts AS c (status, tier_id, n) SELECT status, tier_id, d FROM delta
    ON CONFLICT (status, tier_id) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
-- One function, three triggers: a transition table exists only for the events that have it.
CREATE FUNCTION tenant_counts_insert() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO tenant_counts AS c (status, tier_id, n)
    SELECT status, tier_id, count(*) FROM new_rows GROUP BY 1, 2
    ON CONFLICT (status, tier_id) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
CREATE FUNCTION tenant_counts_delete() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE tenant_counts c SET n = c.n - o.k
      FROM (SELECT status, tier_id, count(*) AS k FROM old_rows GROUP BY 1, 2) o
     WHERE c.status = o.status AND c.tier_id = o.tier_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER tenant_counts_insert AFTER INSERT ON tenants
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tenant_counts_insert();
CREATE TRIGGER tenant_counts_update AFTER UPDATE ON tenants
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tenant_counts_follow();
CREATE TRIGGER tenant_counts_delete AFTER DELETE ON tenants
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tenant_counts_delete();

-- Enabled users: a row-level trigger, on the changes that move the count only.
CREATE TABLE user_counts (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    enabled   bigint NOT NULL CHECK (enabled >= 0)
);
INSERT INTO user_counts (enabled) SELECT count(*) FROM users WHERE disabled_at IS NULL;

CREATE FUNCTION user_counts_follow() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE d bigint := 0;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.disabled_at IS NULL THEN d := d - 1; END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.disabled_at IS NULL THEN d := d + 1; END IF;
    IF d <> 0 THEN
        UPDATE user_counts SET enabled = enabled + d;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER user_counts_follow AFTER INSERT OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION user_counts_follow();
CREATE TRIGGER user_counts_follow_update AFTER UPDATE OF disabled_at ON users
    FOR EACH ROW WHEN (OLD.disabled_at IS DISTINCT FROM NEW.disabled_at) EXECUTE FUNCTION user_counts_follow();

-- Aggregates, no tenant's data: read by platform staff only, written only by
-- the triggers above (as the tables' owner: no runtime role may write them).
REVOKE ALL ON tenant_counts, user_counts FROM PUBLIC;
GRANT SELECT ON tenant_counts, user_counts TO bulkhead_platform, bulkhead_auditor;
REVOKE ALL ON FUNCTION tenant_counts_follow(), tenant_counts_insert(), tenant_counts_delete(), user_counts_follow() FROM PUBLIC;
