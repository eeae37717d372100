-- Every privilege of each runtime role on every table, one row per table:
-- a cell per role, `SELECT, INSERT, UPDATE (col, …)`, `—` for none. Column
-- privileges are listed where the role lacks the privilege on the whole table.
WITH roles(r, pos) AS (VALUES ('bulkhead_app', 1), ('bulkhead_auth', 2), ('bulkhead_platform', 3),
                              ('bulkhead_auditor', 4), ('bulkhead_tenant', 5)),
tabs AS (SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname IN ('public', 'tower_sessions') AND c.relkind IN ('r', 'p')
            AND c.relname NOT IN ('_sqlx_migrations')),
privs(p, pos) AS (VALUES ('SELECT', 1), ('INSERT', 2), ('UPDATE', 3), ('DELETE', 4), ('TRUNCATE', 5)),
cells AS (
  SELECT tabs.relname, roles.r, roles.pos AS rpos, privs.pos AS ppos,
         CASE WHEN has_table_privilege(roles.r, tabs.oid, privs.p) THEN privs.p
              ELSE (SELECT privs.p || ' (' || string_agg(a.attname, ', ' ORDER BY a.attname) || ')'
                      FROM pg_attribute a
                     WHERE a.attrelid = tabs.oid AND a.attnum > 0 AND NOT a.attisdropped
                       AND privs.p IN ('SELECT', 'INSERT', 'UPDATE')
                       AND has_column_privilege(roles.r, tabs.oid, a.attnum, privs.p)
                    HAVING count(*) > 0)
         END AS cell
    FROM tabs, roles, privs),
per_role AS (
  SELECT relname, rpos, coalesce(string_agg(cell, ', ' ORDER BY ppos), '—') AS cell
    FROM cells GROUP BY relname, rpos)
SELECT '| ' || relname || ' | ' || string_agg(cell, ' | ' ORDER BY rpos) || ' |'
  FROM per_role GROUP BY relname ORDER BY relname;
