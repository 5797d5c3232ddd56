//! Integration tests of the tracking-forwarder against the local RabbitMQ and PostgreSQL,
//! with the project's sandbox as BigCommerce and Engage. Each test has its own database,
//! broker namespace and sandbox.

mod carts;
mod helpers;
mod product_views;
mod service;
