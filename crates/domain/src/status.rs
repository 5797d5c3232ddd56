//! BigCommerce order status ids → Engage order status, and the refund de-duplication rule.
//!
//! Status ids, not names: merchants can rename statuses (vendor-facts C.6).

use std::fmt;

use serde::{Deserialize, Serialize};

/// BigCommerce status id 0: an incomplete order (abandoned checkout, failed payment).
pub const INCOMPLETE: u32 = 0;
/// BigCommerce status id 4: Refunded.
pub const REFUNDED: u32 = 4;
/// BigCommerce status id 14: Partially Refunded.
pub const PARTIALLY_REFUNDED: u32 = 14;

/// The order status Engage receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EngageOrderStatus {
    /// Placed, not yet being handled.
    Pending,
    /// Being picked, packed or shipped.
    InProgress,
    /// Delivered or completed.
    Completed,
    /// Cancelled or declined.
    Cancelled,
    /// Fully refunded.
    Returned,
    /// Partly refunded.
    PartiallyReturned,
}

impl EngageOrderStatus {
    /// The status as Engage spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EngageOrderStatus::Pending => "Pending",
            EngageOrderStatus::InProgress => "InProgress",
            EngageOrderStatus::Completed => "Completed",
            EngageOrderStatus::Cancelled => "Cancelled",
            EngageOrderStatus::Returned => "Returned",
            EngageOrderStatus::PartiallyReturned => "PartiallyReturned",
        }
    }
}

impl fmt::Display for EngageOrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status id outside BigCommerce's documented 0–14.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown BigCommerce order status id {0}")]
pub struct UnknownStatus(pub u32);

/// The Engage status for a BigCommerce status id (engage-mapping.md).
///
/// `Ok(None)` for 0 (Incomplete): such orders are staged but not sent. An id outside the
/// table is an error rather than a guess, so a new BigCommerce status surfaces as a failed
/// order an operator sees instead of a silently wrong status in Engage.
pub fn engage_status(status_id: u32) -> Result<Option<EngageOrderStatus>, UnknownStatus> {
    use EngageOrderStatus::*;
    Ok(Some(match status_id {
        INCOMPLETE => return Ok(None),
        1 | 7 | 11 | 12 | 13 => Pending,
        3 | 8 | 9 => InProgress,
        2 | 10 => Completed,
        5 | 6 => Cancelled,
        REFUNDED => Returned,
        PARTIALLY_REFUNDED => PartiallyReturned,
        other => return Err(UnknownStatus(other)),
    }))
}

/// True when a `store/order/statusUpdated` to `new_status_id` must be ignored: Refunded
/// (4) and Partially Refunded (14) also fire `store/order/refund/created`, which is the
/// authoritative source for refunds.
pub fn is_ignored_status_update(new_status_id: u32) -> bool {
    matches!(new_status_id, REFUNDED | PARTIALLY_REFUNDED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use EngageOrderStatus::*;

    #[test]
    fn incomplete_orders_are_not_sent() {
        assert_eq!(engage_status(0), Ok(None));
    }

    #[test]
    fn every_row_of_the_status_table_maps_as_documented() {
        let table = [
            (1, Pending),
            (7, Pending),
            (11, Pending),
            (12, Pending),
            (13, Pending),
            (8, InProgress),
            (9, InProgress),
            (3, InProgress),
            (2, Completed),
            (10, Completed),
            (5, Cancelled),
            (6, Cancelled),
            (4, Returned),
            (14, PartiallyReturned),
        ];
        for (id, status) in table {
            assert_eq!(engage_status(id), Ok(Some(status)), "status id {id}");
        }
        // The table covers every documented id exactly once.
        let mut ids: Vec<u32> = table.iter().map(|(id, _)| *id).chain([0]).collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..=14).collect::<Vec<_>>());
    }

    #[test]
    fn unknown_status_id_is_an_error() {
        assert_eq!(engage_status(15), Err(UnknownStatus(15)));
        assert_eq!(engage_status(u32::MAX), Err(UnknownStatus(u32::MAX)));
    }

    #[test]
    fn refund_status_update_is_ignored() {
        assert!(is_ignored_status_update(4));
    }

    #[test]
    fn partial_refund_status_update_is_ignored() {
        assert!(is_ignored_status_update(14));
    }

    #[test]
    fn other_status_updates_are_not_ignored() {
        for id in (0..=13).filter(|id| *id != 4) {
            assert!(!is_ignored_status_update(id), "status id {id}");
        }
    }

    #[test]
    fn statuses_serialize_as_engage_spells_them() {
        for status in [
            Pending,
            InProgress,
            Completed,
            Cancelled,
            Returned,
            PartiallyReturned,
        ] {
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status.as_str())
            );
        }
        assert_eq!(InProgress.to_string(), "InProgress");
    }
}
