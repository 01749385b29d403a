//! Proto3 JSON for Scout's messages, in the shape seed 000's REST API uses.
//!
//! This is the canonical proto3 JSON mapping with three choices made for
//! REST clients: field names stay snake_case (`access_token`, not
//! `accessToken`); 64-bit integers are numbers, not strings; enum values are
//! the short lowercase names (`"shop_type": "food"` for `SHOP_TYPE_FOOD`),
//! with the zero `*_UNSPECIFIED` value written as `null`. Input accepts the
//! short names, the full names and numbers. Default values are always
//! written, so every field of the contract is present in an answer.

use std::sync::OnceLock;

use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, EnumDescriptor, FieldDescriptor, Kind,
    MessageDescriptor, ReflectMessage, SerializeOptions,
};
use serde_json::Value;

/// Every Scout message and service, decoded once.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        // The descriptor set is generated at build time from our own protos;
        // failing to decode it is a build defect, not a runtime condition.
        #[allow(clippy::expect_used)]
        DescriptorPool::decode(scout_proto::FILE_DESCRIPTOR_SET)
            .expect("scout descriptor set decodes")
    })
}

/// A protobuf timestamp of a UTC time as stored (naive, UTC).
pub fn timestamp(t: chrono::NaiveDateTime) -> prost_types::Timestamp {
    let utc = t.and_utc();
    prost_types::Timestamp {
        seconds: utc.timestamp(),
        nanos: utc.timestamp_subsec_nanos() as i32,
    }
}

/// True when a method has a `google.api.http` route, i.e. is public.
pub fn has_http_binding(method: &prost_reflect::MethodDescriptor) -> bool {
    pool()
        .get_extension_by_name("google.api.http")
        .is_some_and(|ext| method.options().has_extension(&ext))
}

/// The descriptor of a message by full name, e.g. `scout.render.v1.Timeline`.
pub fn message_descriptor(full_name: &str) -> Result<MessageDescriptor, String> {
    pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| format!("unknown message type {full_name}"))
}

/// The `SHOP_TYPE_` prefix of an enum named `ShopType`.
fn enum_prefix(e: &EnumDescriptor) -> String {
    let mut out = String::new();
    for (i, ch) in e.name().chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out.push('_');
    out
}

/// Short lowercase name of an enum value; `None` for the zero value.
pub fn enum_short_name(e: &EnumDescriptor, number: i32) -> Option<String> {
    if number == 0 {
        return None;
    }
    let value = e.get_value(number)?;
    let prefix = enum_prefix(e);
    Some(
        value
            .name()
            .strip_prefix(&prefix)
            .unwrap_or(value.name())
            .to_ascii_lowercase(),
    )
}

/// A generated enum whose values have short names in the API (`food` for
/// `SHOP_TYPE_FOOD`): the one conversion between the enums and the short
/// names that REST, the database and config use.
pub trait ShortName: Sized + Copy + 'static {
    /// The enum's full proto name, e.g. `scout.common.v1.ShopType`.
    const FULL_NAME: &'static str;
    /// The generated upper-case value name (`SHOP_TYPE_FOOD`).
    fn upper_name(self) -> &'static str;
    /// The value of a generated upper-case name.
    fn from_upper_name(name: &str) -> Option<Self>;
}

macro_rules! short_names {
    ($($ty:ty => $full:literal),* $(,)?) => {
        $(impl ShortName for $ty {
            const FULL_NAME: &'static str = $full;
            fn upper_name(self) -> &'static str {
                self.as_str_name()
            }
            fn from_upper_name(name: &str) -> Option<Self> {
                <$ty>::from_str_name(name)
            }
        })*
    };
}

short_names! {
    scout_proto::scout::common::v1::ShopType => "scout.common.v1.ShopType",
    scout_proto::scout::common::v1::VideoStyle => "scout.common.v1.VideoStyle",
    scout_proto::scout::common::v1::SubtitleStyle => "scout.common.v1.SubtitleStyle",
    scout_proto::scout::common::v1::ShotCategory => "scout.common.v1.ShotCategory",
    scout_proto::scout::identity::v1::Membership => "scout.identity.v1.Membership",
}

/// The `SHOP_TYPE_` prefix of `E`'s values.
fn prefix_of<E: ShortName>() -> String {
    pool()
        .get_enum_by_name(E::FULL_NAME)
        .map(|e| enum_prefix(&e))
        .unwrap_or_default()
}

/// The short name of a value (`ShopType::Food` → `food`); `None` for the
/// zero (`*_UNSPECIFIED`) value.
pub fn short_name<E: ShortName>(value: E) -> Option<String> {
    let upper = value.upper_name();
    if upper.ends_with("_UNSPECIFIED") {
        return None;
    }
    let prefix = prefix_of::<E>();
    Some(
        upper
            .strip_prefix(&prefix)
            .unwrap_or(upper)
            .to_ascii_lowercase(),
    )
}

/// The value of a short name (`food` → `ShopType::Food`), case-insensitive.
pub fn from_short_name<E: ShortName>(name: &str) -> Option<E> {
    E::from_upper_name(&format!(
        "{}{}",
        prefix_of::<E>(),
        name.to_ascii_uppercase()
    ))
}

fn field_kinds(field: &FieldDescriptor) -> Kind {
    if field.is_map() {
        // A map is a repeated entry message; what matters is its value.
        if let Kind::Message(entry) = field.kind()
            && let Some(v) = entry.get_field_by_name("value")
        {
            return v.kind();
        }
    }
    field.kind()
}

/// Rewrites enum values in `value` (JSON of a `desc` message) with `f`.
fn walk(desc: &MessageDescriptor, value: &mut Value, f: &dyn Fn(&EnumDescriptor, &mut Value)) {
    let Value::Object(map) = value else { return };
    for (name, v) in map.iter_mut() {
        let Some(field) = desc
            .get_field_by_name(name)
            .or_else(|| desc.get_field_by_json_name(name))
        else {
            continue;
        };
        let kind = field_kinds(&field);
        let apply = |item: &mut Value| match &kind {
            Kind::Enum(e) => f(e, item),
            Kind::Message(m) => walk(m, item, f),
            _ => {}
        };
        if field.is_map() {
            if let Value::Object(entries) = v {
                entries.values_mut().for_each(apply);
            }
        } else if field.is_list() {
            if let Value::Array(items) = v {
                items.iter_mut().for_each(apply);
            }
        } else {
            apply(v);
        }
    }
}

/// Parses JSON into a message of type `desc`. Errors name the offending
/// field or value.
pub fn message_from_json(
    desc: &MessageDescriptor,
    mut value: Value,
) -> Result<DynamicMessage, String> {
    walk(desc, &mut value, &|e: &EnumDescriptor, v: &mut Value| {
        let full = match &*v {
            Value::String(s) if e.get_value_by_name(s).is_none() => {
                format!("{}{}", enum_prefix(e), s.to_ascii_uppercase())
            }
            _ => return,
        };
        if e.get_value_by_name(&full).is_some() {
            *v = Value::String(full);
        }
    });
    let opts = DeserializeOptions::new().deny_unknown_fields(true);
    // Track where in the document an error happens, so it names the field.
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(value, &mut track);
    DynamicMessage::deserialize_with_options(desc.clone(), de, &opts).map_err(|e| {
        let path = track.path().to_string();
        if path.is_empty() || path == "." {
            e.to_string()
        } else {
            format!("{path}: {e}")
        }
    })
}

/// Writes a message as JSON.
pub fn message_to_json(msg: &DynamicMessage) -> Value {
    let opts = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .stringify_64_bit_integers(false)
        .use_enum_numbers(true);
    let mut value = match msg.serialize_with_options(serde_json::value::Serializer, &opts) {
        Ok(v) => v,
        Err(e) => Value::String(format!("unserializable message: {e}")),
    };
    walk(
        &msg.descriptor(),
        &mut value,
        &|e: &EnumDescriptor, v: &mut Value| {
            if let Some(n) = v.as_i64() {
                *v = enum_short_name(e, n as i32)
                    .map(Value::String)
                    .unwrap_or(Value::Null);
            }
        },
    );
    value
}

/// Decodes protobuf bytes of type `desc` and writes them as JSON.
pub fn bytes_to_json(desc: &MessageDescriptor, bytes: &[u8]) -> Result<Value, String> {
    DynamicMessage::decode(desc.clone(), bytes)
        .map(|m| message_to_json(&m))
        .map_err(|e| e.to_string())
}

/// Parses JSON into a generated (prost) message whose proto type is `full_name`.
pub fn from_json<M: prost::Message + Default>(full_name: &str, value: Value) -> Result<M, String> {
    let desc = message_descriptor(full_name)?;
    let dynamic = message_from_json(&desc, value)?;
    let bytes = prost::Message::encode_to_vec(&dynamic);
    M::decode(bytes.as_slice()).map_err(|e| e.to_string())
}

/// Writes a generated (prost) message whose proto type is `full_name` as JSON.
pub fn to_json<M: prost::Message>(full_name: &str, msg: &M) -> Result<Value, String> {
    let desc = message_descriptor(full_name)?;
    bytes_to_json(&desc, &msg.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_proto::scout::common::v1::{ShopType, ShotCategory, SubtitleStyle, VideoStyle};
    use scout_proto::scout::identity::v1::Membership;
    use scout_proto::scout::tasks::v1::{CreateTaskRequest, Task, TaskStatus};

    fn round_trips<E: ShortName + PartialEq + std::fmt::Debug>(values: &[E], names: &[&str]) {
        assert!(
            pool().get_enum_by_name(E::FULL_NAME).is_some(),
            "{}",
            E::FULL_NAME
        );
        for (v, n) in values.iter().zip(names) {
            assert_eq!(short_name(*v).as_deref(), Some(*n));
            assert_eq!(from_short_name::<E>(n), Some(*v));
        }
    }

    #[test]
    fn short_names_of_generated_enums() {
        round_trips(
            &[ShopType::Food, ShopType::Entertainment],
            &["food", "entertainment"],
        );
        round_trips(&[VideoStyle::Vlog], &["vlog"]);
        round_trips(&[SubtitleStyle::DouyinHot], &["douyin_hot"]);
        round_trips(&[ShotCategory::Environment], &["environment"]);
        round_trips(&[Membership::Pro], &["pro"]);
        assert_eq!(short_name(ShopType::Unspecified), None);
        assert_eq!(from_short_name::<ShopType>("FOOD"), Some(ShopType::Food));
        assert_eq!(from_short_name::<ShopType>("cafe"), None);
    }

    #[test]
    fn enums_use_short_lowercase_names_both_ways() {
        let req: CreateTaskRequest = from_json(
            "scout.tasks.v1.CreateTaskRequest",
            serde_json::json!({"shop_name": "海底捞", "shop_type": "food", "video_style": "VIDEO_STYLE_VLOG"}),
        )
        .expect("parses");
        assert_eq!(req.shop_type, 1);
        assert_eq!(req.video_style, 3);
        let task = Task {
            id: 12345,
            status: TaskStatus::ScriptReady as i32,
            ..Task::default()
        };
        let json = to_json("scout.tasks.v1.Task", &task).expect("writes");
        assert_eq!(
            json["id"],
            serde_json::json!(12345),
            "64-bit ids are numbers"
        );
        assert_eq!(json["status"], serde_json::json!("script_ready"));
        assert_eq!(
            json["voice"],
            serde_json::Value::Null,
            "unset message is null"
        );
        assert_eq!(
            json["regenerate_remaining"],
            serde_json::json!(0),
            "defaults are written"
        );
    }

    #[test]
    fn unknown_fields_and_bad_enums_are_named() {
        let err = from_json::<CreateTaskRequest>(
            "scout.tasks.v1.CreateTaskRequest",
            serde_json::json!({"shop_nam": "x"}),
        )
        .expect_err("unknown field refused");
        assert!(err.contains("shop_nam"), "{err}");
        let err = from_json::<CreateTaskRequest>(
            "scout.tasks.v1.CreateTaskRequest",
            serde_json::json!({"shop_type": "bakery"}),
        )
        .expect_err("bad enum refused");
        assert!(err.contains("bakery"), "{err}");
        let err = from_json::<scout_proto::scout::tasks::v1::GetTaskRequest>(
            "scout.tasks.v1.GetTaskRequest",
            serde_json::json!({"task_id": "x1"}),
        )
        .expect_err("bad number refused");
        assert!(err.starts_with("task_id: "), "{err}");
    }
}
