//! The process-wide Prometheus recorder behind the `metrics` macros.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder once per process and returns the handle that renders `/metrics`.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .expect("static bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist in tests that embed several services: keep ours
            // rendering whatever reaches it.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Renders the current metrics in the Prometheus text format.
pub fn render() -> String {
    install().render()
}
