//! The operators' documents describe what exists: every configuration key, every queue and
//! header, every metric the code records.

use std::path::Path;

use crate::support::{read, root};

/// Every `section.key` of config/default.toml, the commented-out optional ones included.
fn default_keys() -> Vec<String> {
    let mut section = String::new();
    let mut found = Vec::new();
    for line in read("config/default.toml").lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let assignment = line.strip_prefix('#').map(str::trim).unwrap_or(line);
        let Some((key, _)) = assignment.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !section.is_empty()
            && !key.is_empty()
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            found.push(format!("{section}.{key}"));
        }
    }
    found
}

#[test]
fn the_configuration_doc_names_every_key_with_its_variable() {
    let doc = read("docs/configuration.md");
    let keys = default_keys();
    assert!(keys.len() >= 30, "config/default.toml keys: {keys:?}");
    for must in [
        "telemetry.otlp_endpoint",
        "http.metrics_listen",
        "amqp.namespace",
    ] {
        assert!(
            keys.iter().any(|k| k == must),
            "{must} is read from default.toml"
        );
    }
    for key in keys {
        let (section, name) = key.split_once('.').unwrap();
        let variable = format!(
            "CONNECTOR__{}__{}",
            section.to_ascii_uppercase(),
            name.to_ascii_uppercase()
        );
        assert!(
            doc.contains(&format!("`{key}`")),
            "docs/configuration.md: `{key}`"
        );
        assert!(doc.contains(&variable), "docs/configuration.md: {variable}");
    }
}

#[test]
fn the_messaging_doc_names_every_queue_binding_and_header() {
    use platform::amqp::message;
    let doc = read("docs/messaging.md");
    let topology = platform::amqp::Topology::new("");
    for name in [
        topology.events_exchange(),
        topology.dead_letter_exchange(),
        topology.dropped_queue(),
    ] {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/messaging.md: `{name}`"
        );
    }
    for (queue, bindings) in platform::amqp::topology::WORK_QUEUES {
        for name in [queue.to_string(), topology.dead_letter_queue(queue)] {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/messaging.md: `{name}`"
            );
        }
        for binding in *bindings {
            assert!(
                doc.contains(&format!("`{binding}`")),
                "docs/messaging.md: `{binding}`"
            );
        }
    }
    for header in [
        message::STORE_HASH,
        message::RECEIVED_AT,
        message::TRACEPARENT,
        message::BACKFILL,
        message::ORIGINAL_ROUTING_KEY,
        message::DEAD_REASON,
        message::ATTEMPTS,
        message::FIRST_FAILURE_AT,
        message::LAST_ERROR,
        message::DEAD_AT,
        message::REPLAY,
    ] {
        assert!(
            doc.contains(&format!("`{header}`")),
            "docs/messaging.md: `{header}`"
        );
    }
}

/// The names of every metric recorded with `counter!`, `gauge!` or `histogram!` under
/// crates/*/src, with the file that records it.
fn recorded_metrics() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        let src = krate.path().join("src");
        if src.is_dir() {
            walk(&src, &mut files);
        }
    }
    let mut metrics = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for macro_name in ["counter!(", "gauge!(", "histogram!("] {
            for (at, _) in source.match_indices(macro_name) {
                let rest = source[at + macro_name.len()..].trim_start();
                if let Some(name) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
                    let shown = file.strip_prefix(root()).unwrap().display().to_string();
                    metrics.push((name.to_owned(), shown));
                }
            }
        }
    }
    metrics.sort();
    metrics.dedup();
    metrics
}

#[test]
fn the_operations_doc_explains_every_metric_the_code_records() {
    let doc = read("docs/operations.md");
    let metrics = recorded_metrics();
    assert!(
        metrics.iter().any(|(m, _)| m == "consumer_messages_total"),
        "the scan finds the consume loop's counter: {metrics:?}"
    );
    for (metric, file) in metrics {
        assert!(
            doc.contains(&format!("`{metric}")),
            "docs/operations.md does not explain `{metric}` (recorded in {file})"
        );
    }
}
