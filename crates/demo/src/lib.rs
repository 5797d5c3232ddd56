//! The scripted traffic of `make demo`, shared by the `demo-traffic` binary and the
//! end-to-end tests: a realistic stream of signed BigCommerce webhooks and storefront beacons,
//! and a client that sends it to an ingress.
//!
//! # Layout
//!
//! - [`script`]: the stream, in sending order ([`Step`]).
//! - [`Traffic`]: signs and posts webhooks (Standard Webhooks) and beacons (with an `Origin`).
//! - [`kind_of`]: a readable name for an Engage request, for reports.

use serde_json::{json, Value};

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/",
            $path
        ))
    };
}

/// One step of the scripted traffic.
#[derive(Debug, Clone)]
pub enum Step {
    /// A signed webhook: label and body.
    Webhook(&'static str, Value),
    /// A storefront beacon: label, ingress path and body.
    Beacon(&'static str, &'static str, Value),
}

impl Step {
    /// The step's label, as the report prints it.
    pub fn label(&self) -> &'static str {
        match self {
            Step::Webhook(label, _) | Step::Beacon(label, _, _) => label,
        }
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixtures are valid JSON")
}

/// A `store/customer/created` webhook for `id`, shaped like the fixture. Its `hash` and
/// `created_at` are fresh, so it is a new event rather than a redelivery of the fixture's.
pub fn customer_created(id: i64) -> Value {
    let mut body = parse(fixture!("bigcommerce/webhooks/customer_created.json"));
    body["data"]["id"] = json!(id);
    body["hash"] = json!(uuid::Uuid::new_v4().simple().to_string());
    body["created_at"] = json!(time::OffsetDateTime::now_utc().unix_timestamp());
    body
}

/// The scripted stream, in sending order: customers (the three phone outcomes and one on an
/// unconfigured channel), a subscriber, product views (one anonymous), a cart, an order with
/// updates, its cart converted, a refund status update (ignored on purpose) and the refund.
pub fn script() -> Vec<Step> {
    let wh = |path: &str| match path {
        "customer_created" => parse(fixture!("bigcommerce/webhooks/customer_created.json")),
        "customer_address_updated" => parse(fixture!(
            "bigcommerce/webhooks/customer_address_updated.json"
        )),
        "subscriber_created" => parse(fixture!("bigcommerce/webhooks/subscriber_created.json")),
        "order_created" => parse(fixture!("bigcommerce/webhooks/order_created.json")),
        "order_updated" => parse(fixture!("bigcommerce/webhooks/order_updated.json")),
        "order_status_updated" => parse(fixture!("bigcommerce/webhooks/order_status_updated.json")),
        "order_status_refunded" => {
            parse(fixture!("bigcommerce/webhooks/order_status_refunded.json"))
        }
        "order_refund_created" => parse(fixture!("bigcommerce/webhooks/order_refund_created.json")),
        "cart_converted" => parse(fixture!("bigcommerce/webhooks/cart_converted.json")),
        other => unreachable!("no fixture {other}"),
    };
    vec![
        Step::Webhook("customer 32 created", wh("customer_created")),
        Step::Webhook(
            "customer 32 address updated",
            wh("customer_address_updated"),
        ),
        Step::Webhook("customer 34 created (invalid phone)", customer_created(34)),
        Step::Webhook("customer 35 created (no address)", customer_created(35)),
        Step::Webhook(
            "customer 36 created (channel 7, unconfigured)",
            customer_created(36),
        ),
        Step::Webhook("subscriber 5 created", wh("subscriber_created")),
        Step::Beacon(
            "product view 77 (known contact)",
            "/tracking/product-view",
            parse(fixture!("tracking/product_view.json")),
        ),
        Step::Beacon(
            "product view 78 (anonymous)",
            "/tracking/product-view",
            parse(fixture!("tracking/product_view_anonymous.json")),
        ),
        Step::Beacon(
            "cart",
            "/tracking/cart",
            parse(fixture!("tracking/cart.json")),
        ),
        Step::Webhook("order 250 created", wh("order_created")),
        Step::Webhook("order 250 updated", wh("order_updated")),
        Step::Webhook(
            "order 250 status -> 11 (awaiting fulfillment)",
            wh("order_status_updated"),
        ),
        Step::Webhook("cart converted to order 250", wh("cart_converted")),
        Step::Webhook(
            "order 250 status -> 4 (refunded; ignored on purpose)",
            wh("order_status_refunded"),
        ),
        Step::Webhook("order 250 refund created", wh("order_refund_created")),
    ]
}

/// Sends steps to an ingress.
#[derive(Debug, Clone)]
pub struct Traffic {
    http: reqwest::Client,
    ingress: String,
    secret: String,
    origin: String,
}

impl Traffic {
    /// A sender to the ingress at `ingress` (no trailing slash needed), signing webhooks with
    /// the store's client `secret` and sending beacons from `origin`.
    pub fn new(http: reqwest::Client, ingress: &str, secret: &str, origin: &str) -> Self {
        Self {
            http,
            ingress: ingress.trim_end_matches('/').to_owned(),
            secret: secret.to_owned(),
            origin: origin.to_owned(),
        }
    }

    /// Sends one step. Returns the webhook id (none for beacons) and the HTTP status.
    pub async fn send(&self, step: &Step) -> reqwest::Result<(Option<String>, u16)> {
        match step {
            Step::Webhook(_, body) => {
                let (id, status) = self.send_webhook(body).await?;
                Ok((Some(id), status))
            }
            Step::Beacon(_, path, body) => Ok((None, self.send_beacon(path, body).await?)),
        }
    }

    /// Posts `body` as a webhook signed the Standard Webhooks way, with a fresh `webhook-id`
    /// (returned with the status).
    pub async fn send_webhook(&self, body: &Value) -> reqwest::Result<(String, u16)> {
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let status = self.send_webhook_as(&id, body).await?;
        Ok((id, status))
    }

    /// Posts `body` as the delivery `id` (BigCommerce retries a delivery with the same
    /// `webhook-id`), signed afresh. Returns the status.
    pub async fn send_webhook_as(&self, id: &str, body: &Value) -> reqwest::Result<u16> {
        let bytes = serde_json::to_vec(body).expect("a JSON value serialises");
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = domain::signature::sign_standard(self.secret.as_bytes(), id, ts, &bytes);
        let resp = self
            .http
            .post(format!("{}/webhooks/bigcommerce", self.ingress))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(bytes)
            .send()
            .await?;
        Ok(resp.status().as_u16())
    }

    /// Posts a beacon to `path` with the configured `Origin`.
    pub async fn send_beacon(&self, path: &str, body: &Value) -> reqwest::Result<u16> {
        let resp = self
            .http
            .post(format!("{}{path}", self.ingress))
            .header("origin", &self.origin)
            .json(body)
            .send()
            .await?;
        Ok(resp.status().as_u16())
    }
}

/// A readable name for an Engage request (`path` with or without the sandbox's `/engage`).
pub fn kind_of(method: &str, path: &str) -> &'static str {
    let path = path.trim_start_matches("/engage");
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        ("POST", ["api", "v3", "contacts"]) => "contacts created",
        ("PATCH", ["api", "v3", "contacts", _]) => "contacts updated",
        ("POST", ["api", "v3", "contacts", _, "updateContactType"]) => "contact types promoted",
        ("GET", ["api", "v3", "contacts", ..]) => "contact lookups",
        ("POST", ["api", "v3", "orders"]) => "orders created",
        ("PUT", ["api", "v3", "orders", _]) => "orders replaced",
        ("GET", ["api", "v3", "orders", ..]) => "order reads / job polls",
        ("DELETE", ["api", "v3", "orders", _]) => "orders deleted",
        ("POST", ["api", "v2", "tracking", "productview"]) => "product views",
        ("POST", ["api", "v2", "tracking", "carts"]) => "carts",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engage_requests_are_named_by_route() {
        assert_eq!(
            kind_of("POST", "/engage/api/v3/contacts"),
            "contacts created"
        );
        assert_eq!(
            kind_of("GET", "/api/v3/contacts/id?email=a@b.c"),
            "contact lookups"
        );
        assert_eq!(kind_of("PUT", "/api/v3/orders/250"), "orders replaced");
        assert_eq!(
            kind_of("POST", "/engage/api/v2/tracking/productview"),
            "product views"
        );
        assert_eq!(kind_of("DELETE", "/api/v3/contacts/x"), "other");
    }

    #[test]
    fn the_script_covers_every_flow_of_the_demo() {
        let labels: Vec<&str> = script().iter().map(Step::label).collect();
        for wanted in [
            "invalid phone",
            "no address",
            "unconfigured",
            "subscriber",
            "anonymous",
            "cart converted",
            "refund created",
        ] {
            assert!(
                labels.iter().any(|l| l.contains(wanted)),
                "no step for {wanted}"
            );
        }
    }
}
