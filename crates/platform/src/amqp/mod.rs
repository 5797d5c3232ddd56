//! RabbitMQ with lapin: a supervised connection, the contract's topology, confirmed
//! publishing, and the consume loop with delayed retries and dead letters.

pub mod broker;
pub mod consumer;
pub mod message;
pub mod publisher;
pub mod topology;

pub use broker::{Broker, Session};
pub use consumer::{Consumer, Handler, HandlerError, Incoming, Outcome, RetryPolicy};
pub use publisher::{PublishError, Publisher};
pub use topology::Topology;
