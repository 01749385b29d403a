//! The REST bridge: `/api/v1/...` in the seed 000 envelope, derived from the
//! `google.api.http` annotations, answered by the very same gRPC path a
//! native client takes.
//!
//! A REST call is transcoded to protobuf (path variables, query string and
//! JSON body merged into the request message), sent through the edge's own
//! gRPC router in-process (so routing, deadlines and every later auth and
//! rate-limit layer apply identically), and the answer is written back as
//! `{code, message, data}`. Errors come from the one error table, so REST and
//! gRPC agree on every failure. Server-streaming RPCs answer as server-sent
//! events, one envelope per message.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use prost_reflect::Kind;
use scout_common::grpc::{REQUEST_ID, format_grpc_timeout, request_deadline};
use scout_common::respond::envelope_error;
use scout_common::server::RouteTemplate;
use scout_common::{ApiError, ErrorCode, proto_json};
use serde_json::{Map, Value};
use tower::ServiceExt;

use crate::catalog::{Catalog, PublicMethod};
use crate::frame;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Var(String),
}

#[derive(Debug, Clone)]
struct Route {
    verb: Method,
    template: String,
    segments: Vec<Segment>,
    body: String,
    response_body: String,
    rpc: Arc<PublicMethod>,
}

/// The bridge: its routes and the gRPC router it calls into.
pub struct Rest {
    routes: Vec<Route>,
    grpc: axum::Router,
    max_body: usize,
    request_timeout: Duration,
}

fn parse_template(t: &str) -> Vec<Segment> {
    t.trim_matches('/')
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(var) => Segment::Var(var.split('=').next().unwrap_or(var).to_string()),
                None => Segment::Literal(s.to_string()),
            },
        )
        .collect()
}

impl Rest {
    /// Builds the route table from the catalog.
    pub fn new(
        catalog: &Catalog,
        grpc: axum::Router,
        max_body: usize,
        request_timeout: Duration,
    ) -> Self {
        let mut routes: Vec<Route> = catalog
            .methods
            .values()
            .flat_map(|m| {
                m.http.iter().map(move |b| Route {
                    verb: b.method.clone(),
                    template: b.template.clone(),
                    segments: parse_template(&b.template),
                    body: b.body.clone(),
                    response_body: b.response_body.clone(),
                    rpc: m.clone(),
                })
            })
            .collect();
        // Literal segments win over variables (`/tasks/stats` before `/tasks/{id}`).
        routes.sort_by_key(|r| {
            r.segments
                .iter()
                .map(|s| matches!(s, Segment::Var(_)))
                .collect::<Vec<_>>()
        });
        Self {
            routes,
            grpc,
            max_body,
            request_timeout,
        }
    }

    fn matches<'a>(&'a self, path: &str) -> Vec<(&'a Route, Vec<(String, String)>)> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.routes
            .iter()
            .filter_map(|r| {
                if r.segments.len() != parts.len() {
                    return None;
                }
                let mut vars = Vec::new();
                for (seg, part) in r.segments.iter().zip(&parts) {
                    match seg {
                        Segment::Literal(l) if l == part => {}
                        Segment::Literal(_) => return None,
                        Segment::Var(name) => {
                            let value = url::form_urlencoded::parse(format!("v={part}").as_bytes())
                                .next()
                                .map(|(_, v)| v.into_owned())
                                .unwrap_or_default();
                            vars.push((name.clone(), value));
                        }
                    }
                }
                Some((r, vars))
            })
            .collect()
    }
}

/// `ANY /api/v1/{*path}`.
pub async fn handle(State(rest): State<Arc<Rest>>, req: Request) -> Response {
    // The route template labels the request's metrics (bounded, unlike paths).
    let template = rest
        .matches(req.uri().path())
        .iter()
        .find(|(r, _)| r.verb == req.method())
        .map_or_else(|| "unmatched".to_string(), |(r, _)| r.template.clone());
    let mut resp = match handle_inner(&rest, req).await {
        Ok(resp) => resp,
        Err(e) => envelope_error(&e),
    };
    resp.extensions_mut().insert(RouteTemplate(template));
    resp
}

async fn handle_inner(rest: &Rest, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    let candidates = rest.matches(&path);
    if candidates.is_empty() {
        return Err(ApiError::new(
            ErrorCode::UnknownRoute,
            format!("no route for {} {path}", req.method()),
        ));
    }
    let Some((route, vars)) = candidates
        .iter()
        .find(|(r, _)| r.verb == req.method())
        .cloned()
    else {
        let allowed: Vec<String> = candidates.iter().map(|(r, _)| r.verb.to_string()).collect();
        let mut resp = envelope_error(&ApiError::new(
            ErrorCode::UnknownRoute,
            format!(
                "{} is not allowed on {path}; allowed: {}",
                req.method(),
                allowed.join(", ")
            ),
        ));
        *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        return Ok(resp);
    };
    let rpc = route.rpc.clone();
    let query = req.uri().query().unwrap_or_default().to_string();
    let (parts, body) = req.into_parts();

    // Body: JSON object, at most max_body bytes.
    let raw = Limited::new(body, rest.max_body)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("request body exceeds the {}-byte limit", rest.max_body),
                )
            } else {
                ApiError::new(
                    ErrorCode::MalformedRequest,
                    format!("request body could not be read: {e}"),
                )
            }
        })?;
    let raw = raw.to_bytes();
    let mut object = if route.body.is_empty() || raw.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&raw) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(ApiError::new(
                    ErrorCode::MalformedRequest,
                    "request body must be a JSON object",
                ));
            }
            Err(e) => {
                return Err(ApiError::new(
                    ErrorCode::MalformedRequest,
                    format!("request body is not valid JSON: {e}"),
                ));
            }
        }
    };

    // Path variables, then query parameters (for fields the body did not set).
    for (name, value) in vars {
        object.insert(name, Value::String(value));
    }
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let Some(field) = rpc.input.get_field_by_name(&key) else {
            return Err(ApiError::invalid_field(&key, "unknown query parameter"));
        };
        let v = match field.kind() {
            Kind::Bool => match value.as_ref() {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                other => {
                    return Err(ApiError::invalid_field(
                        &key,
                        format!("expected true or false, got {other:?}"),
                    ));
                }
            },
            _ => Value::String(value.into_owned()),
        };
        if field.is_list() {
            match object
                .entry(key.into_owned())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(items) => items.push(v),
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::MalformedRequest,
                        "a field was given both in the body and the query",
                    ));
                }
            }
        } else {
            object.entry(key.into_owned()).or_insert(v);
        }
    }
    let message = proto_json::message_from_json(&rpc.input, Value::Object(object))
        .map_err(|e| ApiError::new(ErrorCode::InvalidArgument, format!("invalid request: {e}")))?;

    let deadline = request_deadline(&parts.headers, Some(rest.request_timeout))
        .unwrap_or(rest.request_timeout);
    let mut grpc_req = grpc_request(
        &rpc.path,
        &parts.headers,
        deadline,
        prost::Message::encode_to_vec(&message),
    )?;
    if let Some(ip) = parts.extensions.get::<crate::limits::ClientIp>() {
        grpc_req.extensions_mut().insert(*ip);
    }
    let resp = match rest.grpc.clone().oneshot(grpc_req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };

    // A trailers-only answer is an error (or an empty stream).
    if let Some(status) = tonic::Status::from_header_map(resp.headers())
        && status.code() != tonic::Code::Ok
    {
        return Err(ApiError::from_status(&status));
    }
    if rpc.server_streaming {
        return Ok(sse(rpc, route.response_body.clone(), resp.into_body()));
    }
    let collected = resp.into_body().collect().await.map_err(|e| {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            format!("answer interrupted: {e}"),
        )
    })?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    if let Some(status) = tonic::Status::from_header_map(&trailers)
        && status.code() != tonic::Code::Ok
    {
        return Err(ApiError::from_status(&status));
    }
    let mut decoder = frame::Decoder::default();
    let messages = decoder.push(&collected.to_bytes());
    let first = messages
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("the service answered no message"))?;
    let data = proto_json::bytes_to_json(&rpc.output, &first)
        .map_err(|e| ApiError::internal(format!("undecodable answer: {e}")))?;
    Ok(success(select(data, &route.response_body)))
}

/// The part of an answer a binding's `response_body` names (all of it when empty).
fn select(mut data: Value, response_body: &str) -> Value {
    if response_body.is_empty() {
        return data;
    }
    data.get_mut(response_body)
        .map(Value::take)
        .unwrap_or(Value::Null)
}

fn success(data: Value) -> Response {
    axum::Json(serde_json::json!({"code": 0, "message": "success", "data": data})).into_response()
}

/// The gRPC request the bridge sends: the caller's request id and
/// authorization, the deadline that is left.
fn grpc_request(
    path: &str,
    incoming: &HeaderMap,
    deadline: Duration,
    message: Vec<u8>,
) -> Result<Request, ApiError> {
    let mut req = http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .version(http::Version::HTTP_2)
        .header(header::CONTENT_TYPE, "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", format_grpc_timeout(deadline))
        .body(Body::from(frame::encode(&message)))
        .map_err(|e| ApiError::internal(format!("cannot build the call: {e}")))?;
    for key in [REQUEST_ID, "authorization", "x-forwarded-for", "user-agent"] {
        if let Some(v) = incoming.get(key) {
            req.headers_mut().insert(key, v.clone());
        }
    }
    scout_common::telemetry::inject_headers(req.headers_mut());
    Ok(req)
}

/// Server-sent events: one `data:` envelope per streamed message, and an
/// `event: error` envelope if the stream ends with an error.
fn sse(rpc: Arc<PublicMethod>, response_body: String, body: Body) -> Response {
    let stream = futures::stream::unfold(
        (
            body.into_data_stream(),
            frame::Decoder::default(),
            (rpc, response_body),
            false,
        ),
        |(mut data, mut decoder, rpc, done)| async move {
            if done {
                return None;
            }
            loop {
                match data.next().await {
                    Some(Ok(chunk)) => {
                        let events: String = decoder
                            .push(&chunk)
                            .into_iter()
                            .map(|m| match proto_json::bytes_to_json(&rpc.0.output, &m) {
                                Ok(v) => format!("data: {}\n\n", serde_json::json!({"code": 0, "message": "success", "data": select(v, &rpc.1)})),
                                Err(e) => format!("event: error\ndata: {}\n\n", serde_json::json!({"code": ErrorCode::Internal as i32, "message": e})),
                            })
                            .collect();
                        if !events.is_empty() {
                            return Some((
                                Ok::<_, std::convert::Infallible>(Bytes::from(events)),
                                (data, decoder, rpc, false),
                            ));
                        }
                    }
                    Some(Err(e)) => {
                        let ev = format!(
                            "event: error\ndata: {}\n\n",
                            serde_json::json!({"code": ErrorCode::ServiceUnavailable as i32, "message": format!("stream interrupted: {e}")})
                        );
                        return Some((Ok(Bytes::from(ev)), (data, decoder, rpc, true)));
                    }
                    None if decoder.pending() > 0 => {
                        let ev = format!(
                            "event: error\ndata: {}\n\n",
                            serde_json::json!({"code": ErrorCode::ServiceUnavailable as i32, "message": "stream ended inside a message"})
                        );
                        return Some((Ok(Bytes::from(ev)), (data, decoder, rpc, true)));
                    }
                    None => return None,
                }
            }
        },
    );
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_match() {
        let catalog = Catalog::build().expect("catalog");
        let rest = Rest::new(&catalog, axum::Router::new(), 1024, Duration::from_secs(1));
        let m = rest.matches("/api/v1/tasks/42/videos/7");
        assert!(m.iter().any(|(r, v)| r.rpc.path.ends_with("DeleteVideo")
            && v == &vec![
                ("task_id".into(), "42".into()),
                ("video_id".into(), "7".into())
            ]));
        let m = rest.matches("/api/v1/tasks");
        let verbs: Vec<String> = m.iter().map(|(r, _)| r.verb.to_string()).collect();
        assert!(verbs.contains(&"GET".to_string()) && verbs.contains(&"POST".to_string()));
        assert!(rest.matches("/api/v1/nope").is_empty());
        assert_eq!(rest.matches("/api/v1/render/capabilities").len(), 1);
    }
}
