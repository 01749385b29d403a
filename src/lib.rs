//! The `scout` CLI's library half: the in-process mesh behind `scout up`,
//! also used by the integration tests.

pub mod client;
pub mod make;
pub mod mesh;
pub mod services;
