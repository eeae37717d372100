-- Floods that write nothing unbounded: a refusal of a secret link (an
-- invitation, a second-factor reset) is audited once per address and window;
-- the ones after it in the window are counted, and the next event carries
-- their number (`refused_since_last_event`), as refused sign-ins are.
CREATE TABLE audit_rollups (
    key          text PRIMARY KEY CHECK (length(key) <= 200),
    window_start timestamptz NOT NULL,
    suppressed   integer NOT NULL DEFAULT 0 CHECK (suppressed >= 0)
);
CREATE INDEX audit_rollups_window ON audit_rollups (window_start);
REVOKE ALL ON audit_rollups FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON audit_rollups TO bulkhead_auth;
GRANT SELECT, DELETE ON audit_rollups TO bulkhead_platform;
