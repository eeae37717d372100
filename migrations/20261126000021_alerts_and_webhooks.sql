-- Quota alerts and the webhooks that carry them.
--
-- Each tenant and limit has a level (0 under 80 %, 1 from 80 %, 2 from
-- 100 %); an alert is raised when the level rises, and the level falls back
-- only under a lower mark (75 % and 95 %), so usage hovering at a mark raises
-- one alert, not one per sample. API calls count per calendar month: a new
-- month starts at level 0.
CREATE TABLE quota_alert_levels (
    tenant_id  uuid NOT NULL REFERENCES tenants (id),
    metric     text NOT NULL
               CHECK (metric IN ('cpu', 'memory', 'storage', 'users', 'api_calls', 'db_connections')),
    -- 'YYYY-MM' for API calls, '' for the gauges.
    period     text NOT NULL,
    level      smallint NOT NULL CHECK (level BETWEEN 0 AND 2),
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, metric)
);
CREATE INDEX quota_alert_levels_open ON quota_alert_levels (changed_at DESC) WHERE level > 0;

CREATE TABLE quota_alerts (
    id        bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    metric    text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('quota.warning', 'quota.exceeded', 'quota.recovered')),
    used      bigint NOT NULL,
    quota     bigint NOT NULL CHECK (quota > 0),
    period    text NOT NULL,
    raised_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quota_alerts_recent ON quota_alerts (raised_at DESC, id DESC);
CREATE INDEX quota_alerts_tenant ON quota_alerts (tenant_id, raised_at DESC);

ALTER TABLE quota_alert_levels ENABLE ROW LEVEL SECURITY;
ALTER TABLE quota_alert_levels FORCE ROW LEVEL SECURITY;
ALTER TABLE quota_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE quota_alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON quota_alert_levels TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY platform_all ON quota_alerts TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON quota_alert_levels FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY auditor_read ON quota_alerts FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY tenant_read ON quota_alert_levels FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
CREATE POLICY tenant_read ON quota_alerts FOR SELECT TO bulkhead_tenant
  USING (tenant_id = (SELECT nullif(current_setting('app.tenant_id', true), '')::uuid));
REVOKE ALL ON quota_alert_levels, quota_alerts FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON quota_alert_levels TO bulkhead_platform;
GRANT SELECT, INSERT ON quota_alerts TO bulkhead_platform;
GRANT USAGE ON SEQUENCE quota_alerts_id_seq TO bulkhead_platform;
GRANT SELECT ON quota_alert_levels, quota_alerts TO bulkhead_auditor, bulkhead_tenant;

-- Webhook endpoints (platform admins), their messages and deliveries. A
-- message and its deliveries are written in the transaction of the event they
-- announce (an outbox: a restart loses none); the secret is sealed with the
-- console's key, bound to its endpoint.
CREATE TABLE webhook_endpoints (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url             text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    event_types     text[] NOT NULL
                    CHECK (cardinality(event_types) > 0
                           AND event_types <@ ARRAY['quota.warning', 'quota.exceeded', 'quota.recovered',
                                                    'tenant.throttled', 'billing.period_closed']),
    secret_sealed   bytea NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    created_by      uuid REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_messages (
    -- `msg_` and 32 hexadecimal digits: the `webhook-id` of every attempt.
    id         text PRIMARY KEY CHECK (id ~ '^msg_[0-9a-f]{32}$'),
    event_type text NOT NULL,
    -- The exact body sent, signed anew (with a fresh timestamp) at each attempt.
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id      text NOT NULL REFERENCES webhook_messages (id),
    attempts        integer NOT NULL DEFAULT 0,
    -- NULL once delivered or given up.
    next_attempt_at timestamptz DEFAULT now(),
    delivered_at    timestamptz,
    given_up_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id DESC);

CREATE TABLE webhook_attempts (
    id          bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    -- The HTTP status answered; NULL when nothing was (refused, timed out).
    status      integer,
    duration_ms integer NOT NULL CHECK (duration_ms >= 0),
    error       text
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_endpoints FORCE ROW LEVEL SECURITY;
ALTER TABLE webhook_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_messages FORCE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON webhook_endpoints TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY platform_all ON webhook_messages TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY platform_all ON webhook_deliveries TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY platform_all ON webhook_attempts TO bulkhead_platform USING (true) WITH CHECK (true);
CREATE POLICY auditor_read ON webhook_endpoints FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY auditor_read ON webhook_messages FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY auditor_read ON webhook_deliveries FOR SELECT TO bulkhead_auditor USING (true);
CREATE POLICY auditor_read ON webhook_attempts FOR SELECT TO bulkhead_auditor USING (true);
REVOKE ALL ON webhook_endpoints, webhook_messages, webhook_deliveries, webhook_attempts FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO bulkhead_platform;
GRANT SELECT, INSERT ON webhook_messages TO bulkhead_platform;
GRANT SELECT, INSERT, UPDATE ON webhook_deliveries, webhook_attempts TO bulkhead_platform;
GRANT USAGE ON SEQUENCE webhook_deliveries_id_seq, webhook_attempts_id_seq TO bulkhead_platform;
-- Auditors read the log, never the sealed secret.
GRANT SELECT (id, url, description, event_types, enabled, disabled_reason, created_by, created_at)
  ON webhook_endpoints TO bulkhead_auditor;
GRANT SELECT ON webhook_messages, webhook_deliveries, webhook_attempts TO bulkhead_auditor;
