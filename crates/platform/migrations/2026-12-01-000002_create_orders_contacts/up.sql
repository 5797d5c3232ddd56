-- Staged orders: one row per (store, order), synced to Engage asynchronously.
CREATE TABLE orders (
    store_hash      TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    order_id        BIGINT NOT NULL,
    channel_id      INTEGER,
    status          TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'sent', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    engage_order_id TEXT,
    -- Bumped by every staged event, so a sync knows whether newer events arrived meanwhile.
    revision        BIGINT NOT NULL DEFAULT 1,
    last_event_id   TEXT,
    last_scope      TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until    TIMESTAMPTZ,
    sent_at         TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (store_hash, order_id)
);
CREATE INDEX orders_due ON orders (next_attempt_at) WHERE status IN ('pending', 'processing');
CREATE INDEX orders_status ON orders (status, store_hash);

-- The link from a BigCommerce customer to its Engage contact.
CREATE TABLE contacts (
    store_hash        TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    customer_id       BIGINT NOT NULL,
    channel_id        INTEGER NOT NULL,
    engage_contact_id TEXT NOT NULL,
    email             TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (store_hash, customer_id)
);
