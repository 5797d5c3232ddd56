//! The fake Voyado Engage API, mounted at `/engage` (a channel's Engage base URL is
//! `{base}/engage`) and, for `Location` headers that clients follow, at `/api`.
//!
//! Order of checks: fault (in `http`), missing `apikey` (401), missing `User-Agent`
//! (400), a body without `Content-Type: application/json` (500, as Engage answers),
//! then the endpoint.

use serde_json::{json, Map, Value};

use crate::http::{Ctx, Reply};
use crate::state::{lock, Engage, Lookup, Shared};

fn problem(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"errorCode": code, "message": message}))
}

fn contact_not_found() -> Reply {
    problem(404, "ContactNotFound", "No contact matches.")
}

fn order_not_found() -> Reply {
    problem(404, "OrderNotFound", "No order with this orderId.")
}

/// An endpoint: gets the path segments, since ids sit at fixed positions in them.
type Endpoint = fn(&Shared, &Ctx<'_>, &[&str]) -> Reply;

/// Handles one request below `/engage`; returns the route template and the answer.
pub(crate) fn handle(shared: &Shared, ctx: &Ctx<'_>) -> (&'static str, Reply) {
    let segs = ctx.segs();
    let (template, run): (&'static str, Endpoint) = match (ctx.method, segs.as_slice()) {
        ("GET", ["api", "v3", "contacts", "id"]) => ("/api/v3/contacts/id", find_contact),
        ("GET", ["api", "v3", "contacts", _]) => ("/api/v3/contacts/{id}", get_contact),
        ("POST", ["api", "v3", "contacts"]) => ("/api/v3/contacts", create_contact),
        ("PATCH", ["api", "v3", "contacts", _]) => ("/api/v3/contacts/{id}", patch_contact),
        ("DELETE", ["api", "v3", "contacts", _]) => ("/api/v3/contacts/{id}", delete_contact),
        ("POST", ["api", "v3", "contacts", _, "updateContactType"]) => (
            "/api/v3/contacts/{id}/updateContactType",
            update_contact_type,
        ),
        ("GET", ["api", "v2", "contacts", "count"]) => ("/api/v2/contacts/count", count),
        ("POST", ["api", "v3", "orders"]) => ("/api/v3/orders", create_order),
        ("GET", ["api", "v3", "orders", "jobs", _]) => ("/api/v3/orders/jobs/{id}", job),
        ("GET", ["api", "v3", "orders", _]) => ("/api/v3/orders/{orderId}", get_order),
        ("PUT", ["api", "v3", "orders", _]) => ("/api/v3/orders/{orderId}", replace_order),
        ("DELETE", ["api", "v3", "orders", _]) => ("/api/v3/orders/{orderId}", delete_order),
        ("POST", ["api", "v2", "tracking", "productview"]) => {
            ("/api/v2/tracking/productview", product_view)
        }
        ("POST", ["api", "v2", "tracking", "carts"]) => ("/api/v2/tracking/carts", cart),
        _ => ("/(unrouted)", |_, _, _| {
            Reply::json(
                404,
                json!({"message": "No HTTP resource was found that matches the request URI."}),
            )
        }),
    };

    if ctx.header("apikey").is_none_or(|k| k.trim().is_empty()) {
        return (
            template,
            Reply::json(
                401,
                json!({"message": "Authorization has been denied for this request."}),
            ),
        );
    }
    if ctx
        .header("user-agent")
        .is_none_or(|ua| ua.trim().is_empty())
    {
        return (
            template,
            problem(400, "MissingUserAgent", "A User-Agent header is required."),
        );
    }
    let json_content = ctx
        .header("content-type")
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("application/json"));
    if ctx.has_body() && !json_content {
        // Engage's documented (and unhelpful) answer to a missing content type.
        return (
            template,
            Reply::json(500, json!({"message": "An error has occurred."})),
        );
    }
    if ctx.query.is_none() {
        return (
            template,
            problem(400, "InvalidQuery", "The query string could not be parsed."),
        );
    }
    (template, run(shared, ctx, &segs))
}

/// The body as a JSON object, or the 400 to answer.
fn object_body(ctx: &Ctx<'_>) -> Result<Map<String, Value>, Reply> {
    match ctx.json() {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(problem(
            400,
            "InvalidBody",
            "The body must be a JSON object.",
        )),
        Err(message) => Err(problem(400, "InvalidBody", &message)),
    }
}

fn find_contact(shared: &Shared, ctx: &Ctx<'_>, _: &[&str]) -> Reply {
    let Some(email) = ctx.param("email").map(str::trim).filter(|e| !e.is_empty()) else {
        return problem(400, "InvalidSearchQuery", "Give an email to search for.");
    };
    if !email.contains('@') {
        return problem(
            400,
            "InvalidEmailAddress",
            "The email address is not valid.",
        );
    }
    match lock(&shared.data).engage.find_by_email(email) {
        Lookup::Found(id) => Reply::json(200, Value::String(id)),
        Lookup::NotFound => contact_not_found(),
        Lookup::Multiple => problem(409, "MultipleMatches", "More than one contact matches."),
    }
}

fn get_contact(shared: &Shared, _: &Ctx<'_>, segs: &[&str]) -> Reply {
    match lock(&shared.data).engage.contact(segs[3]) {
        Some(contact) => Reply::json(200, contact),
        None => contact_not_found(),
    }
}

fn create_contact(shared: &Shared, ctx: &Ctx<'_>, _: &[&str]) -> Reply {
    let body = match object_body(ctx) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    // A caller-chosen id would let a client fake Engage's behaviour; Engage assigns it.
    let mut body = body;
    body.remove("id");
    match lock(&shared.data)
        .engage
        .create_contact(Value::Object(body))
    {
        Ok(contact) => Reply::json(201, contact),
        Err(message) => problem(400, "InvalidBody", &message),
    }
}

fn patch_contact(shared: &Shared, ctx: &Ctx<'_>, segs: &[&str]) -> Reply {
    let body = match object_body(ctx) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    match lock(&shared.data).engage.patch_contact(segs[3], body) {
        Some(contact) => Reply::json(200, contact),
        None => contact_not_found(),
    }
}

fn delete_contact(shared: &Shared, _: &Ctx<'_>, segs: &[&str]) -> Reply {
    if lock(&shared.data).engage.delete_contact(segs[3]) {
        Reply::empty(200)
    } else {
        contact_not_found()
    }
}

fn update_contact_type(shared: &Shared, ctx: &Ctx<'_>, segs: &[&str]) -> Reply {
    let Some(contact_type) = ctx.param("contactTypeId").filter(|t| !t.is_empty()) else {
        return problem(400, "InvalidContactType", "contactTypeId is required.");
    };
    match lock(&shared.data)
        .engage
        .set_contact_type(segs[3], contact_type)
    {
        Some(contact) => Reply::json(200, contact),
        None => contact_not_found(),
    }
}

fn count(shared: &Shared, _: &Ctx<'_>, _: &[&str]) -> Reply {
    Reply::json(200, json!(lock(&shared.data).engage.contact_count()))
}

/// Percent-encodes an id for a `Location` path segment.
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn accepted_job(job_id: String) -> Reply {
    Reply::json(202, json!({"jobId": job_id}))
        .header("Location", format!("/api/v3/orders/jobs/{job_id}"))
}

fn create_order(shared: &Shared, ctx: &Ctx<'_>, _: &[&str]) -> Reply {
    let body = match object_body(ctx) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let order = Value::Object(body);
    let Some(order_id) = Engage::order_id(&order) else {
        return problem(400, "InvalidOrder", "orderId is required.");
    };
    let mut data = lock(&shared.data);
    // Engage would accept a second create; refusing it makes a double create visible
    // to the tests, which is what the sandbox is for.
    if data.engage.has_order(&order_id) {
        return problem(
            409,
            "OrderAlreadyExists",
            "An order with this orderId exists.",
        );
    }
    match data.engage.create_order(order) {
        Ok(job_id) => accepted_job(job_id),
        Err(message) => problem(400, "InvalidOrder", &message),
    }
}

fn get_order(shared: &Shared, _: &Ctx<'_>, segs: &[&str]) -> Reply {
    match lock(&shared.data).engage.order(segs[3]) {
        Some(order) => Reply::json(200, order),
        None => order_not_found(),
    }
}

fn replace_order(shared: &Shared, ctx: &Ctx<'_>, segs: &[&str]) -> Reply {
    let mut body = match object_body(ctx) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let order_id = segs[3];
    body.entry("orderId")
        .or_insert_with(|| Value::from(order_id));
    match lock(&shared.data)
        .engage
        .replace_order(order_id, Value::Object(body))
    {
        Some(job_id) => accepted_job(job_id),
        None => order_not_found(),
    }
}

fn delete_order(shared: &Shared, _: &Ctx<'_>, segs: &[&str]) -> Reply {
    match lock(&shared.data).engage.delete_order(segs[3]) {
        Some(job_id) => accepted_job(job_id),
        None => order_not_found(),
    }
}

fn job(shared: &Shared, _: &Ctx<'_>, segs: &[&str]) -> Reply {
    match lock(&shared.data).engage.job(segs[4]) {
        Some(order_id) => Reply::empty(302).header(
            "Location",
            format!("/api/v3/orders/{}", encode_segment(&order_id)),
        ),
        None => problem(404, "JobNotFound", "No job with this id."),
    }
}

fn require_field(ctx: &Ctx<'_>, field: &str) -> Reply {
    let body = match object_body(ctx) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    match body.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Reply::empty(202),
        _ => problem(400, "InvalidBody", &format!("{field} is required.")),
    }
}

fn product_view(_: &Shared, ctx: &Ctx<'_>, _: &[&str]) -> Reply {
    require_field(ctx, "itemId")
}

fn cart(_: &Shared, ctx: &Ctx<'_>, _: &[&str]) -> Reply {
    require_field(ctx, "cartReference")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_segments_are_percent_encoded() {
        assert_eq!(encode_segment("SE-250"), "SE-250");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }
}
