//! The HTTP routes.

pub mod tracking;
pub mod webhooks;

use actix_web::web::{self, BytesMut};
use actix_web::HttpRequest;
use futures_util::StreamExt;
use lapin::types::FieldTable;
use platform::amqp::{message, PublishError};

use crate::error::IngressError;
use crate::State;

/// Reads the whole body, refusing more than `limit` bytes (early, from `Content-Length`, when
/// the client announces it).
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, IngressError> {
    let announced = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(IngressError::TooLarge { limit });
    }
    let mut body = BytesMut::with_capacity(announced.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| IngressError::MalformedWebhook("could not read the body".into()))?;
        if body.len() + chunk.len() > limit {
            return Err(IngressError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Publishes to the events exchange and waits for the confirm; any failure is a 503.
pub(crate) async fn publish(
    state: &State,
    routing_key: &str,
    message_id: &str,
    store_hash: &str,
    body: &[u8],
) -> Result<(), IngressError> {
    let mut headers = FieldTable::default();
    message::set_str(&mut headers, message::STORE_HASH, store_hash);
    message::set_str(&mut headers, message::RECEIVED_AT, &message::now_rfc3339());
    platform::telemetry::inject_current(&mut headers);
    let result = state
        .publisher
        .publish(
            &state.exchange,
            routing_key,
            body,
            message::event_properties(message_id, headers),
        )
        .await;
    let label = match &result {
        Ok(()) => "confirmed",
        Err(PublishError::Unavailable) => "unavailable",
        Err(PublishError::Timeout(_)) => "timeout",
        Err(PublishError::Nacked) => "nacked",
        Err(PublishError::Unroutable(_)) => "unroutable",
        Err(PublishError::Broker(_)) => "error",
    };
    metrics::counter!("ingress_publish_total", "result" => label).increment(1);
    result.map_err(|error| {
        tracing::warn!(%error, routing_key, "event not queued; answering 503");
        IngressError::Unavailable
    })
}
