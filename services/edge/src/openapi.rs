//! The REST API's OpenAPI 3.1 document, generated from the protos.
//!
//! Nothing here is written by hand per route: every path comes from a
//! `google.api.http` binding in the catalog, every schema from a message
//! descriptor, every description from the proto comments. The schemas say
//! what the bridge writes ([`scout_common::proto_json`]): snake_case names,
//! 64-bit integers as numbers, enums by their short lowercase names (null
//! for unset), timestamps as RFC 3339 strings; each answer in seed 000's
//! envelope, `data` being the binding's `response_body` field or the whole
//! response. `GET /api/v1/openapi.json` serves it, and `docs/openapi.json`
//! is the checked-in copy (`scout openapi` prints it; a test fails when the
//! copy is stale).

use std::collections::{BTreeMap, BTreeSet};

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use scout_common::auth::{Access, access};
use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, HttpBinding, PublicMethod};

/// The leading comment of the element at `path` in its file, tidied.
fn comment(file: &prost_reflect::FileDescriptor, path: &[i32]) -> Option<String> {
    let info = file.file_descriptor_proto().source_code_info.as_ref()?;
    let loc = info.location.iter().find(|l| l.path == path)?;
    let text = loc.leading_comments();
    let text = text
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_string();
    (!text.is_empty()).then_some(text)
}

/// Schema names: `scout.tasks.v1.Task` → `tasks.v1.Task`.
fn schema_name(full: &str) -> String {
    full.strip_prefix("scout.").unwrap_or(full).to_string()
}

fn reference(full: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{}", schema_name(full))})
}

/// Collects the schemas of messages as they are reached.
#[derive(Default)]
struct Schemas {
    done: BTreeMap<String, Value>,
    seen: BTreeSet<String>,
}

impl Schemas {
    /// The schema of one value of `field` (not its repetition).
    fn value(&mut self, kind: &Kind) -> Value {
        match kind {
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int32", "minimum": 0})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "integer", "format": "int64"})
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({"type": "integer", "format": "int64", "minimum": 0})
            }
            Kind::Float => json!({"type": "number", "format": "float"}),
            Kind::Double => json!({"type": "number", "format": "double"}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
            Kind::Enum(e) => {
                let mut names: Vec<Value> = e
                    .values()
                    .filter(|v| v.number() != 0)
                    .filter_map(|v| scout_common::proto_json::enum_short_name(e, v.number()))
                    .map(Value::String)
                    .collect();
                names.push(Value::Null);
                json!({"type": ["string", "null"], "enum": names})
            }
            Kind::Message(m) => match m.full_name() {
                "google.protobuf.Timestamp" => {
                    json!({"type": ["string", "null"], "format": "date-time"})
                }
                "google.protobuf.Duration" => json!({"type": ["string", "null"]}),
                "google.protobuf.Struct" => json!({"type": ["object", "null"]}),
                "google.protobuf.Value" => json!({}),
                full => {
                    self.message(m);
                    json!({"anyOf": [reference(full), {"type": "null"}]})
                }
            },
        }
    }

    /// The schema of a field: its value, a list of them, or a map.
    fn field(&mut self, field: &FieldDescriptor) -> Value {
        let mut schema = if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return json!({});
            };
            let value_field = entry.map_entry_value_field();
            json!({"type": "object", "additionalProperties": self.value(&value_field.kind())})
        } else if field.is_list() {
            json!({"type": "array", "items": self.value(&field.kind())})
        } else {
            let mut v = self.value(&field.kind());
            if field.supports_presence()
                && !matches!(field.kind(), Kind::Message(_) | Kind::Enum(_))
                && let Some(Value::String(t)) = v.get("type").cloned()
            {
                // `optional` scalars: null or absent for "not given".
                v["type"] = json!([t, "null"]);
            }
            v
        };
        if let Some(text) = comment(&field.parent_file(), field.path())
            && let Value::Object(map) = &mut schema
        {
            map.insert("description".into(), Value::String(text));
        }
        schema
    }

    /// Registers `msg` (and what it reaches) under components.
    fn message(&mut self, msg: &MessageDescriptor) {
        self.message_except(msg, &[]);
    }

    /// The object schema of `msg` without the fields named in `skip`
    /// (path variables), registered when `skip` is empty.
    fn message_except(&mut self, msg: &MessageDescriptor, skip: &[String]) -> Value {
        if skip.is_empty() && !self.seen.insert(msg.full_name().to_string()) {
            return reference(msg.full_name());
        }
        let mut properties = Map::new();
        for field in msg.fields() {
            if skip.iter().any(|s| s == field.name()) {
                continue;
            }
            properties.insert(field.name().to_string(), self.field(&field));
        }
        let mut schema = json!({"type": "object", "properties": properties});
        if let Some(text) = comment(&msg.parent_file(), msg.path()) {
            schema["description"] = Value::String(text);
        }
        if skip.is_empty() {
            self.done
                .insert(schema_name(msg.full_name()), schema.clone());
        }
        schema
    }

    /// The schema of a response's `data`: the whole message or one field.
    fn data(&mut self, msg: &MessageDescriptor, response_body: &str) -> Value {
        match msg.get_field_by_name(response_body) {
            Some(field) if !response_body.is_empty() => self.field(&field),
            _ => {
                self.message(msg);
                reference(msg.full_name())
            }
        }
    }
}

/// Path variables of a template, in order: `/tasks/{task_id}` → `task_id`.
fn path_vars(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|s| s.split('=').next().unwrap_or(s).to_string())
        .collect()
}

/// One operation of one binding.
fn operation(
    schemas: &mut Schemas,
    rpc: &PublicMethod,
    method: &prost_reflect::MethodDescriptor,
    binding: &HttpBinding,
    operation_id: String,
) -> Value {
    let vars = path_vars(&binding.template);
    let mut parameters = Vec::new();
    for var in &vars {
        let schema = rpc
            .input
            .get_field_by_name(var)
            .map(|f| schemas.field(&f))
            .unwrap_or_else(|| json!({"type": "string"}));
        parameters.push(json!({"name": var, "in": "path", "required": true, "schema": schema}));
    }
    if binding.body.is_empty() {
        // Every other scalar field is a query parameter.
        for field in rpc.input.fields() {
            if vars.iter().any(|v| v == field.name()) || matches!(field.kind(), Kind::Message(_)) {
                continue;
            }
            let mut schema = schemas.field(&field);
            let description = schema.as_object_mut().and_then(|m| m.remove("description"));
            let mut param =
                json!({"name": field.name(), "in": "query", "required": false, "schema": schema});
            if field.is_list() {
                param["style"] = json!("form");
                param["explode"] = json!(true);
            }
            if let Some(d) = description {
                param["description"] = d;
            }
            parameters.push(param);
        }
    }
    let mut op = json!({
        "operationId": operation_id,
        "tags": [method.parent_service().name()],
        "parameters": parameters,
    });
    if let Some(text) = comment(&method.parent_file(), method.path()) {
        let summary = text
            .split(". ")
            .next()
            .unwrap_or(&text)
            .trim_end_matches('.');
        op["summary"] = json!(summary);
        op["description"] = json!(text);
    }
    if !binding.body.is_empty() {
        let body = if binding.body == "*" {
            schemas.message_except(&rpc.input, &vars)
        } else {
            rpc.input
                .get_field_by_name(&binding.body)
                .map(|f| schemas.field(&f))
                .unwrap_or_else(|| json!({}))
        };
        op["requestBody"] =
            json!({"required": false, "content": {"application/json": {"schema": body}}});
    }
    let data = schemas.data(&rpc.output, &binding.response_body);
    let envelope = json!({
        "type": "object",
        "required": ["code", "message", "data"],
        "properties": {
            "code": {"type": "integer", "const": 0},
            "message": {"type": "string"},
            "data": data,
        },
    });
    let success = if rpc.server_streaming {
        json!({
            "description": "Server-sent events: one `data:` line per message, each the envelope below; \
                            an `event: error` carries an error envelope.",
            "content": {"text/event-stream": {"schema": {"type": "string"}, "x-event-schema": envelope}},
        })
    } else {
        json!({"description": "Success.", "content": {"application/json": {"schema": envelope}}})
    };
    let error = json!({"$ref": "#/components/responses/Error"});
    op["responses"] = json!({"200": success, "4XX": error, "5XX": error});
    op["security"] = match access(&rpc.path) {
        Access::Open => json!([]),
        _ => json!([{"bearerAuth": []}]),
    };
    op
}

/// The whole document.
pub fn document(catalog: &Catalog) -> Value {
    let mut schemas = Schemas::default();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut methods: Vec<_> = catalog.methods.values().collect();
    methods.sort_by(|a, b| a.path.cmp(&b.path));
    let pool = scout_common::proto_json::pool();
    let mut tags = BTreeMap::new();
    for rpc in methods {
        let Some(method) = rpc
            .path
            .trim_start_matches('/')
            .split_once('/')
            .and_then(|(svc, m)| {
                pool.get_service_by_name(svc)
                    .and_then(|s| s.methods().find(|x| x.name() == m))
            })
        else {
            continue;
        };
        let service = method.parent_service();
        tags.entry(service.name().to_string())
            .or_insert_with(|| comment(&service.parent_file(), service.path()).unwrap_or_default());
        for (i, binding) in rpc.http.iter().enumerate() {
            let id = if i == 0 {
                method.name().to_string()
            } else {
                format!("{}{}", method.name(), i + 1)
            };
            let op = operation(&mut schemas, rpc, &method, binding, id);
            paths
                .entry(binding.template.clone())
                .or_default()
                .insert(binding.method.as_str().to_ascii_lowercase(), op);
        }
    }
    let tags: Vec<Value> = tags
        .into_iter()
        .map(|(name, description)| json!({"name": name, "description": description}))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Shop Video Scout (探店宝) API",
            "version": "v1",
            "description": "The REST API of seed 000 §6, generated from Scout's protos and their \
                google.api.http annotations. Every answer is the envelope {code, message, data}; \
                errors are {code, message, details} with the business codes of §6.1. The same \
                RPCs answer native gRPC and grpc-web on the same port.",
        },
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "responses": {
                "Error": {
                    "description": "An error in seed 000's envelope.",
                    "headers": {
                        "Retry-After": {
                            "description": "Seconds to wait, on 429 and 503.",
                            "schema": {"type": "integer"},
                        },
                    },
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "integer", "minimum": 40000, "maximum": 59999,
                                 "description": "Business code (seed 000 §6.1)."},
                        "message": {"type": "string"},
                        "details": {"type": "object", "properties": {"reason": {"type": "string"}},
                                    "additionalProperties": true},
                    },
                },
            },
        },
    })
    .as_object()
    .cloned()
    .map(|mut doc| {
        if let Some(Value::Object(s)) = doc
            .get_mut("components")
            .and_then(|c| c.get_mut("schemas"))
        {
            for (name, schema) in std::mem::take(&mut schemas.done) {
                s.insert(name, schema);
            }
        }
        Value::Object(doc)
    })
    .unwrap_or(Value::Null)
}

/// The document as served and checked in: pretty JSON and a newline.
pub fn render(catalog: &Catalog) -> String {
    let mut text = serde_json::to_string_pretty(&document(catalog)).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_its_envelope() {
        let catalog = Catalog::build().expect("catalog");
        let doc = document(&catalog);
        let bindings: usize = catalog.methods.values().map(|m| m.http.len()).sum();
        let operations: usize = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|p| p.as_object().map_or(0, Map::len))
            .sum();
        assert_eq!(operations, bindings);
        let create = &doc["paths"]["/api/v1/tasks"]["post"];
        assert_eq!(create["operationId"], "CreateTask");
        // response_body: data is the task itself.
        let data = &create["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
            ["data"];
        assert_eq!(
            data["anyOf"][0]["$ref"], "#/components/schemas/tasks.v1.Task",
            "{data}"
        );
        let task = &doc["components"]["schemas"]["tasks.v1.Task"];
        assert_eq!(task["properties"]["id"]["type"], "integer");
        assert!(
            task["properties"]["status"]["enum"]
                .as_array()
                .is_some_and(|e| e.contains(&json!("created")))
        );
        // Path variables are parameters, not body fields.
        let compose = &doc["paths"]["/api/v1/tasks/{task_id}/compose"]["post"];
        assert_eq!(compose["parameters"][0]["name"], "task_id");
        let body = &compose["requestBody"]["content"]["application/json"]["schema"];
        assert!(body["properties"].get("task_id").is_none(), "{body}");
        assert_eq!(
            body["properties"]["voice_sample_id"]["type"],
            json!(["integer", "null"])
        );
        // Auth routes need no token; the rest do.
        assert_eq!(
            doc["paths"]["/api/v1/auth/login"]["post"]["security"],
            json!([])
        );
        assert_eq!(
            doc["paths"]["/api/v1/users/me"]["get"]["security"],
            json!([{"bearerAuth": []}])
        );
        assert!(
            create["summary"]
                .as_str()
                .is_some_and(|s| s.contains("shop")),
            "comments become descriptions: {create}"
        );
    }

    /// `docs/openapi.json` is what the protos generate. With
    /// `UPDATE_OPENAPI=1` the test rewrites it instead.
    #[test]
    fn the_checked_in_document_is_current() {
        let catalog = Catalog::build().expect("catalog");
        let fresh = render(&catalog);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &fresh).expect("write docs/openapi.json");
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == fresh,
            "docs/openapi.json is stale: regenerate it with \
             `UPDATE_OPENAPI=1 cargo nextest run -p scout-edge the_checked_in_document_is_current` \
             or `scout openapi > docs/openapi.json`"
        );
    }
}
