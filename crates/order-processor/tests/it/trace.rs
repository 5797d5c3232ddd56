//! Trace context through the staged order: the row keeps the latest event's `traceparent`,
//! which the sync worker makes the parent of its `order_sync` span.

use crate::helpers::*;

const FIRST: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const SECOND: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// The trace id of a W3C traceparent (the part that stays the same down the trace).
fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_staged_order_keeps_the_traceparent_of_its_latest_event() {
    let app = TestApp::spawn_with(Options {
        overrides: vec![("CONNECTOR__AMQP__PREFETCH", "1".into())],
        ..Options::default()
    })
    .await;
    app.publish_traced(ORDER_CREATED, "evt-created", FIRST)
        .await;
    let row = app.wait_row(250, |r| r.status == "sent").await;
    let stored = row.traceparent.expect("a stored traceparent");
    assert_eq!(trace_id(&stored), trace_id(FIRST), "{stored}");

    app.publish_traced(ORDER_UPDATED, "evt-updated", SECOND)
        .await;
    let row = app.wait_row(250, |r| r.revision == 2).await;
    let stored = row.traceparent.expect("a stored traceparent");
    assert_eq!(trace_id(&stored), trace_id(SECOND), "{stored}");

    // An event without trace context leaves none behind: the next sync is not attributed to
    // an older event's trace.
    app.publish(&with_id(ORDER_UPDATED, 250), "evt-untraced")
        .await;
    let row = app.wait_row(250, |r| r.revision == 3).await;
    assert_eq!(row.traceparent, None);
    app.stop().await;
}
