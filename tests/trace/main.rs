//! One trace from the webhook to the Engage call: the services run in this process with an
//! OpenTelemetry pipeline whose exporter keeps the finished spans in memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use demo::Step;
use e2e::{Connector, WAIT};
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use platform::testing::eventually;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps every exported span.
#[derive(Debug, Clone, Default)]
struct InMemory(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for InMemory {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

impl InMemory {
    fn spans(&self) -> Vec<SpanData> {
        self.0.lock().unwrap().clone()
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// The chain of span names from `span` up to its trace's root.
fn ancestry(spans: &[SpanData], span: &SpanData) -> Vec<String> {
    let mut names = vec![span.name.to_string()];
    let mut parent = span.parent_span_id;
    while parent != SpanId::INVALID {
        let Some(up) = spans.iter().find(|s| s.span_context.span_id() == parent) else {
            names.push(format!("<missing {parent}>"));
            break;
        };
        names.push(up.name.to_string());
        parent = up.parent_span_id;
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_runs_from_the_webhook_through_order_processor_to_the_engage_call() {
    let exporter = InMemory::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("e2e")))
        .init();

    let connector =
        Connector::start_with(&[("CONNECTOR__WEBHOOK_HEALTH__BACKFILL", "false")]).await;
    let Some(Step::Webhook(_, order_created)) = demo::script()
        .into_iter()
        .find(|s| s.label() == "order 250 created")
    else {
        panic!("the demo sends an order creation");
    };
    let status = connector
        .traffic()
        .send_webhook_as("msg_traced_order", &order_created)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        eventually(WAIT, || async {
            connector.sandbox.engage_order("250").is_some()
        })
        .await,
        "order 250 never reached Engage"
    );
    assert!(connector.wait_idle(Duration::from_millis(500)).await);
    let create_request = connector
        .engage_ok("POST", "/api/v3/orders")
        .into_iter()
        .next()
        .expect("the sandbox recorded the order creation");
    let sent_traceparent = create_request
        .header("traceparent")
        .map(str::to_owned)
        .expect("the Engage call carries a traceparent");
    connector.stop().await;
    provider.force_flush().unwrap();
    let spans = exporter.spans();

    let root = spans
        .iter()
        .find(|s| {
            s.name == "http_request"
                && attribute(s, "route").as_deref() == Some("/webhooks/bigcommerce")
        })
        .expect("the ingress recorded the webhook's request");
    let trace: TraceId = root.span_context.trace_id();
    let in_trace: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .collect();
    let named = |name: &str| in_trace.iter().filter(|s| s.name == name).count();
    assert!(named("consume") >= 1, "no consume span in the trace");
    assert!(named("order_sync") >= 1, "no order_sync span in the trace");
    assert!(named("bigcommerce") >= 3, "BigCommerce calls missing");
    let create = in_trace
        .iter()
        .find(|s| {
            s.name == "engage"
                && attribute(s, "method").as_deref() == Some("POST")
                && attribute(s, "path").as_deref() == Some("/api/v3/orders")
        })
        .unwrap_or_else(|| panic!("no Engage order creation in the trace: {in_trace:#?}"));
    let chain = ancestry(&spans, create);
    assert_eq!(
        chain.last().map(String::as_str),
        Some("http_request"),
        "{chain:?}"
    );
    assert!(chain.iter().any(|n| n == "order_sync"), "{chain:?}");

    // The trace crossed HTTP too: Engage received the creation with this trace's context.
    assert_eq!(
        sent_traceparent.split('-').nth(1),
        Some(trace.to_string().as_str()),
        "{sent_traceparent}"
    );
}
