//! Logs (pretty or JSON) and traces (OpenTelemetry, exported over OTLP/HTTP when
//! `telemetry.otlp_endpoint` is set), with W3C trace context carried in AMQP and HTTP headers
//! so one trace runs from the webhook to the Engage call.

use lapin::types::FieldTable;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::amqp::message;
use crate::configuration::{LogFormat, TelemetrySettings};

/// Flushes and stops the trace exporter when dropped (at the end of `main`).
#[must_use = "traces are flushed when the guard is dropped"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("exporting", &self.provider.is_some())
            .finish()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber for `service` (the OTel `service.name`). Logs go to stdout.
pub fn init(service: &str, settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    let filter =
        EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&settings.log_level))?;
    let fmt = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };
    let provider = match &settings.otlp_endpoint {
        Some(endpoint) => Some(otlp_provider(service, endpoint)?),
        None => None,
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service.to_owned())));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()?;
    Ok(TelemetryGuard { provider })
}

fn otlp_provider(service: &str, endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig;
    let endpoint = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build())
}

struct HeaderExtractor<'a>(&'a FieldTable);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self.0.inner().get(key)? {
            lapin::types::AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(|k| k.as_str()).collect()
    }
}

struct StringInjector(Option<String>);

impl Injector for StringInjector {
    fn set(&mut self, key: &str, value: String) {
        if key == message::TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

/// Makes `span` a child of the trace whose context is in the AMQP headers, if any.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &FieldTable) {
    if headers.inner().contains_key(message::TRACEPARENT) {
        let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let _ = span.set_parent(cx);
    }
}

/// A lone W3C `traceparent` value (one stored with staged work rather than in headers).
struct TraceparentExtractor<'a>(&'a str);

impl Extractor for TraceparentExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == message::TRACEPARENT).then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec![message::TRACEPARENT]
    }
}

/// Makes `span` a child of the trace named by a W3C `traceparent` value, so work picked up
/// later (an order staged in the database) continues the trace of the event that caused it.
/// An unparsable value leaves `span` where it was.
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    let cx = TraceContextPropagator::new().extract(&TraceparentExtractor(traceparent));
    if opentelemetry::trace::TraceContextExt::span(&cx)
        .span_context()
        .is_valid()
    {
        let _ = span.set_parent(cx);
    }
}

/// The W3C `traceparent` of `span`, when it is part of a sampled trace.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let mut injector = StringInjector(None);
    TraceContextPropagator::new().inject_context(&span.context(), &mut injector);
    injector.0
}

/// Adds the current span's `traceparent` to AMQP headers (nothing when tracing is off).
pub fn inject_current(headers: &mut FieldTable) {
    if let Some(tp) = traceparent(&tracing::Span::current()) {
        message::set_str(headers, message::TRACEPARENT, &tp);
    }
}
