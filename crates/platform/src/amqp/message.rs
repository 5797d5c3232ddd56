//! Message properties and the headers of the contract (`interfaces.md`).

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use time::OffsetDateTime;

/// Header carrying the store hash of an event.
pub const STORE_HASH: &str = "x-store-hash";
/// Header carrying the RFC 3339 time the connector received the event.
pub const RECEIVED_AT: &str = "x-received-at";
/// W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";
/// Set to `true` on back-filled (synthetic) events.
pub const BACKFILL: &str = "x-backfill";
/// The routing key a message was first published with (kept through retries and dead letters).
pub const ORIGINAL_ROUTING_KEY: &str = "x-original-routing-key";
/// Why a message was dead-lettered.
pub const DEAD_REASON: &str = "x-dead-reason";
/// Handler attempts that already failed for this message.
pub const ATTEMPTS: &str = "x-attempts";
/// When the first attempt failed (RFC 3339).
pub const FIRST_FAILURE_AT: &str = "x-first-failure-at";
/// The error of the most recent failed attempt.
pub const LAST_ERROR: &str = "x-last-error";
/// When the message was dead-lettered (RFC 3339).
pub const DEAD_AT: &str = "x-dead-at";
/// Set by `connectorctl dlq replay`: consumers process it even if the event id was seen.
pub const REPLAY: &str = "x-replay";

/// Properties of an event as the contract wants them: persistent JSON with a message id,
/// a timestamp and the given headers.
pub fn event_properties(message_id: &str, headers: FieldTable) -> BasicProperties {
    BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_delivery_mode(2)
        .with_message_id(ShortString::from(message_id))
        .with_timestamp(OffsetDateTime::now_utc().unix_timestamp() as u64)
        .with_headers(headers)
}

/// Sets a string header.
pub fn set_str(headers: &mut FieldTable, key: &str, value: &str) {
    headers.insert(
        ShortString::from(key),
        AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
    );
}

/// Sets an integer header.
pub fn set_int(headers: &mut FieldTable, key: &str, value: i64) {
    headers.insert(ShortString::from(key), AMQPValue::LongLongInt(value));
}

/// Sets a boolean header.
pub fn set_bool(headers: &mut FieldTable, key: &str, value: bool) {
    headers.insert(ShortString::from(key), AMQPValue::Boolean(value));
}

/// Reads a header as text (string headers, and numbers or booleans rendered as text).
pub fn get_str(headers: &FieldTable, key: &str) -> Option<String> {
    match headers.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        AMQPValue::Boolean(b) => Some(b.to_string()),
        other => get_int_value(other).map(|i| i.to_string()),
    }
}

/// Reads an integer header (any integer width, or digits in a string).
pub fn get_int(headers: &FieldTable, key: &str) -> Option<i64> {
    match headers.inner().get(key)? {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.parse().ok(),
        other => get_int_value(other),
    }
}

/// Reads a boolean header (`true` or the string "true").
pub fn get_bool(headers: &FieldTable, key: &str) -> bool {
    match headers.inner().get(key) {
        Some(AMQPValue::Boolean(b)) => *b,
        Some(AMQPValue::LongString(s)) => s.as_bytes() == b"true",
        _ => false,
    }
}

fn get_int_value(value: &AMQPValue) -> Option<i64> {
    Some(match value {
        AMQPValue::ShortShortInt(i) => (*i).into(),
        AMQPValue::ShortShortUInt(i) => (*i).into(),
        AMQPValue::ShortInt(i) => (*i).into(),
        AMQPValue::ShortUInt(i) => (*i).into(),
        AMQPValue::LongInt(i) => (*i).into(),
        AMQPValue::LongUInt(i) => (*i).into(),
        AMQPValue::LongLongInt(i) => *i,
        _ => return None,
    })
}

/// The current UTC time in RFC 3339.
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_their_readers() {
        let mut h = FieldTable::default();
        set_str(&mut h, STORE_HASH, "abc123");
        set_int(&mut h, ATTEMPTS, 3);
        set_bool(&mut h, BACKFILL, true);
        assert_eq!(get_str(&h, STORE_HASH).as_deref(), Some("abc123"));
        assert_eq!(get_int(&h, ATTEMPTS), Some(3));
        assert!(get_bool(&h, BACKFILL));
        assert!(!get_bool(&h, REPLAY));
        assert_eq!(get_int(&h, "missing"), None);
    }

    #[test]
    fn event_properties_are_persistent_json_with_the_message_id() {
        let p = event_properties("evt-1", FieldTable::default());
        assert_eq!(p.delivery_mode(), &Some(2));
        assert_eq!(
            p.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        assert_eq!(p.message_id().as_ref().map(|s| s.as_str()), Some("evt-1"));
        assert!(p.timestamp().is_some());
    }
}
