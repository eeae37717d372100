-- The account page (changing one's own password) runs under the sign-in
-- role, which may now set a password hash too; role, e-mail and tenant stay
-- out of its reach.
GRANT UPDATE (password_hash) ON users TO bulkhead_auth;
