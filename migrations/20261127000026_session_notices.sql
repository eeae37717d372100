-- Every console instance holds the sessions it has checked in memory, and lets
-- one go the moment the database says it changed: these triggers notify
-- 'bulkhead_sessions' in the transaction of the change, so the notice reaches
-- every instance when (and only if) the change commits.
--
--   session:<id>  an auth session revoked, cut short or deleted
--   user:<id>     a user disabled, deleted, or given another role, e-mail or tenant
--   tenant:<id>   a tenant's status changed (suspended, deleted, restored) or the row deleted
--   record:<id>   a browser session's record (tower_sessions.session) rewritten or deleted
--
-- Writing last_seen_at notifies nothing: it is the instances' own bookkeeping.

CREATE FUNCTION session_notice() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text := TG_ARGV[0];
BEGIN
    PERFORM pg_notify('bulkhead_sessions', kind || ':' || OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER session_notice AFTER UPDATE OF revoked_at, expires_at, user_id OR DELETE ON auth_sessions
    FOR EACH ROW EXECUTE FUNCTION session_notice('session');
CREATE TRIGGER session_notice AFTER UPDATE OF disabled_at, role, email, tenant_id, password_hash OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION session_notice('user');
CREATE TRIGGER session_notice AFTER UPDATE OF status OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION session_notice('tenant');
CREATE TRIGGER session_notice AFTER UPDATE OR DELETE ON tower_sessions.session
    FOR EACH ROW EXECUTE FUNCTION session_notice('record');
