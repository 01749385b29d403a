//! Shared plumbing for every Scout service: configuration, telemetry,
//! serving, the error table, outbound gRPC, the storage and bus adapters and
//! the job runner. Services depend on this crate and on `scout-proto`, never
//! on each other.

pub mod adapters;
pub mod auth;
pub mod chat;
pub mod config;
pub mod error;
pub mod grpc;
pub mod jobs;
pub mod proto_json;
pub mod server;
pub mod service;
pub mod telemetry;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ApiError, ErrorCode};
