//! Which RPCs the edge exposes, who owns them, and how they map to REST.
//!
//! An RPC is public exactly when it carries a `google.api.http` option: the
//! same annotation that gives it a REST route. Internal services and
//! methods (worker reports, render's media calls) have none, so the edge
//! neither routes them nor lists them in reflection.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, MethodDescriptor, Value};
use scout_common::{ServiceName, proto_json};

/// One REST binding of an RPC.
#[derive(Debug, Clone)]
pub struct HttpBinding {
    /// HTTP verb.
    pub method: http::Method,
    /// Path template, e.g. `/api/v1/tasks/{task_id}`.
    pub template: String,
    /// Request field the body fills: `*` for all, empty for none.
    pub body: String,
    /// Response field REST answers with: empty for the whole response.
    /// A response that carries one resource answers with the resource
    /// itself (`data.id`, not `data.task.id`), as seed 000 §6.2 shows.
    pub response_body: String,
}

/// A public RPC.
#[derive(Debug, Clone)]
pub struct PublicMethod {
    /// gRPC path, `/scout.tasks.v1.TasksService/GetTask`.
    pub path: String,
    /// Owning service.
    pub owner: ServiceName,
    /// Request type.
    pub input: MessageDescriptor,
    /// Response type.
    pub output: MessageDescriptor,
    /// Server streams its answer.
    pub server_streaming: bool,
    /// Client streams its request.
    pub client_streaming: bool,
    /// REST bindings.
    pub http: Vec<HttpBinding>,
}

/// The public API surface.
#[derive(Debug)]
pub struct Catalog {
    /// Public methods by gRPC path.
    pub methods: HashMap<String, Arc<PublicMethod>>,
    /// Public services by full name.
    pub services: BTreeSet<String>,
    /// The descriptor set trimmed to public services and methods, for reflection.
    pub reflection_descriptors: Vec<u8>,
}

fn http_rule(msg: &DynamicMessage, out: &mut Vec<HttpBinding>) {
    let text = |name: &str| {
        msg.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let body = text("body");
    let response_body = text("response_body");
    for (field, verb) in [
        ("get", http::Method::GET),
        ("put", http::Method::PUT),
        ("post", http::Method::POST),
        ("delete", http::Method::DELETE),
        ("patch", http::Method::PATCH),
    ] {
        if msg.has_field_by_name(field) {
            out.push(HttpBinding {
                method: verb,
                template: text(field),
                body: body.clone(),
                response_body: response_body.clone(),
            });
        }
    }
    if let Some(v) = msg.get_field_by_name("additional_bindings")
        && let Some(list) = v.as_list()
    {
        for item in list {
            if let Value::Message(m) = item {
                http_rule(m, out);
            }
        }
    }
}

fn bindings(method: &MethodDescriptor) -> Vec<HttpBinding> {
    let Some(ext) = proto_json::pool().get_extension_by_name("google.api.http") else {
        return Vec::new();
    };
    let options = method.options();
    if !options.has_extension(&ext) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Value::Message(rule) = options.get_extension(&ext).as_ref() {
        http_rule(rule, &mut out);
    }
    out
}

impl Catalog {
    /// Builds the catalog from the compiled descriptors.
    pub fn build() -> anyhow::Result<Self> {
        let pool = proto_json::pool();
        let mut methods = HashMap::new();
        let mut services = BTreeSet::new();
        for service in pool.services() {
            let Some(owner) = ServiceName::for_package(service.package_name()) else {
                continue;
            };
            for method in service.methods() {
                let http = bindings(&method);
                if http.is_empty() {
                    continue;
                }
                let path = format!("/{}/{}", service.full_name(), method.name());
                services.insert(service.full_name().to_string());
                methods.insert(
                    path.clone(),
                    Arc::new(PublicMethod {
                        path,
                        owner,
                        input: method.input(),
                        output: method.output(),
                        server_streaming: method.is_server_streaming(),
                        client_streaming: method.is_client_streaming(),
                        http,
                    }),
                );
            }
        }
        // Trim the descriptor set for reflection: keep every file (messages are
        // needed to describe the public ones), but only public services/methods.
        let mut fds = prost_types::FileDescriptorSet::decode(scout_proto::FILE_DESCRIPTOR_SET)?;
        for file in &mut fds.file {
            let package = file.package().to_string();
            for svc in &mut file.service {
                let full = format!("{package}.{}", svc.name());
                svc.method
                    .retain(|m| methods.contains_key(&format!("/{full}/{}", m.name())));
            }
            file.service.retain(|s| !s.method.is_empty());
        }
        Ok(Self {
            methods,
            services,
            reflection_descriptors: fds.encode_to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_annotated_rpcs_only() {
        let c = Catalog::build().expect("catalog");
        assert!(
            c.methods
                .contains_key("/scout.render.v1.RenderService/Capabilities")
        );
        assert!(
            c.methods
                .contains_key("/scout.tasks.v1.TasksService/WatchProgress")
        );
        assert!(
            c.methods
                .contains_key("/scout.identity.v1.IdentityService/SendCode")
        );
        assert!(
            !c.methods
                .contains_key("/scout.render.v1.RenderService/Compose"),
            "internal render call exposed"
        );
        assert!(
            !c.methods
                .contains_key("/scout.tasks.v1.TasksInternalService/ReportScript"),
            "worker report exposed"
        );
        assert!(!c.services.contains("scout.vision.v1.VisionService"));
        assert_eq!(
            c.services.iter().map(String::as_str).collect::<Vec<_>>(),
            vec![
                "scout.identity.v1.IdentityAdminService",
                "scout.identity.v1.IdentityService",
                "scout.publish.v1.PublishService",
                "scout.render.v1.RenderService",
                "scout.tasks.v1.TasksAdminService",
                "scout.tasks.v1.TasksService"
            ]
        );
        let progress = &c.methods["/scout.tasks.v1.TasksService/GetProgress"];
        assert_eq!(progress.http.len(), 3, "additional bindings read");
        assert!(c.methods["/scout.tasks.v1.TasksService/WatchProgress"].server_streaming);
    }
}
