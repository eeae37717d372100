-- Attempts refused while an account waits are counted here, and written to
-- the audit trail as one event per account and wait, not one row each.
ALTER TABLE login_throttle ADD COLUMN refused integer NOT NULL DEFAULT 0;
