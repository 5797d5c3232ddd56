//! Diesel table definitions, matching the migrations (kept in step by the migration test).
#![allow(missing_docs)]

diesel::table! {
    stores (store_hash) {
        store_hash -> Text,
        client_secret -> Text,
        access_token -> Text,
        api_base_url -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    channels (store_hash, channel_id) {
        store_hash -> Text,
        channel_id -> Int4,
        engage_base_url -> Text,
        engage_api_key -> Text,
        store_external_id -> Text,
        source -> Text,
        locale -> Text,
        contact_type_mode -> Text,
        allowed_origins -> Array<Text>,
        order_id_prefix -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    orders (store_hash, order_id) {
        store_hash -> Text,
        order_id -> Int8,
        channel_id -> Nullable<Int4>,
        status -> Text,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        engage_order_id -> Nullable<Text>,
        revision -> Int8,
        last_event_id -> Nullable<Text>,
        last_scope -> Nullable<Text>,
        next_attempt_at -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
        sent_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        traceparent -> Nullable<Text>,
    }
}

diesel::table! {
    contacts (store_hash, customer_id) {
        store_hash -> Text,
        customer_id -> Int8,
        channel_id -> Int4,
        engage_contact_id -> Text,
        email -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    processed_events (consumer, event_id) {
        consumer -> Text,
        event_id -> Text,
        store_hash -> Nullable<Text>,
        processed_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_checks (id) {
        id -> Int8,
        store_hash -> Text,
        hook_id -> Nullable<Int8>,
        scope -> Text,
        action -> Text,
        before -> Nullable<Text>,
        after -> Nullable<Text>,
        detail -> Nullable<Text>,
        checked_at -> Timestamptz,
    }
}

diesel::joinable!(channels -> stores (store_hash));
diesel::allow_tables_to_appear_in_same_query!(
    stores,
    channels,
    orders,
    contacts,
    processed_events,
    webhook_checks
);
