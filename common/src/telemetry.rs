//! Logging and metrics, installed once per process.
//!
//! Logs are JSON lines (or pretty for a terminal) with the current span's
//! fields, so every line inside a request carries `service`, `method` and
//! `request_id`. Metrics go to one Prometheus recorder; in `scout up` all six
//! services share it and are told apart by the `service` label.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, TelemetryConfig};

static METRICS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static LOGS: OnceLock<()> = OnceLock::new();

/// Installs the log subscriber (first call wins; later calls are no-ops, so
/// tests and `scout up` can call it freely). `SCOUT_LOG`, else `RUST_LOG`,
/// overrides the level.
pub fn init_logging(config: &TelemetryConfig) {
    LOGS.get_or_init(|| {
        let directive = std::env::var("SCOUT_LOG")
            .or_else(|_| std::env::var("RUST_LOG"))
            .unwrap_or_else(|_| config.log_level.clone());
        let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
        let registry = tracing_subscriber::registry().with(filter);
        let result = match config.log_format {
            LogFormat::Json => registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .flatten_event(true)
                        .with_current_span(true)
                        .with_span_list(false)
                        .with_writer(std::io::stderr),
                )
                .try_init(),
            LogFormat::Pretty => registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .compact()
                        .with_writer(std::io::stderr),
                )
                .try_init(),
        };
        // A subscriber may already be set by a test harness; that is fine.
        drop(result);
    });
}

/// The process's Prometheus handle, installing the recorder on first use.
/// `None` when another recorder was installed first (only in odd test setups).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    METRICS
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                        60.0, 300.0,
                    ],
                )
                .ok()?;
            builder.install_recorder().ok()
        })
        .clone()
}

/// Records one call to a remote AI provider (seed 000 §10.2's
/// `ai_api_calls_total{service,status}` and `ai_api_latency_seconds{service}`):
/// `service` names the provider role (`vision_model`, `text_model`,
/// `seed_tts`), `status` is `ok`, `rate_limited` or `error`.
pub fn record_ai_call(service: &str, status: &'static str, elapsed: std::time::Duration) {
    metrics::counter!("ai_api_calls_total", "service" => service.to_string(), "status" => status)
        .increment(1);
    metrics::histogram!("ai_api_latency_seconds", "service" => service.to_string())
        .record(elapsed.as_secs_f64());
}

/// A task was created (`task_created_total{shop_type,video_style}`).
pub fn record_task_created(shop_type: &str, video_style: &str) {
    metrics::counter!("task_created_total", "shop_type" => shop_type.to_string(), "video_style" => video_style.to_string())
        .increment(1);
}

/// A task ended (`task_completed_total{status}`: `completed` or `failed`).
pub fn record_task_finished(status: &'static str) {
    metrics::counter!("task_completed_total", "status" => status).increment(1);
}

/// How long a task phase took (`task_duration_seconds{phase}`: `analyze`,
/// `compose`, or `total` from creation to the finished video).
pub fn record_task_phase(phase: &'static str, seconds: f64) {
    if seconds.is_finite() && seconds >= 0.0 {
        metrics::histogram!("task_duration_seconds", "phase" => phase).record(seconds);
    }
}

/// Jobs waiting in a queue (`queue_depth{queue_name}`: the working group's
/// lag on a job kind's main topic).
pub fn record_queue_depth(queue_name: &str, depth: i64) {
    metrics::gauge!("queue_depth", "queue_name" => queue_name.to_string()).set(depth as f64);
}

/// Renders the Prometheus text exposition.
pub fn render_metrics() -> String {
    metrics_handle().map(|h| h.render()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_show_up_in_the_exposition() {
        assert!(super::metrics_handle().is_some(), "recorder not installed");
        metrics::counter!("scout_test_total", "service" => "t").increment(3);
        let text = super::render_metrics();
        assert!(text.contains("scout_test_total{service=\"t\"} 3"), "{text}");
        let route = String::from("/x");
        metrics::counter!("scout_test2_total", "service" => "t", "method" => route.clone(), "status" => "0".to_string()).increment(1);
        let text = super::render_metrics();
        assert!(
            text.contains("scout_test2_total"),
            "counter with owned labels: {text}"
        );
        metrics::histogram!("scout_test_duration_seconds", "service" => "t", "method" => route)
            .record(0.2);
        let text = super::render_metrics();
        assert!(
            text.contains("scout_test_duration_seconds"),
            "histogram: {text}"
        );
    }
}
