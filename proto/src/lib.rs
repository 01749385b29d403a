//! The Scout API contracts: prost messages and tonic services generated from
//! `proto/`, plus the encoded descriptor set used for reflection and for the
//! edge's REST bridge.

#![allow(clippy::all, missing_docs, unreachable_pub)]

include!(concat!(env!("OUT_DIR"), "/mod.rs"));

/// Every Scout proto file (and its imports) as an encoded `FileDescriptorSet`.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/scout_descriptor.bin"));

/// Proto package names, one per service and version.
pub mod packages {
    /// Identity: login, tokens, profile, voice samples.
    pub const IDENTITY: &str = "scout.identity.v1";
    /// Tasks: the task state machine, uploads, scripts, outputs.
    pub const TASKS: &str = "scout.tasks.v1";
    /// Vision: shot analysis and script writing.
    pub const VISION: &str = "scout.vision.v1";
    /// Render: the media node.
    pub const RENDER: &str = "scout.render.v1";
    /// Publish: topics, titles, publishing.
    pub const PUBLISH: &str = "scout.publish.v1";
    /// Job payloads on the bus.
    pub const JOBS: &str = "scout.jobs.v1";
}
