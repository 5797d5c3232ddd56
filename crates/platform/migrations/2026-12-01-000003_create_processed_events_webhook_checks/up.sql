-- Event ids a consumer has already handled, to skip redeliveries; pruned after a retention.
CREATE TABLE processed_events (
    consumer     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    store_hash   TEXT,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX processed_events_age ON processed_events (processed_at);

-- Every webhook check and every change webhook-health made.
CREATE TABLE webhook_checks (
    id         BIGSERIAL PRIMARY KEY,
    store_hash TEXT NOT NULL,
    hook_id    BIGINT,
    scope      TEXT NOT NULL,
    action     TEXT NOT NULL,
    before     TEXT,
    after      TEXT,
    detail     TEXT,
    checked_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_checks_store ON webhook_checks (store_hash, checked_at DESC);
