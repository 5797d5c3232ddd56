//! Integration tests of the order-processor against the real RabbitMQ and PostgreSQL on
//! localhost and the project's sandbox, each test isolated (own database, broker
//! namespace and sandbox).

mod contacts;
mod helpers;
mod orders;
mod process;
mod trace;
