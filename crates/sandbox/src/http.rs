//! The single actix handler every request goes through: it records the request,
//! applies faults and hands over to the fake API the path belongs to.
//!
//! Routing is done by matching path segments rather than with actix's router so that
//! recording, fault injection and the rate headers wrap every answer in one place,
//! unknown paths included.

use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::faults::{Fault, Target};
use crate::state::{lock, Entry, Shared};
use crate::{bigcommerce, control, engage};

/// An answer before it becomes an actix response, so its status can be recorded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub(crate) fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The status actually sent: an out-of-range status (a fault can carry anything)
    /// goes out as 500.
    pub(crate) fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub(crate) fn into_response(self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        // Invalid header names or values (possible in a fault) are skipped: actix would
        // otherwise turn the whole answer into an error.
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                builder.append_header((name, value));
            }
        }
        match self.body {
            Some(body) => builder
                .insert_header((CONTENT_TYPE, "application/json"))
                .body(body.to_string()),
            None => builder.finish(),
        }
    }

    fn from_fault(fault: &Fault, status: u16) -> Reply {
        Reply {
            status,
            headers: fault.headers.clone(),
            body: fault.body.clone(),
        }
    }
}

/// What a fake API sees of a request.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    /// Upper-case method.
    pub method: &'a str,
    /// Percent-decoded, non-empty path segments below the mount point.
    pub segments: Vec<String>,
    /// Decoded query pairs; `None` when the query string could not be parsed.
    pub query: Option<Vec<(String, String)>>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl Ctx<'_> {
    /// The segments as `&str`, for slice patterns.
    pub(crate) fn segs(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }

    /// The first value of query parameter `name`.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .as_ref()?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of header `name`, when present and valid text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn has_body(&self) -> bool {
        !self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// The body as JSON; `Err` names what is wrong, for a 400.
    pub(crate) fn json(&self) -> Result<Value, String> {
        if !self.has_body() {
            return Err("the request body is empty".to_owned());
        }
        serde_json::from_slice(self.body).map_err(|e| format!("invalid JSON body: {e}"))
    }
}

/// Decodes `%XX` escapes; invalid escapes are kept as written.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses an `application/x-www-form-urlencoded` query string into ordered pairs.
pub(crate) fn parse_query(query: &str) -> Result<Vec<(String, String)>, String> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .map(web::Query::into_inner)
        .map_err(|e| e.to_string())
}

enum Mount<'a> {
    Api(Target, &'a str, &'static str),
    Control(&'a str),
    Unknown,
}

fn mount(path: &str) -> Mount<'_> {
    fn below<'a>(path: &'a str, root: &str) -> Option<&'a str> {
        let rest = path.strip_prefix(root)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }
    if let Some(rest) = below(path, "/bigcommerce") {
        Mount::Api(Target::BigCommerce, rest, "/bigcommerce")
    } else if let Some(rest) = below(path, "/engage") {
        Mount::Api(Target::Engage, rest, "/engage")
    } else if below(path, "/api").is_some() {
        // Engage's `Location` headers are root-relative (`/api/v3/orders/…`); serving
        // them at the root too lets a client that follows them reach the fake.
        Mount::Api(Target::Engage, path, "")
    } else if let Some(rest) = below(path, "/_sandbox") {
        Mount::Control(rest)
    } else {
        Mount::Unknown
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

/// The actix default service: every request of the sandbox comes here.
pub(crate) async fn entry(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let at_ms = shared.started.elapsed().as_millis();
    let method = req.method().as_str().to_ascii_uppercase();
    let path = req.path().to_owned();
    let query_string = req.query_string().to_owned();
    let make_ctx = |rest: &str| Ctx {
        method: &method,
        segments: segments(rest),
        query: parse_query(&query_string).ok(),
        headers: req.headers(),
        body: &body,
    };

    let (route, reply) = match mount(&path) {
        Mount::Control(rest) => {
            // The control API is not recorded: reading the log must not change it.
            return control::handle(&shared, &make_ctx(rest)).into_response();
        }
        Mount::Unknown => (
            format!("{method} (unrouted)"),
            Reply::json(404, json!({"message": "no fake API under this path"})),
        ),
        Mount::Api(target, rest, root) => {
            let fault = lock(&shared.control).faults.take(target, &method, rest);
            if let Some(ms) = fault.as_ref().and_then(|f| f.latency_ms) {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            match fault.as_ref().and_then(|f| Some((f, f.status?))) {
                Some((fault, status)) => (
                    format!("{method} {root} (fault)"),
                    Reply::from_fault(fault, status),
                ),
                None => {
                    let ctx = make_ctx(rest);
                    let (template, reply) = match target {
                        Target::BigCommerce => bigcommerce::handle(&shared, &ctx),
                        Target::Engage => engage::handle(&shared, &ctx),
                    };
                    (format!("{method} {root}{template}"), reply)
                }
            }
        }
    };

    let status = reply.status_code().as_u16();
    tracing::debug!(%method, %path, status, "sandbox request");
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    lock(&shared.log).push(Entry {
        method,
        path,
        query: query_string,
        headers,
        raw_body: String::from_utf8_lossy(&body).into_owned(),
        status,
        at_ms,
        route,
    });
    reply.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_escapes_and_leaves_junk_alone() {
        assert_eq!(percent_decode("SE%2D250"), "SE-250");
        assert_eq!(percent_decode("a%20b%"), "a b%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A5"), "å");
    }

    #[test]
    fn query_parsing_keeps_colon_keys_and_decodes_plus() {
        let pairs = parse_query("id:in=1,2&min_date_modified=Wed%2C+03+Dec").unwrap();
        assert_eq!(pairs[0], ("id:in".to_owned(), "1,2".to_owned()));
        assert_eq!(pairs[1].1, "Wed, 03 Dec");
    }
}
