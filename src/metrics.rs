//! Prometheus metrics. The `metrics` facade keeps counting cheap on the hot path; the
//! exporter renders the text format for `GET /metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Webhooks received, by channel and outcome (accepted, bad_signature, …).
pub const WEBHOOKS_RECEIVED: &str = "switchboard_webhooks_received_total";
/// Normalized events stored, by channel and type.
pub const EVENTS_STORED: &str = "switchboard_events_stored_total";
/// Seconds from the first byte read to the answer on `POST /hooks/…`.
pub const INGEST_SECONDS: &str = "switchboard_ingest_duration_seconds";

/// Webhooks per group commit.
pub const GROUP_SIZE: &str = "switchboard_ingest_group_size";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and returns its handle; later calls (several
/// gateways in one test process) share it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
                ])
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}

/// Counts one webhook with its outcome.
pub fn webhook(channel: &'static str, outcome: &'static str) {
    metrics::counter!(WEBHOOKS_RECEIVED, "channel" => channel, "outcome" => outcome).increment(1);
}
