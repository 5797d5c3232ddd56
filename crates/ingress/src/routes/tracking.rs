//! `POST /tracking/product-view`, `POST /tracking/cart` and their CORS preflights.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use domain::ids::{ChannelId, StoreHash};
use domain::tracking::{BeaconError, CartBeacon, ProductViewBeacon};

use crate::error::IngressError;
use crate::routes::{publish, read_body};
use crate::State;

/// Body limit of a beacon.
pub const MAX_BEACON_BYTES: usize = 16 * 1024;

fn invalid(e: BeaconError) -> IngressError {
    IngressError::InvalidBeacon {
        field: e.field,
        reason: e.reason,
    }
}

fn origin(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|a| a.ip())
}

/// `POST /tracking/product-view`.
pub async fn product_view(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, IngressError> {
    accept(req, payload, state, "tracking.product_view", |body| {
        let beacon = ProductViewBeacon::parse(body).map_err(invalid)?;
        Ok((
            beacon.store_hash().clone(),
            beacon.channel_id(),
            beacon.to_json(),
        ))
    })
    .await
}

/// `POST /tracking/cart`.
pub async fn cart(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
) -> Result<HttpResponse, IngressError> {
    accept(req, payload, state, "tracking.cart", |body| {
        let beacon = CartBeacon::parse(body).map_err(invalid)?;
        Ok((
            beacon.store_hash().clone(),
            beacon.channel_id(),
            beacon.to_json(),
        ))
    })
    .await
}

async fn accept(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<State>,
    routing_key: &str,
    parse: impl FnOnce(&[u8]) -> Result<(StoreHash, ChannelId, String), IngressError>,
) -> Result<HttpResponse, IngressError> {
    if let Some(ip) = client_ip(&req) {
        if !state.limiter.allow(ip) {
            return Err(IngressError::RateLimited);
        }
    }
    let body = read_body(&req, payload, MAX_BEACON_BYTES).await?;
    let (store, channel, json) = parse(&body)?;
    let settings = state
        .cache
        .channel(&store, channel)
        .await
        .map_err(|_| IngressError::Unavailable)?
        .ok_or(IngressError::UnknownChannel)?;
    let origin = origin(&req);
    // Browsers always send Origin on these cross-site POSTs; a request without one is not a
    // browser and CORS does not apply to it.
    if let Some(origin) = &origin {
        if !settings.allows_origin(origin) {
            return Err(IngressError::OriginNotAllowed);
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    publish(&state, routing_key, &id, store.as_str(), json.as_bytes()).await?;
    metrics::counter!("ingress_events_total", "scope" => routing_key.to_owned(), "outcome" => "queued")
        .increment(1);
    let mut response = HttpResponse::Accepted();
    if let Some(origin) = origin {
        response
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::VARY, "Origin"));
    }
    Ok(response.finish())
}

/// `OPTIONS /tracking/*`: a preflight carries no body, so it is allowed when any channel
/// allows the origin; the POST then checks the beacon's own channel.
pub async fn preflight(
    req: HttpRequest,
    state: web::Data<State>,
) -> Result<HttpResponse, IngressError> {
    let Some(origin) = origin(&req) else {
        return Err(IngressError::OriginNotAllowed);
    };
    let allowed = state
        .cache
        .any_channel_allows(&origin)
        .await
        .map_err(|_| IngressError::Unavailable)?;
    if !allowed {
        return Err(IngressError::OriginNotAllowed);
    }
    Ok(HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .insert_header((header::VARY, "Origin"))
        .finish())
}
