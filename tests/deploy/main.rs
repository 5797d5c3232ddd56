//! Checks of the deployment files: `docker-compose.yml`, `deploy/Dockerfile`,
//! `.dockerignore`, `deploy/kubernetes/`, and the operators' docs that describe them.
//!
//! Everything is parsed and cross-checked against what the binaries really do: the
//! configuration each container ends up with is loaded with `platform::Settings`, ports
//! are compared with the services' own defaults, queue names with the topology. When
//! `docker compose` or `kubectl` work here they are asked too; when they do not, the tests
//! say so and rely on the parsed checks.
//!
//! # Layout
//!
//! - `support.rs`: YAML with merge keys, Compose interpolation, a Dockerfile reader, the
//!   configuration a container loads.
//! - `compose.rs`, `dockerfile.rs`, `kubernetes.rs`: one file per deployment artefact.
//! - `docs.rs`: docs/configuration.md, docs/messaging.md and docs/operations.md cover
//!   every key, queue, header and metric.

mod compose;
mod dockerfile;
mod docs;
mod kubernetes;
mod support;
