//! gRPC status codes and the `Status` every call ends with.
//!
//! Two mappings live here because the runtime needs them when a call ends
//! without a `grpc-status` from the peer:
//!
//! * an HTTP status in a response that has no `grpc-status`
//!   (gRPC's `doc/http-grpc-status-mapping.md`), and
//! * an RST_STREAM error code (PROTOCOL-HTTP2.md, "Errors").

use std::fmt;

use bytes::Bytes;

use crate::Reason;

/// A gRPC status code (gRPC's `doc/statuscodes.md`).
///
/// # Codes this library produces itself
///
/// The gRPC libraries generate only a subset of the codes on their own, so an
/// application can tell a framework failure from one of its handlers' answers.
/// Ferry produces: [`Cancelled`](Code::Cancelled),
/// [`DeadlineExceeded`](Code::DeadlineExceeded),
/// [`Unimplemented`](Code::Unimplemented), [`Unavailable`](Code::Unavailable),
/// [`Unknown`](Code::Unknown), [`Internal`](Code::Internal),
/// [`ResourceExhausted`](Code::ResourceExhausted),
/// [`Unauthenticated`](Code::Unauthenticated) (and
/// [`PermissionDenied`](Code::PermissionDenied) only when translating a peer's
/// RST_STREAM(INADEQUATE_SECURITY)). `InvalidArgument`, `NotFound`,
/// `AlreadyExists`, `FailedPrecondition`, `Aborted`, `OutOfRange` and
/// `DataLoss` belong to handlers: the library never makes them up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// 0: not an error; the call succeeded.
    Ok = 0,
    /// 1: the call was cancelled, usually by the caller.
    Cancelled = 1,
    /// 2: an error with no better code (also: a status the peer sent that
    /// could not be parsed).
    Unknown = 2,
    /// 3: the caller gave an invalid argument, whatever the system state.
    InvalidArgument = 3,
    /// 4: the deadline passed before the call completed.
    DeadlineExceeded = 4,
    /// 5: a requested entity was not found.
    NotFound = 5,
    /// 6: the entity the caller tried to create already exists.
    AlreadyExists = 6,
    /// 7: the caller may not run this operation.
    PermissionDenied = 7,
    /// 8: a resource ran out (a quota, memory, a message size limit).
    ResourceExhausted = 8,
    /// 9: the system is not in the state the operation needs.
    FailedPrecondition = 9,
    /// 10: the operation was aborted, typically by a concurrency conflict.
    Aborted = 10,
    /// 11: the operation went past the valid range.
    OutOfRange = 11,
    /// 12: the method is not implemented or not supported by the server.
    Unimplemented = 12,
    /// 13: an internal invariant broke; a serious error.
    Internal = 13,
    /// 14: the service is unavailable for now; retrying may succeed.
    Unavailable = 14,
    /// 15: unrecoverable data loss or corruption.
    DataLoss = 15,
    /// 16: the request lacks valid authentication credentials.
    Unauthenticated = 16,
}

impl Code {
    /// All seventeen codes, in numeric order.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code for a number; numbers gRPC does not define become
    /// [`Code::Unknown`].
    pub const fn from_i32(value: i32) -> Code {
        if value >= 0 && value < Code::ALL.len() as i32 {
            Code::ALL[value as usize]
        } else {
            Code::Unknown
        }
    }

    /// The number carried by `grpc-status`.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }

    /// The canonical name, as the spec spells it (`"OK"`, `"CANCELLED"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// A one-line English description of the code.
    pub const fn description(self) -> &'static str {
        match self {
            Code::Ok => "the call succeeded",
            Code::Cancelled => "the call was cancelled, usually by the caller",
            Code::Unknown => "unknown error",
            Code::InvalidArgument => "the caller gave an invalid argument",
            Code::DeadlineExceeded => "the deadline passed before the call completed",
            Code::NotFound => "a requested entity was not found",
            Code::AlreadyExists => "the entity the caller tried to create already exists",
            Code::PermissionDenied => "the caller may not run this operation",
            Code::ResourceExhausted => "a resource ran out",
            Code::FailedPrecondition => "the system is not in the state the operation needs",
            Code::Aborted => "the operation was aborted",
            Code::OutOfRange => "the operation went past the valid range",
            Code::Unimplemented => "the method is not implemented by the server",
            Code::Internal => "internal error",
            Code::Unavailable => "the service is unavailable",
            Code::DataLoss => "unrecoverable data loss or corruption",
            Code::Unauthenticated => "the request lacks valid authentication credentials",
        }
    }

    /// The code for a response whose HTTP status is `status` and that carries
    /// no `grpc-status` (gRPC's `doc/http-grpc-status-mapping.md`).
    ///
    /// 200 maps to [`Code::Unknown`]: a real success always has a
    /// `grpc-status`. Use this only when `grpc-status` is absent; when present,
    /// it wins.
    pub const fn from_http_status(status: u16) -> Code {
        match status {
            400 | 431 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    /// The code for a stream the peer reset with RST_STREAM(`reason`)
    /// (PROTOCOL-HTTP2.md, "Errors").
    ///
    /// `REFUSED_STREAM` means the peer did no work: the call may be retried
    /// transparently. `NO_ERROR` maps to `INTERNAL` as grpc-go does: a
    /// finished call always sends `grpc-status`, so a reset without one lost
    /// its result.
    pub const fn from_reason(reason: Reason) -> Code {
        match reason.as_u32() {
            0x7 => Code::Unavailable,       // REFUSED_STREAM
            0x8 => Code::Cancelled,         // CANCEL
            0xb => Code::ResourceExhausted, // ENHANCE_YOUR_CALM
            0xc => Code::PermissionDenied,  // INADEQUATE_SECURITY
            _ => Code::Internal,
        }
    }

    /// The `grpc-status` header value for this code ("0" to "16").
    pub(crate) const fn header_value(self) -> &'static str {
        const VALUES: [&str; 17] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
            "16",
        ];
        VALUES[self as usize]
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Code> for i32 {
    fn from(code: Code) -> i32 {
        code.as_i32()
    }
}

impl From<i32> for Code {
    fn from(value: i32) -> Code {
        Code::from_i32(value)
    }
}

/// The outcome of a call: a code, a message and optional binary details.
///
/// `details` carries the serialized `google.rpc.Status` protobuf sent as
/// `grpc-status-details-bin`; this crate does not interpret it.
#[derive(Clone, PartialEq, Eq)]
pub struct Status {
    code: Code,
    message: String,
    details: Bytes,
}

macro_rules! code_constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// A status with a code and a message and no details.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
            details: Bytes::new(),
        }
    }

    /// A status with binary details (a serialized `google.rpc.Status`).
    pub fn with_details(
        code: Code,
        message: impl Into<String>,
        details: impl Into<Bytes>,
    ) -> Status {
        Status {
            code,
            message: message.into(),
            details: details.into(),
        }
    }

    /// The success status: `OK` with an empty message. Does not allocate.
    pub fn ok() -> Status {
        Status::new(Code::Ok, String::new())
    }

    code_constructors! {
        /// A `CANCELLED` status.
        cancelled => Cancelled,
        /// An `UNKNOWN` status.
        unknown => Unknown,
        /// An `INVALID_ARGUMENT` status.
        invalid_argument => InvalidArgument,
        /// A `DEADLINE_EXCEEDED` status.
        deadline_exceeded => DeadlineExceeded,
        /// A `NOT_FOUND` status.
        not_found => NotFound,
        /// An `ALREADY_EXISTS` status.
        already_exists => AlreadyExists,
        /// A `PERMISSION_DENIED` status.
        permission_denied => PermissionDenied,
        /// A `RESOURCE_EXHAUSTED` status.
        resource_exhausted => ResourceExhausted,
        /// A `FAILED_PRECONDITION` status.
        failed_precondition => FailedPrecondition,
        /// An `ABORTED` status.
        aborted => Aborted,
        /// An `OUT_OF_RANGE` status.
        out_of_range => OutOfRange,
        /// An `UNIMPLEMENTED` status.
        unimplemented => Unimplemented,
        /// An `INTERNAL` status.
        internal => Internal,
        /// An `UNAVAILABLE` status.
        unavailable => Unavailable,
        /// A `DATA_LOSS` status.
        data_loss => DataLoss,
        /// An `UNAUTHENTICATED` status.
        unauthenticated => Unauthenticated,
    }

    /// The status a client synthesizes for a response with HTTP status
    /// `status` and no `grpc-status` (see [`Code::from_http_status`]).
    pub fn from_http_status(status: u16) -> Status {
        let code = Code::from_http_status(status);
        match http_reason_phrase(status) {
            "" => Status::new(code, format!("unexpected HTTP status {status} from server")),
            phrase => Status::new(
                code,
                format!("unexpected HTTP status {status} ({phrase}) from server"),
            ),
        }
    }

    /// The status of a call whose stream the peer reset with
    /// RST_STREAM(`reason`) (see [`Code::from_reason`]).
    pub fn from_reset(reason: Reason) -> Status {
        let code = Code::from_reason(reason);
        let message = match reason.as_u32() {
            0x7 => "stream refused by the peer before any processing (RST_STREAM REFUSED_STREAM)".into(),
            0x8 => "stream cancelled by the peer (RST_STREAM CANCEL)".into(),
            0xb => "stream reset by the peer with ENHANCE_YOUR_CALM: bandwidth exhausted".into(),
            0xc => "stream reset by the peer with INADEQUATE_SECURITY: the transport is not secure enough for the call"
                .into(),
            _ => format!("stream reset by the peer with {reason}"),
        };
        Status::new(code, message)
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message (already percent-decoded; may be empty).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The binary details (empty when there are none).
    pub fn details(&self) -> &Bytes {
        &self.details
    }

    /// True when the code is `OK`.
    pub fn is_ok(&self) -> bool {
        self.code == Code::Ok
    }

    /// Splits the status into its code, message and details.
    pub fn into_parts(self) -> (Code, String, Bytes) {
        (self.code, self.message, self.details)
    }
}

impl Default for Status {
    fn default() -> Status {
        Status::ok()
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Status");
        s.field("code", &self.code).field("message", &self.message);
        if !self.details.is_empty() {
            s.field("details", &self.details);
        }
        s.finish()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.code.as_str())
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for Status {}

/// The reason phrase of the HTTP statuses a gRPC client is likely to see, for
/// error messages; empty for the others.
pub(crate) fn http_reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_names_and_round_trip() {
        for (n, code) in Code::ALL.iter().enumerate() {
            assert_eq!(code.as_i32(), n as i32);
            assert_eq!(Code::from_i32(n as i32), *code);
            assert_eq!(code.header_value(), n.to_string());
        }
        assert_eq!(Code::Ok.as_str(), "OK");
        assert_eq!(Code::Cancelled.to_string(), "CANCELLED");
        assert_eq!(Code::DeadlineExceeded.to_string(), "DEADLINE_EXCEEDED");
        assert_eq!(Code::Unauthenticated.as_str(), "UNAUTHENTICATED");
        assert_eq!(Code::DataLoss.as_str(), "DATA_LOSS");
    }

    #[test]
    fn unknown_numbers_become_unknown() {
        assert_eq!(Code::from_i32(17), Code::Unknown);
        assert_eq!(Code::from_i32(-1), Code::Unknown);
        assert_eq!(Code::from_i32(i32::MAX), Code::Unknown);
        assert_eq!(Code::from_i32(i32::MIN), Code::Unknown);
        assert_eq!(Code::from(12), Code::Unimplemented);
        assert_eq!(i32::from(Code::Unavailable), 14);
    }

    #[test]
    fn http_status_mapping() {
        let table = [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (431, Code::Internal),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (200, Code::Unknown),
            (500, Code::Unknown),
            (418, Code::Unknown),
            (0, Code::Unknown),
        ];
        for (http, code) in table {
            assert_eq!(Code::from_http_status(http), code, "HTTP {http}");
        }
        let s = Status::from_http_status(503);
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(
            s.message(),
            "unexpected HTTP status 503 (Service Unavailable) from server"
        );
        assert_eq!(
            Status::from_http_status(599).message(),
            "unexpected HTTP status 599 from server"
        );
    }

    #[test]
    fn reset_mapping() {
        let table = [
            (Reason::NO_ERROR, Code::Internal),
            (Reason::PROTOCOL_ERROR, Code::Internal),
            (Reason::INTERNAL_ERROR, Code::Internal),
            (Reason::FLOW_CONTROL_ERROR, Code::Internal),
            (Reason::SETTINGS_TIMEOUT, Code::Internal),
            (Reason::STREAM_CLOSED, Code::Internal),
            (Reason::FRAME_SIZE_ERROR, Code::Internal),
            (Reason::REFUSED_STREAM, Code::Unavailable),
            (Reason::CANCEL, Code::Cancelled),
            (Reason::COMPRESSION_ERROR, Code::Internal),
            (Reason::CONNECT_ERROR, Code::Internal),
            (Reason::ENHANCE_YOUR_CALM, Code::ResourceExhausted),
            (Reason::INADEQUATE_SECURITY, Code::PermissionDenied),
            (Reason::HTTP_1_1_REQUIRED, Code::Internal),
            (Reason::from_u32(0x1234), Code::Internal),
        ];
        for (reason, code) in table {
            assert_eq!(Code::from_reason(reason), code, "{reason:?}");
            assert_eq!(Status::from_reset(reason).code(), code);
        }
        assert_eq!(
            Status::from_reset(Reason::PROTOCOL_ERROR).message(),
            "stream reset by the peer with PROTOCOL_ERROR"
        );
        assert_eq!(
            Status::from_reset(Reason::from_u32(0x42)).message(),
            "stream reset by the peer with unknown error code 0x42"
        );
    }

    #[test]
    fn status_display_and_constructors() {
        assert_eq!(Status::ok().to_string(), "OK");
        assert!(Status::ok().is_ok());
        assert_eq!(Status::default(), Status::ok());
        let s = Status::not_found("no such user");
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.to_string(), "NOT_FOUND: no such user");
        assert!(s.details().is_empty());
        let d = Status::with_details(Code::Aborted, "conflict", &b"\x08\x0a"[..]);
        assert_eq!(d.details().as_ref(), b"\x08\x0a");
        let (code, message, details) = d.into_parts();
        assert_eq!(
            (code, message.as_str(), details.as_ref()),
            (Code::Aborted, "conflict", &b"\x08\x0a"[..])
        );
        assert_eq!(
            format!("{:?}", Status::internal("x")),
            r#"Status { code: Internal, message: "x" }"#
        );
    }
}
