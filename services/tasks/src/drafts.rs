//! The editable 剪映/CapCut draft render makes beside a video, pointed at
//! the user's own drafts folder: render writes media paths relative to the
//! draft folder (JianYing's `##_draftpath_placeholder_…_##` form); a user
//! who names their drafts folder gets the paths written absolute under it,
//! as JianYing writes them for media outside a draft
//! (docs/formats/jianying-draft.md §1.4, §5). The media entries are copied
//! as they are, only the two JSON files change.

use std::io::{Read, Write};

use crate::error::TasksError;

/// What render writes for "this draft's folder".
const PLACEHOLDER: &str = "##_draftpath_placeholder_0E685133-18CE-45ED-8CB8-2904A212EC80_##";

/// A drafts folder as the user typed it (`D:\JianyingPro Drafts`,
/// `/Users/me/Movies/JianyingPro/User Data/Projects/com.lveditor.draft`),
/// with forward slashes and no trailing one; refused when it is not an
/// absolute path.
pub fn drafts_root(typed: &str) -> Result<String, TasksError> {
    let root = typed.trim().replace('\\', "/");
    let root = root.trim_end_matches('/');
    let bad = |why: &str| {
        TasksError::invalid(
            "drafts_root",
            format!("{typed:?} {why}; give the editor's drafts folder, e.g. D:/JianyingPro Drafts"),
        )
    };
    let drive = root.len() >= 2 && root.as_bytes()[0].is_ascii_alphabetic() && &root[1..2] == ":";
    if !(drive || root.starts_with('/')) {
        return Err(bad("is not an absolute path"));
    }
    if root.chars().any(char::is_control) || root.split('/').any(|part| part == "..") {
        return Err(bad("has control characters or '..'"));
    }
    if root.chars().count() > 200 {
        return Err(bad("is longer than 200 characters"));
    }
    Ok(if root.is_empty() {
        "/".into()
    } else {
        root.to_string()
    })
}

/// `zip` (a draft as render made it) with its media paths absolute under
/// `root` (from [`drafts_root`]) and its meta naming the folder it will be
/// unzipped to.
pub fn for_folder(zip: &[u8], root: &str) -> Result<Vec<u8>, TasksError> {
    let damaged = |e: &dyn std::fmt::Display| {
        TasksError::Api(scout_common::ApiError::internal(format!(
            "the stored editable draft is unreadable: {e}"
        )))
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).map_err(|e| damaged(&e))?;
    let name_of = |archive: &zip::ZipArchive<_>, i: usize| -> Result<String, TasksError> {
        match archive.name_for_index(i) {
            Some(Ok(n)) => Ok(n.into_owned()),
            Some(Err(e)) => Err(damaged(&e)),
            None => Err(damaged(&"an entry has no name")),
        }
    };
    let first = name_of(&archive, 0)?;
    let folder = first.split('/').next().unwrap_or_default().to_string();
    let at = format!("{root}/{folder}");
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::with_capacity(zip.len())));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for i in 0..archive.len() {
        let name = name_of(&archive, i)?;
        let rewrite = match name.strip_prefix(&format!("{folder}/")) {
            Some("draft_content.json") => Some(Rewrite::Content),
            Some("draft_meta_info.json") => Some(Rewrite::Meta),
            _ => None,
        };
        let Some(kind) = rewrite else {
            let entry = archive.by_index_raw(i).map_err(|e| damaged(&e))?;
            out.raw_copy_file(entry).map_err(|e| damaged(&e))?;
            continue;
        };
        let mut text = String::new();
        archive
            .by_index(i)
            .map_err(|e| damaged(&e))?
            .read_to_string(&mut text)
            .map_err(|e| damaged(&e))?;
        let text = match kind {
            // The placeholder holds no character JSON escapes; the folder
            // is put in escaped.
            Rewrite::Content => {
                let escaped = serde_json::to_string(&at).map_err(|e| damaged(&e))?;
                text.replace(PLACEHOLDER, escaped.trim_matches('"'))
            }
            Rewrite::Meta => {
                let mut meta: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| damaged(&e))?;
                meta["draft_fold_path"] = at.clone().into();
                meta["draft_root_path"] = root.into();
                meta["draft_removable_storage_device"] = match root.get(..2) {
                    Some(d) if d.ends_with(':') => d.into(),
                    _ => "".into(),
                };
                meta.to_string()
            }
        };
        out.start_file(name, deflated).map_err(|e| damaged(&e))?;
        out.write_all(text.as_bytes()).map_err(|e| damaged(&e))?;
    }
    out.finish()
        .map(std::io::Cursor::into_inner)
        .map_err(|e| damaged(&e))
}

enum Rewrite {
    Content,
    Meta,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drafts_folder_must_be_absolute() {
        assert_eq!(
            drafts_root(r"D:\JianyingPro Drafts\").ok().as_deref(),
            Some("D:/JianyingPro Drafts")
        );
        assert_eq!(
            drafts_root("/Users/me/Movies/剪映/").ok().as_deref(),
            Some("/Users/me/Movies/剪映")
        );
        for bad in ["JianyingPro Drafts", "", "D:/a/../../b", "/tmp/\u{0}x"] {
            assert!(
                matches!(drafts_root(bad), Err(TasksError::Invalid { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn paths_are_written_under_the_folder_and_media_is_copied_as_is() {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        let content = format!(
            r#"{{"materials":{{"videos":[{{"path":"{PLACEHOLDER}/materials/video/01-a.mp4"}}]}}}}"#
        );
        for (name, body) in [
            ("店/draft_content.json", content.as_bytes()),
            (
                "店/draft_meta_info.json",
                r#"{"draft_name":"店","draft_fold_path":""}"#.as_bytes(),
            ),
            (
                "店/materials/video/01-a.mp4",
                b"\x00\x00\x00\x18ftypmp42 media bytes".as_slice(),
            ),
        ] {
            zip.start_file(name, options).expect("entry");
            zip.write_all(body).expect("write");
        }
        let made = zip.finish().expect("zip").into_inner();
        let rooted = for_folder(&made, "D:/JianyingPro Drafts").expect("rooted");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(rooted)).expect("a zip");
        let mut read = |name: &str| {
            let mut s = Vec::new();
            archive
                .by_name(name)
                .expect(name)
                .read_to_end(&mut s)
                .expect("read");
            s
        };
        let content: serde_json::Value =
            serde_json::from_slice(&read("店/draft_content.json")).expect("json");
        assert_eq!(
            content["materials"]["videos"][0]["path"],
            "D:/JianyingPro Drafts/店/materials/video/01-a.mp4"
        );
        let meta: serde_json::Value =
            serde_json::from_slice(&read("店/draft_meta_info.json")).expect("json");
        assert_eq!(meta["draft_fold_path"], "D:/JianyingPro Drafts/店");
        assert_eq!(meta["draft_root_path"], "D:/JianyingPro Drafts");
        assert_eq!(meta["draft_removable_storage_device"], "D:");
        assert_eq!(
            read("店/materials/video/01-a.mp4"),
            b"\x00\x00\x00\x18ftypmp42 media bytes"
        );
        assert!(matches!(
            for_folder(b"not a zip", "/x"),
            Err(TasksError::Api(_))
        ));
    }
}
