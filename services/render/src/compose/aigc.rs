//! The implicit AI-generated-content label: container metadata saying what
//! was machine-made, by whom, under which content id. The tag follows
//! GB 45438-2025 (the national standard behind China's AIGC labelling
//! rules): an `AIGC` key whose value is JSON with `Label` ("1": generated
//! by AI), `ContentProducer`, `ProduceID` and the propagation fields a
//! platform fills in later. A `comment` says the same in words for players
//! that show only the standard keys. The visible label is an ASS event
//! (`subtitles::write_ass_with_mark`).

use scout_proto::scout::render::v1::AigcLabel;

/// The metadata keys and values for `label`, in the order they are written.
pub fn metadata(label: &AigcLabel) -> Vec<(String, String)> {
    let aigc = serde_json::json!({
        "Label": "1",
        "ContentProducer": label.producer,
        "ProduceID": label.content_id,
        "ReservedCode1": label.generated.join(","),
        "ContentPropagator": "",
        "PropagateID": "",
        "ReservedCode2": "",
    });
    let what = if label.generated.is_empty() {
        "content".to_string()
    } else {
        label.generated.join(", ")
    };
    vec![
        ("AIGC".to_string(), aigc.to_string()),
        (
            "comment".to_string(),
            format!("AI生成 / AI-generated ({what}) by {}", label.producer),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_names_what_was_generated() {
        let m = metadata(&AigcLabel {
            producer: "Shop Video Scout".into(),
            content_id: "scout-task-7-abc".into(),
            generated: vec!["script".into(), "voice".into()],
            mark: None,
        });
        let aigc: serde_json::Value = serde_json::from_str(&m[0].1).expect("json");
        assert_eq!(m[0].0, "AIGC");
        assert_eq!(aigc["Label"], "1");
        assert_eq!(aigc["ContentProducer"], "Shop Video Scout");
        assert_eq!(aigc["ProduceID"], "scout-task-7-abc");
        assert_eq!(aigc["ReservedCode1"], "script,voice");
        assert!(m[1].1.contains("script, voice"), "{}", m[1].1);
    }
}
