-- Access ends with the tenant: a suspended or deleted tenant's admins cannot
-- sign in, and the sessions they hold stop working. The sign-in role cannot
-- read tenants; this function answers the one question it needs.
CREATE FUNCTION tenant_access_open(p_tenant uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT coalesce((SELECT t.status NOT IN ('suspended', 'deleted') FROM tenants t WHERE t.id = p_tenant), false)
$$;

REVOKE ALL ON FUNCTION tenant_access_open(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenant_access_open(uuid) TO bulkhead_auth;
