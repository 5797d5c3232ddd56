//! Integration tests of webhook-health against the local RabbitMQ and PostgreSQL, with the
//! project's sandbox as BigCommerce. Each test has its own database, broker namespace and
//! sandbox.

mod backfill;
mod checks;
mod helpers;
