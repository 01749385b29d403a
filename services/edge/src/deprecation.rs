//! Deprecation notices for retiring API versions (seed 000 §12.2): every
//! REST answer under a configured prefix carries `Deprecation` (RFC 9745),
//! `Sunset` (RFC 8594) and `Link: <successor>; rel="successor-version"`,
//! so clients learn of the change from the answers they already get.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use scout_common::config::DeprecationConfig;

/// The three headers of one notice.
type Headers = [(&'static str, HeaderValue); 3];

/// The notices by path prefix, with their header values made once.
#[derive(Debug, Clone, Default)]
pub struct Notices(Arc<Vec<(String, Headers)>>);

impl Notices {
    /// From the edge's config; an entry whose values cannot be headers is
    /// refused at start.
    pub fn new(config: &[DeprecationConfig]) -> anyhow::Result<Self> {
        let mut out = Vec::new();
        for d in config {
            let value = |s: String| {
                HeaderValue::from_str(&s)
                    .map_err(|e| anyhow::anyhow!("edge.deprecations {}: {e}", d.prefix))
            };
            out.push((
                d.prefix.clone(),
                [
                    ("deprecation", value(format!("@{}", d.since.timestamp()))?),
                    (
                        "sunset",
                        value(d.sunset.format("%a, %d %b %Y %H:%M:%S GMT").to_string())?,
                    ),
                    (
                        "link",
                        value(format!("<{}>; rel=\"successor-version\"", d.successor))?,
                    ),
                ],
            ));
        }
        Ok(Self(Arc::new(out)))
    }
}

/// Adds the notices of the first prefix the path is under.
pub async fn notices(State(notices): State<Notices>, req: Request, next: Next) -> Response {
    let found = notices
        .0
        .iter()
        .find(|(prefix, _)| req.uri().path().starts_with(prefix.as_str()))
        .map(|(_, headers)| headers.clone());
    let mut resp = next.run(req).await;
    for (name, value) in found.into_iter().flatten() {
        resp.headers_mut().insert(name, value);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn answers_under_a_retiring_prefix_say_so() {
        let config = vec![DeprecationConfig {
            prefix: "/api/v1/".into(),
            since: "2027-01-01T00:00:00Z".parse().expect("date"),
            sunset: "2027-07-01T00:00:00Z".parse().expect("date"),
            successor: "/api/v2/openapi.json".into(),
        }];
        let app = axum::Router::new()
            .route("/api/v1/tasks", get(|| async { "v1" }))
            .route("/api/v2/tasks", get(|| async { "v2" }))
            .layer(from_fn_with_state(
                Notices::new(&config).expect("notices"),
                notices,
            ));
        let call = |path: &'static str| {
            let app = app.clone();
            async move {
                app.oneshot(
                    Request::get(path)
                        .body(axum::body::Body::empty())
                        .expect("req"),
                )
                .await
                .expect("answer")
            }
        };
        let old = call("/api/v1/tasks").await;
        assert_eq!(old.headers()["deprecation"], "@1798761600");
        assert_eq!(old.headers()["sunset"], "Thu, 01 Jul 2027 00:00:00 GMT");
        assert_eq!(
            old.headers()["link"],
            "</api/v2/openapi.json>; rel=\"successor-version\""
        );
        let new = call("/api/v2/tasks").await;
        assert!(new.headers().get("deprecation").is_none());
        assert!(new.headers().get("sunset").is_none());
    }
}
