//! Cross-service tests of the connector.
//!
//! # Layout
//!
//! - `it/`: end-to-end tests running ingress, order-processor, tracking-forwarder and
//!   webhook-health in one process against the local RabbitMQ and PostgreSQL, with the
//!   sandbox as BigCommerce and Engage.
//! - `deploy/`: checks of `docker-compose.yml` and `deploy/kubernetes/`.
