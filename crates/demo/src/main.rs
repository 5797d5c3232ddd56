//! `demo-traffic`: the scripted part of `make demo`.
//!
//! Against a running ingress and sandbox (started by `scripts/demo.sh`), it injects one
//! Engage outage, sends a realistic stream of signed BigCommerce webhooks and storefront
//! beacons, waits until the pipeline is idle, and prints what reached Engage, what failed
//! and what was dropped on purpose (and why).
//!
//! ```text
//! demo-traffic --ingress http://127.0.0.1:18080 --sandbox http://127.0.0.1:19000 \
//!     --secret demo-client-secret --connectorctl target/debug/connectorctl --log-dir .demo
//! ```
//!
//! Exit codes: 0 when every message was accepted and the pipeline went idle, 1 otherwise.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use demo::{kind_of, script, Traffic};
use serde_json::{json, Value};

/// Command-line options.
struct Options {
    ingress: String,
    sandbox: String,
    secret: String,
    origin: String,
    connectorctl: PathBuf,
    log_dir: Option<PathBuf>,
    timeout: Duration,
    quiet_for: Duration,
}

const USAGE: &str = "usage: demo-traffic --ingress URL --sandbox URL --secret SECRET \
--connectorctl PATH [--origin URL] [--log-dir DIR] [--timeout-secs N] [--quiet-secs N]";

impl Options {
    fn parse() -> anyhow::Result<Options> {
        let mut ingress = None;
        let mut sandbox = None;
        let mut secret = std::env::var("DEMO_CLIENT_SECRET").ok();
        let mut origin = "https://shop.example.com".to_owned();
        let mut connectorctl = None;
        let mut log_dir = None;
        let mut timeout = 120;
        let mut quiet = 3;
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                println!("{USAGE}");
                std::process::exit(0);
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
            match flag.as_str() {
                "--ingress" => ingress = Some(value.trim_end_matches('/').to_owned()),
                "--sandbox" => sandbox = Some(value.trim_end_matches('/').to_owned()),
                "--secret" => secret = Some(value),
                "--origin" => origin = value,
                "--connectorctl" => connectorctl = Some(PathBuf::from(value)),
                "--log-dir" => log_dir = Some(PathBuf::from(value)),
                "--timeout-secs" => timeout = value.parse().context("--timeout-secs")?,
                "--quiet-secs" => quiet = value.parse().context("--quiet-secs")?,
                other => bail!("unknown argument {other}\n{USAGE}"),
            }
        }
        Ok(Options {
            ingress: ingress.with_context(|| format!("--ingress is required\n{USAGE}"))?,
            sandbox: sandbox.with_context(|| format!("--sandbox is required\n{USAGE}"))?,
            secret: secret.with_context(|| format!("--secret is required\n{USAGE}"))?,
            origin,
            connectorctl: connectorctl
                .with_context(|| format!("--connectorctl is required\n{USAGE}"))?,
            log_dir,
            timeout: Duration::from_secs(timeout),
            quiet_for: Duration::from_secs(quiet),
        })
    }
}

struct Demo {
    opts: Options,
    http: reqwest::Client,
    traffic: Traffic,
}

impl Demo {
    async fn sandbox_get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}/_sandbox/{path}", self.opts.sandbox);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .error_for_status()?;
        Ok(resp.json().await?)
    }

    /// Staged orders per status, from `connectorctl orders list --json`.
    async fn staged_orders(&self) -> anyhow::Result<Vec<Value>> {
        let out = tokio::process::Command::new(&self.opts.connectorctl)
            .args(["orders", "list", "--json"])
            .output()
            .await
            .with_context(|| format!("running {}", self.opts.connectorctl.display()))?;
        if !out.status.success() {
            bail!(
                "connectorctl orders list failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let value: Value = serde_json::from_slice(&out.stdout).context("orders list --json")?;
        Ok(value.as_array().cloned().unwrap_or_default())
    }

    /// Waits until the sandbox saw no request for `quiet_for` and no staged order is
    /// pending or processing. Returns false on timeout.
    async fn wait_idle(&self) -> anyhow::Result<bool> {
        let deadline = Instant::now() + self.opts.timeout;
        let mut last_total = u64::MAX;
        let mut since = Instant::now();
        while Instant::now() < deadline {
            let stats = self.sandbox_get("stats").await?;
            let total = stats["total"].as_u64().unwrap_or(0);
            if total != last_total {
                last_total = total;
                since = Instant::now();
            }
            let busy = self
                .staged_orders()
                .await?
                .iter()
                .filter(|o| matches!(o["status"].as_str(), Some("pending" | "processing")))
                .count();
            if busy == 0 && since.elapsed() >= self.opts.quiet_for {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(false)
    }
}

fn status_ok(status: u64) -> bool {
    (200..300).contains(&status)
}

/// Log lines that tell why something was dropped, skipped or ignored.
fn dropped_from_logs(dir: &std::path::Path, labels: &BTreeMap<String, &str>) -> Vec<String> {
    let mut lines = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return lines;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    for file in files {
        let service = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for line in text.lines() {
            let Ok(Value::Object(entry)) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(Value::Object(fields)) = entry.get("fields") else {
                continue;
            };
            let message = fields
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let lower = message.to_ascii_lowercase();
            if !["dropped", "skipped", "ignored", "rejected"]
                .iter()
                .any(|w| lower.contains(w))
            {
                continue;
            }
            let extra: Vec<String> = fields
                .iter()
                .filter(|(k, _)| k.as_str() != "message")
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect();
            let span = entry.get("span").unwrap_or(&Value::Null);
            let origin = match span["message_id"].as_str() {
                Some(id) if labels.contains_key(id) => format!("[{}] ", labels[id]),
                Some(id) if id.starts_with("backfill-") => {
                    format!("[webhook-health back-fill {id}] ")
                }
                Some(id) => format!("[{id}] "),
                None => String::new(),
            };
            lines.push(format!(
                "{origin}{service}: {message} ({})",
                extra.join(", ")
            ));
        }
    }
    lines
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

async fn run() -> anyhow::Result<bool> {
    let opts = Options::parse()?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;
    let traffic = Traffic::new(http.clone(), &opts.ingress, &opts.secret, &opts.origin);
    let demo = Demo {
        opts,
        http,
        traffic,
    };
    let mut all_accepted = true;

    // One Engage outage: the first two order creations fail with 503.
    let fault = json!({"target": "engage", "method": "POST", "path_prefix": "/api/v3/orders",
        "times": 2, "status": 503});
    demo.http
        .post(format!("{}/_sandbox/faults", demo.opts.sandbox))
        .json(&fault)
        .send()
        .await?
        .error_for_status()
        .context("injecting the Engage fault")?;
    println!("== traffic (Engage will answer 503 to the first two POST /api/v3/orders)");

    let started = Instant::now();
    let mut labels: BTreeMap<String, &'static str> = BTreeMap::new();
    for step in script() {
        let label = step.label();
        let (id, status) = demo.traffic.send(&step).await?;
        let kind = match id {
            Some(id) => {
                labels.insert(id, label);
                "webhook"
            }
            None => "beacon ",
        };
        let verdict = if status_ok(u64::from(status)) {
            "accepted"
        } else {
            all_accepted = false;
            "REFUSED"
        };
        println!("  {kind} {label:<52} -> {status} {verdict}");
        // A little spacing so the stream looks like a shop, not a benchmark.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    println!(
        "== waiting for the pipeline to go idle (timeout {}s)",
        demo.opts.timeout.as_secs()
    );
    let idle = demo.wait_idle().await?;
    if idle {
        println!("  idle after {:.1}s", started.elapsed().as_secs_f64());
    } else {
        println!(
            "  NOT idle after {}s; reporting what there is",
            demo.opts.timeout.as_secs()
        );
    }

    // What reached Engage, per kind.
    let requests = demo.sandbox_get("requests?path_prefix=/engage").await?;
    let requests = requests.as_array().cloned().unwrap_or_default();
    let mut ok: BTreeMap<&str, u64> = BTreeMap::new();
    let mut failed: Vec<String> = Vec::new();
    for r in &requests {
        let method = r["method"].as_str().unwrap_or_default();
        let path = r["path"].as_str().unwrap_or_default();
        let status = r["status"].as_u64().unwrap_or(0);
        let kind = kind_of(method, path);
        if status_ok(status) {
            *ok.entry(kind).or_default() += 1;
        } else if kind == "contact lookups" && status == 404 {
            // Looking a contact up by email before creating it: not a failure.
            *ok.entry("contact lookups").or_default() += 1;
            *ok.entry("  of which not found (then created)").or_default() += 1;
        } else {
            let route = r["route"].as_str().unwrap_or_default();
            let fault = if route.ends_with("(fault)") {
                " (injected fault)"
            } else {
                ""
            };
            failed.push(format!("{method} {path} -> {status}{fault}"));
        }
    }
    println!("== reached Engage ({} requests)", requests.len());
    for kind in [
        "contacts created",
        "contacts updated",
        "contact types promoted",
        "orders created",
        "orders replaced",
        "product views",
        "carts",
        "contact lookups",
        "  of which not found (then created)",
        "order reads / job polls",
        "orders deleted",
        "other",
    ] {
        if let Some(n) = ok.get(kind) {
            println!("  {kind:<36} {n}");
        }
    }
    println!("== failed Engage calls ({})", failed.len());
    for f in &failed {
        println!("  {f}");
    }

    let contacts = demo.sandbox_get("engage/contacts").await?;
    let contacts = contacts.as_array().cloned().unwrap_or_default();
    println!("== Engage contacts ({})", contacts.len());
    for c in &contacts {
        let phone = c
            .get("mobilePhone")
            .map(show)
            .unwrap_or_else(|| "(absent)".into());
        println!(
            "  {}  email={}  contactType={}  mobilePhone={}",
            show(&c["id"]),
            show(&c["email"]),
            show(c.get("contactType").unwrap_or(&Value::Null)),
            phone
        );
    }
    let orders = demo.sandbox_get("engage/orders").await?;
    let orders = orders.as_array().cloned().unwrap_or_default();
    println!("== Engage orders ({})", orders.len());
    for o in &orders {
        let items = o["lineItems"]["items"].as_array().map_or(0, Vec::len);
        println!(
            "  orderId={}  contact={}  status={}  externalStatus={}  items={}  paid={} {}",
            show(&o["orderId"]),
            show(&o["contact"]["matchKey"]),
            show(&o["status"]),
            show(&o["externalStatus"]),
            items,
            show(&o["payments"]["total"]),
            show(&o["currencyCode"]),
        );
    }

    let staged = demo.staged_orders().await?;
    println!("== staged orders (connectorctl orders list)");
    for o in &staged {
        println!(
            "  store={} order={} status={} attempts={} revision={} last_scope={} last_error={}",
            show(&o["store"]),
            show(&o["order_id"]),
            show(&o["status"]),
            show(&o["attempts"]),
            show(&o["revision"]),
            show(&o["last_scope"]),
            show(&o["last_error"]),
        );
    }

    if let Some(dir) = &demo.opts.log_dir {
        let dropped = dropped_from_logs(dir, &labels);
        println!("== dropped / skipped on purpose (from the service logs)");
        if dropped.is_empty() {
            println!("  none");
        }
        for line in dropped {
            println!("  {line}");
        }
    }

    Ok(idle && all_accepted)
}

#[tokio::main]
async fn main() {
    match run().await {
        Ok(true) => {}
        Ok(false) => {
            eprintln!("demo-traffic: some traffic was refused or the pipeline did not go idle");
            std::process::exit(1);
        }
        Err(error) => {
            eprintln!("demo-traffic: {error:#}");
            std::process::exit(1);
        }
    }
}
