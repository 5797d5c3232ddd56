//! Currency amounts as Engage receives them.

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A currency amount: a [`Decimal`] rounded to two decimals (half away from zero, the
/// commercial rule) and always written with exactly two (`499.00`).
///
/// It serializes as a JSON **number** whose text is the decimal's own text, through
/// [`RawValue`], so no `f64` is involved and `0.1 + 0.2` stays `0.30`. That exact text
/// only survives serializers that understand `RawValue` (`serde_json::to_string`,
/// `to_vec`, `to_writer`); `serde_json::to_value` parses it back into a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Money(Decimal);

impl Money {
    /// Zero, as `0.00`.
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    /// Rounds `amount` to two decimals.
    pub fn new(amount: Decimal) -> Self {
        let mut rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        rounded.rescale(2);
        if rounded.is_zero() {
            // `-0.001` rounds to a negative zero, which would print as `-0.00`.
            rounded.set_sign_positive(true);
        }
        Self(rounded)
    }

    /// The amount.
    pub fn amount(self) -> Decimal {
        self.0
    }
}

impl From<Decimal> for Money {
    fn from(amount: Decimal) -> Self {
        Self::new(amount)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Reads a JSON number or decimal string without going through `f64`, and rounds.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::serde_util::decimal(deserializer).map(Money::new)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn money(s: &str) -> Money {
        Money::new(Decimal::from_str(s).unwrap())
    }

    fn json(m: Money) -> String {
        serde_json::to_string(&m).unwrap()
    }

    #[test]
    fn money_serializes_as_a_number_with_two_decimals() {
        assert_eq!(json(money("499.0000")), "499.00");
        assert_eq!(json(money("399")), "399.00");
        assert_eq!(json(money("79.8")), "79.80");
        assert_eq!(json(Money::ZERO), "0.00");
    }

    #[test]
    fn money_rounds_half_away_from_zero() {
        assert_eq!(json(money("0.125")), "0.13");
        assert_eq!(json(money("0.135")), "0.14");
        assert_eq!(json(money("-0.125")), "-0.13");
        assert_eq!(json(money("10.004")), "10.00");
    }

    #[test]
    fn tiny_negative_amounts_round_to_plain_zero() {
        assert_eq!(json(money("-0.001")), "0.00");
    }

    #[test]
    fn money_keeps_digits_a_float_would_lose() {
        assert_eq!(json(money("12345678901234567.89")), "12345678901234567.89");
        let sum = Decimal::from_str("0.1").unwrap() + Decimal::from_str("0.2").unwrap();
        assert_eq!(json(Money::new(sum)), "0.30");
    }

    #[test]
    fn money_inside_a_struct_is_a_json_number() {
        #[derive(Serialize)]
        struct S {
            total: Money,
        }
        let text = serde_json::to_string(&S {
            total: money("549"),
        })
        .unwrap();
        assert_eq!(text, r#"{"total":549.00}"#);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(value["total"].is_number());
    }

    #[test]
    fn money_reads_numbers_and_strings() {
        assert_eq!(
            serde_json::from_str::<Money>("399.0").unwrap(),
            money("399")
        );
        assert_eq!(
            serde_json::from_str::<Money>("\"12.345\"").unwrap(),
            money("12.35")
        );
        assert!(serde_json::from_str::<Money>("\"abc\"").is_err());
    }
}
