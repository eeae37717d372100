-- Outgoing e-mail, written in the transaction of what it announces (an
-- invitation, a lock) and sent by the console in the background, retried
-- with a growing wait until the server takes it: a restart loses none.
CREATE TABLE outbox_mail (
    id               bigserial PRIMARY KEY,
    to_addr          text NOT NULL,
    subject          text NOT NULL,
    body             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    last_error       text
);
CREATE INDEX outbox_mail_due ON outbox_mail (next_attempt_at) WHERE sent_at IS NULL;

GRANT INSERT ON outbox_mail TO bulkhead_platform, bulkhead_tenant, bulkhead_auth;
GRANT USAGE ON SEQUENCE outbox_mail_id_seq TO bulkhead_platform, bulkhead_tenant, bulkhead_auth;
GRANT SELECT, UPDATE ON outbox_mail TO bulkhead_platform;
