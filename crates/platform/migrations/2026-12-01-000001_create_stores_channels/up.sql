-- BigCommerce stores the connector serves, with the credentials it uses for them.
CREATE TABLE stores (
    store_hash    TEXT PRIMARY KEY CHECK (store_hash ~ '^[a-z0-9]{1,64}$'),
    client_secret TEXT NOT NULL,
    access_token  TEXT NOT NULL,
    api_base_url  TEXT NOT NULL DEFAULT 'https://api.bigcommerce.com',
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per (store, sales channel): where its events go in Engage and how.
CREATE TABLE channels (
    store_hash        TEXT NOT NULL REFERENCES stores (store_hash) ON DELETE CASCADE,
    channel_id        INTEGER NOT NULL CHECK (channel_id > 0),
    engage_base_url   TEXT NOT NULL,
    engage_api_key    TEXT NOT NULL,
    store_external_id TEXT NOT NULL,
    source            TEXT NOT NULL DEFAULT 'ECOM',
    locale            TEXT NOT NULL DEFAULT 'sv-SE',
    contact_type_mode TEXT NOT NULL DEFAULT 'all-member'
        CHECK (contact_type_mode IN ('all-member', 'member-and-contact')),
    allowed_origins   TEXT[] NOT NULL DEFAULT '{}',
    order_id_prefix   TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (store_hash, channel_id)
);
