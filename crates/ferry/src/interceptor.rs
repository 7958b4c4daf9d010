//! Interceptors: async hooks that see every call's metadata before it runs,
//! on either side, and may reject it with a [`Status`] or add response
//! metadata.
//!
//! ```text
//!  client: Request metadata ──▶ interceptors (in order) ──▶ HEADERS on the wire
//!  server: HEADERS ──▶ interceptors (in order) ──▶ handler
//!                      └─ Err(status): the call ends with it; the handler never runs
//! ```
//!
//! [`BearerToken`] is the usual example: the client adds
//! `authorization: Bearer <token>`, the server checks it and answers
//! UNAUTHENTICATED otherwise.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ferry_wire::grpc::Metadata;

use crate::Status;

/// A boxed future, as interceptors return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Which end of the call an interceptor runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallSide {
    /// Before the request is sent.
    Client,
    /// Before the handler runs.
    Server,
}

/// What an interceptor sees and may change.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// Where this runs.
    pub side: CallSide,
    /// The method path, `/package.Service/Method`.
    pub path: String,
    /// Request metadata; a client interceptor may add to it (credentials,
    /// tracing ids), a server interceptor may read or annotate it for the
    /// handler.
    pub metadata: Metadata,
    /// Server side: metadata added to the response headers (or to the
    /// trailers when the call is rejected).
    pub response_metadata: Metadata,
}

/// An async hook run before each call.
pub trait Interceptor: Send + Sync + 'static {
    /// Inspects (and may change) the call; an error ends the call with that
    /// status before anything else runs.
    fn intercept(&self, call: CallInfo) -> BoxFuture<Result<CallInfo, Status>>;
}

/// Runs `interceptors` in order.
pub(crate) async fn run(
    interceptors: &[Arc<dyn Interceptor>],
    mut call: CallInfo,
) -> Result<CallInfo, Status> {
    for interceptor in interceptors {
        call = interceptor.intercept(call).await?;
    }
    Ok(call)
}

/// Bearer-token authentication: install the same value on the client (it
/// adds the header) and the server (it requires the header).
#[derive(Clone)]
pub struct BearerToken {
    header: Arc<str>,
}

impl BearerToken {
    /// A token; the header value becomes `Bearer <token>`.
    pub fn new(token: &str) -> BearerToken {
        BearerToken {
            header: format!("Bearer {token}").into(),
        }
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Interceptor for BearerToken {
    fn intercept(&self, mut call: CallInfo) -> BoxFuture<Result<CallInfo, Status>> {
        let expected = self.header.clone();
        Box::pin(async move {
            match call.side {
                CallSide::Client => {
                    call.metadata
                        .insert("authorization", &expected)
                        .map_err(|e| Status::internal(format!("bad token: {e}")))?;
                    Ok(call)
                }
                CallSide::Server => match call.metadata.get("authorization") {
                    Some(value) if same(value.as_bytes(), expected.as_bytes()) => Ok(call),
                    Some(_) => Err(Status::unauthenticated("invalid bearer token")),
                    None => Err(Status::unauthenticated("missing bearer token")),
                },
            }
        })
    }
}
