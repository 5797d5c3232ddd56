//! Serde models of the BigCommerce API responses the connector fetches (vendor-facts
//! C.5, C.7–C.10).
//!
//! Only the fields the connector uses are modelled; unknown fields are ignored because
//! BigCommerce adds fields without notice. Optional text that BigCommerce sends as `null`
//! becomes an empty string, lists sent as `null` become empty.
//!
//! Money is [`Decimal`], parsed from the JSON token's own text whether BigCommerce sends
//! decimal text (v2: `"399.0000"`) or a JSON number (v3 refunds: `399.0`): never through
//! `f64`. Deserialize from bytes or text (`serde_json::from_slice` / `from_str`), as
//! usual; `from_value` works too, but a `Value` has already turned numbers into floats.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::ids::{ChannelId, CustomerId, OrderId, ProductId, SubscriberId};
use crate::serde_util as de;
use crate::webhook::Scope;

/// The v3 response envelope: `{"data": ..., "meta": {...}}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct V3Response<T> {
    /// The payload.
    pub data: T,
    /// Pagination and other metadata.
    #[serde(default)]
    pub meta: V3Meta,
}

/// The v3 `meta` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct V3Meta {
    /// Offset pagination, when the endpoint pages that way.
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

/// v3 offset pagination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Pagination {
    /// Total number of items.
    #[serde(default)]
    pub total: u64,
    /// Items in this page.
    #[serde(default)]
    pub count: u64,
    /// Page size.
    #[serde(default)]
    pub per_page: u64,
    /// This page (1-based).
    #[serde(default)]
    pub current_page: u64,
    /// Number of pages.
    #[serde(default)]
    pub total_pages: u64,
}

impl Pagination {
    /// True when pages follow this one.
    pub fn has_next(&self) -> bool {
        self.current_page < self.total_pages
    }
}

/// A v2 order (`GET /v2/orders/{id}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Order {
    /// Order id.
    pub id: OrderId,
    /// The customer; 0 for a guest checkout.
    #[serde(default = "guest")]
    pub customer_id: CustomerId,
    /// Sales channel (BigCommerce defaults it to 1).
    #[serde(default)]
    pub channel_id: Option<ChannelId>,
    /// Creation time (RFC 2822 in the API), UTC.
    #[serde(deserialize_with = "de::rfc2822")]
    pub date_created: OffsetDateTime,
    /// Last modification (RFC 2822 in the API), UTC.
    #[serde(deserialize_with = "de::rfc2822")]
    pub date_modified: OffsetDateTime,
    /// Status id (vendor-facts C.6).
    pub status_id: u32,
    /// Status name as the merchant labels it.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub status: String,
    /// The cart the order came from.
    #[serde(default)]
    pub cart_id: Option<String>,
    /// Subtotal excluding tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub subtotal_ex_tax: Decimal,
    /// Subtotal including tax.
    #[serde(deserialize_with = "de::decimal")]
    pub subtotal_inc_tax: Decimal,
    /// Total excluding tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub total_ex_tax: Decimal,
    /// Total including tax.
    #[serde(deserialize_with = "de::decimal")]
    pub total_inc_tax: Decimal,
    /// Total tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub total_tax: Decimal,
    /// Shipping excluding tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub shipping_cost_ex_tax: Decimal,
    /// Shipping including tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub shipping_cost_inc_tax: Decimal,
    /// Handling including tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub handling_cost_inc_tax: Decimal,
    /// Gift wrapping including tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub wrapping_cost_inc_tax: Decimal,
    /// Order-level discount.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub discount_amount: Decimal,
    /// Coupon discount.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub coupon_discount: Decimal,
    /// Documented as always 0; refunds come from the v3 refunds API.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub refunded_amount: Decimal,
    /// Number of items.
    #[serde(default)]
    pub items_total: u32,
    /// Payment method name (`Credit Card`, ...).
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub payment_method: String,
    /// Payment status (`captured`, ...).
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub payment_status: String,
    /// Transaction currency (ISO 4217).
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub currency_code: String,
    /// Store default currency.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub default_currency_code: String,
    /// Exchange rate from the default currency.
    #[serde(default, deserialize_with = "de::opt_decimal")]
    pub currency_exchange_rate: Option<Decimal>,
    /// Whether the shopper opted in to e-mail at checkout.
    #[serde(default, deserialize_with = "de::bool_or_null")]
    pub is_email_opt_in: bool,
    /// The shopper's locale (`sv-SE`).
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub customer_locale: String,
    /// Where the order came from (`www`, `manual`, ...).
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub order_source: String,
    /// External source, when created through an integration.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub external_source: String,
    /// Country of the shopper's IP.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub geoip_country_iso2: String,
    /// Billing address (with the order's e-mail).
    pub billing_address: BillingAddress,
}

fn guest() -> CustomerId {
    CustomerId::GUEST
}

/// The v2 order's `billing_address`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct BillingAddress {
    /// First name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub first_name: String,
    /// Last name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub last_name: String,
    /// Company.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub company: String,
    /// Street line 1.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub street_1: String,
    /// Street line 2.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub street_2: String,
    /// City.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub city: String,
    /// State or region.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub state: String,
    /// Postal code.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub zip: String,
    /// Country name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub country: String,
    /// Country (ISO 3166-1 alpha-2).
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub country_iso2: String,
    /// Phone as typed.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub phone: String,
    /// E-mail: the key the Engage contact is matched on.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub email: String,
}

/// A line of `GET /v2/orders/{id}/products`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrderProduct {
    /// Order product id (what refund items point at).
    pub id: u64,
    /// The order.
    #[serde(default)]
    pub order_id: Option<OrderId>,
    /// Catalog product.
    pub product_id: ProductId,
    /// Catalog variant.
    #[serde(default)]
    pub variant_id: Option<u64>,
    /// SKU; may be empty for custom products.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub sku: String,
    /// Name as the customer saw it.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub name: String,
    /// Name as the merchant sees it.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub name_merchant: String,
    /// Quantity ordered.
    pub quantity: u32,
    /// Catalog price.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub base_price: Decimal,
    /// Unit price excluding tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub price_ex_tax: Decimal,
    /// Unit price including tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub price_inc_tax: Decimal,
    /// Unit tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub price_tax: Decimal,
    /// Line total excluding tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub total_ex_tax: Decimal,
    /// Line total including tax.
    #[serde(deserialize_with = "de::decimal")]
    pub total_inc_tax: Decimal,
    /// Line tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub total_tax: Decimal,
    /// Line total after discounts, including tax, when sent.
    #[serde(default, deserialize_with = "de::opt_decimal")]
    pub discounted_total_inc_tax: Option<Decimal>,
    /// Whether the line was refunded.
    #[serde(default, deserialize_with = "de::bool_or_null")]
    pub is_refunded: bool,
    /// Quantity refunded.
    #[serde(default)]
    pub quantity_refunded: u32,
    /// Documented as always 0.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub refund_amount: Decimal,
    /// Discounts applied to the line.
    #[serde(default, deserialize_with = "de::vec_or_null")]
    pub applied_discounts: Vec<AppliedDiscount>,
    /// `physical`, `digital`, ...
    #[serde(default, rename = "type", deserialize_with = "de::string_or_null")]
    pub product_type: String,
    /// Brand name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub brand: String,
    /// The bundle line this line belongs to.
    #[serde(default)]
    pub parent_order_product_id: Option<u64>,
    /// Whether the line is part of a bundle.
    #[serde(default, deserialize_with = "de::bool_or_null")]
    pub is_bundled_product: bool,
}

/// One entry of an order line's `applied_discounts`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AppliedDiscount {
    /// Discount id: a number or a string depending on the discount kind.
    #[serde(default)]
    pub id: Value,
    /// Amount.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub amount: Decimal,
    /// Name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub name: String,
    /// Coupon code, when a coupon.
    #[serde(default)]
    pub code: Option<String>,
    /// `order` or `product`.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub target: String,
}

/// An entry of `GET /v2/orders/{id}/shipping_addresses`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ShippingAddress {
    /// Shipping address id.
    #[serde(default)]
    pub id: u64,
    /// The order.
    #[serde(default)]
    pub order_id: Option<OrderId>,
    /// First name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub first_name: String,
    /// Last name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub last_name: String,
    /// Company.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub company: String,
    /// Street line 1.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub street_1: String,
    /// Street line 2.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub street_2: String,
    /// City.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub city: String,
    /// State or region.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub state: String,
    /// Postal code.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub zip: String,
    /// Country name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub country: String,
    /// Country (ISO 3166-1 alpha-2).
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub country_iso2: String,
    /// Phone as typed.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub phone: String,
    /// E-mail.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub email: String,
    /// Shipping method name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub shipping_method: String,
    /// Shipping cost including tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub cost_inc_tax: Decimal,
    /// Shipping cost excluding tax.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub cost_ex_tax: Decimal,
    /// Items shipped to this address.
    #[serde(default)]
    pub items_total: u32,
}

/// A v3 customer (`GET /v3/customers?id:in=...&include=addresses`).
///
/// Fetch it with `include=addresses`: without addresses the phone's country is unknown
/// and the contact mapping leaves the phone out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Customer {
    /// Customer id.
    pub id: CustomerId,
    /// E-mail.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub email: String,
    /// First name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub first_name: String,
    /// Last name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub last_name: String,
    /// Company.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub company: String,
    /// Phone as typed.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub phone: String,
    /// Creation time, UTC.
    #[serde(default, deserialize_with = "de::opt_rfc3339")]
    pub date_created: Option<OffsetDateTime>,
    /// Last modification, UTC.
    #[serde(default, deserialize_with = "de::opt_rfc3339")]
    pub date_modified: Option<OffsetDateTime>,
    /// Customer group.
    #[serde(default)]
    pub customer_group_id: Option<u64>,
    /// The channel the customer was created on.
    #[serde(default)]
    pub origin_channel_id: Option<ChannelId>,
    /// Channels the customer has access to.
    #[serde(default, deserialize_with = "de::vec_or_null")]
    pub channel_ids: Vec<ChannelId>,
    /// Addresses (at most 10 returned); the first one is "the" address.
    #[serde(default, deserialize_with = "de::vec_or_null")]
    pub addresses: Vec<CustomerAddress>,
    /// Whether the customer accepts review and abandoned-cart e-mails.
    #[serde(default, deserialize_with = "de::bool_or_null")]
    pub accepts_product_review_abandoned_cart_emails: bool,
}

/// One of a v3 customer's `addresses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CustomerAddress {
    /// Address id.
    #[serde(default)]
    pub id: u64,
    /// Owning customer.
    #[serde(default)]
    pub customer_id: Option<CustomerId>,
    /// First name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub first_name: String,
    /// Last name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub last_name: String,
    /// Company.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub company: String,
    /// Street line 1.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub address1: String,
    /// Street line 2.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub address2: String,
    /// City.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub city: String,
    /// State or province.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub state_or_province: String,
    /// Postal code.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub postal_code: String,
    /// Country (ISO 3166-1 alpha-2).
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub country_code: String,
    /// Country name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub country: String,
    /// Phone as typed.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub phone: String,
    /// `residential` or `commercial`.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub address_type: String,
}

/// A v3 newsletter subscriber (`GET /v3/customers/subscribers/{id}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Subscriber {
    /// Subscriber id.
    pub id: SubscriberId,
    /// E-mail.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub email: String,
    /// First name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub first_name: String,
    /// Last name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub last_name: String,
    /// `storefront`, `order` or `custom`.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub source: String,
    /// The order the subscription came from.
    #[serde(default)]
    pub order_id: Option<OrderId>,
    /// The channel.
    #[serde(default)]
    pub channel_id: Option<ChannelId>,
    /// Consents; empty means unsubscribed or never opted in.
    #[serde(default, deserialize_with = "de::vec_or_null")]
    pub consents: Vec<String>,
    /// Creation time, UTC.
    #[serde(default, deserialize_with = "de::opt_rfc3339")]
    pub date_created: Option<OffsetDateTime>,
    /// Last modification, UTC.
    #[serde(default, deserialize_with = "de::opt_rfc3339")]
    pub date_modified: Option<OffsetDateTime>,
}

/// A v3 catalog product (`GET /v3/catalog/products/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CatalogProduct {
    /// Product id.
    pub id: ProductId,
    /// Name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub name: String,
    /// SKU; may be empty.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub sku: String,
    /// Category ids, least to most specific as the merchant ordered them.
    #[serde(default, deserialize_with = "de::vec_or_null")]
    pub categories: Vec<u64>,
    /// Brand.
    #[serde(default)]
    pub brand_id: Option<u64>,
    /// Whether the product is visible on the storefront.
    #[serde(default, deserialize_with = "de::bool_or_null")]
    pub is_visible: bool,
    /// Base variant.
    #[serde(default)]
    pub base_variant_id: Option<u64>,
    /// Storefront URL path.
    #[serde(default)]
    pub custom_url: Option<CustomUrl>,
}

impl CatalogProduct {
    /// The storefront URL path (`custom_url.url`), when present and non-empty.
    pub fn url(&self) -> Option<&str> {
        self.custom_url
            .as_ref()
            .map(|u| u.url.as_str())
            .filter(|u| !u.trim().is_empty())
    }
}

/// A storefront URL path as the catalog API reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CustomUrl {
    /// The path (`/women/knitwear/wool-cardigan/`).
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub url: String,
    /// Whether the merchant set it by hand.
    #[serde(default, deserialize_with = "de::bool_or_null")]
    pub is_customized: bool,
}

/// A v3 catalog category (`GET /v3/catalog/categories?id:in=...`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Category {
    /// Category id.
    pub id: u64,
    /// Parent category (0 at the top).
    #[serde(default)]
    pub parent_id: u64,
    /// Name.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub name: String,
    /// Whether the category is visible on the storefront.
    #[serde(default, deserialize_with = "de::bool_or_null")]
    pub is_visible: bool,
    /// Storefront URL path.
    #[serde(default)]
    pub custom_url: Option<CustomUrl>,
}

/// A v3 refund (`GET /v3/orders/{id}/payment_actions/refunds`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Refund {
    /// Refund id.
    pub id: u64,
    /// The order.
    pub order_id: OrderId,
    /// Who made it (0: the API or the system).
    #[serde(default)]
    pub user_id: u64,
    /// When, UTC.
    #[serde(default, deserialize_with = "de::opt_rfc3339")]
    pub created: Option<OffsetDateTime>,
    /// Reason given.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub reason: String,
    /// Total refunded (a JSON number in the API).
    #[serde(deserialize_with = "de::decimal")]
    pub total_amount: Decimal,
    /// Tax part of the refund.
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub total_tax: Decimal,
    /// Whether amounts were overridden by the merchant.
    #[serde(default, deserialize_with = "de::bool_or_null")]
    pub uses_merchant_override_values: bool,
    /// What was refunded.
    #[serde(default, deserialize_with = "de::vec_or_null")]
    pub items: Vec<RefundItem>,
    /// How the money went back.
    #[serde(default, deserialize_with = "de::vec_or_null")]
    pub payments: Vec<RefundPayment>,
}

/// What a refund item refunds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RefundItemType {
    /// An order line; `item_id` is the order product id.
    Product,
    /// Gift wrapping.
    GiftWrapping,
    /// Shipping.
    Shipping,
    /// Handling.
    Handling,
    /// An amount on the whole order.
    Order,
    /// A type this crate does not know, kept verbatim.
    Other(String),
}

impl<'de> Deserialize<'de> for RefundItemType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.to_ascii_uppercase().as_str() {
            "PRODUCT" => RefundItemType::Product,
            "GIFT_WRAPPING" => RefundItemType::GiftWrapping,
            "SHIPPING" => RefundItemType::Shipping,
            "HANDLING" => RefundItemType::Handling,
            "ORDER" => RefundItemType::Order,
            _ => RefundItemType::Other(text),
        })
    }
}

/// One refunded item.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RefundItem {
    /// What it refunds.
    pub item_type: RefundItemType,
    /// For [`RefundItemType::Product`], the order product id.
    #[serde(default)]
    pub item_id: u64,
    /// Quantity refunded (product items).
    #[serde(default)]
    pub quantity: Option<u32>,
    /// Amount requested, when the refund was by amount.
    #[serde(default, deserialize_with = "de::opt_decimal")]
    pub requested_amount: Option<Decimal>,
    /// Reason given.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub reason: String,
}

/// One payment of a refund.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RefundPayment {
    /// Payment id.
    #[serde(default)]
    pub id: u64,
    /// Payment provider.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub provider_id: String,
    /// Amount (a JSON number in the API).
    #[serde(default, deserialize_with = "de::decimal_or_zero")]
    pub amount: Decimal,
    /// Refunded outside the provider.
    #[serde(default, deserialize_with = "de::bool_or_null")]
    pub offline: bool,
    /// Declined by the provider.
    #[serde(default, deserialize_with = "de::bool_or_null")]
    pub is_declined: bool,
    /// The provider's message when declined.
    #[serde(default, deserialize_with = "de::string_or_null")]
    pub declined_message: String,
}

/// A registered webhook (`GET /v3/hooks`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Hook {
    /// Hook id.
    pub id: u64,
    /// The app that owns it.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The store.
    #[serde(default)]
    pub store_hash: Option<String>,
    /// The scope.
    pub scope: Scope,
    /// Where BigCommerce delivers.
    pub destination: String,
    /// Active or deactivated.
    #[serde(default)]
    pub is_active: bool,
    /// Creation (Unix seconds).
    #[serde(default)]
    pub created_at: i64,
    /// Last update (Unix seconds).
    #[serde(default)]
    pub updated_at: i64,
    /// Custom headers sent with every delivery.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

/// Body of `POST /v3/hooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewHook {
    /// The scope.
    pub scope: Scope,
    /// Where BigCommerce delivers.
    pub destination: String,
    /// Create it active.
    pub is_active: bool,
    /// Custom headers; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
}

/// Body of `PUT /v3/hooks/{id}` that re-activates a hook: `{"is_active": true}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HookActivation {
    /// Always `true` when built with [`HookActivation::ACTIVATE`].
    pub is_active: bool,
}

impl HookActivation {
    /// `{"is_active": true}`.
    pub const ACTIVATE: HookActivation = HookActivation { is_active: true };
}

/// What the webhook-health service must change so that every required scope has an
/// active hook on `destination`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookPlan {
    /// Scopes with no hook on the destination: create them.
    pub create: Vec<Scope>,
    /// Inactive hooks on the destination: re-activate them (by hook id).
    pub reactivate: Vec<u64>,
}

impl HookPlan {
    /// True when nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.reactivate.is_empty()
    }
}

/// Compares the store's hooks with [`Scope::required_hooks`].
///
/// Hooks pointing elsewhere are ignored (they belong to another deployment). A trailing
/// `/` is not significant when comparing destinations. When a scope has both an active and
/// an inactive hook on the destination, nothing is done for it.
pub fn plan_hooks(existing: &[Hook], destination: &str) -> HookPlan {
    let norm = |d: &str| d.trim().trim_end_matches('/').to_owned();
    let destination = norm(destination);
    let mut plan = HookPlan::default();
    for scope in Scope::required_hooks() {
        let ours: Vec<&Hook> = existing
            .iter()
            .filter(|h| &h.scope == scope && norm(&h.destination) == destination)
            .collect();
        if ours.is_empty() {
            plan.create.push(scope.clone());
        } else if !ours.iter().any(|h| h.is_active) {
            plan.reactivate.extend(ours.iter().map(|h| h.id));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use time::macros::datetime;

    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/bigcommerce/api/",
                $name
            ))
        };
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn order_250_parses_money_as_exact_decimals_and_dates_as_utc() {
        let order: Order = serde_json::from_str(fixture!("v2_orders_250.json")).unwrap();
        assert_eq!(order.id, OrderId::new(250));
        assert_eq!(order.customer_id, CustomerId::new(32));
        assert_eq!(order.channel_id, Some(ChannelId::new(1)));
        assert_eq!(order.status_id, 11);
        assert_eq!(order.status, "Awaiting Fulfillment");
        assert_eq!(order.date_created, datetime!(2025-12-03 08:20:00 UTC));
        assert_eq!(order.date_modified, datetime!(2025-12-03 08:22:00 UTC));
        assert_eq!(order.subtotal_inc_tax, dec("499.0000"));
        assert_eq!(order.subtotal_inc_tax.to_string(), "499.0000");
        assert_eq!(order.total_inc_tax, dec("549"));
        assert_eq!(order.total_tax, dec("109.8"));
        assert_eq!(order.shipping_cost_inc_tax, dec("50"));
        assert_eq!(order.currency_code, "SEK");
        assert_eq!(order.currency_exchange_rate, Some(dec("1")));
        assert_eq!(order.payment_method, "Credit Card");
        assert_eq!(order.customer_locale, "sv-SE");
        assert_eq!(order.external_source, "");
        assert_eq!(order.billing_address.email, "jane.doe@example.com");
        assert_eq!(order.billing_address.country_iso2, "SE");
        assert!(order.is_email_opt_in);
    }

    #[test]
    fn order_dates_with_an_offset_are_converted_to_utc() {
        let mut order: Value = serde_json::from_str(fixture!("v2_orders_250.json")).unwrap();
        order["date_created"] = "Wed, 03 Dec 2025 09:20:00 +0100".into();
        let order: Order = serde_json::from_value(order).unwrap();
        assert_eq!(order.date_created, datetime!(2025-12-03 08:20:00 UTC));
        assert!(order.date_created.offset().is_utc());
    }

    #[test]
    fn order_with_an_rfc_3339_date_is_rejected() {
        let mut order: Value = serde_json::from_str(fixture!("v2_orders_250.json")).unwrap();
        order["date_created"] = "2025-12-03T08:20:00Z".into();
        assert!(serde_json::from_value::<Order>(order).is_err());
    }

    #[test]
    fn order_money_that_is_not_a_decimal_is_rejected() {
        let mut order: Value = serde_json::from_str(fixture!("v2_orders_250.json")).unwrap();
        order["total_inc_tax"] = "lots".into();
        assert!(serde_json::from_value::<Order>(order).is_err());
    }

    #[test]
    fn order_nulls_and_unknown_fields_are_tolerated() {
        let mut order: Value = serde_json::from_str(fixture!("v2_orders_250.json")).unwrap();
        order["payment_method"] = Value::Null;
        order["coupon_discount"] = Value::Null;
        order["brand_new_field"] = serde_json::json!({"nested": [1, 2]});
        let order: Order = serde_json::from_value(order).unwrap();
        assert_eq!(order.payment_method, "");
        assert_eq!(order.coupon_discount, Decimal::ZERO);
    }

    #[test]
    fn order_products_parse_with_refund_quantities() {
        let lines: Vec<OrderProduct> =
            serde_json::from_str(fixture!("v2_orders_250_products.json")).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].id, 501);
        assert_eq!(lines[0].product_id, ProductId::new(77));
        assert_eq!(lines[0].sku, "CARD-GRY-M");
        assert_eq!(lines[0].name, "Wool cardigan – grey, M");
        assert_eq!(lines[0].quantity, 1);
        assert_eq!(lines[0].total_inc_tax, dec("399"));
        assert_eq!(lines[0].total_tax, dec("79.8"));
        assert_eq!(lines[0].quantity_refunded, 0);
        assert_eq!(lines[0].product_type, "physical");
        assert_eq!(lines[1].quantity, 2);
        assert_eq!(lines[1].total_inc_tax, dec("100"));
    }

    #[test]
    fn shipping_addresses_parse() {
        let addresses: Vec<ShippingAddress> =
            serde_json::from_str(fixture!("v2_orders_250_shipping_addresses.json")).unwrap();
        assert_eq!(addresses[0].shipping_method, "PostNord");
        assert_eq!(addresses[0].cost_inc_tax, dec("50"));
        assert_eq!(addresses[0].zip, "111 51");
    }

    #[test]
    fn customer_32_parses_with_its_address_and_origin_channel() {
        let r: V3Response<Vec<Customer>> =
            serde_json::from_str(fixture!("v3_customers_32.json")).unwrap();
        let c = &r.data[0];
        assert_eq!(c.id, CustomerId::new(32));
        assert_eq!(c.origin_channel_id, Some(ChannelId::new(1)));
        assert_eq!(c.channel_ids, vec![ChannelId::new(1)]);
        assert_eq!(c.addresses.len(), 1);
        assert_eq!(c.addresses[0].country_code, "SE");
        assert_eq!(c.addresses[0].address1, "Drottninggatan 1");
        assert_eq!(c.date_created, Some(datetime!(2025-11-01 10:00:00 UTC)));
        let pagination = r.meta.pagination.unwrap();
        assert_eq!(pagination.total, 1);
        assert!(!pagination.has_next());
    }

    #[test]
    fn edge_case_customers_parse() {
        for body in [
            fixture!("v3_customers_invalid_phone.json"),
            fixture!("v3_customers_no_address.json"),
            fixture!("v3_customers_unmatched_channel.json"),
        ] {
            let r: V3Response<Vec<Customer>> = serde_json::from_str(body).unwrap();
            assert_eq!(r.data.len(), 1);
            assert_eq!(r.meta, V3Meta::default());
        }
    }

    #[test]
    fn subscriber_5_parses_with_its_consents() {
        let r: V3Response<Subscriber> =
            serde_json::from_str(fixture!("v3_subscribers_5.json")).unwrap();
        assert_eq!(r.data.id, SubscriberId::new(5));
        assert_eq!(r.data.channel_id, Some(ChannelId::new(1)));
        assert_eq!(r.data.consents, vec!["marketing_newsletter".to_owned()]);
        assert_eq!(r.data.order_id, None);
    }

    #[test]
    fn catalog_products_parse_with_categories_and_url() {
        let p: V3Response<CatalogProduct> =
            serde_json::from_str(fixture!("v3_catalog_products_77.json")).unwrap();
        assert_eq!(p.data.categories, vec![18, 23, 24, 31, 40, 41, 42]);
        assert_eq!(p.data.sku, "CARD-GRY");
        assert_eq!(p.data.url(), Some("/women/knitwear/wool-cardigan/"));
        let p: V3Response<CatalogProduct> =
            serde_json::from_str(fixture!("v3_catalog_products_78_no_categories.json")).unwrap();
        assert!(p.data.categories.is_empty());
        assert_eq!(
            p.data.url(),
            Some("/accessories/socks_and-tights/merino-socks/")
        );
    }

    #[test]
    fn categories_parse() {
        let r: V3Response<Vec<Category>> =
            serde_json::from_str(fixture!("v3_catalog_categories.json")).unwrap();
        assert_eq!(r.data.len(), 7);
        assert_eq!(r.data[6].name, "Autumn Collection");
    }

    #[test]
    fn refund_numbers_become_exact_decimals_without_floats() {
        let r: V3Response<Vec<Refund>> =
            serde_json::from_str(fixture!("v3_refunds_order_250.json")).unwrap();
        let refund = &r.data[0];
        assert_eq!(refund.id, 3);
        assert_eq!(refund.order_id, OrderId::new(250));
        // The JSON text is `399.0` and `79.8`; the decimal keeps exactly that text.
        assert_eq!(refund.total_amount.to_string(), "399.0");
        assert_eq!(refund.total_tax.to_string(), "79.8");
        assert_eq!(refund.items[0].item_type, RefundItemType::Product);
        assert_eq!(refund.items[0].item_id, 501);
        assert_eq!(refund.items[0].quantity, Some(1));
        assert_eq!(refund.items[0].requested_amount, None);
        assert_eq!(refund.payments[0].amount.to_string(), "399.0");
        assert_eq!(refund.created, Some(datetime!(2025-12-04 08:00:00 UTC)));
    }

    #[test]
    fn decimal_numbers_beyond_f64_precision_survive() {
        // 0.1 + 0.2 style trouble and 17+ significant digits: f64 would change these.
        let body = r#"{"id":1,"order_id":2,"total_amount":12345678901234.5678,"total_tax":0.30000000000000004,"items":[]}"#;
        let refund: Refund = serde_json::from_str(body).unwrap();
        assert_eq!(refund.total_amount.to_string(), "12345678901234.5678");
        assert_eq!(refund.total_tax.to_string(), "0.30000000000000004");
        let body = r#"{"id":1,"order_id":2,"total_amount":"1e2","items":[{"item_type":"shipping","item_id":0}]}"#;
        let refund: Refund = serde_json::from_str(body).unwrap();
        assert_eq!(refund.total_amount, dec("100"));
        assert_eq!(refund.items[0].item_type, RefundItemType::Shipping);
    }

    #[test]
    fn unknown_refund_item_types_are_kept() {
        let item: RefundItem =
            serde_json::from_str(r#"{"item_type":"FEE","item_id":1,"quantity":null}"#).unwrap();
        assert_eq!(item.item_type, RefundItemType::Other("FEE".into()));
        assert_eq!(item.quantity, None);
    }

    #[test]
    fn hooks_parse_with_their_scope() {
        let r: V3Response<Vec<Hook>> = serde_json::from_str(fixture!("v3_hooks.json")).unwrap();
        assert_eq!(r.data[0].scope, Scope::OrderCreated);
        assert!(r.data[0].is_active);
        assert_eq!(r.data[1].scope, Scope::CustomerCreated);
        assert!(!r.data[1].is_active);
        assert_eq!(r.data[1].updated_at, 1_564_000_000);
        assert_eq!(r.data[1].headers, None);
    }

    #[test]
    fn hook_plan_creates_missing_hooks_and_reactivates_inactive_ones() {
        let r: V3Response<Vec<Hook>> = serde_json::from_str(fixture!("v3_hooks.json")).unwrap();
        let plan = plan_hooks(
            &r.data,
            "https://connector.example.com/webhooks/bigcommerce/",
        );
        assert_eq!(plan.reactivate, vec![18_048_288]);
        assert_eq!(plan.create.len(), Scope::required_hooks().len() - 2);
        assert!(!plan.create.contains(&Scope::OrderCreated));
        assert!(!plan.create.contains(&Scope::CustomerCreated));
        assert!(plan.create.contains(&Scope::CartConverted));
    }

    #[test]
    fn hooks_on_another_destination_do_not_count() {
        let r: V3Response<Vec<Hook>> = serde_json::from_str(fixture!("v3_hooks.json")).unwrap();
        let plan = plan_hooks(&r.data, "https://other.example.com/hooks");
        assert!(plan.reactivate.is_empty());
        assert_eq!(plan.create, Scope::required_hooks().to_vec());
    }

    #[test]
    fn complete_active_hooks_need_no_change() {
        let hooks: Vec<Hook> = Scope::required_hooks()
            .iter()
            .enumerate()
            .map(|(i, scope)| Hook {
                id: i as u64,
                client_id: None,
                store_hash: None,
                scope: scope.clone(),
                destination: "https://c.example.com/wh".into(),
                is_active: true,
                created_at: 0,
                updated_at: 0,
                headers: None,
            })
            .collect();
        assert!(plan_hooks(&hooks, "https://c.example.com/wh").is_empty());
    }

    #[test]
    fn new_hook_and_activation_serialize_as_the_api_expects() {
        let hook = NewHook {
            scope: Scope::OrderCreated,
            destination: "https://c.example.com/wh".into(),
            is_active: true,
            headers: None,
        };
        assert_eq!(
            serde_json::to_value(&hook).unwrap(),
            serde_json::json!({"scope":"store/order/created","destination":"https://c.example.com/wh","is_active":true})
        );
        assert_eq!(
            serde_json::to_string(&HookActivation::ACTIVATE).unwrap(),
            r#"{"is_active":true}"#
        );
    }
}
