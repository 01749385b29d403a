//! The one error table: every business code (seed 000 §6.1) maps once to a
//! gRPC status code and an HTTP status. Services build an [`ApiError`] and
//! turn it into a `tonic::Status` carrying a `google.rpc.ErrorInfo` detail
//! (`reason`, domain `scout`, metadata `code`); the edge's REST bridge reads
//! the same detail back and answers the seed envelope with the same code.

use std::collections::HashMap;
use std::time::Duration;

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

pub use scout_proto::scout::common::v1::ErrorCode;

/// The `ErrorInfo.domain` of every Scout error.
pub const ERROR_DOMAIN: &str = "scout";

/// How one business code travels over gRPC and HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorSpec {
    /// The gRPC status code.
    pub grpc: Code,
    /// The HTTP status for REST.
    pub http: u16,
}

/// The table. Exhaustive over [`ErrorCode`], so a new code cannot be added
/// to the proto without deciding its gRPC and HTTP mapping here.
pub fn spec(code: ErrorCode) -> ErrorSpec {
    use ErrorCode as E;
    let (grpc, http) = match code {
        E::Unspecified => (Code::Ok, 200),
        E::InvalidPhone | E::InvalidSmsCode | E::SmsCodeExpired => (Code::InvalidArgument, 400),
        E::TokenMissing | E::TokenInvalid | E::TokenExpired | E::TokenRevoked => {
            (Code::Unauthenticated, 401)
        }
        E::PhoneLocked => (Code::ResourceExhausted, 429),
        E::PermissionDenied | E::MembershipRequired => (Code::PermissionDenied, 403),
        E::InvalidArgument | E::InvalidMedia | E::MalformedRequest => (Code::InvalidArgument, 400),
        E::PayloadTooLarge => (Code::ResourceExhausted, 413),
        E::UnsupportedMediaType => (Code::InvalidArgument, 415),
        E::NotFound => (Code::NotFound, 404),
        E::UnknownRoute => (Code::Unimplemented, 404),
        E::AlreadyExists => (Code::AlreadyExists, 409),
        E::FailedPrecondition => (Code::FailedPrecondition, 409),
        E::QuotaExceeded => (Code::ResourceExhausted, 429),
        E::RateLimited => (Code::ResourceExhausted, 429),
        E::Internal => (Code::Internal, 500),
        E::NotImplemented => (Code::Unimplemented, 501),
        E::DeadlineExceeded => (Code::DeadlineExceeded, 504),
        E::Cancelled => (Code::Cancelled, 503),
        E::ServiceUnavailable | E::StorageUnavailable | E::ProviderRateLimited => {
            (Code::Unavailable, 503)
        }
        E::ProviderFailed => (Code::Unavailable, 502),
    };
    ErrorSpec { grpc, http }
}

/// The business code for a bare gRPC status that carries no Scout detail
/// (e.g. one produced by the transport).
pub fn code_for_grpc(code: Code) -> ErrorCode {
    use ErrorCode as E;
    match code {
        Code::Ok => E::Unspecified,
        Code::InvalidArgument | Code::OutOfRange => E::InvalidArgument,
        Code::NotFound => E::NotFound,
        Code::AlreadyExists => E::AlreadyExists,
        Code::PermissionDenied => E::PermissionDenied,
        Code::Unauthenticated => E::TokenInvalid,
        Code::ResourceExhausted => E::RateLimited,
        Code::FailedPrecondition | Code::Aborted => E::FailedPrecondition,
        Code::Unimplemented => E::NotImplemented,
        Code::DeadlineExceeded => E::DeadlineExceeded,
        Code::Cancelled => E::Cancelled,
        Code::Unavailable => E::ServiceUnavailable,
        Code::Internal | Code::Unknown | Code::DataLoss => E::Internal,
    }
}

/// The `ErrorInfo.reason` of a code: its enum name without the prefix,
/// e.g. `INVALID_PHONE`.
pub fn reason(code: ErrorCode) -> &'static str {
    code.as_str_name().trim_start_matches("ERROR_CODE_")
}

/// An error as the API reports it: business code, message, optional field
/// name and retry hint.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// Business code.
    pub code: ErrorCode,
    /// Human-readable message; names the field or resource at fault.
    pub message: String,
    /// Extra key/value facts, e.g. `field`, `current_state`.
    pub metadata: HashMap<String, String>,
    /// When the client may retry (rate limits, locks).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            metadata: HashMap::new(),
            retry_after: None,
        }
    }

    /// An INVALID_ARGUMENT naming the field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        let message = format!("{field}: {}", message.into());
        Self::new(ErrorCode::InvalidArgument, message).with_meta("field", field)
    }

    /// A NOT_FOUND naming the resource.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, format!("{} not found", what.into()))
    }

    /// An internal error. The message is shown to the client, so it must not
    /// leak internals; log the cause where it is handled.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// An RPC that belongs to a later milestone: UNIMPLEMENTED naming what is missing.
    pub fn not_implemented(what: impl Into<String>) -> Self {
        Self::new(
            ErrorCode::NotImplemented,
            format!("not implemented yet: {}", what.into()),
        )
    }

    /// Adds a metadata fact.
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Adds a retry hint.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The table entry for this error's code.
    pub fn spec(&self) -> ErrorSpec {
        spec(self.code)
    }

    /// The gRPC status, with ErrorInfo (and RetryInfo when set) details.
    pub fn to_status(&self) -> tonic::Status {
        let mut meta = self.metadata.clone();
        meta.insert("code".into(), (self.code as i32).to_string());
        let mut details = ErrorDetails::with_error_info(reason(self.code), ERROR_DOMAIN, meta);
        if let Some(after) = self.retry_after {
            details.set_retry_info(Some(after));
        }
        tonic::Status::with_error_details(self.spec().grpc, self.message.clone(), details)
    }

    /// Reads an error back from a status: the Scout detail when present,
    /// otherwise the code table's default for the gRPC code.
    pub fn from_status(status: &tonic::Status) -> Self {
        let details = status.get_error_details();
        let mut err = ApiError::new(code_for_grpc(status.code()), status.message());
        if let Some(info) = details.error_info()
            && info.domain == ERROR_DOMAIN
        {
            if let Some(code) = info
                .metadata
                .get("code")
                .and_then(|c| c.parse::<i32>().ok())
                .and_then(|c| ErrorCode::try_from(c).ok())
            {
                err.code = code;
            }
            err.metadata = info
                .metadata
                .iter()
                .filter(|(k, _)| k.as_str() != "code")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        }
        if let Some(retry) = details.retry_info() {
            err.retry_after = retry.retry_delay;
        }
        if err.message.is_empty() {
            err.message = status.code().description().to_string();
        }
        err
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            reason(self.code),
            self.code as i32,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        e.to_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_range_consistent_http_status() {
        for value in 0..=60000 {
            let Ok(code) = ErrorCode::try_from(value) else {
                continue;
            };
            let s = spec(code);
            let range = value / 100;
            let ok = match range {
                0 => s.http == 200,
                400 => s.http == 400 || s.http == 401 || s.http == 429,
                401 => s.http == 403,
                402 => (400..500).contains(&s.http),
                403 => (400..500).contains(&s.http),
                429 => s.http == 429,
                500 => (500..600).contains(&s.http),
                503 => (500..600).contains(&s.http),
                _ => false,
            };
            assert!(ok, "{code:?} ({value}) maps to HTTP {}", s.http);
        }
    }

    #[test]
    fn status_round_trip_keeps_code_meta_and_retry() {
        let e = ApiError::invalid_field("phone", "must be 11 digits")
            .with_retry_after(Duration::from_secs(7));
        let status = e.to_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        let back = ApiError::from_status(&status);
        assert_eq!(back.code, ErrorCode::InvalidArgument);
        assert_eq!(
            back.metadata.get("field").map(String::as_str),
            Some("phone")
        );
        assert_eq!(back.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(back.message, "phone: must be 11 digits");
    }

    #[test]
    fn bare_status_maps_through_the_table() {
        let back = ApiError::from_status(&tonic::Status::unavailable("connection refused"));
        assert_eq!(back.code, ErrorCode::ServiceUnavailable);
        assert_eq!(spec(back.code).http, 503);
    }
}
