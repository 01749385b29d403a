//! The task state machine of seed 000 §4.3, in one place. Every status
//! change in the service goes through [`next`]; an illegal step answers
//! FAILED_PRECONDITION naming the current state and the allowed next ones.
//!
//! ```text
//! CREATED ─clip─▶ UPLOADING ─analyze─▶ ANALYZING ─script─▶ SCRIPT_READY
//!                                                            │ edit
//! COMPLETED ◀─done─ COMPOSING ◀─compose─ VOICE_SET ◀─voice─ SCRIPT_EDITED
//! FAILED: from any state but COMPLETED; retried from the step that failed.
//! ```
//!
//! Beyond the diagram, because users expect it: composing straight from
//! SCRIPT_READY or SCRIPT_EDITED uses the default voice and subtitles; a
//! completed task may be edited and composed again; deleting its last clip
//! takes an UPLOADING task back to CREATED; regenerating the script runs the
//! script step again (ANALYZING until the new script arrives). A recipe
//! without a script (music video, ad creative) composes straight from
//! UPLOADING ([`Event::ComposeMedia`]).

use crate::error::TasksError;

/// Where a task stands (stored as the lowercase name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Created,
    Uploading,
    Analyzing,
    ScriptReady,
    ScriptEdited,
    VoiceSet,
    Composing,
    Completed,
    Failed,
}

/// A step that can fail and be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Upload,
    Analyze,
    Script,
    Compose,
}

/// What happens to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A clip was confirmed.
    ClipConfirmed,
    /// The last clip was deleted.
    LastClipDeleted,
    /// The user started the analysis.
    StartAnalysis,
    /// The user started a topic short's script (no upload needed: its
    /// clips, if any, are its library).
    WriteTopic,
    /// The user asked for a new script.
    RegenerateScript,
    /// The writer delivered a script.
    ScriptReported,
    /// The user edited the script.
    EditScript,
    /// The user chose voice or subtitles.
    SetVoice,
    /// The user started composing.
    StartCompose,
    /// The user started composing a recipe without a script (music video,
    /// ad creative): straight from its uploads, or again once done.
    ComposeMedia,
    /// The render worker delivered the video.
    ComposeReported,
    /// A step failed for good.
    Fail(Step),
    /// The user retried the failed step.
    Retry(Step),
}

impl Status {
    /// Every status, in flow order.
    pub const ALL: [Status; 9] = [
        Status::Created,
        Status::Uploading,
        Status::Analyzing,
        Status::ScriptReady,
        Status::ScriptEdited,
        Status::VoiceSet,
        Status::Composing,
        Status::Completed,
        Status::Failed,
    ];

    /// The stored (and REST) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Uploading => "uploading",
            Status::Analyzing => "analyzing",
            Status::ScriptReady => "script_ready",
            Status::ScriptEdited => "script_edited",
            Status::VoiceSet => "voice_set",
            Status::Composing => "composing",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The API enum name, e.g. `SCRIPT_READY`.
    pub fn upper(self) -> String {
        self.as_str().to_ascii_uppercase()
    }

    /// The API enum value.
    pub fn api(self) -> scout_proto::scout::tasks::v1::TaskStatus {
        use scout_proto::scout::tasks::v1::TaskStatus as T;
        match self {
            Status::Created => T::Created,
            Status::Uploading => T::Uploading,
            Status::Analyzing => T::Analyzing,
            Status::ScriptReady => T::ScriptReady,
            Status::ScriptEdited => T::ScriptEdited,
            Status::VoiceSet => T::VoiceSet,
            Status::Composing => T::Composing,
            Status::Completed => T::Completed,
            Status::Failed => T::Failed,
        }
    }

    /// True while a job runs for the task (its clips must not change).
    pub fn is_busy(self) -> bool {
        matches!(self, Status::Analyzing | Status::Composing)
    }
}

impl Step {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Upload => "upload",
            Step::Analyze => "analyze",
            Step::Script => "script",
            Step::Compose => "compose",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Step> {
        [Step::Upload, Step::Analyze, Step::Script, Step::Compose]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

fn describe(event: Event) -> &'static str {
    match event {
        Event::ClipConfirmed => "add a clip",
        Event::LastClipDeleted => "remove the last clip",
        Event::StartAnalysis => "start the analysis",
        Event::WriteTopic => "write the topic short's script",
        Event::RegenerateScript => "regenerate the script",
        Event::ScriptReported => "store a script",
        Event::EditScript => "edit the script",
        Event::SetVoice => "change voice or subtitles",
        Event::StartCompose | Event::ComposeMedia => "start composing",
        Event::ComposeReported => "store the video",
        Event::Fail(_) => "fail",
        Event::Retry(_) => "retry",
    }
}

/// The status `event` leads to from `from`, if the step is legal.
pub fn target(from: Status, event: Event) -> Option<Status> {
    use Status as S;
    let editable = matches!(
        from,
        S::ScriptReady | S::ScriptEdited | S::VoiceSet | S::Completed
    );
    Some(match event {
        Event::ClipConfirmed if matches!(from, S::Created | S::Uploading) => S::Uploading,
        Event::LastClipDeleted if from == S::Uploading => S::Created,
        Event::StartAnalysis if from == S::Uploading => S::Analyzing,
        Event::WriteTopic if matches!(from, S::Created | S::Uploading) => S::Analyzing,
        Event::RegenerateScript if editable => S::Analyzing,
        Event::ScriptReported if from == S::Analyzing => S::ScriptReady,
        Event::EditScript if editable => S::ScriptEdited,
        Event::SetVoice if editable => S::VoiceSet,
        Event::StartCompose if editable => S::Composing,
        Event::ComposeMedia if matches!(from, S::Uploading | S::Completed) => S::Composing,
        Event::ComposeReported if from == S::Composing => S::Completed,
        Event::Fail(_) if !matches!(from, S::Completed | S::Failed) => S::Failed,
        Event::Retry(step) if from == S::Failed => match step {
            Step::Upload => S::Uploading,
            Step::Analyze | Step::Script => S::Analyzing,
            Step::Compose => S::Composing,
        },
        _ => return None,
    })
}

/// The statuses reachable from `from` in one step.
pub fn allowed_from(from: Status) -> Vec<Status> {
    let events = [
        Event::ClipConfirmed,
        Event::LastClipDeleted,
        Event::StartAnalysis,
        Event::RegenerateScript,
        Event::ScriptReported,
        Event::EditScript,
        Event::SetVoice,
        Event::StartCompose,
        Event::ComposeReported,
        Event::Fail(Step::Upload),
        Event::Retry(Step::Upload),
        Event::Retry(Step::Analyze),
        Event::Retry(Step::Compose),
    ];
    let mut out: Vec<Status> = Vec::new();
    for e in events {
        if let Some(to) = target(from, e)
            && !out.contains(&to)
        {
            out.push(to);
        }
    }
    out.sort_by_key(|s| Status::ALL.iter().position(|x| x == s));
    out
}

/// The next status, or FAILED_PRECONDITION naming where the task is and
/// where it may go.
pub fn next(from: Status, event: Event) -> Result<Status, TasksError> {
    target(from, event).ok_or_else(|| {
        let allowed: Vec<String> = allowed_from(from).into_iter().map(Status::upper).collect();
        TasksError::Transition {
            action: describe(event),
            current: from.upper(),
            allowed: if allowed.is_empty() {
                "nothing".to_string()
            } else {
                allowed.join(", ")
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scout_common::{ApiError, ErrorCode};

    #[test]
    fn the_happy_path_follows_the_seed_diagram() {
        let mut s = Status::Created;
        for (e, want) in [
            (Event::ClipConfirmed, Status::Uploading),
            (Event::ClipConfirmed, Status::Uploading),
            (Event::StartAnalysis, Status::Analyzing),
            (Event::ScriptReported, Status::ScriptReady),
            (Event::EditScript, Status::ScriptEdited),
            (Event::SetVoice, Status::VoiceSet),
            (Event::StartCompose, Status::Composing),
            (Event::ComposeReported, Status::Completed),
        ] {
            s = next(s, e).unwrap_or_else(|err| panic!("{e:?} from {s:?}: {err}"));
            assert_eq!(s, want);
        }
    }

    #[test]
    fn an_illegal_step_names_the_state_and_the_way_on() {
        let err =
            ApiError::from(next(Status::Created, Event::StartAnalysis).expect_err("no clip yet"));
        assert_eq!(err.code, ErrorCode::FailedPrecondition);
        assert_eq!(err.metadata["current_state"], "CREATED");
        assert_eq!(err.metadata["allowed_next"], "UPLOADING, FAILED");
        assert!(
            err.message
                .contains("cannot start the analysis while the task is CREATED")
        );
        let err =
            ApiError::from(next(Status::Completed, Event::Fail(Step::Compose)).expect_err("done"));
        assert!(err.message.contains("COMPLETED"), "{err}");
    }

    #[test]
    fn failure_from_anywhere_but_the_end_and_retry_from_the_step() {
        for s in Status::ALL {
            let failed = next(s, Event::Fail(Step::Analyze));
            assert_eq!(
                failed.is_ok(),
                !matches!(s, Status::Completed | Status::Failed),
                "{s:?}"
            );
        }
        assert_eq!(
            next(Status::Failed, Event::Retry(Step::Compose)).expect("retry"),
            Status::Composing
        );
        assert_eq!(
            next(Status::Failed, Event::Retry(Step::Script)).expect("retry"),
            Status::Analyzing
        );
        assert!(next(Status::Analyzing, Event::Retry(Step::Analyze)).is_err());
    }

    #[test]
    fn jobs_cannot_be_started_twice() {
        assert!(next(Status::Analyzing, Event::StartAnalysis).is_err());
        assert!(next(Status::Composing, Event::StartCompose).is_err());
        assert!(next(Status::Analyzing, Event::ClipConfirmed).is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}
