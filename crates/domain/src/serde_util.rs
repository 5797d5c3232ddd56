//! Deserialization helpers for vendor JSON: decimals without floats, BigCommerce's
//! `null`-for-empty habit, and its two date formats.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::{OffsetDateTime, UtcOffset};

/// Parses decimal text, plain or scientific.
pub(crate) fn decimal_from_text(text: &str) -> Option<Decimal> {
    let text = text.trim();
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// A decimal from the raw JSON token: a string (`"399.0000"`) or a number (`399.0`).
///
/// Going through [`RawValue`] hands us the number's own text, so a JSON number never
/// passes through `f64` (rust_decimal's own `Deserialize` would get an `f64` from
/// serde_json for any number with a fraction or exponent).
fn decimal_from_raw(raw: &RawValue) -> Result<Option<Decimal>, String> {
    let text = raw.get();
    if text == "null" {
        return Ok(None);
    }
    let inner = if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if s.trim().is_empty() {
            return Ok(None);
        }
        s
    } else {
        text.to_owned()
    };
    decimal_from_text(&inner)
        .map(Some)
        .ok_or_else(|| format!("{text} is not a decimal number"))
}

/// A required decimal (string or number).
pub(crate) fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let raw = Box::<RawValue>::deserialize(d)?;
    decimal_from_raw(&raw)
        .map_err(serde::de::Error::custom)?
        .ok_or_else(|| serde::de::Error::custom("expected a decimal, got null or an empty string"))
}

/// A decimal where `null` and `""` mean zero (use with `#[serde(default)]`).
pub(crate) fn decimal_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    Ok(opt_decimal(d)?.unwrap_or(Decimal::ZERO))
}

/// An optional decimal: `null` and `""` are `None`.
pub(crate) fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let raw = Option::<Box<RawValue>>::deserialize(d)?;
    match raw {
        None => Ok(None),
        Some(raw) => decimal_from_raw(&raw).map_err(serde::de::Error::custom),
    }
}

/// A string where `null` means empty (use with `#[serde(default)]`).
pub(crate) fn string_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A list where `null` means empty (use with `#[serde(default)]`).
pub(crate) fn vec_or_null<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A `bool` where `null` means `false` (use with `#[serde(default)]`).
pub(crate) fn bool_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or_default())
}

/// An RFC 2822 date (v2 API: `Tue, 20 Nov 2012 00:00:00 +0000`), converted to UTC.
pub(crate) fn rfc2822<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let text = String::deserialize(d)?;
    OffsetDateTime::parse(text.trim(), &Rfc2822)
        .map_err(|e| format!("{text:?} is not an RFC 2822 date: {e}"))
        .and_then(|t| to_utc(t).ok_or_else(|| format!("{text:?} is out of range in UTC")))
        .map_err(serde::de::Error::custom)
}

/// An optional RFC 3339 date (v3 API), converted to UTC; `null` and `""` are `None`.
pub(crate) fn opt_rfc3339<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => parse_rfc3339_utc(&text)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// The same instant in UTC; `None` when that falls outside the supported years (an
/// input of `9999-12-31T23:59:59-01:00`, say), where `to_offset` would panic.
pub(crate) fn to_utc(t: OffsetDateTime) -> Option<OffsetDateTime> {
    t.checked_to_offset(UtcOffset::UTC)
}

/// Parses RFC 3339 text into a UTC time, with a message naming the text on failure.
pub(crate) fn parse_rfc3339_utc(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 date: {e}"))
        .and_then(|t| to_utc(t).ok_or_else(|| format!("{text:?} is out of range in UTC")))
}

/// Formats a time as RFC 3339 in UTC (`2025-12-03T08:20:00Z`), the ISO 8601 profile
/// Engage receives.
pub(crate) fn iso8601(t: OffsetDateTime) -> String {
    match to_utc(t).map(|utc| utc.format(&Rfc3339)) {
        Some(Ok(text)) => text,
        // Only years outside 0..=9999 get here; every time this crate builds from RFC 2822
        // or 3339 text is inside them, so keep the value visible rather than panic.
        _ => t.to_string(),
    }
}
