//! Seed 000 §10.4 with OpenTelemetry: a client's `traceparent` is
//! continued through the edge, the owning service, the Kafka job (its
//! context in the message headers), the render worker and its report back
//! to tasks, and every span of that one trace is exported over OTLP/gRPC to
//! a local receiver speaking the collector's wire format. Log lines carry
//! the same trace id (seed 000 §10.1's fields).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use scout_proto::scout::tasks::v1::tasks_service_client::TasksServiceClient;
use scout_proto::scout::tasks::v1::{StartComposeRequest, TaskStatus};
use support::*;

/// An OTLP trace receiver keeping every span it is sent.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.0.lock().expect("lock");
        for rs in req.into_inner().resource_spans {
            for ss in rs.scope_spans {
                kept.extend(ss.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(AnyValue::StringValue(s)) => Some(s.clone()),
            Some(AnyValue::IntValue(i)) => Some(i.to_string()),
            _ => None,
        })
}

#[tokio::test]
async fn one_trace_spans_edge_tasks_kafka_render_and_the_report_back() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let otlp = listener.local_addr().expect("addr");
    let serving = receiver.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(serving))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("files");
    let (mut config, _dbs) = distributed_config(dir.path());
    config.telemetry.otlp_endpoint = format!("http://{otlp}");
    scout_common::telemetry::init_logging(&config.telemetry);
    let mesh = mesh_without_vision(config).await;
    let base = mesh.edge_url();
    let mut jobs = analyze_jobs(&mesh).await;
    let me = login(&base, dir.path()).await;
    let mut tasks = TasksServiceClient::new(authed_channel(&base, &me.access));
    let id = ready_task(&mesh, &mut tasks, &mut jobs, files.path(), 1).await;

    // The client starts the trace.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut req = tonic::Request::new(StartComposeRequest {
        task_id: id,
        ..Default::default()
    });
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .expect("header"),
    );
    tasks.start_compose(req).await.expect("compose");
    wait_status(
        &mut tasks,
        id,
        TaskStatus::Completed,
        Duration::from_secs(180),
    )
    .await;

    // Every hop of it arrives at the receiver, in that one trace.
    let want_id = hex_to_bytes(trace_id);
    let start = Instant::now();
    let spans = loop {
        scout_common::telemetry::flush_traces();
        let spans: Vec<Span> = receiver
            .0
            .lock()
            .expect("lock")
            .iter()
            .filter(|s| s.trace_id == want_id)
            .cloned()
            .collect();
        let has = |service: &str, method: &str| {
            spans.iter().any(|s| {
                attr(s, "service").as_deref() == Some(service)
                    && attr(s, "method").is_some_and(|m| m.ends_with(method))
            })
        };
        let job = spans
            .iter()
            .any(|s| s.name == "job" && attr(s, "service").as_deref() == Some("render"));
        if has("edge", "/StartCompose")
            && has("tasks", "/StartCompose")
            && job
            && has("tasks", "/ReportComposeResult")
        {
            break spans;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the trace is incomplete: {:?}",
            spans
                .iter()
                .map(|s| (s.name.clone(), attr(s, "service"), attr(s, "method")))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // The edge's span is the client's child; tasks' is the edge's.
    let edge = spans
        .iter()
        .find(|s| attr(s, "service").as_deref() == Some("edge"))
        .expect("edge span");
    assert_eq!(edge.parent_span_id, hex_to_bytes("00f067aa0ba902b7"));
    let tasks_span = spans
        .iter()
        .find(|s| {
            attr(s, "service").as_deref() == Some("tasks")
                && attr(s, "method").is_some_and(|m| m.ends_with("/StartCompose"))
        })
        .expect("tasks span");
    assert_eq!(
        tasks_span.parent_span_id, edge.span_id,
        "tasks under the edge"
    );
    assert_eq!(
        attr(tasks_span, "user_id").as_deref(),
        Some(me.user_id.to_string().as_str()),
        "the verified user is on the span"
    );
    drop(jobs);
    mesh.shutdown().await.expect("shutdown");
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}
