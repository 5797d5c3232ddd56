//! Orders: a BigCommerce v2 order, its lines, shipping addresses and refunds → one Engage
//! v3 order document (sent whole: `POST` the first time, `PUT` afterwards).

use rust_decimal::Decimal;
use serde::Serialize;

use super::{street, usable_email, MappingError, Money};
use crate::bigcommerce::{
    BillingAddress, Order, OrderProduct, Refund, RefundItemType, ShippingAddress,
};
use crate::channel::ChannelSettings;
use crate::ids::Sku;
use crate::serde_util::iso8601;
use crate::status::{engage_status, EngageOrderStatus};

/// The `channel` of every order the connector sends.
pub const ECOM_CHANNEL: &str = "Ecom";

/// An Engage v3 order document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPayload {
    /// The BigCommerce order id, after the channel's optional prefix.
    pub order_id: String,
    /// How Engage finds the contact.
    pub contact: OrderContact,
    /// The channel's Engage store id.
    pub external_store_id: String,
    /// Engage status.
    pub status: EngageOrderStatus,
    /// The BigCommerce status text, as the merchant labels it.
    pub external_status: String,
    /// ISO 4217 currency.
    pub currency_code: String,
    /// Always [`ECOM_CHANNEL`].
    pub channel: String,
    /// Order creation, RFC 3339 UTC.
    pub created_at: String,
    /// Last change, RFC 3339 UTC.
    pub last_changed_at: String,
    /// Lines and subtotal.
    pub line_items: LineItems,
    /// What was paid.
    pub payments: Payments,
    /// Shipping, handling and wrapping.
    pub fees: Fees,
    /// Order-level discounts.
    pub discounts: Discounts,
    /// Shipping method and address; absent for orders with nothing to ship.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// Billing address.
    pub billing_address: OrderAddress,
    /// Refunds so far; absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Refunds>,
}

/// `{"matchKey": "<email>", "matchKeyType": "Email"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderContact {
    /// The key value.
    pub match_key: String,
    /// What the key is.
    pub match_key_type: MatchKeyType,
}

/// Engage contact match key types the connector uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MatchKeyType {
    /// Match on e-mail.
    Email,
}

/// `lineItems`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItems {
    /// One entry per BigCommerce order line.
    pub items: Vec<OrderLine>,
    /// BigCommerce `subtotal_inc_tax`.
    pub sub_total: Money,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    /// The line's SKU, or the product id as text when the line has none.
    pub sku: Sku,
    /// The product name the customer saw.
    pub description: String,
    /// Quantity ordered.
    pub quantity: u32,
    /// Line total including tax (`total_inc_tax`).
    pub gross_paid_price: Money,
    /// Line tax (`total_tax`).
    pub tax_amount: Money,
    /// Quantity refunded so far (see [`refunded_quantity`]).
    pub refunded_quantity: u32,
}

/// `payments`: `{"method": "Credit Card", "total": 549.00}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Payments {
    /// BigCommerce `payment_method`; left out when blank.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// Order total including tax (`total_inc_tax`).
    pub total: Money,
}

/// `fees`, all including tax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fees {
    /// `shipping_cost_inc_tax`.
    pub shipping: Money,
    /// `handling_cost_inc_tax`.
    pub handling: Money,
    /// `wrapping_cost_inc_tax`.
    pub gift_wrapping: Money,
    /// The sum of the three.
    pub total: Money,
}

/// `discounts`: BigCommerce's two order-level amounts, kept apart (whether one includes
/// the other is not documented, so no sum is invented).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Discounts {
    /// `discount_amount`.
    pub order_discount: Money,
    /// `coupon_discount`.
    pub coupon_discount: Money,
}

/// `delivery`: from the first shipping address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Shipping method name; left out when blank.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// Where it goes.
    pub address: OrderAddress,
}

/// An address inside an order. Names follow Engage's documented example
/// (`billingAddress{title, firstname, ...}`); blank fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderAddress {
    /// First name.
    #[serde(rename = "firstname", skip_serializing_if = "String::is_empty")]
    pub first_name: String,
    /// Last name.
    #[serde(rename = "lastname", skip_serializing_if = "String::is_empty")]
    pub last_name: String,
    /// Company.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub company: String,
    /// Street line 1, then line 2.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub street: String,
    /// Postal code.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub zip_code: String,
    /// City.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub city: String,
    /// State or region.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub region: String,
    /// Country name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub country: String,
    /// ISO 3166-1 alpha-2, upper case.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub country_code: String,
    /// Phone as the customer typed it (informational, not validated).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phone: String,
    /// E-mail.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub email: String,
}

impl OrderAddress {
    fn from_billing(a: &BillingAddress) -> Self {
        Self {
            first_name: a.first_name.trim().to_owned(),
            last_name: a.last_name.trim().to_owned(),
            company: a.company.trim().to_owned(),
            street: street(&a.street_1, &a.street_2),
            zip_code: a.zip.trim().to_owned(),
            city: a.city.trim().to_owned(),
            region: a.state.trim().to_owned(),
            country: a.country.trim().to_owned(),
            country_code: a.country_iso2.trim().to_ascii_uppercase(),
            phone: a.phone.trim().to_owned(),
            email: a.email.trim().to_owned(),
        }
    }

    fn from_shipping(a: &ShippingAddress) -> Self {
        Self {
            first_name: a.first_name.trim().to_owned(),
            last_name: a.last_name.trim().to_owned(),
            company: a.company.trim().to_owned(),
            street: street(&a.street_1, &a.street_2),
            zip_code: a.zip.trim().to_owned(),
            city: a.city.trim().to_owned(),
            region: a.state.trim().to_owned(),
            country: a.country.trim().to_owned(),
            country_code: a.country_iso2.trim().to_ascii_uppercase(),
            phone: a.phone.trim().to_owned(),
            email: a.email.trim().to_owned(),
        }
    }
}

/// `refunds`: the refunds made on the order so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refunds {
    /// Sum of the refunds' `total_amount`.
    pub total: Money,
    /// One entry per refund.
    pub items: Vec<RefundSummary>,
}

/// One refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundSummary {
    /// BigCommerce refund id.
    pub refund_id: u64,
    /// `total_amount`.
    pub amount: Money,
    /// When, RFC 3339 UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Reason given; left out when blank.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// How many units of `line` are refunded: the larger of BigCommerce's own
/// `quantity_refunded` and the sum of the refunds' `PRODUCT` items pointing at the line,
/// capped at the quantity ordered. The larger, not the sum: both describe the same
/// refunds whenever BigCommerce fills `quantity_refunded`.
pub fn refunded_quantity(line: &OrderProduct, refunds: &[Refund]) -> u32 {
    let from_refunds = refunds
        .iter()
        .flat_map(|r| &r.items)
        .filter(|item| item.item_type == RefundItemType::Product && item.item_id == line.id)
        .fold(0u32, |sum, item| {
            sum.saturating_add(item.quantity.unwrap_or(0))
        });
    line.quantity_refunded.max(from_refunds).min(line.quantity)
}

/// The status once refunds are known: every line fully refunded → `Returned`; some
/// units refunded → `PartiallyReturned`; nothing refunded by line → the status table's
/// answer (which already says `Returned`/`PartiallyReturned` for status 4/14, e.g. for
/// refunds by amount).
fn status_after_refunds(base: EngageOrderStatus, lines: &[OrderLine]) -> EngageOrderStatus {
    let refunded: u32 = lines.iter().map(|l| l.refunded_quantity).sum();
    if refunded == 0 {
        base
    } else if lines.iter().all(|l| l.refunded_quantity >= l.quantity) {
        EngageOrderStatus::Returned
    } else {
        EngageOrderStatus::PartiallyReturned
    }
}

/// The Engage order for a BigCommerce order.
///
/// `Ok(None)` for an incomplete order (status 0: not sent until its status changes).
/// Errors: a status id outside the table, or no billing e-mail (the contact cannot be
/// matched). Only refunds whose `order_id` is this order's are taken into account.
pub fn map_order(
    order: &Order,
    products: &[OrderProduct],
    shipping_addresses: &[ShippingAddress],
    refunds: &[Refund],
    settings: &ChannelSettings,
) -> Result<Option<OrderPayload>, MappingError> {
    let Some(base_status) = engage_status(order.status_id)? else {
        return Ok(None);
    };
    let email = usable_email(&order.billing_address.email)
        .ok_or(MappingError::MissingBillingEmail(order.id))?;
    let refunds: Vec<Refund> = refunds
        .iter()
        .filter(|r| r.order_id == order.id)
        .cloned()
        .collect();

    let items: Vec<OrderLine> = products
        .iter()
        .map(|line| OrderLine {
            sku: Sku::parse(&line.sku).unwrap_or_else(|_| Sku::from(line.product_id)),
            description: line.name.trim().to_owned(),
            quantity: line.quantity,
            gross_paid_price: Money::new(line.total_inc_tax),
            tax_amount: Money::new(line.total_tax),
            refunded_quantity: refunded_quantity(line, &refunds),
        })
        .collect();
    let status = status_after_refunds(base_status, &items);

    let refunds = (!refunds.is_empty()).then(|| Refunds {
        total: Money::new(refunds.iter().map(|r| r.total_amount).sum::<Decimal>()),
        items: refunds
            .iter()
            .map(|r| RefundSummary {
                refund_id: r.id,
                amount: Money::new(r.total_amount),
                created_at: r.created.map(iso8601),
                reason: r.reason.trim().to_owned(),
            })
            .collect(),
    });

    let delivery = shipping_addresses.first().map(|a| Delivery {
        method: a.shipping_method.trim().to_owned(),
        address: OrderAddress::from_shipping(a),
    });

    Ok(Some(OrderPayload {
        order_id: format!(
            "{}{}",
            settings.order_id_prefix.as_deref().unwrap_or(""),
            order.id
        ),
        contact: OrderContact {
            match_key: email,
            match_key_type: MatchKeyType::Email,
        },
        external_store_id: settings.store_external_id.clone(),
        status,
        external_status: order.status.trim().to_owned(),
        currency_code: order.currency_code.trim().to_ascii_uppercase(),
        channel: ECOM_CHANNEL.to_owned(),
        created_at: iso8601(order.date_created),
        last_changed_at: iso8601(order.date_modified),
        line_items: LineItems {
            items,
            sub_total: Money::new(order.subtotal_inc_tax),
        },
        payments: Payments {
            method: order.payment_method.trim().to_owned(),
            total: Money::new(order.total_inc_tax),
        },
        fees: Fees {
            shipping: Money::new(order.shipping_cost_inc_tax),
            handling: Money::new(order.handling_cost_inc_tax),
            gift_wrapping: Money::new(order.wrapping_cost_inc_tax),
            total: Money::new(
                order.shipping_cost_inc_tax
                    + order.handling_cost_inc_tax
                    + order.wrapping_cost_inc_tax,
            ),
        },
        discounts: Discounts {
            order_discount: Money::new(order.discount_amount),
            coupon_discount: Money::new(order.coupon_discount),
        },
        delivery,
        billing_address: OrderAddress::from_billing(&order.billing_address),
        refunds,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::bigcommerce::{RefundItem, V3Response};
    use crate::ids::{ChannelId, OrderId, StoreHash};
    use crate::status::UnknownStatus;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/bigcommerce/api/",
                $name
            ))
        };
    }

    struct Fixture {
        order: Order,
        products: Vec<OrderProduct>,
        shipping: Vec<ShippingAddress>,
        refunds: Vec<Refund>,
        settings: ChannelSettings,
    }

    fn fixture() -> Fixture {
        let refunds: V3Response<Vec<Refund>> =
            serde_json::from_str(fixture!("v3_refunds_order_250.json")).unwrap();
        Fixture {
            order: serde_json::from_str(fixture!("v2_orders_250.json")).unwrap(),
            products: serde_json::from_str(fixture!("v2_orders_250_products.json")).unwrap(),
            shipping: serde_json::from_str(fixture!("v2_orders_250_shipping_addresses.json"))
                .unwrap(),
            refunds: refunds.data,
            settings: ChannelSettings::new(
                StoreHash::parse("abc123").unwrap(),
                ChannelId::new(1),
                "web-se",
            ),
        }
    }

    fn map(f: &Fixture, refunds: &[Refund]) -> Result<Option<OrderPayload>, MappingError> {
        map_order(&f.order, &f.products, &f.shipping, refunds, &f.settings)
    }

    /// The exact JSON text, parsed back only for comparison of structure.
    fn json_text(payload: &OrderPayload) -> String {
        serde_json::to_string(payload).unwrap()
    }

    #[test]
    fn order_250_maps_to_the_documented_engage_document() {
        let f = fixture();
        let payload = map(&f, &[]).unwrap().unwrap();
        let text = json_text(&payload);
        let expected = json!({
            "orderId": "250",
            "contact": {"matchKey": "jane.doe@example.com", "matchKeyType": "Email"},
            "externalStoreId": "web-se",
            "status": "Pending",
            "externalStatus": "Awaiting Fulfillment",
            "currencyCode": "SEK",
            "channel": "Ecom",
            "createdAt": "2025-12-03T08:20:00Z",
            "lastChangedAt": "2025-12-03T08:22:00Z",
            "lineItems": {
                "items": [
                    {"sku": "CARD-GRY-M", "description": "Wool cardigan – grey, M", "quantity": 1,
                     "grossPaidPrice": 399.0, "taxAmount": 79.8, "refundedQuantity": 0},
                    {"sku": "SOCK-BLK", "description": "Merino socks", "quantity": 2,
                     "grossPaidPrice": 100.0, "taxAmount": 20.0, "refundedQuantity": 0}
                ],
                "subTotal": 499.0
            },
            "payments": {"method": "Credit Card", "total": 549.0},
            "fees": {"shipping": 50.0, "handling": 0.0, "giftWrapping": 0.0, "total": 50.0},
            "discounts": {"orderDiscount": 0.0, "couponDiscount": 0.0},
            "delivery": {
                "method": "PostNord",
                "address": {"firstname": "Jane", "lastname": "Doe", "street": "Drottninggatan 1",
                            "zipCode": "111 51", "city": "Stockholm", "region": "Stockholm",
                            "country": "Sweden", "countryCode": "SE", "phone": "070-123 45 67",
                            "email": "jane.doe@example.com"}
            },
            "billingAddress": {"firstname": "Jane", "lastname": "Doe", "street": "Drottninggatan 1",
                               "zipCode": "111 51", "city": "Stockholm", "region": "Stockholm",
                               "country": "Sweden", "countryCode": "SE", "phone": "070-123 45 67",
                               "email": "jane.doe@example.com"}
        });
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);
        // Amounts are numbers written with exactly two decimals.
        assert!(text.contains(r#""subTotal":499.00"#), "{text}");
        assert!(text.contains(r#""total":549.00"#), "{text}");
        assert!(
            text.contains(r#""grossPaidPrice":399.00,"taxAmount":79.80"#),
            "{text}"
        );
    }

    #[test]
    fn order_250_after_refund_3_is_partially_returned_with_line_501_refunded() {
        let f = fixture();
        let payload = map(&f, &f.refunds).unwrap().unwrap();
        assert_eq!(payload.status, EngageOrderStatus::PartiallyReturned);
        assert_eq!(payload.external_status, "Awaiting Fulfillment");
        assert_eq!(payload.line_items.items[0].refunded_quantity, 1);
        assert_eq!(payload.line_items.items[1].refunded_quantity, 0);
        let text = json_text(&payload);
        assert!(text.contains(r#""subTotal":499.00"#), "{text}");
        assert!(
            text.contains(r#""payments":{"method":"Credit Card","total":549.00}"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#""refunds":{"total":399.00,"items":[{"refundId":3,"amount":399.00,"createdAt":"2025-12-04T08:00:00Z","reason":"Wrong size"}]}"#
            ),
            "{text}"
        );
    }

    #[test]
    fn every_line_fully_refunded_makes_the_order_returned() {
        let f = fixture();
        let mut refund = f.refunds[0].clone();
        refund.items.push(RefundItem {
            item_type: RefundItemType::Product,
            item_id: 502,
            quantity: Some(2),
            requested_amount: None,
            reason: String::new(),
        });
        let payload = map(&f, &[refund]).unwrap().unwrap();
        assert_eq!(payload.status, EngageOrderStatus::Returned);
    }

    #[test]
    fn bigcommerce_quantity_refunded_counts_without_refund_documents() {
        let mut f = fixture();
        f.products[1].quantity_refunded = 1;
        let payload = map(&f, &[]).unwrap().unwrap();
        assert_eq!(payload.line_items.items[1].refunded_quantity, 1);
        assert_eq!(payload.status, EngageOrderStatus::PartiallyReturned);
        assert_eq!(payload.refunds, None);
    }

    #[test]
    fn refunded_quantity_is_the_larger_source_not_the_sum() {
        let mut f = fixture();
        f.products[0].quantity_refunded = 1;
        assert_eq!(refunded_quantity(&f.products[0], &f.refunds), 1);
    }

    #[test]
    fn refunded_quantity_never_exceeds_the_quantity_ordered() {
        let f = fixture();
        let twice = vec![f.refunds[0].clone(), f.refunds[0].clone()];
        assert_eq!(refunded_quantity(&f.products[0], &twice), 1);
    }

    #[test]
    fn non_product_refund_items_do_not_count_as_returned_units() {
        let f = fixture();
        let mut refund = f.refunds[0].clone();
        refund.items = vec![RefundItem {
            item_type: RefundItemType::Shipping,
            item_id: 501,
            quantity: Some(1),
            requested_amount: None,
            reason: String::new(),
        }];
        let payload = map(&f, &[refund]).unwrap().unwrap();
        assert_eq!(payload.line_items.items[0].refunded_quantity, 0);
        assert_eq!(payload.status, EngageOrderStatus::Pending);
        assert!(payload.refunds.is_some());
    }

    #[test]
    fn refunds_of_another_order_are_ignored() {
        let f = fixture();
        let mut refund = f.refunds[0].clone();
        refund.order_id = OrderId::new(999);
        let payload = map(&f, &[refund]).unwrap().unwrap();
        assert_eq!(payload.refunds, None);
        assert_eq!(payload.line_items.items[0].refunded_quantity, 0);
    }

    #[test]
    fn refunded_status_without_line_refunds_keeps_the_table_status() {
        let mut f = fixture();
        f.order.status_id = 4;
        assert_eq!(
            map(&f, &[]).unwrap().unwrap().status,
            EngageOrderStatus::Returned
        );
    }

    #[test]
    fn incomplete_order_is_not_sent() {
        let mut f = fixture();
        f.order.status_id = 0;
        f.order.billing_address.email = String::new();
        assert_eq!(map(&f, &[]), Ok(None));
    }

    #[test]
    fn unknown_status_is_a_mapping_error() {
        let mut f = fixture();
        f.order.status_id = 42;
        assert_eq!(
            map(&f, &[]),
            Err(MappingError::UnknownStatus(UnknownStatus(42)))
        );
    }

    #[test]
    fn missing_billing_email_is_a_non_retryable_mapping_error() {
        let mut f = fixture();
        f.order.billing_address.email = "  ".into();
        let err = map(&f, &[]).unwrap_err();
        assert_eq!(err, MappingError::MissingBillingEmail(OrderId::new(250)));
        assert!(!err.is_retryable());
    }

    #[test]
    fn order_and_coupon_discounts_map_to_their_own_fields() {
        let mut f = fixture();
        f.order.discount_amount = "12.5000".parse().unwrap();
        f.order.coupon_discount = "7.2500".parse().unwrap();
        let payload = map(&f, &[]).unwrap().unwrap();
        let json: serde_json::Value = serde_json::from_str(&json_text(&payload)).unwrap();
        let discounts = &json["discounts"];
        assert_eq!(
            (
                discounts["orderDiscount"].to_string(),
                discounts["couponDiscount"].to_string()
            ),
            ("12.5".to_owned(), "7.25".to_owned()),
            "{discounts}"
        );
    }

    #[test]
    fn order_id_carries_the_channel_prefix() {
        let mut f = fixture();
        f.settings.order_id_prefix = Some("SE-".into());
        assert_eq!(map(&f, &[]).unwrap().unwrap().order_id, "SE-250");
    }

    #[test]
    fn line_without_sku_uses_the_product_id() {
        let mut f = fixture();
        f.products[1].sku = " ".into();
        let payload = map(&f, &[]).unwrap().unwrap();
        assert_eq!(payload.line_items.items[1].sku.as_str(), "78");
    }

    #[test]
    fn order_without_shipping_addresses_has_no_delivery() {
        let f = fixture();
        let payload = map_order(&f.order, &f.products, &[], &[], &f.settings)
            .unwrap()
            .unwrap();
        assert_eq!(payload.delivery, None);
        assert!(!json_text(&payload).contains("delivery"));
    }

    #[test]
    fn fees_add_up_shipping_handling_and_wrapping() {
        let mut f = fixture();
        f.order.handling_cost_inc_tax = Decimal::new(1250, 2);
        f.order.wrapping_cost_inc_tax = Decimal::new(5, 1);
        let text = json_text(&map(&f, &[]).unwrap().unwrap());
        assert!(
            text.contains(
                r#""fees":{"shipping":50.00,"handling":12.50,"giftWrapping":0.50,"total":63.00}"#
            ),
            "{text}"
        );
    }

    #[test]
    fn each_status_id_reaches_the_payload() {
        let mut f = fixture();
        for (id, status) in [
            (1, EngageOrderStatus::Pending),
            (9, EngageOrderStatus::InProgress),
            (10, EngageOrderStatus::Completed),
            (5, EngageOrderStatus::Cancelled),
            (14, EngageOrderStatus::PartiallyReturned),
        ] {
            f.order.status_id = id;
            assert_eq!(
                map(&f, &[]).unwrap().unwrap().status,
                status,
                "status id {id}"
            );
        }
    }
}
