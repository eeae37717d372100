-- The tier catalogue (seed 002) and the tenant's configuration.

CREATE TABLE tiers (
    id                        text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9-]{1,31}$'),
    name                      text NOT NULL,
    position                  integer NOT NULL,
    cpu_millicores            bigint NOT NULL CHECK (cpu_millicores > 0),
    memory_bytes              bigint NOT NULL CHECK (memory_bytes > 0),
    storage_bytes             bigint NOT NULL CHECK (storage_bytes > 0),
    max_users                 bigint NOT NULL CHECK (max_users > 0),
    api_calls_per_month       bigint NOT NULL CHECK (api_calls_per_month > 0),
    db_connections            bigint NOT NULL CHECK (db_connections > 0),
    allowed_isolation_levels  smallint[] NOT NULL
                              CHECK (allowed_isolation_levels <@ ARRAY[1, 2, 3]::smallint[]
                                     AND cardinality(allowed_isolation_levels) > 0),
    default_isolation_level   smallint NOT NULL,
    backup                    text NOT NULL,
    support                   text NOT NULL,
    version                   integer NOT NULL DEFAULT 1,
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tiers_default_is_allowed CHECK (default_isolation_level = ANY (allowed_isolation_levels))
);

INSERT INTO tiers (id, name, position, cpu_millicores, memory_bytes, storage_bytes, max_users,
                   api_calls_per_month, db_connections, allowed_isolation_levels,
                   default_isolation_level, backup, support) VALUES
  ('free', 'Free', 1, 250, 512 * 1024 * 1024::bigint, 1024::bigint ^ 3, 10, 10000, 5,
   '{1}', 1, 'None', 'Community'),
  ('standard', 'Standard', 2, 2000, 8 * 1024::bigint ^ 3, 100 * 1024::bigint ^ 3, 1000, 1000000, 100,
   '{1,2}', 1, 'Weekly full, daily incremental, kept 30 days', '24 h'),
  ('premium', 'Premium', 3, 8000, 32 * 1024::bigint ^ 3, 1024::bigint ^ 4, 10000, 10000000, 500,
   '{2,3}', 2, 'Weekly full, daily and 6-hourly incremental, 30-minute log backup, point-in-time recovery 7 days', '4 h'),
  ('enterprise', 'Enterprise', 4, 32000, 128 * 1024::bigint ^ 3, 10 * 1024::bigint ^ 4, 100000, 100000000, 1000,
   '{2,3}', 3, 'Premium backups plus disaster recovery: RPO 15 min, RTO 60 min', '1 h');

ALTER TABLE tenants
    ADD COLUMN tier_id           text NOT NULL DEFAULT 'free' REFERENCES tiers (id),
    ADD COLUMN isolation_level   smallint NOT NULL DEFAULT 1 CHECK (isolation_level BETWEEN 1 AND 3),
    ADD COLUMN region            text NOT NULL DEFAULT 'eu-west-1',
    ADD COLUMN environment       text NOT NULL DEFAULT 'production'
                                 CHECK (environment IN ('development', 'staging', 'production')),
    ADD COLUMN compliance        text[] NOT NULL DEFAULT '{}'
                                 CHECK (compliance <@ ARRAY['gdpr', 'sox', 'hipaa', 'pci-dss']),
    ADD COLUMN dedicated_instance boolean NOT NULL DEFAULT false,
    ADD COLUMN namespace_target  text,
    ADD COLUMN dedicated_domain  text,
    ADD COLUMN prevent_deletion  boolean NOT NULL DEFAULT false,
    ADD COLUMN created_by        uuid REFERENCES users (id),
    ADD COLUMN updated_at        timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT tenants_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{1,61})[a-z0-9]$');
ALTER TABLE tenants ALTER COLUMN tier_id DROP DEFAULT;

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tenants_created_idx ON tenants (created_at DESC, id DESC);
CREATE INDEX tenants_tier_idx ON tenants (tier_id, created_at DESC, id DESC);
CREATE INDEX tenants_status_idx ON tenants (status, created_at DESC, id DESC);
CREATE INDEX tenants_search_idx ON tenants USING gin ((name || ' ' || slug) gin_trgm_ops);

ALTER TABLE tiers ENABLE ROW LEVEL SECURITY;
ALTER TABLE tiers FORCE ROW LEVEL SECURITY;
CREATE POLICY everyone_reads ON tiers FOR SELECT TO bulkhead_platform, bulkhead_tenant USING (true);
CREATE POLICY platform_writes ON tiers FOR UPDATE TO bulkhead_platform USING (true) WITH CHECK (true);
GRANT SELECT ON tiers TO bulkhead_platform, bulkhead_tenant;
GRANT UPDATE ON tiers TO bulkhead_platform;
