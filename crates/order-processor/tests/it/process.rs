//! The service as a process: a graceful stop finishes what it holds, SIGTERM exits 0, and a
//! process killed in the middle of a sync loses nothing.

use std::time::Duration;

use platform::testing::eventually;
use sandbox::{Fault, Target};

use crate::helpers::*;

const ORDERS_PATH: &str = "/engage/api/v3/orders";

/// Waits until the sync of order 250 is past its BigCommerce reads and its contact: the
/// Engage order call is next (or under way).
async fn wait_until_ordering(app: &TestApp) {
    assert!(
        eventually(WAIT, || async {
            app.sb.count("POST", "/engage/api/v3/contacts") == 1
        })
        .await,
        "the sync never reached Engage"
    );
}

/// Sends SIGTERM and waits for the exit status.
async fn terminate(child: &mut tokio::process::Child) -> std::process::ExitStatus {
    let pid = child.id().expect("the process runs").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success());
    tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .expect("the process stops after SIGTERM")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_finishes_the_sync_in_flight_and_takes_no_new_work() {
    let mut app = TestApp::spawn().await;
    app.sb
        .inject(Fault::latency(Target::Engage, "/api/v3/orders", 1, 1500).with_method("POST"));
    app.publish(ORDER_CREATED, "evt-created").await;
    wait_until_ordering(&app).await;

    app.stop_instance().await;
    let row = app.order_row(250).await.unwrap();
    assert_eq!(
        row.status, "sent",
        "the sync in flight was not finished: {row:?}"
    );
    assert_eq!(app.sb.count("POST", ORDERS_PATH), 1);

    // Stopped: a new event stays queued for the next instance.
    app.publish(ORDER_UPDATED, "evt-updated").await;
    let queue = app.ns.topology.queue("order-processor.orders");
    assert!(eventually(WAIT, || async { app.queue_len(&queue).await == 1 }).await);
    assert_eq!(app.order_row(250).await.unwrap().revision, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_sync_loses_nothing_and_sigterm_exits_zero() {
    let app = TestApp::spawn_with(Options {
        instance: false,
        ..Options::default()
    })
    .await;
    // Engage takes its time over the order, so the kill lands in the middle of the sync.
    app.sb
        .inject(Fault::latency(Target::Engage, "/api/v3/orders", 1, 3000).with_method("POST"));
    let mut first = app.spawn_process();
    app.publish(ORDER_CREATED, "evt-created").await;
    wait_until_ordering(&app).await;
    first.kill().await.unwrap();
    let row = app.order_row(250).await.unwrap();
    assert_eq!(row.status, "processing", "{row:?}");

    let mut second = app.spawn_process();
    let lease = order_processor::orders::LEASE;
    let row = app
        .wait_row_within(lease + WAIT, 250, |r| r.status == "sent")
        .await;
    assert_eq!(row.engage_order_id.as_deref(), Some("250"));
    // However far the killed attempt got, Engage holds the order once.
    let orders = app.sb.engage_orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["orderId"], "250");
    let created = app
        .sb
        .requests_to(ORDERS_PATH)
        .into_iter()
        .filter(|r| r.method == "POST" && r.status < 300)
        .count();
    assert_eq!(created, 1, "created twice");

    let status = terminate(&mut second).await;
    assert_eq!(status.code(), Some(0), "{status}");
    app.stop().await;
}
