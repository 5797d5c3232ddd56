//! `POST /webhooks/bigcommerce`: verify, publish, answer 200 only after the broker's confirm.

use actix_web::{web, HttpRequest, HttpResponse};
use domain::signature::{self, SignatureHeaders};
use domain::webhook::WebhookHead;
use secrecy::ExposeSecret;

use crate::error::IngressError;
use crate::routes::{publish, read_body};
use crate::State;

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Handles one BigCommerce delivery.
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, IngressError> {
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let head =
        WebhookHead::parse(&body).map_err(|e| IngressError::MalformedWebhook(e.to_string()))?;
    let store = head.store_hash();
    let secret = state
        .cache
        .secret(store)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "store lookup failed; answering 503");
            IngressError::Unavailable
        })?
        .ok_or_else(|| {
            metrics::counter!("ingress_rejected_signatures_total", "reason" => "unknown_store")
                .increment(1);
            IngressError::Unauthorized
        })?;
    let headers = SignatureHeaders {
        webhook_id: header(&req, "webhook-id"),
        webhook_timestamp: header(&req, "webhook-timestamp"),
        webhook_signature: header(&req, "webhook-signature"),
        legacy_signature: header(&req, "x-bc-signature"),
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Err(error) = signature::verify(
        secret.expose_secret().as_bytes(),
        &headers,
        &body,
        now,
        state.tolerance_secs,
    ) {
        let reason = match error {
            signature::SignatureError::Missing => "missing",
            signature::SignatureError::Malformed(_) => "malformed",
            signature::SignatureError::StaleTimestamp => "stale_timestamp",
            signature::SignatureError::Mismatch => "mismatch",
        };
        metrics::counter!("ingress_rejected_signatures_total", "reason" => reason).increment(1);
        tracing::info!(store = %store, reason, "webhook signature rejected");
        return Err(IngressError::Unauthorized);
    }
    let scope = head.scope();
    if !scope.is_handled() {
        metrics::counter!("ingress_events_total", "scope" => "unhandled", "outcome" => "ignored")
            .increment(1);
        return Ok(HttpResponse::Ok().finish());
    }
    let event_id = head.event_id(headers.webhook_id);
    publish(
        &state,
        &scope.routing_key(),
        event_id.as_str(),
        store.as_str(),
        &body,
    )
    .await?;
    metrics::counter!("ingress_events_total", "scope" => scope.as_str().to_owned(), "outcome" => "queued")
        .increment(1);
    Ok(HttpResponse::Ok().finish())
}
