//! Webhook signature verification over the raw body bytes, in constant time.
//!
//! Two schemes are accepted (connector.md §1.3):
//! - [Standard Webhooks](https://www.standardwebhooks.com/), what BigCommerce documents
//!   now: `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, HMAC-SHA256
//!   over `{id}.{timestamp}.{body}` keyed with the raw client-secret bytes;
//! - legacy `X-BC-Signature`: HMAC-SHA256 of the body, hex or base64.
//!
//! Comparisons go through [`subtle::ConstantTimeEq`], so timing does not reveal how much
//! of a forged signature was right.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Length of an HMAC-SHA256 tag in bytes.
const TAG_LEN: usize = 32;

/// Standard base64 that accepts input with or without `=` padding.
const BASE64_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a webhook signature was not accepted. Every variant means "answer 401".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature header at all (or an empty one).
    #[error("no webhook signature")]
    Missing,
    /// A signature header is present but unusable; the reason says which part.
    #[error("malformed webhook signature: {0}")]
    Malformed(String),
    /// The Standard Webhooks timestamp is outside the tolerance window (past or future).
    #[error("webhook timestamp outside the tolerance window")]
    StaleTimestamp,
    /// Well-formed, but no signature matches the body.
    #[error("webhook signature does not match")]
    Mismatch,
}

/// Which scheme verified a request, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// `webhook-signature` (Standard Webhooks).
    Standard,
    /// `X-BC-Signature`.
    Legacy,
}

impl SignatureScheme {
    /// A stable label: `standard` or `legacy`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::Standard => "standard",
            SignatureScheme::Legacy => "legacy",
        }
    }
}

/// The signature-related request headers, as found (header lookup is the caller's job).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignatureHeaders<'a> {
    /// `webhook-id`.
    pub webhook_id: Option<&'a str>,
    /// `webhook-timestamp`.
    pub webhook_timestamp: Option<&'a str>,
    /// `webhook-signature`.
    pub webhook_signature: Option<&'a str>,
    /// `X-BC-Signature`.
    pub legacy_signature: Option<&'a str>,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC hashes over-long keys and pads short ones: every length is accepted.
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    }
}

fn standard_tag(secret: &[u8], webhook_id: &str, timestamp: &str, body: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = mac(secret);
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn body_tag(secret: &[u8], body: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = mac(secret);
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Verifies a Standard Webhooks signature.
///
/// `signature_header` is the space-separated `webhook-signature` list; any `v1,<base64>`
/// entry may match and entries of other versions are ignored. The timestamp must be
/// within `tolerance_secs` of `now_unix` in either direction (a timestamp from the future
/// is as suspicious as an old one).
pub fn verify_standard(
    secret: &[u8],
    webhook_id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    if signature_header.trim().is_empty() {
        return Err(SignatureError::Missing);
    }
    if webhook_id.trim().is_empty() {
        return Err(SignatureError::Malformed("empty webhook-id".into()));
    }
    let timestamp = timestamp.trim();
    let sent_at: i64 = timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| SignatureError::Malformed("webhook-timestamp is not a Unix time".into()))?;
    if now_unix.abs_diff(sent_at) > tolerance_secs.max(0).unsigned_abs() {
        return Err(SignatureError::StaleTimestamp);
    }

    let candidates: Vec<Vec<u8>> = signature_header
        .split_ascii_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, sig)| STANDARD.decode(sig).ok())
        .collect();
    if candidates.is_empty() {
        return Err(SignatureError::Malformed(
            "no decodable v1 entry in webhook-signature".into(),
        ));
    }

    let expected = standard_tag(secret, webhook_id.trim(), timestamp, body);
    // Check every candidate (no early exit) so the position of a match is not observable.
    let matched = candidates.iter().fold(subtle::Choice::from(0), |acc, sig| {
        acc | expected.as_slice().ct_eq(sig.as_slice())
    });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Verifies a legacy `X-BC-Signature`: HMAC-SHA256 of the raw body, as hex (either case)
/// or standard base64 (with or without padding).
pub fn verify_legacy(secret: &[u8], header: &str, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    // Hex first: a 64-character hex string is also valid base64 (of 48 bytes), never the
    // other way round for a 32-byte tag.
    let sent = if header.len() == 2 * TAG_LEN && header.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(header).map_err(|e| SignatureError::Malformed(e.to_string()))?
    } else {
        BASE64_ANY_PADDING.decode(header).map_err(|_| {
            SignatureError::Malformed("X-BC-Signature is neither hex nor base64".into())
        })?
    };
    if sent.len() != TAG_LEN {
        return Err(SignatureError::Malformed(
            "X-BC-Signature is not a SHA-256 digest".into(),
        ));
    }
    let expected = body_tag(secret, body);
    if bool::from(expected.as_slice().ct_eq(sent.as_slice())) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Verifies whichever scheme the request carries: Standard Webhooks when
/// `webhook-signature` is present (then `webhook-id` and `webhook-timestamp` are
/// required), else the legacy header, else [`SignatureError::Missing`].
pub fn verify(
    secret: &[u8],
    headers: &SignatureHeaders<'_>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<SignatureScheme, SignatureError> {
    match (headers.webhook_signature, headers.legacy_signature) {
        (Some(signature), _) if !signature.trim().is_empty() => {
            let id = headers
                .webhook_id
                .ok_or_else(|| SignatureError::Malformed("webhook-id header missing".into()))?;
            let timestamp = headers.webhook_timestamp.ok_or_else(|| {
                SignatureError::Malformed("webhook-timestamp header missing".into())
            })?;
            verify_standard(
                secret,
                id,
                timestamp,
                signature,
                body,
                now_unix,
                tolerance_secs,
            )?;
            Ok(SignatureScheme::Standard)
        }
        (_, Some(legacy)) => {
            verify_legacy(secret, legacy, body)?;
            Ok(SignatureScheme::Legacy)
        }
        _ => Err(SignatureError::Missing),
    }
}

/// Signs a body the Standard Webhooks way; returns one `v1,<base64>` entry.
/// For tests, the demo and benchmarks.
pub fn sign_standard(secret: &[u8], webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = standard_tag(secret, webhook_id, &timestamp.to_string(), body);
    format!("v1,{}", STANDARD.encode(tag))
}

/// Signs a body the legacy way; returns lowercase hex. For tests, the demo and benchmarks.
pub fn sign_legacy_hex(secret: &[u8], body: &[u8]) -> String {
    hex::encode(body_tag(secret, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"client-secret-abc123";
    const BODY: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/bigcommerce/webhooks/order_created.json"
    ));
    const NOW: i64 = 1_764_750_000;
    const TOLERANCE: i64 = 300;

    fn verify_at(header: &str, timestamp: i64, now: i64) -> Result<(), SignatureError> {
        verify_standard(
            SECRET,
            "msg_1",
            &timestamp.to_string(),
            header,
            BODY,
            now,
            TOLERANCE,
        )
    }

    #[test]
    fn a_signature_made_by_sign_standard_verifies() {
        let header = sign_standard(SECRET, "msg_1", NOW, BODY);
        assert!(header.starts_with("v1,"));
        assert_eq!(verify_at(&header, NOW, NOW), Ok(()));
    }

    #[test]
    fn standard_signature_matches_the_published_test_vector() {
        // From the Standard Webhooks reference test-suite: secret
        // "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" (base64 key), id msg_p5jXN8AQM9LWM0D4loKWxJek,
        // timestamp 1614265330, body {"test": 2432232314}.
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let header = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(
            verify_standard(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265330",
                header,
                br#"{"test": 2432232314}"#,
                1_614_265_330,
                TOLERANCE,
            ),
            Ok(())
        );
    }

    #[test]
    fn any_v1_entry_may_match_and_other_versions_are_ignored() {
        let good = sign_standard(SECRET, "msg_1", NOW, BODY);
        let wrong = sign_standard(b"other-secret", "msg_1", NOW, BODY);
        let header = format!("v2,abc {wrong}  {good} v1a,zzz");
        assert_eq!(verify_at(&header, NOW, NOW), Ok(()));
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let header = sign_standard(b"not-the-secret", "msg_1", NOW, BODY);
        assert_eq!(verify_at(&header, NOW, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn tampered_body_is_a_mismatch() {
        let header = sign_standard(SECRET, "msg_1", NOW, BODY);
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify_standard(
                SECRET,
                "msg_1",
                &NOW.to_string(),
                &header,
                &tampered,
                NOW,
                TOLERANCE
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_different_webhook_id_is_a_mismatch() {
        let header = sign_standard(SECRET, "msg_1", NOW, BODY);
        assert_eq!(
            verify_standard(
                SECRET,
                "msg_2",
                &NOW.to_string(),
                &header,
                BODY,
                NOW,
                TOLERANCE
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_timestamp_is_rejected() {
        let sent = NOW - TOLERANCE - 1;
        let header = sign_standard(SECRET, "msg_1", sent, BODY);
        assert_eq!(
            verify_at(&header, sent, NOW),
            Err(SignatureError::StaleTimestamp)
        );
    }

    #[test]
    fn future_timestamp_is_rejected() {
        let sent = NOW + TOLERANCE + 1;
        let header = sign_standard(SECRET, "msg_1", sent, BODY);
        assert_eq!(
            verify_at(&header, sent, NOW),
            Err(SignatureError::StaleTimestamp)
        );
    }

    #[test]
    fn timestamp_exactly_at_the_tolerance_edge_is_accepted() {
        for sent in [NOW - TOLERANCE, NOW + TOLERANCE] {
            let header = sign_standard(SECRET, "msg_1", sent, BODY);
            assert_eq!(verify_at(&header, sent, NOW), Ok(()));
        }
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let header = sign_standard(SECRET, "msg_1", i64::MAX, BODY);
        assert_eq!(
            verify_at(&header, i64::MAX, i64::MIN),
            Err(SignatureError::StaleTimestamp)
        );
    }

    #[test]
    fn non_numeric_timestamp_is_malformed() {
        let header = sign_standard(SECRET, "msg_1", NOW, BODY);
        for ts in ["", "abc", "12.5", "-5", "+1764750000"] {
            assert!(
                matches!(
                    verify_standard(SECRET, "msg_1", ts, &header, BODY, NOW, TOLERANCE),
                    Err(SignatureError::Malformed(_))
                ),
                "{ts:?}"
            );
        }
    }

    #[test]
    fn garbage_signature_header_is_malformed() {
        for header in ["garbage", "v1,!!!not-base64!!!", "v2,abc", ","] {
            assert!(
                matches!(
                    verify_at(header, NOW, NOW),
                    Err(SignatureError::Malformed(_))
                ),
                "{header:?}"
            );
        }
    }

    #[test]
    fn empty_signature_header_is_missing() {
        assert_eq!(verify_at("  ", NOW, NOW), Err(SignatureError::Missing));
    }

    #[test]
    fn valid_base64_of_the_wrong_length_is_a_mismatch() {
        assert_eq!(
            verify_at("v1,YWJj", NOW, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn legacy_hex_signature_verifies_in_either_case() {
        let lower = sign_legacy_hex(SECRET, BODY);
        assert_eq!(lower, lower.to_lowercase());
        assert_eq!(verify_legacy(SECRET, &lower, BODY), Ok(()));
        assert_eq!(verify_legacy(SECRET, &lower.to_uppercase(), BODY), Ok(()));
    }

    #[test]
    fn legacy_base64_signature_verifies_with_or_without_padding() {
        let tag = hex::decode(sign_legacy_hex(SECRET, BODY)).unwrap();
        let padded = STANDARD.encode(&tag);
        assert!(padded.ends_with('='));
        assert_eq!(verify_legacy(SECRET, &padded, BODY), Ok(()));
        assert_eq!(
            verify_legacy(SECRET, padded.trim_end_matches('='), BODY),
            Ok(())
        );
    }

    #[test]
    fn legacy_signature_with_the_wrong_secret_or_body_is_a_mismatch() {
        let header = sign_legacy_hex(SECRET, BODY);
        assert_eq!(
            verify_legacy(b"other", &header, BODY),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_legacy(SECRET, &header, b"{}"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn legacy_garbage_is_malformed_and_empty_is_missing() {
        assert!(matches!(
            verify_legacy(SECRET, "zz not a signature", BODY),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            verify_legacy(SECRET, "abcd", BODY),
            Err(SignatureError::Malformed(_))
        ));
        assert_eq!(
            verify_legacy(SECRET, "", BODY),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn verify_prefers_the_standard_scheme_and_falls_back_to_legacy() {
        let standard = sign_standard(SECRET, "msg_1", NOW, BODY);
        let legacy = sign_legacy_hex(SECRET, BODY);
        let ts = NOW.to_string();
        let headers = SignatureHeaders {
            webhook_id: Some("msg_1"),
            webhook_timestamp: Some(&ts),
            webhook_signature: Some(&standard),
            legacy_signature: Some("wrong"),
        };
        assert_eq!(
            verify(SECRET, &headers, BODY, NOW, TOLERANCE),
            Ok(SignatureScheme::Standard)
        );
        let headers = SignatureHeaders {
            legacy_signature: Some(&legacy),
            ..SignatureHeaders::default()
        };
        assert_eq!(
            verify(SECRET, &headers, BODY, NOW, TOLERANCE),
            Ok(SignatureScheme::Legacy)
        );
        assert_eq!(
            verify(SECRET, &SignatureHeaders::default(), BODY, NOW, TOLERANCE),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn standard_signature_without_id_or_timestamp_is_malformed() {
        let standard = sign_standard(SECRET, "msg_1", NOW, BODY);
        let headers = SignatureHeaders {
            webhook_signature: Some(&standard),
            ..SignatureHeaders::default()
        };
        assert!(matches!(
            verify(SECRET, &headers, BODY, NOW, TOLERANCE),
            Err(SignatureError::Malformed(_))
        ));
    }
}
