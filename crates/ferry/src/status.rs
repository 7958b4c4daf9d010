//! The status of an RPC as the application sees it.
//!
//! A [`Status`] is what every call ends with: a [`Code`], a message, binary
//! details (a serialized `google.rpc.Status`), and trailing metadata. On the
//! client it also says how far the request got ([`Delivery`]), so a caller
//! can tell a call that is safe to retry from one the server may have acted
//! on.

use std::fmt;

use bytes::Bytes;
use ferry_wire::grpc::{self, Metadata};

pub use ferry_wire::grpc::Code;

/// How far a request got before the call failed, from the client's point of
/// view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// The request never left this process (no connection could be had,
    /// the message could not be encoded, the call was cancelled before it
    /// was sent). Safe to retry.
    NotSent,
    /// The server refused the stream before any application code saw it
    /// (REFUSED_STREAM, or above a GOAWAY's last stream id). Safe to retry.
    Refused,
    /// The request may or may not have reached the server's handler (the
    /// connection broke, the deadline passed, the call was cancelled in
    /// flight). Retry only idempotent calls.
    Unknown,
    /// The server answered: the status came from its handler or its library.
    Answered,
}

/// The outcome of an RPC: a code, a message, details and trailing metadata.
///
/// Handlers return business errors as a `Status` with any code; the codes
/// the library itself produces (CANCELLED, DEADLINE_EXCEEDED, UNIMPLEMENTED,
/// UNAVAILABLE, UNKNOWN, INTERNAL, RESOURCE_EXHAUSTED, UNAUTHENTICATED) mark
/// framework failures.
#[derive(Clone, PartialEq, Eq)]
pub struct Status {
    code: Code,
    message: String,
    details: Bytes,
    metadata: Metadata,
    delivery: Delivery,
}

impl Status {
    /// A status with a code and message, as a handler returns it.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
            details: Bytes::new(),
            metadata: Metadata::new(),
            delivery: Delivery::Answered,
        }
    }

    /// The OK status.
    pub fn ok() -> Status {
        Status::new(Code::Ok, "")
    }

    /// Adds binary details (a serialized `google.rpc.Status`), sent as
    /// `grpc-status-details-bin`.
    pub fn with_details(mut self, details: impl Into<Bytes>) -> Status {
        self.details = details.into();
        self
    }

    /// Adds trailing metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Status {
        self.metadata = metadata;
        self
    }

    pub(crate) fn with_delivery(mut self, delivery: Delivery) -> Status {
        self.delivery = delivery;
        self
    }

    /// The status code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message (decoded from `grpc-message`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The binary details.
    pub fn details(&self) -> &Bytes {
        &self.details
    }

    /// The trailing metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Mutable trailing metadata.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// How far the request got (client side).
    pub fn delivery(&self) -> Delivery {
        self.delivery
    }

    /// True when the call can be retried without risk of running twice.
    pub fn is_safe_to_retry(&self) -> bool {
        matches!(self.delivery, Delivery::NotSent | Delivery::Refused)
    }

    /// True for the OK code.
    pub fn is_ok(&self) -> bool {
        self.code == Code::Ok
    }

    pub(crate) fn to_wire(&self) -> grpc::Status {
        grpc::Status::with_details(self.code, self.message.clone(), self.details.clone())
    }

    pub(crate) fn from_wire(status: grpc::Status, metadata: Metadata) -> Status {
        let (code, message, details) = status.into_parts();
        Status {
            code,
            message,
            details,
            metadata,
            delivery: Delivery::Answered,
        }
    }
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident,)*) => {
        impl Status {
            $(
                $(#[$doc])*
                pub fn $name(message: impl Into<String>) -> Status {
                    Status::new(Code::$code, message)
                }
            )*
        }
    };
}

constructors! {
    /// CANCELLED.
    cancelled => Cancelled,
    /// UNKNOWN.
    unknown => Unknown,
    /// INVALID_ARGUMENT.
    invalid_argument => InvalidArgument,
    /// DEADLINE_EXCEEDED.
    deadline_exceeded => DeadlineExceeded,
    /// NOT_FOUND.
    not_found => NotFound,
    /// ALREADY_EXISTS.
    already_exists => AlreadyExists,
    /// PERMISSION_DENIED.
    permission_denied => PermissionDenied,
    /// RESOURCE_EXHAUSTED.
    resource_exhausted => ResourceExhausted,
    /// FAILED_PRECONDITION.
    failed_precondition => FailedPrecondition,
    /// ABORTED.
    aborted => Aborted,
    /// OUT_OF_RANGE.
    out_of_range => OutOfRange,
    /// UNIMPLEMENTED.
    unimplemented => Unimplemented,
    /// INTERNAL.
    internal => Internal,
    /// UNAVAILABLE.
    unavailable => Unavailable,
    /// DATA_LOSS.
    data_loss => DataLoss,
    /// UNAUTHENTICATED.
    unauthenticated => Unauthenticated,
}

impl From<grpc::Status> for Status {
    fn from(status: grpc::Status) -> Status {
        Status::from_wire(status, Metadata::new())
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Status");
        d.field("code", &self.code).field("message", &self.message);
        if !self.details.is_empty() {
            d.field("details", &self.details.len());
        }
        if !self.metadata.is_empty() {
            d.field("metadata", &self.metadata);
        }
        d.field("delivery", &self.delivery).finish()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code.as_str())?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Status {}
