//! The HTTP front of the connector: verifies BigCommerce webhooks (Standard Webhooks and the
//! legacy `X-BC-Signature`), accepts storefront tracking beacons, publishes both to RabbitMQ,
//! and answers only after the broker confirmed.
//!
//! BigCommerce blocklists a destination that answers under 90% 2xx, so every answer is fast
//! and truthful: 200 means the event is in a durable queue; 503 (with `Retry-After`) means
//! it is not and BigCommerce must retry.
//!
//! # Layout
//!
//! - `lib.rs`: [`Application`] (build, bind, run until a shutdown future resolves) and the
//!   shared request [`State`].
//! - `routes/webhooks.rs`: `POST /webhooks/bigcommerce`.
//! - `routes/tracking.rs`: `POST /tracking/product-view`, `POST /tracking/cart`, preflights.
//! - `cache.rs`: store secrets and channel settings cached for [`cache::TTL`].
//! - `ratelimit.rs`: per-IP token buckets for beacons.
//! - `error.rs`: every error answer, as `application/problem+json`.

pub mod cache;
pub mod error;
pub mod ratelimit;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::{web, App, HttpServer};
use platform::amqp::{Broker, Publisher};
use platform::health::Readiness;
use platform::Settings;
use tracing::Instrument as _;

/// What every request handler shares.
pub struct State {
    publisher: Arc<Publisher>,
    exchange: String,
    cache: cache::ConfigCache,
    limiter: ratelimit::RateLimiter,
    tolerance_secs: i64,
    max_body_bytes: usize,
}

/// The built ingress: bound, connected (or connecting) and ready to run.
pub struct Application {
    addr: SocketAddr,
    server: actix_web::dev::Server,
    broker: Broker,
}

impl Application {
    /// Connects to the broker (in the background: until it is up, webhooks get 503), opens the
    /// database pool and binds the listener (`ingress.listen`; port 0 picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let platform::service::Wiring {
            topology,
            broker,
            pool,
            publisher,
            ..
        } = platform::service::Wiring::connect(&settings, "ingress").await?;
        platform::metrics::install();
        let state = web::Data::new(State {
            publisher,
            exchange: topology.events_exchange(),
            cache: cache::ConfigCache::new(pool.clone()),
            limiter: ratelimit::RateLimiter::new(
                settings.ingress.beacons_per_ip_per_sec,
                settings.ingress.beacon_burst,
            ),
            tolerance_secs: settings.ingress.signature_tolerance_secs,
            max_body_bytes: settings.ingress.max_body_bytes,
        });
        let readiness = web::Data::new(Readiness {
            broker: Some(broker.clone()),
            db: Some(pool),
        });
        let listen = platform::configuration::parse_listen(&settings.ingress.listen)
            .map_err(|reason| anyhow::anyhow!("ingress.listen: {reason}"))?;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(readiness.clone())
                .wrap_fn(|req, srv| {
                    let started = Instant::now();
                    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_owned());
                    // The root of the event's trace: the publish inside it puts this span's
                    // context in the message's `traceparent`.
                    let span = tracing::info_span!("http_request", method = %req.method(), route = %route, status = tracing::field::Empty);
                    let fut = srv.call(req).instrument(span.clone());
                    async move {
                        let res: ServiceResponse = fut.await?;
                        span.record("status", res.status().as_u16());
                        let status = res.status().as_u16().to_string();
                        metrics::counter!("ingress_requests_total", "route" => route.clone(), "status" => status)
                            .increment(1);
                        metrics::histogram!("ingress_request_duration_seconds", "route" => route)
                            .record(started.elapsed().as_secs_f64());
                        Ok(res)
                    }
                })
                .route("/webhooks/bigcommerce", web::post().to(routes::webhooks::receive))
                .route("/tracking/product-view", web::post().to(routes::tracking::product_view))
                .route("/tracking/cart", web::post().to(routes::tracking::cart))
                .route("/tracking/{kind}", web::method(actix_web::http::Method::OPTIONS).to(routes::tracking::preflight))
                .configure(platform::health::routes)
        })
        .workers(settings.ingress.workers)
        .disable_signals()
        .shutdown_timeout(30)
        .bind(listen)?;
        let addr = server.addrs()[0];
        let server = server.run();
        Ok(Self {
            addr,
            server,
            broker,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests (and
    /// their confirms) finish, and closes the broker connection.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown.await;
        tracing::info!("shutting down: draining in-flight requests");
        handle.stop(true).await;
        server.await??;
        self.broker.close().await;
        Ok(())
    }
}
