//! Phone numbers: parsed against the customer's country, normalised to E.164.
//!
//! Three outcomes the mapping must keep apart (connector.md §4): a valid number is sent
//! in E.164; an invalid one is sent as `null` (Engage clears a bad stored value); with no
//! country to parse against, nothing is sent (Engage keeps what it had).

use std::fmt;
use std::str::FromStr;

use phonenumber::country;
use phonenumber::Mode;
use serde::Serialize;

/// A phone number in E.164 form (`+46701234567`). Only [`normalize_phone`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct E164Phone(String);

impl E164Phone {
    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for E164Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The result of normalising a phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneOutcome {
    /// A valid number for the country (or for the country its `+` prefix names).
    Valid(E164Phone),
    /// Not a valid number (unparseable, wrong length, impossible prefix).
    Invalid,
    /// No usable country to parse against: the customer has no address, or its country
    /// code is not one the phone metadata knows.
    UnknownCountry,
}

/// Longer input is not a phone number; refusing it early keeps the parser's work bounded.
const MAX_RAW_LEN: usize = 64;

/// Normalises `raw` against the ISO 3166-1 alpha-2 `country_code` (`"SE"`, any case).
///
/// A number written with a `+` country prefix is judged by that prefix, so a Swedish
/// customer's German mobile still validates. Without a country the outcome is
/// [`PhoneOutcome::UnknownCountry`] even for `+`-prefixed input: the spec ties the
/// decision to the address's country, and "no address" must consistently mean "leave
/// Engage's value alone".
pub fn normalize_phone(raw: &str, country_code: Option<&str>) -> PhoneOutcome {
    let Some(country) = country_code
        .map(str::trim)
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        .and_then(|c| country::Id::from_str(&c.to_ascii_uppercase()).ok())
    else {
        return PhoneOutcome::UnknownCountry;
    };
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_RAW_LEN {
        return PhoneOutcome::Invalid;
    }
    match phonenumber::parse(Some(country), raw) {
        Ok(number) if phonenumber::is_valid(&number) => {
            PhoneOutcome::Valid(E164Phone(number.format().mode(Mode::E164).to_string()))
        }
        _ => PhoneOutcome::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(s: &str) -> PhoneOutcome {
        PhoneOutcome::Valid(E164Phone(s.to_owned()))
    }

    #[test]
    fn swedish_mobile_with_spaces_and_dashes_becomes_e164() {
        assert_eq!(
            normalize_phone("070-123 45 67", Some("SE")),
            valid("+46701234567")
        );
    }

    #[test]
    fn country_code_is_case_insensitive_and_trimmed() {
        assert_eq!(
            normalize_phone("070-123 45 67", Some(" se ")),
            valid("+46701234567")
        );
    }

    #[test]
    fn international_prefix_overrides_the_address_country() {
        assert_eq!(
            normalize_phone("+46 70 123 45 67", Some("DE")),
            valid("+46701234567")
        );
        assert_eq!(
            normalize_phone("0046701234567", Some("SE")),
            valid("+46701234567")
        );
    }

    #[test]
    fn too_short_number_is_invalid() {
        assert_eq!(normalize_phone("12", Some("SE")), PhoneOutcome::Invalid);
    }

    #[test]
    fn letters_empty_and_overlong_input_are_invalid() {
        assert_eq!(
            normalize_phone("call me", Some("SE")),
            PhoneOutcome::Invalid
        );
        assert_eq!(normalize_phone("", Some("SE")), PhoneOutcome::Invalid);
        assert_eq!(
            normalize_phone(&"1".repeat(65), Some("SE")),
            PhoneOutcome::Invalid
        );
    }

    #[test]
    fn no_country_is_unknown_country_even_for_a_valid_looking_number() {
        assert_eq!(
            normalize_phone("070-123 45 67", None),
            PhoneOutcome::UnknownCountry
        );
        assert_eq!(
            normalize_phone("+46701234567", None),
            PhoneOutcome::UnknownCountry
        );
    }

    #[test]
    fn unusable_country_codes_are_unknown_country() {
        for code in ["", "S", "SWE", "1E", "ZZ"] {
            assert_eq!(
                normalize_phone("070-123 45 67", Some(code)),
                PhoneOutcome::UnknownCountry,
                "{code:?}"
            );
        }
    }

    #[test]
    fn numbers_from_other_countries_validate_against_their_country() {
        assert_eq!(
            normalize_phone("(201) 555-0123", Some("US")),
            valid("+12015550123")
        );
        assert_eq!(
            normalize_phone("030 123456", Some("DE")),
            valid("+4930123456")
        );
    }

    #[test]
    fn e164_phone_serializes_as_a_string() {
        let PhoneOutcome::Valid(phone) = normalize_phone("070-123 45 67", Some("SE")) else {
            panic!("expected a valid phone");
        };
        assert_eq!(phone.as_str(), "+46701234567");
        assert_eq!(serde_json::to_string(&phone).unwrap(), "\"+46701234567\"");
    }
}
