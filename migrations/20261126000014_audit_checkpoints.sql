-- Signed checkpoints of the audit trail: the chain head (last id and hash)
-- signed with Ed25519 by a key kept outside the database. Kept here and, by
-- `bulkhead audit checkpoint --out FILE`, elsewhere: a history rewritten after
-- a checkpoint, even re-chained by the owner, no longer matches its head.
CREATE TABLE audit_checkpoints (
    id          bigserial PRIMARY KEY,
    head_id     bigint NOT NULL,
    head_hash   bytea NOT NULL,
    signed_at   timestamptz NOT NULL,
    key_id      text NOT NULL,
    signature   bytea NOT NULL
);
CREATE INDEX audit_checkpoints_head ON audit_checkpoints (head_id);

GRANT SELECT, INSERT ON audit_checkpoints TO bulkhead_platform;
GRANT USAGE ON SEQUENCE audit_checkpoints_id_seq TO bulkhead_platform;
GRANT SELECT ON audit_chain_head TO bulkhead_platform;
