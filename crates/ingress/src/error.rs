//! Every error answer of the ingress: one enum, answered as `application/problem+json` with a
//! stable `type` per variant. 5xx bodies say nothing internal.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An answer other than success.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// The body is larger than the limit.
    #[error("request body is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The webhook body is not a usable envelope.
    #[error("{0}")]
    MalformedWebhook(String),
    /// Unknown store, missing or wrong signature, stale timestamp: deliberately one answer,
    /// so the body does not reveal which stores exist.
    #[error("the webhook signature could not be verified")]
    Unauthorized,
    /// A beacon field is invalid.
    #[error("invalid field `{field}`: {reason}")]
    InvalidBeacon {
        /// The field's JSON path.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The beacon's origin is not allowed for its channel.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// No configuration for the beacon's store and channel.
    #[error("unknown store or channel")]
    UnknownChannel,
    /// The client sent too many beacons.
    #[error("too many requests")]
    RateLimited,
    /// The broker did not take the message (down, nack, no confirm in time) or the database
    /// could not be asked: try again later.
    #[error("temporarily unavailable")]
    Unavailable,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IngressError {
    /// The stable `type` code of the problem document.
    pub fn kind(&self) -> &'static str {
        match self {
            IngressError::TooLarge { .. } => "payload-too-large",
            IngressError::MalformedWebhook(_) => "malformed-webhook",
            IngressError::Unauthorized => "unauthorized",
            IngressError::InvalidBeacon { .. } => "invalid-beacon",
            IngressError::OriginNotAllowed => "origin-not-allowed",
            IngressError::UnknownChannel => "unknown-channel",
            IngressError::RateLimited => "rate-limited",
            IngressError::Unavailable => "unavailable",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            IngressError::TooLarge { .. } => "Payload too large",
            IngressError::MalformedWebhook(_) => "Malformed webhook",
            IngressError::Unauthorized => "Unauthorized",
            IngressError::InvalidBeacon { .. } => "Invalid beacon",
            IngressError::OriginNotAllowed => "Origin not allowed",
            IngressError::UnknownChannel => "Unknown store or channel",
            IngressError::RateLimited => "Too many requests",
            IngressError::Unavailable => "Service unavailable",
        }
    }
}

/// Seconds a client should wait after a 503 or 429.
pub const RETRY_AFTER_SECS: u32 = 5;

impl ResponseError for IngressError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngressError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngressError::MalformedWebhook(_) | IngressError::InvalidBeacon { .. } => {
                StatusCode::BAD_REQUEST
            }
            IngressError::Unauthorized => StatusCode::UNAUTHORIZED,
            IngressError::OriginNotAllowed => StatusCode::FORBIDDEN,
            IngressError::UnknownChannel => StatusCode::NOT_FOUND,
            IngressError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            IngressError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let field = match self {
            IngressError::InvalidBeacon { field, .. } => Some(field.as_str()),
            _ => None,
        };
        let problem = Problem {
            kind: self.kind(),
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
            field,
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if matches!(self, IngressError::Unavailable | IngressError::RateLimited) {
            response.insert_header(("Retry-After", RETRY_AFTER_SECS.to_string()));
        }
        response.json(problem)
    }
}
