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
/// Handlers return business errors as a `Status` with any code. Errors the
/// framework raises itself — no such method, a limit, a deadline, a lost
/// connection, a message that does not decode — say so with
/// [`Status::is_framework_error`], on the server that raised them and on
/// the client that receives them: over gRPC the mark travels as the trailer
/// `ferry-error-source: framework` (other peers ignore it), over the native
/// protocol as a header flag.
#[derive(Clone, PartialEq, Eq)]
pub struct Status {
    code: Code,
    message: String,
    details: Bytes,
    metadata: Metadata,
    delivery: Delivery,
    framework: bool,
}

/// The trailer that marks a status the framework raised.
pub(crate) const ERROR_SOURCE_KEY: &str = "ferry-error-source";

impl Status {
    /// A status with a code and message, as a handler returns it.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
            details: Bytes::new(),
            metadata: Metadata::new(),
            delivery: Delivery::Answered,
            framework: false,
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

    /// Marks the status as raised by the framework, not by a handler.
    pub(crate) fn framework(mut self) -> Status {
        self.framework = true;
        self
    }

    /// True when the framework raised this status (a missing method, a
    /// limit, a deadline, a lost connection, a malformed message), false
    /// when a handler returned it. On a client, every status that did not
    /// come from the server's handler is a framework error, whatever its
    /// code.
    pub fn is_framework_error(&self) -> bool {
        self.framework || (self.code != Code::Ok && self.delivery != Delivery::Answered)
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

    /// A status the peer sent; the framework mark comes from its trailers
    /// (and is taken out of the metadata the application sees).
    pub(crate) fn from_wire(status: grpc::Status, mut metadata: Metadata) -> Status {
        let (code, message, details) = status.into_parts();
        let framework = metadata
            .get(ERROR_SOURCE_KEY)
            .is_some_and(|v| v.as_bytes() == b"framework");
        if framework {
            metadata.remove(ERROR_SOURCE_KEY);
        }
        Status {
            code,
            message,
            details,
            metadata,
            delivery: Delivery::Answered,
            framework,
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

/// The wire core's statuses (decode errors, limits, bad headers) are the
/// framework's.
impl From<grpc::Status> for Status {
    fn from(status: grpc::Status) -> Status {
        Status::from_wire(status, Metadata::new()).framework()
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
        if self.framework {
            d.field("framework", &true);
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
