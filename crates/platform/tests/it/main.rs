//! Integration tests of the plumbing against the local RabbitMQ and PostgreSQL, with the
//! project's sandbox as BigCommerce and Engage.

mod amqp;
mod db;
mod health;
mod http;
