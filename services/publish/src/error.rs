//! Publish errors and their one mapping to the API error table.

use scout_common::ApiError;

/// What this service still lacks.
const MISSING: &str = "publishing to Douyin and Xiaohongshu needs their open-platform accounts and is not built yet; topics and titles are served by GetPublishAssist";

/// UNIMPLEMENTED for an RPC whose logic is not built yet, naming the RPC
/// and what is missing.
pub fn not_yet(rpc: &str) -> tonic::Status {
    ApiError::not_implemented(format!("{rpc} ({MISSING})")).to_status()
}
