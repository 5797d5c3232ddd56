//! Voyado Engage client for one tenant and API key: `apikey`, `User-Agent`,
//! `Content-Type: application/json` on every call, paced per API key. It does not retry on
//! its own: each caller owns its retry policy (orders retry for hours, product views three
//! times, carts not at all), and Engage asks that a POST is checked before it is repeated.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tracing::Instrument;

use super::pacing::Pacer;
use super::{read, traced, ApiError};

const API: &str = "engage";

/// A client for one Engage tenant and key.
#[derive(Clone)]
pub struct EngageClient {
    http: reqwest::Client,
    root: String,
    key: SecretString,
    pacer: Option<Arc<Pacer>>,
}

impl std::fmt::Debug for EngageClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngageClient")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// The contact lookup found several contacts for one e-mail (Engage's 409 `MultipleMatches`).
pub const MULTIPLE_MATCHES: u16 = 409;

impl EngageClient {
    pub(super) fn new(
        http: reqwest::Client,
        base_url: &str,
        key: SecretString,
        pacer: Option<Arc<Pacer>>,
    ) -> Self {
        Self {
            http,
            root: base_url.trim_end_matches('/').to_owned(),
            key,
            pacer,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        if let Some(pacer) = &self.pacer {
            pacer.wait().await;
        }
        let mut request = self
            .http
            .request(method.clone(), format!("{}{}", self.root, path))
            .header("apikey", self.key.expose_secret())
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .query(query);
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        let span =
            tracing::info_span!("engage", method = %method, path, status = tracing::field::Empty);
        let result = async {
            let response = traced(request).send().await;
            read(API, response, retry_after).await
        }
        .instrument(span.clone())
        .await;
        let status = match &result {
            Ok((status, _)) => Some(*status),
            Err(e) => e.status(),
        };
        if let Some(status) = status {
            span.record("status", status);
        }
        result
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: &impl Serialize,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let body = serde_json::to_vec(body).map_err(|e| ApiError::Decode {
            api: API,
            reason: e.to_string(),
        })?;
        self.call(method, path, query, Some(&body)).await
    }

    /// `GET /api/v3/contacts/id?email=`: the contact id, `None` when not found. Several
    /// matches come back as the 409 error (not retryable).
    pub async fn find_contact_id(&self, email: &str) -> Result<Option<String>, ApiError> {
        match self
            .call(
                reqwest::Method::GET,
                "/api/v3/contacts/id",
                &[("email", email)],
                None,
            )
            .await
        {
            Ok((_, body)) => parse_id(&body).map(Some),
            Err(ApiError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/v3/contacts?source=&storeExternalId=`: creates a contact, returns its id.
    pub async fn create_contact(
        &self,
        source: &str,
        store_external_id: &str,
        contact: &impl Serialize,
    ) -> Result<String, ApiError> {
        let (_, body) = self
            .send_json(
                reqwest::Method::POST,
                "/api/v3/contacts",
                &[("source", source), ("storeExternalId", store_external_id)],
                contact,
            )
            .await?;
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| ApiError::Decode {
                api: API,
                reason: e.to_string(),
            })?;
        value
            .get("id")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Decode {
                api: API,
                reason: "created contact has no id".to_owned(),
            })
    }

    /// `PATCH /api/v3/contacts/{id}`: only the fields present change; `null` clears.
    pub async fn update_contact(&self, id: &str, fields: &impl Serialize) -> Result<(), ApiError> {
        self.send_json(
            reqwest::Method::PATCH,
            &format!("/api/v3/contacts/{}", path_segment(id)),
            &[],
            fields,
        )
        .await
        .map(drop)
    }

    /// `DELETE /api/v3/contacts/{id}`; a contact already gone counts as deleted.
    pub async fn delete_contact(&self, id: &str) -> Result<(), ApiError> {
        match self
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v3/contacts/{}", path_segment(id)),
                &[],
                None,
            )
            .await
        {
            Ok(_) | Err(ApiError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/v3/contacts/{id}/updateContactType?contactTypeId=Member`.
    pub async fn promote_to_member(&self, id: &str) -> Result<(), ApiError> {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v3/contacts/{}/updateContactType", path_segment(id)),
            &[("contactTypeId", "Member")],
            Some(b"{}"),
        )
        .await
        .map(drop)
    }

    /// `POST /api/v3/orders`: the first sync of an order.
    pub async fn create_order(&self, order: &impl Serialize) -> Result<(), ApiError> {
        self.send_json(reqwest::Method::POST, "/api/v3/orders", &[], order)
            .await
            .map(drop)
    }

    /// `PUT /api/v3/orders/{orderId}`: every later sync (full document).
    pub async fn replace_order(
        &self,
        order_id: &str,
        order: &impl Serialize,
    ) -> Result<(), ApiError> {
        self.send_json(
            reqwest::Method::PUT,
            &format!("/api/v3/orders/{}", path_segment(order_id)),
            &[],
            order,
        )
        .await
        .map(drop)
    }

    /// `POST /api/v2/tracking/productview`.
    pub async fn track_product_view(&self, view: &impl Serialize) -> Result<(), ApiError> {
        self.send_json(
            reqwest::Method::POST,
            "/api/v2/tracking/productview",
            &[],
            view,
        )
        .await
        .map(drop)
    }

    /// `POST /api/v2/tracking/carts`.
    pub async fn track_cart(&self, cart: &impl Serialize) -> Result<(), ApiError> {
        self.send_json(reqwest::Method::POST, "/api/v2/tracking/carts", &[], cart)
            .await
            .map(drop)
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let secs: u64 = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::Duration::from_secs(secs))
}

/// Engage answers an id as a JSON string; accept a bare string too.
fn parse_id(body: &[u8]) -> Result<String, ApiError> {
    let text = String::from_utf8_lossy(body);
    let id = match serde_json::from_slice::<String>(body) {
        Ok(id) => id,
        Err(_) => text.trim().trim_matches('"').to_owned(),
    };
    if id.is_empty() {
        return Err(ApiError::Decode {
            api: API,
            reason: "empty contact id".to_owned(),
        });
    }
    Ok(id)
}

/// Percent-encodes a value used as one path segment.
fn path_segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_as_json_strings_or_bare_text() {
        assert_eq!(parse_id(br#""ae16a9b4""#).unwrap(), "ae16a9b4");
        assert_eq!(parse_id(b"ae16a9b4\n").unwrap(), "ae16a9b4");
        assert!(parse_id(b"\"\"").is_err());
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(path_segment("SE 250/1"), "SE%20250%2F1");
    }
}
