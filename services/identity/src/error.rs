//! Identity errors and their one mapping to the API error table.

use scout_common::ApiError;

/// What this service still lacks.
const MISSING: &str = "login, tokens and voice samples arrive with the identity milestone";

/// UNIMPLEMENTED for an RPC whose logic belongs to a later milestone,
/// naming the RPC and what is missing.
pub fn not_yet(rpc: &str) -> tonic::Status {
    ApiError::not_implemented(format!("{rpc} ({MISSING})")).to_status()
}
