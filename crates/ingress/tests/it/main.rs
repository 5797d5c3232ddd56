//! The ingress over HTTP against the real RabbitMQ and PostgreSQL.

mod helpers;
mod tracking;
mod webhooks;
