-- After many consecutive wrong passwords an account locks until a platform
-- admin unlocks it (the timed waits of login_throttle slow a guesser; this
-- stops one that is patient).
ALTER TABLE users ADD COLUMN failed_sign_ins integer NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_at timestamptz;
GRANT UPDATE (failed_sign_ins, locked_at) ON users TO bulkhead_auth;
-- Unlocking clears the account's timed wait too.
GRANT SELECT, DELETE ON login_throttle TO bulkhead_platform;
-- A tenant's admins see which of them is locked.
GRANT SELECT (locked_at) ON users TO bulkhead_tenant;
