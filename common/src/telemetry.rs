//! Logging, traces and metrics, installed once per process.
//!
//! Logs are JSON lines in seed 000 §10.1's shape (or pretty for a terminal)
//! with the current spans' fields, so every line inside a request carries
//! its `service`, `traceId`, `spanId`, `userId` and, in `context`, the
//! `method` and `request_id`. Every span is an OpenTelemetry span; the W3C
//! trace context travels on gRPC/HTTP headers and bus message headers, and
//! spans are exported over OTLP when configured. Metrics go to one
//! Prometheus recorder; in `scout up` all six services share it and are
//! told apart by the `service` label.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, TelemetryConfig};

static METRICS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static LOGS: OnceLock<()> = OnceLock::new();
static TRACES: OnceLock<Traces> = OnceLock::new();

/// The tracer provider and, when traces are exported, the small runtime
/// that drives the OTLP client (the batch processor exports from its own
/// thread; tonic needs a reactor).
struct Traces {
    provider: SdkTracerProvider,
    _runtime: Option<tokio::runtime::Runtime>,
}

/// A provider that records spans (so trace ids exist, travel on and reach
/// the logs) and exports them over OTLP/gRPC when `endpoint` is set.
fn traces(endpoint: &str) -> Traces {
    let resource = Resource::builder().with_service_name("scout").build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    if endpoint.is_empty() {
        return Traces {
            provider: builder.build(),
            _runtime: None,
        };
    }
    // Built on a thread of its own: this may run inside another runtime
    // (tests, `scout up`), where blocking on a second one is refused.
    let endpoint = endpoint.to_string();
    let exported = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .ok()?;
        let exporter = rt.block_on(async {
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(&endpoint)
                .build()
        });
        match exporter {
            Ok(e) => Some((rt, e)),
            Err(e) => {
                eprintln!("warning: traces will not be exported to {endpoint}: {e}");
                None
            }
        }
    })
    .join()
    .ok()
    .flatten();
    match exported {
        Some((rt, exporter)) => Traces {
            provider: builder.with_batch_exporter(exporter).build(),
            _runtime: Some(rt),
        },
        None => Traces {
            provider: builder.build(),
            _runtime: None,
        },
    }
}

/// Installs the log subscriber and the tracer (first call wins; later calls
/// are no-ops, so tests and `scout up` can call it freely). `SCOUT_LOG`,
/// else `RUST_LOG`, overrides the level. JSON lines carry seed 000 §10.1's
/// fields; every span is also an OpenTelemetry span, exported over OTLP
/// when `otlp_endpoint` is set.
pub fn init_logging(config: &TelemetryConfig) {
    LOGS.get_or_init(|| {
        let directive = std::env::var("SCOUT_LOG")
            .or_else(|_| std::env::var("RUST_LOG"))
            .unwrap_or_else(|_| config.log_level.clone());
        let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let traces = TRACES.get_or_init(|| traces(config.otlp_endpoint.trim()));
        let otel = tracing_opentelemetry::layer().with_tracer(traces.provider.tracer("scout"));
        let registry = tracing_subscriber::registry().with(filter).with(otel);
        let result = match config.log_format {
            LogFormat::Json => registry.with(SeedJson).try_init(),
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

/// Sends the spans not exported yet (at shutdown, and for tests).
pub fn flush_traces() {
    if let Some(t) = TRACES.get() {
        let _ = t.provider.force_flush();
    }
}

// ---- trace context across processes (W3C traceparent) ----

struct HeaderCarrier<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::header::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

struct HeaderReader<'a>(&'a http::HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct PairCarrier<'a>(&'a mut Vec<(String, String)>);

impl Injector for PairCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_string(), value));
    }
}

struct PairReader<'a>(&'a [(String, String)]);

impl Extractor for PairReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Puts the current span's trace context on outgoing HTTP/gRPC headers.
pub fn inject_headers(headers: &mut http::HeaderMap) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut HeaderCarrier(headers));
    });
}

/// Puts the current span's trace context on an outgoing gRPC call.
pub fn inject_metadata(metadata: &mut tonic::metadata::MetadataMap) {
    let mut pairs = Vec::new();
    inject_pairs(&mut pairs);
    for (k, v) in pairs {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(k.as_bytes()),
            v.parse(),
        ) {
            metadata.insert(k, v);
        }
    }
}

/// Makes `span` a child of the trace context the caller sent, if any.
pub fn continue_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderReader(headers)));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// Puts the current span's trace context on a bus message's headers.
pub fn inject_pairs(headers: &mut Vec<(String, String)>) {
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut PairCarrier(headers));
    });
}

/// Makes `span` a child of the trace context a bus message carries, if any.
pub fn continue_from_pairs(span: &tracing::Span, headers: &[(String, String)]) {
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&PairReader(headers)));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

// ---- seed 000 §10.1 log lines ----

/// A span's fields, kept for the log lines inside it.
struct SpanFields(serde_json::Map<String, serde_json::Value>);

struct JsonVisitor<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            serde_json::Value::String(format!("{value:?}")),
        );
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0
            .insert(field.name().to_string(), serde_json::Value::from(value));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0
            .insert(field.name().to_string(), serde_json::Value::from(value));
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0
            .insert(field.name().to_string(), serde_json::Value::from(value));
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0
            .insert(field.name().to_string(), serde_json::Value::from(value));
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0
            .insert(field.name().to_string(), serde_json::Value::from(value));
    }
}

/// JSON log lines in seed 000 §10.1's shape: `timestamp`, `level`,
/// `service`, `traceId`, `spanId`, `userId`, `message`, `context` (the
/// event's other fields and its spans', e.g. `request_id`, `method`,
/// `task_id`, `target`), one per line on stderr.
struct SeedJson;

impl<S> tracing_subscriber::Layer<S> for SeedJson
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = serde_json::Map::new();
        attrs.record(&mut JsonVisitor(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(&mut JsonVisitor(&mut fields.0));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        use std::io::Write as _;
        let mut context = serde_json::Map::new();
        let (mut trace_id, mut span_id) = (None, None);
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                let ext = span.extensions();
                if let Some(fields) = ext.get::<SpanFields>() {
                    for (k, v) in &fields.0 {
                        context.insert(k.clone(), v.clone());
                    }
                }
                if let Some(otel) = ext.get::<tracing_opentelemetry::OtelData>() {
                    if let Some(t) = otel.trace_id() {
                        trace_id = Some(t.to_string());
                    }
                    if let Some(s) = otel.span_id() {
                        span_id = Some(s.to_string());
                    }
                }
            }
        }
        let mut fields = serde_json::Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let message = fields
            .remove("message")
            .unwrap_or(serde_json::Value::String(String::new()));
        context.extend(fields);
        let service = context
            .remove("service")
            .unwrap_or(serde_json::Value::String("scout".into()));
        let user_id = context
            .remove("user_id")
            .filter(|v| !v.is_null())
            .unwrap_or(serde_json::Value::Null);
        context.insert(
            "target".into(),
            serde_json::Value::from(event.metadata().target()),
        );
        let line = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "level": event.metadata().level().as_str(),
            "service": service,
            "traceId": trace_id,
            "spanId": span_id,
            "userId": user_id,
            "message": message,
            "context": context,
        });
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "{line}");
    }
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
