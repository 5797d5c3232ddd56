//! `make bench-ingress`: signed webhooks at rising concurrency against a running ingress
//! binary, beside the broker's raw confirmed-publish rate measured in the same run.
//!
//! Needs the release `ingress` binary (the Makefile builds it), RabbitMQ and PostgreSQL on
//! localhost. Creates and drops its own database and a namespace of queues.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use platform::testing::bench::{peak_rss_mb, percentile_ms, raw_publish_rate};
use secrecy::SecretString;
use tokio::io::AsyncBufReadExt;

const SECRET: &str = "bench-client-secret";
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const SECS: u64 = 5;

struct Run {
    accepted: u64,
    refused: u64,
    rate: f64,
    latencies: Vec<Duration>,
}

/// `concurrency` clients posting as fast as answered, or paced to `target_rate` in all.
async fn load(url: &str, body: Arc<Vec<u8>>, concurrency: usize, target_rate: Option<f64>) -> Run {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(SECS);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let http = http.clone();
        let url = url.to_owned();
        let body = body.clone();
        let interval = target_rate.map(|r| Duration::from_secs_f64(concurrency as f64 / r));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut ok, mut bad) = (0u64, 0u64);
            let mut n = 0u64;
            let mut next = Instant::now();
            while Instant::now() < deadline {
                if let Some(interval) = interval {
                    next += interval;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                n += 1;
                let id = format!("bench-{worker}-{n}");
                let ts = time::OffsetDateTime::now_utc().unix_timestamp();
                let sig = domain::signature::sign_standard(SECRET.as_bytes(), &id, ts, &body);
                let t = Instant::now();
                let res = http
                    .post(&url)
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", sig)
                    .body(body.as_ref().clone())
                    .send()
                    .await;
                lat.push(t.elapsed());
                match res {
                    Ok(r) if r.status() == 200 => ok += 1,
                    _ => bad += 1,
                }
            }
            (ok, bad, lat)
        }));
    }
    let mut run = Run {
        accepted: 0,
        refused: 0,
        rate: 0.0,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (ok, bad, lat) = t.await.unwrap();
        run.accepted += ok;
        run.refused += bad;
        run.latencies.extend(lat);
    }
    run.rate = run.accepted as f64 / start.elapsed().as_secs_f64();
    run.latencies.sort();
    run
}

/// The same load from `wrk` (a lighter client than ours, so the 2 cores go to the broker and
/// the ingress), when it is installed: legacy-signed copies of one body.
///
/// With `pause_ms`, each connection waits that long after every answer (wrk's `delay()`), so
/// the load is paced rather than as fast as answered.
fn wrk(
    url: &str,
    body: &[u8],
    connections: usize,
    pause_ms: Option<u64>,
) -> Option<(f64, f64, f64, u64)> {
    // One line of JSON (a Lua string cannot hold raw newlines); sign what is sent.
    let flat = String::from_utf8_lossy(body).replace('\n', " ");
    let sig = domain::signature::sign_legacy_hex(SECRET.as_bytes(), flat.as_bytes());
    let script = std::env::temp_dir().join(format!("bench-ingress-{}.lua", std::process::id()));
    let body = flat.replace('\\', "\\\\").replace('"', "\\\"");
    let pause = pause_ms
        .map(|ms| format!("function delay()\n  return {ms}\nend\n"))
        .unwrap_or_default();
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = \"{body}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"X-BC-Signature\"] = \"{sig}\"\n{pause}"
        ),
    )
    .ok()?;
    let out = std::process::Command::new("wrk")
        .args([
            "-t",
            "2",
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{SECS}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    let ms = |label: &str| -> Option<f64> {
        let v = text
            .lines()
            .find(|l| l.trim_start().starts_with(label))?
            .split_whitespace()
            .nth(1)?
            .to_owned();
        let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        let n: f64 = num.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            _ => return None,
        })
    };
    let rate: f64 = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let refused: u64 = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses:"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0);
    let total: f64 = text
        .lines()
        .find(|l| l.contains("requests in"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let accepted = rate * (total - refused as f64).max(0.0) / total.max(1.0);
    Some((accepted, ms("50%")?, ms("99%")?, refused))
}

/// wrk paced near `target` requests/s: each of 64 connections pauses after every answer.
/// The pause is calibrated once from a first run (rate = connections / (pause + latency)).
fn paced_wrk(url: &str, body: &[u8], target: f64) -> Option<(f64, f64, f64, u64)> {
    const CONNECTIONS: f64 = 64.0;
    let cycle_ms = CONNECTIONS * 1000.0 / target;
    let first = wrk(url, body, CONNECTIONS as usize, Some(cycle_ms as u64))?;
    let latency_ms = (CONNECTIONS * 1000.0 / first.0.max(1.0) - cycle_ms).max(0.0);
    let pause = (cycle_ms - latency_ms).max(0.0) as u64;
    wrk(url, body, CONNECTIONS as usize, Some(pause))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/ingress".into());
    let body = Arc::new(std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/bigcommerce/webhooks/order_created.json"
    ))?);

    // A database of its own, with the bench store.
    let db = platform::testing::TestDb::new().await;
    {
        let mut conn = platform::db::conn(&db.pool).await?;
        let hash = domain::ids::StoreHash::parse("abc123")?;
        platform::db::stores::insert(
            &mut conn,
            &platform::db::stores::NewStore {
                store_hash: &hash,
                client_secret: &SecretString::from(SECRET),
                access_token: &SecretString::from("t"),
                api_base_url: "http://127.0.0.1:1",
            },
        )
        .await?;
    }
    let ns = platform::testing::TestNamespace::new();
    use secrecy::ExposeSecret;
    let mut child = tokio::process::Command::new(&binary)
        .env("CONNECTOR_CONFIG_DIR", "/nonexistent")
        .env("CONNECTOR__DATABASE__URL", db.url.expose_secret())
        .env("CONNECTOR__AMQP__NAMESPACE", &ns.namespace)
        .env("CONNECTOR__INGRESS__LISTEN", "127.0.0.1:0")
        .env("CONNECTOR__TELEMETRY__LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or(0);
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next_line()
            .await?
            .ok_or_else(|| anyhow::anyhow!("ingress exited"))?;
        if let Some(url) = line.strip_prefix("ingress listening on ") {
            break url.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = format!("{base}/webhooks/bigcommerce");
    let _ = load(&url, body.clone(), 8, None).await; // warm-up

    let raw = raw_publish_rate(AMQP, body.len(), 64, SECS).await?;
    println!(
        "broker raw rate (quorum, 64 in flight, {} B): {raw:.0} msg/s",
        body.len()
    );
    println!(
        "{:>11} {:>12} {:>8} {:>9} {:>9} {:>8}",
        "concurrency", "accepted/s", "ratio", "p50 ms", "p99 ms", "refused"
    );
    let mut best = 0.0f64;
    let use_wrk = std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok();
    println!(
        "load generator: {}",
        if use_wrk {
            "wrk (2 threads)"
        } else {
            "built-in (install wrk for a lighter client)"
        }
    );
    for concurrency in [16usize, 64, 128, 256] {
        if use_wrk {
            if let Some((rate, p50, p99, refused)) = wrk(&url, &body, concurrency, None) {
                best = best.max(rate);
                println!(
                    "{concurrency:>11} {rate:>12.0} {:>8.2} {p50:>9.2} {p99:>9.2} {refused:>8}",
                    rate / raw
                );
                continue;
            }
        }
        let run = load(&url, body.clone(), concurrency, None).await;
        best = best.max(run.rate);
        println!(
            "{concurrency:>11} {:>12.0} {:>8.2} {:>9.2} {:>9.2} {:>8}",
            run.rate,
            run.rate / raw,
            percentile_ms(&run.latencies, 0.5),
            percentile_ms(&run.latencies, 0.99),
            run.refused
        );
    }
    let half = raw / 2.0;
    let paced = if use_wrk {
        paced_wrk(&url, &body, half)
    } else {
        None
    };
    let (client, (rate, p50, p99, refused)) = match paced {
        Some(run) => ("wrk, 64 connections with a pause", run),
        None => {
            let run = load(&url, body.clone(), 128, Some(half)).await;
            let p50 = percentile_ms(&run.latencies, 0.5);
            let p99 = percentile_ms(&run.latencies, 0.99);
            ("built-in, 128 tasks", (run.rate, p50, p99, run.refused))
        }
    };
    println!(
        "paced at half the raw rate ({half:.0}/s; {client}): {rate:.0} accepted/s, p50 {p50:.2} ms, p99 {p99:.2} ms, refused {refused}"
    );
    println!(
        "best accepted/s = {best:.0} = {:.2} x raw; ingress peak RSS {:.1} MB",
        best / raw,
        peak_rss_mb(pid)
    );
    child.kill().await?;
    ns.cleanup().await;
    Ok(())
}
