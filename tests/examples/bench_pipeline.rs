//! `make bench-orders` and `make bench-tracking`: events through the whole connector (the
//! four services in this process, the sandbox as BigCommerce and Engage, the local RabbitMQ
//! and PostgreSQL), beside the broker's raw confirmed-publish rate measured in the same run.
//!
//! ```text
//! bench_pipeline orders [N]     N new orders of a known contact (default 2000), then the
//!                               same under a BigCommerce quota of 150 calls per 30 s
//! bench_pipeline tracking [N]   N product views with a warm cache (default 20000)
//! ```
//!
//! Throughput runs from the first request sent to the last Engage call; latency is from the
//! moment a webhook or beacon is sent to the Engage call it caused (the sandbox's clock).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{Connector, STORE};
use platform::testing::bench::{percentile_ms, raw_publish_rate};
use sandbox::{Quota, RecordedRequest};
use serde_json::{json, Value};

const ENGAGE_ORDERS: &str = "/api/v3/orders";
const PRODUCT_VIEWS: &str = "/api/v2/tracking/productview";
/// Seconds of the broker's raw-rate probe.
const RAW_SECS: u64 = 5;

macro_rules! fixture {
    ($path:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/",
            $path
        )))
        .expect("the fixture is JSON")
    };
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let n = args.next().map(|n| n.parse::<usize>()).transpose()?;
    match what.as_str() {
        "orders" => orders(n.unwrap_or(2000)).await,
        "tracking" => tracking(n.unwrap_or(20_000)).await,
        _ => anyhow::bail!("usage: bench_pipeline orders [N] | tracking [N]"),
    }
}

/// Sends requests `0..count` with `concurrency` senders, as fast as answered or, with
/// `rate`, request `i` no sooner than `i / rate` seconds after the start. Returns when each
/// was sent, by index.
async fn send_all<F, Fut>(
    count: usize,
    concurrency: usize,
    rate: Option<f64>,
    send: F,
) -> anyhow::Result<Vec<Instant>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<u16>> + Send,
{
    let send = Arc::new(send);
    let next = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(Mutex::new(vec![None; count]));
    let mut tasks = tokio::task::JoinSet::new();
    let start = tokio::time::Instant::now();
    for _ in 0..concurrency {
        let (send, next, sent) = (send.clone(), next.clone(), sent.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(());
                }
                if let Some(rate) = rate {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate))
                        .await;
                }
                let at = Instant::now();
                let status = send(i).await?;
                anyhow::ensure!(
                    (200..300).contains(&status),
                    "request {i} answered {status}"
                );
                sent.lock().expect("sent lock")[i] = Some(at);
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    let sent = std::mem::take(&mut *sent.lock().expect("sent lock"));
    Ok(sent
        .into_iter()
        .map(|at| at.expect("every request sent"))
        .collect())
}

/// Waits until `done` is true, up to `limit`.
async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

/// Throughput and latency of one run: `sent[key]` is when each request went out, `landed`
/// the Engage requests each keyed back to it.
struct Report {
    count: usize,
    rate: f64,
    p50: f64,
    p95: f64,
}

fn report(
    connector: &Connector,
    sent: &HashMap<String, Instant>,
    landed: &[(String, &RecordedRequest)],
) -> Report {
    let started = connector.sandbox.started_at();
    let first = sent.values().min().copied().unwrap_or_else(Instant::now);
    let mut last = first;
    let mut latencies = Vec::with_capacity(landed.len());
    for (key, request) in landed {
        let at = started + Duration::from_millis(request.at_ms as u64);
        last = last.max(at);
        if let Some(sent_at) = sent.get(key) {
            latencies.push(at.saturating_duration_since(*sent_at));
        }
    }
    latencies.sort();
    Report {
        count: landed.len(),
        rate: landed.len() as f64 / last.duration_since(first).as_secs_f64().max(1e-3),
        p50: percentile_ms(&latencies, 0.5),
        p95: percentile_ms(&latencies, 0.95),
    }
}

fn order_fixtures(id: i64) -> (Value, Value, Value) {
    let mut order = fixture!("bigcommerce/api/v2_orders_250.json");
    order["id"] = json!(id);
    let mut products = fixture!("bigcommerce/api/v2_orders_250_products.json");
    let mut shipping = fixture!("bigcommerce/api/v2_orders_250_shipping_addresses.json");
    for list in [&mut products, &mut shipping] {
        for item in list.as_array_mut().into_iter().flatten() {
            item["order_id"] = json!(id);
        }
    }
    (order, products, shipping)
}

fn order_created(id: i64) -> Value {
    let mut body = fixture!("bigcommerce/webhooks/order_created.json");
    body["data"]["id"] = json!(id);
    body
}

/// Creates orders `ids` in the sandbox, sends their webhooks and waits for their Engage
/// creates. Returns the report, or `None` when not all arrived in time.
async fn order_run(
    connector: &Connector,
    ids: std::ops::Range<i64>,
    concurrency: usize,
    rate: Option<f64>,
    limit: Duration,
) -> anyhow::Result<Option<Report>> {
    for id in ids.clone() {
        let (order, products, shipping) = order_fixtures(id);
        connector
            .sandbox
            .put_order(STORE, order, products, shipping);
    }
    connector.sandbox.clear_requests();
    let count = ids.clone().count();
    let first = ids.start;
    let traffic = Arc::new(connector.traffic());
    let sent = send_all(count, concurrency, rate, move |i| {
        let traffic = traffic.clone();
        async move {
            let (_, status) = traffic
                .send_webhook(&order_created(first + i as i64))
                .await?;
            Ok(status)
        }
    })
    .await?;
    let arrived = wait_for(limit, || {
        connector.engage_ok("POST", ENGAGE_ORDERS).len() >= count
    })
    .await;
    if !arrived {
        return Ok(None);
    }
    let sent: HashMap<String, Instant> = sent
        .into_iter()
        .enumerate()
        .map(|(i, at)| ((first + i as i64).to_string(), at))
        .collect();
    let creates = connector.engage_ok("POST", ENGAGE_ORDERS);
    let landed: Vec<(String, &RecordedRequest)> = creates
        .iter()
        .map(|r| (r.body["orderId"].as_str().unwrap_or_default().to_owned(), r))
        .collect();
    Ok(Some(report(connector, &sent, &landed)))
}

/// Vendor calls per order, by API, from the sandbox's log.
fn calls(connector: &Connector) -> (usize, usize) {
    let requests = connector.sandbox.requests();
    let bigcommerce = requests
        .iter()
        .filter(|r| r.path.starts_with("/bigcommerce/"))
        .count();
    (bigcommerce, requests.len() - bigcommerce)
}

async fn orders(n: usize) -> anyhow::Result<()> {
    let connector = Connector::start().await;
    // The order's customer is known: its contact event ran first and stored the link.
    let traffic = connector.traffic();
    traffic.send_webhook(&demo::customer_created(32)).await?;
    anyhow::ensure!(
        connector.wait_idle(Duration::from_millis(300)).await,
        "the customer event did not settle"
    );

    let body_len = serde_json::to_vec(&order_created(1))?.len();
    let raw = raw_publish_rate(&platform::testing::amqp_url(), body_len, 64, RAW_SECS).await?;
    println!("broker raw rate (quorum, 64 in flight, {body_len} B): {raw:.0} msg/s");

    let limit = Duration::from_secs(60 + n as u64 / 20);
    let Some(run) = order_run(&connector, 100_000..100_000 + n as i64, 32, None, limit).await?
    else {
        anyhow::bail!("not every order reached Engage within {limit:?}");
    };
    let (bigcommerce, engage) = calls(&connector);
    println!(
        "{} new orders of a known contact: {:.0} orders/s = {:.3} x raw; webhook to Engage p50 {:.1} ms, p95 {:.1} ms",
        run.count,
        run.rate,
        run.rate / raw,
        run.p50,
        run.p95
    );
    println!(
        "vendor calls per order: {:.2} ({:.2} BigCommerce, {:.2} Engage)",
        (bigcommerce + engage) as f64 / n as f64,
        bigcommerce as f64 / n as f64,
        engage as f64 / n as f64
    );
    anyhow::ensure!(
        connector.wait_idle(Duration::from_millis(300)).await,
        "the pipeline did not settle"
    );

    // Latency without a backlog: a quarter of that rate, paced.
    let paced_rate = (run.rate / 4.0).max(1.0);
    let m = (paced_rate * 5.0) as usize;
    let Some(paced) = order_run(
        &connector,
        150_000..150_000 + m as i64,
        32,
        Some(paced_rate),
        limit,
    )
    .await?
    else {
        anyhow::bail!("not every paced order reached Engage within {limit:?}");
    };
    println!(
        "{m} orders paced at {paced_rate:.0}/s: webhook to Engage p50 {:.1} ms, p95 {:.1} ms",
        paced.p50, paced.p95
    );
    anyhow::ensure!(
        connector.wait_idle(Duration::from_millis(300)).await,
        "the pipeline did not settle"
    );

    // The same under BigCommerce's standard quota: the client paces itself.
    let quota = Quota {
        quota: 150,
        window_ms: 30_000,
    };
    connector.sandbox.set_bigcommerce_quota(Some(quota));
    let m = 60usize;
    let started = Instant::now();
    let paced = order_run(
        &connector,
        200_000..200_000 + m as i64,
        8,
        None,
        Duration::from_secs(180),
    )
    .await?;
    let (bigcommerce, _) = calls(&connector);
    let failed = connector.orders_in(&["failed"]).await;
    println!(
        "under a quota of {} calls per {} s: {}/{m} orders reached Engage in {:.1} s, {bigcommerce} BigCommerce calls, {} beyond the quota, {failed} failed",
        quota.quota,
        quota.window_ms / 1000,
        paced.as_ref().map_or(0, |r| r.count),
        started.elapsed().as_secs_f64(),
        connector.sandbox.over_quota_requests(),
    );
    connector.stop().await;
    Ok(())
}

async fn tracking(n: usize) -> anyhow::Result<()> {
    let connector = Connector::start_with(&[
        // One client stands in for many visitors.
        ("CONNECTOR__INGRESS__BEACONS_PER_IP_PER_SEC", "1000000"),
        ("CONNECTOR__INGRESS__BEACON_BURST", "1000000"),
    ])
    .await;
    let view = |session: String| {
        let mut body = fixture!("tracking/product_view.json");
        body["sessionId"] = json!(session);
        body
    };
    // Warm the cache: the product and its category names.
    let traffic = Arc::new(connector.traffic());
    traffic
        .send_beacon("/tracking/product-view", &view("warm-up".into()))
        .await?;
    anyhow::ensure!(
        wait_for(Duration::from_secs(30), || {
            !connector.engage_ok("POST", PRODUCT_VIEWS).is_empty()
        })
        .await,
        "the warm-up view did not reach Engage"
    );
    connector.sandbox.clear_requests();

    let body_len = serde_json::to_vec(&view("bench-0".into()))?.len();
    let raw = raw_publish_rate(&platform::testing::amqp_url(), body_len, 64, RAW_SECS).await?;
    println!("broker raw rate (quorum, 64 in flight, {body_len} B): {raw:.0} msg/s");

    let sender = traffic.clone();
    let sent = send_all(n, 64, None, move |i| {
        let traffic = sender.clone();
        let body = view(format!("bench-{i}"));
        async move { Ok(traffic.send_beacon("/tracking/product-view", &body).await?) }
    })
    .await?;
    let limit = Duration::from_secs(60 + n as u64 / 200);
    anyhow::ensure!(
        wait_for(limit, || connector.engage_ok("POST", PRODUCT_VIEWS).len()
            >= n)
        .await,
        "not every view reached Engage within {limit:?}"
    );
    let sent: HashMap<String, Instant> = sent
        .into_iter()
        .enumerate()
        .map(|(i, at)| (format!("bench-{i}"), at))
        .collect();
    let views = connector.engage_ok("POST", PRODUCT_VIEWS);
    let landed: Vec<(String, &RecordedRequest)> = views
        .iter()
        .map(|r| {
            (
                r.body["sessionId"].as_str().unwrap_or_default().to_owned(),
                r,
            )
        })
        .collect();
    let run = report(&connector, &sent, &landed);
    // Catalog lookups only: webhook-health runs its start-up check of the hooks meanwhile.
    let catalog = connector
        .sandbox
        .requests_to(&format!("/bigcommerce/stores/{STORE}/v3/catalog"))
        .len();
    println!(
        "{} product views, warm cache: {:.0} views/s = {:.3} x raw; beacon to Engage p50 {:.1} ms, p95 {:.1} ms; {catalog} catalog lookups",
        run.count,
        run.rate,
        run.rate / raw,
        run.p50,
        run.p95
    );
    connector.stop().await;
    Ok(())
}
