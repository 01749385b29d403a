//! Shared plumbing for every Scout service. Services depend on this crate
//! and on `scout-proto`, never on each other.
//!
//! Its modules, lowest first; each may use only those above it in this
//! list (`tools/anatomy.py` fails on a cycle):
//!
//! - leaves: [`registry`] (the six services), [`error`] (the one error
//!   table), [`proto_json`] (proto3 JSON in the seed's REST shape),
//!   [`shutdown`], [`readiness`], [`speech`] (narration length from a
//!   voice's measured rate), [`grpc`] (outbound channels and gRPC wire
//!   helpers), [`respond`] (errors as gRPC and REST answers);
//! - [`config`] (layered config; uses `registry`), then [`telemetry`];
//! - [`adapters`] (database, cache, bus, blobs: each a production and an
//!   embedded implementation), then [`audit`] (the admin audit log's
//!   table), [`jobs`] (at-least-once jobs on the
//!   bus), [`chat`] (the OpenAI-compatible client) and [`auth`] (tokens,
//!   the service credential, the guard), then [`report`] (a worker's
//!   progress and failures, to tasks);
//! - [`server`] (one server for every service: layers, health, reflection,
//!   drain, the signed blob routes);
//! - [`service`] (the runner: what a service's `main` does) and, for
//!   tests, `testing`.

pub mod adapters;
pub mod audit;
pub mod auth;
pub mod chat;
pub mod config;
pub mod error;
pub mod grpc;
pub mod jobs;
pub mod paging;
pub mod proto_json;
pub mod readiness;
pub mod registry;
pub mod report;
pub mod respond;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod speech;
pub mod telemetry;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ApiError, ErrorCode};
pub use registry::ServiceName;
