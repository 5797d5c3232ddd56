//! The fake BigCommerce API, mounted at `/bigcommerce` so that a store's API base URL is
//! `{base}/bigcommerce` and its calls go to `{base}/bigcommerce/stores/{hash}/v2|v3/…`.
//!
//! Order of checks, as a client sees them: fault (in `http`), quota (429), missing
//! `X-Auth-Token` (401), unknown store (404), then the endpoint. Every answer but a
//! fault carries the four `X-Rate-Limit-*` headers.

use std::collections::HashSet;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::faults::RateHeaders;
use crate::http::{Ctx, Reply};
use crate::state::{lock, Shared, Store};

/// `client_id` given to hooks created without an `X-Auth-Client` header (the fixtures').
const DEFAULT_CLIENT_ID: &str = "m9r6keqmo7h7f23btnpwernbez1kglkl";

/// BigCommerce's page size when `limit` is absent, and its largest.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 250;

const ERROR_TYPE: &str =
    "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes";

/// The endpoint a request names; ids stay text until the handler parses them, so a
/// non-numeric id is a plain 404 as on BigCommerce.
#[derive(Debug, Clone, Copy)]
enum Route<'a> {
    Orders,
    Order(&'a str),
    OrderProducts(&'a str),
    OrderShippingAddresses(&'a str),
    Customers,
    Subscriber(&'a str),
    Products,
    Product(&'a str),
    Categories,
    OrderRefunds(&'a str),
    Refunds,
    Refund(&'a str),
    Hooks,
    CreateHook,
    Hook(&'a str),
    UpdateHook(&'a str),
    DeleteHook(&'a str),
    Unknown,
}

fn route<'a>(method: &str, rest: &[&'a str]) -> (&'static str, Route<'a>) {
    use Route::*;
    match (method, rest) {
        ("GET", ["v2", "orders"]) => ("/stores/{hash}/v2/orders", Orders),
        ("GET", ["v2", "orders", id]) => ("/stores/{hash}/v2/orders/{id}", Order(id)),
        ("GET", ["v2", "orders", id, "products"]) => {
            ("/stores/{hash}/v2/orders/{id}/products", OrderProducts(id))
        }
        ("GET", ["v2", "orders", id, "shipping_addresses"]) => (
            "/stores/{hash}/v2/orders/{id}/shipping_addresses",
            OrderShippingAddresses(id),
        ),
        ("GET", ["v3", "customers"]) => ("/stores/{hash}/v3/customers", Customers),
        ("GET", ["v3", "customers", "subscribers", id]) => (
            "/stores/{hash}/v3/customers/subscribers/{id}",
            Subscriber(id),
        ),
        ("GET", ["v3", "catalog", "products"]) => ("/stores/{hash}/v3/catalog/products", Products),
        ("GET", ["v3", "catalog", "products", id]) => {
            ("/stores/{hash}/v3/catalog/products/{id}", Product(id))
        }
        ("GET", ["v3", "catalog", "categories"]) => {
            ("/stores/{hash}/v3/catalog/categories", Categories)
        }
        ("GET", ["v3", "orders", "payment_actions", "refunds"]) => {
            ("/stores/{hash}/v3/orders/payment_actions/refunds", Refunds)
        }
        ("GET", ["v3", "orders", "payment_actions", "refunds", id]) => (
            "/stores/{hash}/v3/orders/payment_actions/refunds/{id}",
            Refund(id),
        ),
        ("GET", ["v3", "orders", id, "payment_actions", "refunds"]) => (
            "/stores/{hash}/v3/orders/{id}/payment_actions/refunds",
            OrderRefunds(id),
        ),
        ("GET", ["v3", "hooks"]) => ("/stores/{hash}/v3/hooks", Hooks),
        ("POST", ["v3", "hooks"]) => ("/stores/{hash}/v3/hooks", CreateHook),
        ("GET", ["v3", "hooks", id]) => ("/stores/{hash}/v3/hooks/{id}", Hook(id)),
        ("PUT", ["v3", "hooks", id]) => ("/stores/{hash}/v3/hooks/{id}", UpdateHook(id)),
        ("DELETE", ["v3", "hooks", id]) => ("/stores/{hash}/v3/hooks/{id}", DeleteHook(id)),
        _ => ("/stores/{hash}/(unrouted)", Unknown),
    }
}

/// Which error body shape to answer with: v2 answers a list, v3 an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V2,
    V3,
}

fn error(version: Version, status: u16, message: &str) -> Reply {
    match version {
        Version::V2 => Reply::json(status, json!([{"status": status, "message": message}])),
        Version::V3 => Reply::json(
            status,
            json!({"status": status, "title": message, "type": ERROR_TYPE, "errors": {}}),
        ),
    }
}

fn not_found(version: Version) -> Reply {
    error(version, 404, "The requested resource was not found.")
}

/// Handles one request below `/bigcommerce`; returns the route template and the answer.
pub(crate) fn handle(shared: &Shared, ctx: &Ctx<'_>) -> (&'static str, Reply) {
    let segs = ctx.segs();
    let (hash, rest) = match segs.as_slice() {
        ["stores", hash, rest @ ..] => (*hash, rest),
        _ => {
            return (
                "/(unrouted)",
                error(Version::V3, 404, "The requested resource was not found."),
            )
        }
    };
    let version = if rest.first() == Some(&"v2") {
        Version::V2
    } else {
        Version::V3
    };
    let (template, route) = route(ctx.method, rest);

    let admitted = lock(&shared.control).limiter.admit(Instant::now());
    let rate = match admitted {
        Ok(rate) => rate,
        Err(rate) => {
            let reply = error(
                version,
                429,
                "You have exceeded the rate limit for this store. Wait for the window to reset.",
            );
            return (template, with_rate_headers(reply, rate));
        }
    };
    let reply = answer(shared, ctx, hash, version, route);
    (template, with_rate_headers(reply, rate))
}

fn with_rate_headers(mut reply: Reply, rate: RateHeaders) -> Reply {
    for (name, value) in rate.pairs() {
        reply = reply.header(name, value);
    }
    reply
}

fn answer(shared: &Shared, ctx: &Ctx<'_>, hash: &str, version: Version, route: Route<'_>) -> Reply {
    if ctx
        .header("x-auth-token")
        .is_none_or(|t| t.trim().is_empty())
    {
        return error(
            version,
            401,
            "You must provide a valid X-Auth-Token header.",
        );
    }
    if ctx.query.is_none() {
        return error(version, 400, "The query string could not be parsed.");
    }
    let mut data = lock(&shared.data);
    let Some(store) = data.stores.get_mut(hash) else {
        return error(version, 404, "Store not found.");
    };
    let result = match route {
        Route::Orders => list_orders(store, ctx),
        Route::Order(id) => get_order(store, id).map(|o| Reply::json(200, o.order.clone())),
        Route::OrderProducts(id) => {
            get_order(store, id).and_then(|o| v2_page(ctx, o.products.clone()))
        }
        Route::OrderShippingAddresses(id) => {
            get_order(store, id).and_then(|o| v2_page(ctx, o.shipping_addresses.clone()))
        }
        Route::Customers => list_customers(store, ctx),
        Route::Subscriber(id) => single(&store.subscribers, id),
        Route::Products => {
            list_with_ids(&store.products, ctx).and_then(|items| v3_page(ctx, items))
        }
        Route::Product(id) => single(&store.products, id),
        Route::Categories => list_categories(store, ctx),
        Route::OrderRefunds(id) => order_refunds(store, id),
        Route::Refunds => all_refunds(store, ctx),
        Route::Refund(id) => single(&store.refunds, id),
        Route::Hooks => list_hooks(store, ctx),
        Route::CreateHook => create_hook(store, ctx, hash),
        Route::Hook(id) => single(&store.hooks, id),
        Route::UpdateHook(id) => update_hook(store, ctx, id),
        Route::DeleteHook(id) => parse_id(id)
            .and_then(|id| store.hooks.remove(&id))
            .map(|hook| Reply::json(200, json!({"data": hook, "meta": {}})))
            .ok_or(Problem::NotFound),
        Route::Unknown => Err(Problem::NotFound),
    };
    result.unwrap_or_else(|problem| match problem {
        Problem::NotFound => not_found(version),
        Problem::Status(status, message) => error(version, status, &message),
    })
}

/// Why an endpoint could not answer normally.
#[derive(Debug)]
enum Problem {
    NotFound,
    Status(u16, String),
}

fn bad_request(message: impl Into<String>) -> Problem {
    Problem::Status(400, message.into())
}

fn unprocessable(message: impl Into<String>) -> Problem {
    Problem::Status(422, message.into())
}

trait OrNotFound<T> {
    fn or_not_found(self) -> Result<T, Problem>;
}

impl<T> OrNotFound<T> for Option<T> {
    fn or_not_found(self) -> Result<T, Problem> {
        self.ok_or(Problem::NotFound)
    }
}

fn parse_id(text: &str) -> Option<i64> {
    text.parse().ok()
}

fn get_order<'s>(store: &'s Store, id: &str) -> Result<&'s crate::state::StoredOrder, Problem> {
    parse_id(id)
        .and_then(|id| store.orders.get(&id))
        .or_not_found()
}

fn single(map: &std::collections::BTreeMap<i64, Value>, id: &str) -> Result<Reply, Problem> {
    let item = parse_id(id).and_then(|id| map.get(&id)).or_not_found()?;
    Ok(Reply::json(200, json!({"data": item, "meta": {}})))
}

// ---------------------------------------------------------------------------------
// Paging
// ---------------------------------------------------------------------------------

fn page_and_limit(ctx: &Ctx<'_>) -> Result<(usize, usize), Problem> {
    let number = |name: &str, default: usize| -> Result<usize, Problem> {
        match ctx.param(name) {
            None | Some("") => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad_request(format!("\"{name}\" must be a positive integer"))),
        }
    };
    Ok((
        number("page", 1)?,
        number("limit", DEFAULT_LIMIT)?.min(MAX_LIMIT),
    ))
}

fn slice(items: Vec<Value>, page: usize, limit: usize) -> Vec<Value> {
    let skip = (page - 1).saturating_mul(limit);
    items.into_iter().skip(skip).take(limit).collect()
}

/// A v2 collection page: a bare array, or 204 with no body when the page is empty
/// (BigCommerce's v2 behaviour, which clients must handle).
fn v2_page(ctx: &Ctx<'_>, items: Vec<Value>) -> Result<Reply, Problem> {
    let (page, limit) = page_and_limit(ctx)?;
    let items = slice(items, page, limit);
    Ok(if items.is_empty() {
        Reply::empty(204)
    } else {
        Reply::json(200, Value::Array(items))
    })
}

/// A v3 collection page: `{data, meta: {pagination}}`; an empty page is a 200.
fn v3_page(ctx: &Ctx<'_>, items: Vec<Value>) -> Result<Reply, Problem> {
    let (page, limit) = page_and_limit(ctx)?;
    let total = items.len();
    let total_pages = total.div_ceil(limit);
    let data = slice(items, page, limit);
    let mut links = Map::new();
    if page > 1 {
        links.insert(
            "previous".into(),
            json!(format!("?page={}&limit={limit}", page - 1)),
        );
    }
    links.insert(
        "current".into(),
        json!(format!("?page={page}&limit={limit}")),
    );
    if page < total_pages {
        links.insert(
            "next".into(),
            json!(format!("?page={}&limit={limit}", page + 1)),
        );
    }
    Ok(Reply::json(
        200,
        json!({
            "data": data,
            "meta": {"pagination": {
                "total": total,
                "count": data.len(),
                "per_page": limit,
                "current_page": page,
                "total_pages": total_pages,
                "links": links,
            }}
        }),
    ))
}

// ---------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------

/// Parses a comma-separated `field:in` list of integers, if the parameter is present.
fn int_list(ctx: &Ctx<'_>, name: &str) -> Result<Option<HashSet<i64>>, Problem> {
    let Some(text) = ctx.param(name) else {
        return Ok(None);
    };
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| bad_request(format!("\"{name}\" must list integers")))
        })
        .collect::<Result<HashSet<_>, _>>()
        .map(Some)
}

fn int_param(ctx: &Ctx<'_>, name: &str) -> Result<Option<i64>, Problem> {
    ctx.param(name)
        .map(|text| {
            text.trim()
                .parse::<i64>()
                .map_err(|_| bad_request(format!("\"{name}\" must be an integer")))
        })
        .transpose()
}

fn date_param(ctx: &Ctx<'_>, name: &str) -> Result<Option<i64>, Problem> {
    ctx.param(name)
        .map(|text| {
            parse_date(text).ok_or_else(|| {
                bad_request(format!(
                    "\"{name}\" must be an RFC 2822 or ISO 8601 date, got {text:?}"
                ))
            })
        })
        .transpose()
}

fn field_i64(value: &Value, field: &str) -> Option<i64> {
    match value.get(field)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn field_date(value: &Value, field: &str) -> Option<i64> {
    value.get(field)?.as_str().and_then(parse_date)
}

/// Keeps `value` when its `field` date lies within `[min, max]`; a value without a
/// readable date passes only when no bound is set.
fn within(value: &Value, field: &str, min: Option<i64>, max: Option<i64>) -> bool {
    if min.is_none() && max.is_none() {
        return true;
    }
    field_date(value, field)
        .is_some_and(|t| min.is_none_or(|m| t >= m) && max.is_none_or(|m| t <= m))
}

fn list_with_ids(
    map: &std::collections::BTreeMap<i64, Value>,
    ctx: &Ctx<'_>,
) -> Result<Vec<Value>, Problem> {
    let ids = int_list(ctx, "id:in")?;
    Ok(map
        .iter()
        .filter(|(id, _)| ids.as_ref().is_none_or(|ids| ids.contains(id)))
        .map(|(_, v)| v.clone())
        .collect())
}

// ---------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------

fn list_orders(store: &Store, ctx: &Ctx<'_>) -> Result<Reply, Problem> {
    let min_modified = date_param(ctx, "min_date_modified")?;
    let max_modified = date_param(ctx, "max_date_modified")?;
    let min_created = date_param(ctx, "min_date_created")?;
    let max_created = date_param(ctx, "max_date_created")?;
    let status_id = int_param(ctx, "status_id")?;
    let customer_id = int_param(ctx, "customer_id")?;
    let channel_id = int_param(ctx, "channel_id")?;
    let email = ctx.param("email").map(str::to_lowercase);
    let cart_id = ctx.param("cart_id");
    let orders = store
        .orders
        .values()
        .map(|o| &o.order)
        .filter(|o| within(o, "date_modified", min_modified, max_modified))
        .filter(|o| within(o, "date_created", min_created, max_created))
        .filter(|o| status_id.is_none_or(|s| field_i64(o, "status_id") == Some(s)))
        .filter(|o| customer_id.is_none_or(|c| field_i64(o, "customer_id") == Some(c)))
        .filter(|o| channel_id.is_none_or(|c| field_i64(o, "channel_id") == Some(c)))
        .filter(|o| {
            email.as_deref().is_none_or(|e| {
                o.pointer("/billing_address/email")
                    .and_then(Value::as_str)
                    .is_some_and(|b| b.eq_ignore_ascii_case(e))
            })
        })
        .filter(|o| cart_id.is_none_or(|c| o.get("cart_id").and_then(Value::as_str) == Some(c)))
        .cloned()
        .collect();
    v2_page(ctx, orders)
}

fn list_customers(store: &Store, ctx: &Ctx<'_>) -> Result<Reply, Problem> {
    let ids = int_list(ctx, "id:in")?;
    let emails: Option<HashSet<String>> = ctx.param("email:in").map(|text| {
        text.split(',')
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
            .collect()
    });
    let min = date_param(ctx, "date_modified:min")?;
    let max = date_param(ctx, "date_modified:max")?;
    let include: HashSet<&str> = ctx
        .param("include")
        .map(|text| text.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let customers = store
        .customers
        .iter()
        .filter(|(id, _)| ids.as_ref().is_none_or(|ids| ids.contains(id)))
        .map(|(_, c)| c)
        .filter(|c| {
            emails.as_ref().is_none_or(|emails| {
                c.get("email")
                    .and_then(Value::as_str)
                    .is_some_and(|e| emails.contains(&e.to_lowercase()))
            })
        })
        .filter(|c| within(c, "date_modified", min, max))
        .map(|c| {
            let mut c = c.clone();
            // BigCommerce returns addresses only when asked for, and clients that
            // forget `include=addresses` must notice.
            if !include.contains("addresses") {
                if let Value::Object(map) = &mut c {
                    map.remove("addresses");
                }
            }
            c
        })
        .collect();
    v3_page(ctx, customers)
}

fn list_categories(store: &Store, ctx: &Ctx<'_>) -> Result<Reply, Problem> {
    let parent_id = int_param(ctx, "parent_id")?;
    let categories = list_with_ids(&store.categories, ctx)?
        .into_iter()
        .filter(|c| parent_id.is_none_or(|p| field_i64(c, "parent_id") == Some(p)))
        .collect();
    v3_page(ctx, categories)
}

fn order_refunds(store: &Store, id: &str) -> Result<Reply, Problem> {
    let order_id = parse_id(id).or_not_found()?;
    let refunds: Vec<Value> = store
        .refunds
        .values()
        .filter(|r| field_i64(r, "order_id") == Some(order_id))
        .cloned()
        .collect();
    if refunds.is_empty() && !store.orders.contains_key(&order_id) {
        return Err(Problem::NotFound);
    }
    Ok(Reply::json(200, json!({"data": refunds, "meta": {}})))
}

fn all_refunds(store: &Store, ctx: &Ctx<'_>) -> Result<Reply, Problem> {
    let order_ids = int_list(ctx, "order_id:in")?;
    let refunds: Vec<Value> = store
        .refunds
        .values()
        .filter(|r| {
            order_ids
                .as_ref()
                .is_none_or(|ids| field_i64(r, "order_id").is_some_and(|o| ids.contains(&o)))
        })
        .cloned()
        .collect();
    Ok(Reply::json(200, json!({"data": refunds, "meta": {}})))
}

fn list_hooks(store: &Store, ctx: &Ctx<'_>) -> Result<Reply, Problem> {
    let is_active = match ctx.param("is_active") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(bad_request("\"is_active\" must be true or false")),
    };
    let scope = ctx.param("scope");
    let destination = ctx.param("destination");
    let hooks = store
        .hooks
        .values()
        .filter(|h| {
            is_active.is_none_or(|a| h.get("is_active").and_then(Value::as_bool) == Some(a))
        })
        .filter(|h| scope.is_none_or(|s| h.get("scope").and_then(Value::as_str) == Some(s)))
        .filter(|h| {
            destination.is_none_or(|d| h.get("destination").and_then(Value::as_str) == Some(d))
        })
        .cloned()
        .collect();
    v3_page(ctx, hooks)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn body_object(ctx: &Ctx<'_>) -> Result<Map<String, Value>, Problem> {
    match ctx.json() {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(unprocessable("The request body must be a JSON object.")),
        Err(message) => Err(bad_request(message)),
    }
}

fn non_empty_str<'v>(
    body: &'v Map<String, Value>,
    field: &str,
) -> Result<Option<&'v str>, Problem> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
        Some(_) => Err(unprocessable(format!(
            "\"{field}\" must be a non-empty string"
        ))),
    }
}

fn optional_bool(body: &Map<String, Value>, field: &str) -> Result<Option<bool>, Problem> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(unprocessable(format!("\"{field}\" must be a boolean"))),
    }
}

fn optional_headers(body: &Map<String, Value>) -> Result<Option<Value>, Problem> {
    match body.get("headers") {
        None => Ok(None),
        Some(v @ (Value::Null | Value::Object(_))) => Ok(Some(v.clone())),
        Some(_) => Err(unprocessable("\"headers\" must be an object")),
    }
}

/// BigCommerce allows one hook per scope and destination (C.3).
fn conflicting_hook(store: &Store, scope: &str, destination: &str, except: Option<i64>) -> bool {
    store.hooks.iter().any(|(id, h)| {
        Some(*id) != except
            && h.get("scope").and_then(Value::as_str) == Some(scope)
            && h.get("destination").and_then(Value::as_str) == Some(destination)
    })
}

fn create_hook(store: &mut Store, ctx: &Ctx<'_>, hash: &str) -> Result<Reply, Problem> {
    let body = body_object(ctx)?;
    let scope =
        non_empty_str(&body, "scope")?.ok_or_else(|| unprocessable("\"scope\" is required"))?;
    let destination = non_empty_str(&body, "destination")?
        .ok_or_else(|| unprocessable("\"destination\" is required"))?;
    let is_active = optional_bool(&body, "is_active")?.unwrap_or(true);
    let headers = optional_headers(&body)?.unwrap_or(Value::Null);
    if conflicting_hook(store, scope, destination, None) {
        return Err(unprocessable(
            "A webhook with this scope and destination already exists.",
        ));
    }
    let id = store.next_hook_id();
    let now = now_secs();
    let hook = json!({
        "id": id,
        "client_id": ctx.header("x-auth-client").unwrap_or(DEFAULT_CLIENT_ID),
        "store_hash": hash,
        "scope": scope,
        "destination": destination,
        "headers": headers,
        "is_active": is_active,
        "created_at": now,
        "updated_at": now,
    });
    store.hooks.insert(id, hook.clone());
    Ok(Reply::json(200, json!({"data": hook, "meta": {}})))
}

fn update_hook(store: &mut Store, ctx: &Ctx<'_>, id: &str) -> Result<Reply, Problem> {
    let id = parse_id(id)
        .filter(|id| store.hooks.contains_key(id))
        .or_not_found()?;
    let body = body_object(ctx)?;
    let scope = non_empty_str(&body, "scope")?;
    let destination = non_empty_str(&body, "destination")?;
    let is_active = optional_bool(&body, "is_active")?;
    let headers = optional_headers(&body)?;
    if scope.is_none() && destination.is_none() && is_active.is_none() && headers.is_none() {
        return Err(unprocessable(
            "At least one of scope, destination, is_active or headers is required.",
        ));
    }
    let current = &store.hooks[&id];
    let new_scope = scope
        .or_else(|| current.get("scope").and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    let new_destination = destination
        .or_else(|| current.get("destination").and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    if conflicting_hook(store, &new_scope, &new_destination, Some(id)) {
        return Err(unprocessable(
            "A webhook with this scope and destination already exists.",
        ));
    }
    let hook = store.hooks.get_mut(&id).or_not_found()?;
    hook["scope"] = Value::from(new_scope);
    hook["destination"] = Value::from(new_destination);
    if let Some(active) = is_active {
        hook["is_active"] = Value::from(active);
    }
    if let Some(headers) = headers {
        hook["headers"] = headers;
    }
    hook["updated_at"] = Value::from(now_secs());
    Ok(Reply::json(200, json!({"data": hook.clone(), "meta": {}})))
}

// ---------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------

/// Parses the date forms BigCommerce uses and accepts in filters into Unix seconds:
/// RFC 2822 (`Wed, 03 Dec 2025 08:22:00 +0000`), ISO 8601 / RFC 3339
/// (`2025-12-01T10:00:00Z`, `…+01:00`, fractions allowed, no zone = UTC) and a bare
/// date (`2025-12-01`, midnight UTC). A `+` decoded to a space by form-decoding of an
/// unescaped query is tolerated.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.as_bytes().first().is_some_and(u8::is_ascii_digit) && text.get(4..5) == Some("-") {
        parse_iso(text)
    } else {
        parse_rfc2822(text)
    }
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn timestamp(
    year: i64,
    month: u32,
    day: u32,
    h: u32,
    m: u32,
    s: u32,
    offset_secs: i64,
) -> Option<i64> {
    let valid =
        (1..=12).contains(&month) && (1..=31).contains(&day) && h <= 23 && m <= 59 && s <= 60;
    valid.then(|| {
        days_from_civil(year, month, day) * 86_400
            + i64::from(h) * 3600
            + i64::from(m) * 60
            + i64::from(s)
            - offset_secs
    })
}

fn num<T: std::str::FromStr>(text: &str) -> Option<T> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// `±HHMM` or `±HH:MM` (sign may have become a space) or `Z`/`UT`/`UTC`/`GMT` → seconds
/// east of UTC.
fn parse_offset(text: &str) -> Option<i64> {
    let text = text.trim();
    if matches!(text, "Z" | "z" | "UT" | "UTC" | "GMT") {
        return Some(0);
    }
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => (1, text),
    };
    let digits = digits.replace(':', "");
    if digits.len() != 4 {
        return None;
    }
    let hours: i64 = num(&digits[..2])?;
    let minutes: i64 = num(&digits[2..])?;
    Some(sign * (hours * 3600 + minutes * 60))
}

fn parse_clock(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split(':');
    let h = num(parts.next()?)?;
    let m = num(parts.next()?)?;
    let s = match parts.next() {
        // Fractions of a second do not matter for filtering.
        Some(sec) => num(sec.split('.').next()?)?,
        None => 0,
    };
    parts.next().is_none().then_some((h, m, s))
}

fn parse_iso(text: &str) -> Option<i64> {
    let (date, rest) = match text.find(['T', 't', ' ']) {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    let mut parts = date.split('-');
    let year: i64 = num(parts.next()?)?;
    let month: u32 = num(parts.next()?)?;
    let day: u32 = num(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    if rest.is_empty() {
        return timestamp(year, month, day, 0, 0, 0, 0);
    }
    let zone_start = rest.find(['Z', 'z', '+', '-', ' ']);
    let (clock, offset) = match zone_start {
        Some(i) => (&rest[..i], parse_offset(&rest[i..])?),
        None => (rest, 0),
    };
    let (h, m, s) = parse_clock(clock)?;
    timestamp(year, month, day, h, m, s, offset)
}

fn parse_rfc2822(text: &str) -> Option<i64> {
    // The weekday is redundant; drop it when present.
    let text = match text.split_once(',') {
        Some((_, rest)) => rest,
        None => text,
    };
    let mut words = text.split_whitespace();
    let day: u32 = num(words.next()?)?;
    let month_name = words.next()?;
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| month_name.len() >= 3 && month_name[..3].eq_ignore_ascii_case(m))?;
    let year: i64 = num(words.next()?)?;
    let (h, m, s) = parse_clock(words.next()?)?;
    let offset = match words.next() {
        Some(zone) => parse_offset(zone)?,
        None => 0,
    };
    if words.next().is_some() {
        return None;
    }
    timestamp(year, month as u32 + 1, day, h, m, s, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2822_dates_parse_with_or_without_sign() {
        let t = parse_date("Wed, 03 Dec 2025 08:22:00 +0000").unwrap();
        assert_eq!(t, 1_764_750_120);
        assert_eq!(parse_date("Wed, 03 Dec 2025 08:22:00  0000"), Some(t));
        assert_eq!(parse_date("Wed, 03 Dec 2025 09:22:00 +0100"), Some(t));
        assert_eq!(parse_date("3 Dec 2025 08:22:00 GMT"), Some(t));
    }

    #[test]
    fn iso_8601_dates_parse_in_their_common_forms() {
        let t = parse_date("2025-12-03T08:22:00Z").unwrap();
        assert_eq!(t, 1_764_750_120);
        assert_eq!(parse_date("2025-12-03T09:22:00+01:00"), Some(t));
        assert_eq!(parse_date("2025-12-03T09:22:00.123 01:00"), Some(t));
        assert_eq!(parse_date("2025-12-03T08:22:00"), Some(t));
        assert_eq!(parse_date("2025-12-03"), Some(t - (8 * 3600 + 22 * 60)));
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn nonsense_dates_are_refused() {
        for bad in [
            "",
            "yesterday",
            "2025-13-01",
            "2025-12-03T25:00:00Z",
            "Wed, 03 Foo 2025 08:22:00 +0000",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
