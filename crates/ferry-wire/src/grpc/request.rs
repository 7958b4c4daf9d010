//! Request headers: built by the client, validated by the server.
//!
//! The client builds a [`RequestHead`] and calls
//! [`encode`](RequestHead::encode) for the HEADERS block. The server calls
//! [`RequestHead::decode`] on a received block; a [`RequestError`] says how to
//! answer a request that is refused.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use super::content_type::{CONTENT_TYPE_GRPC, content_subtype, is_grpc_content_type};
use super::metadata::{Metadata, MetadataError, trim_bytes};
use super::response::encode_error_response;
use super::status::{Code, Status};
use super::timeout::{TimeoutError, decode_timeout, encode_timeout};
use crate::{HeaderField, Reason};

/// The `user-agent` a [`RequestHead`] sends unless told otherwise:
/// `ferry/<crate version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("ferry/", env!("CARGO_PKG_VERSION"));

const METHOD_POST: HeaderField = HeaderField::from_static(":method", "POST");
const TE_TRAILERS: HeaderField = HeaderField::from_static("te", "trailers");

/// Longest piece of a peer's header echoed back in an error message, so a
/// refusal never grows past the peer's header-list limit.
const ECHO_LIMIT: usize = 128;

/// The URI scheme of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Cleartext HTTP/2 (h2c).
    Http,
    /// HTTP/2 over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The headers of a gRPC request.
///
/// Values given to the builder methods are sent as they are; they come from
/// the application and generated code, not from a peer.
#[derive(Clone, Debug)]
pub struct RequestHead {
    scheme: Bytes,
    authority: Bytes,
    path: Bytes,
    content_type: Bytes,
    timeout: Option<Duration>,
    encoding: Option<Bytes>,
    accept_encoding: Option<Bytes>,
    user_agent: Option<Bytes>,
    metadata: Metadata,
}

impl RequestHead {
    /// A request for `path` (`/package.Service/Method`) on `authority`
    /// (`host:port`), with content type `application/grpc`, the default
    /// user agent, no timeout and no metadata.
    pub fn new(scheme: Scheme, authority: impl Into<Bytes>, path: impl Into<Bytes>) -> RequestHead {
        RequestHead {
            scheme: Bytes::from_static(scheme.as_str().as_bytes()),
            authority: authority.into(),
            path: path.into(),
            content_type: Bytes::from_static(CONTENT_TYPE_GRPC.as_bytes()),
            timeout: None,
            encoding: None,
            accept_encoding: None,
            user_agent: Some(Bytes::from_static(DEFAULT_USER_AGENT.as_bytes())),
            metadata: Metadata::new(),
        }
    }

    /// Sends `grpc-timeout` (see [`encode_timeout`] for the rounding).
    pub fn with_timeout(mut self, timeout: Duration) -> RequestHead {
        self.timeout = Some(timeout);
        self
    }

    /// Sets or clears the timeout.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// Sets the content type (`application/grpc+proto`, `+json`, ...).
    pub fn with_content_type(mut self, content_type: impl Into<Bytes>) -> RequestHead {
        self.content_type = content_type.into();
        self
    }

    /// Sends `grpc-encoding`: the compression of this request's messages.
    pub fn with_encoding(mut self, encoding: impl Into<Bytes>) -> RequestHead {
        self.encoding = Some(encoding.into());
        self
    }

    /// Sends `grpc-accept-encoding`: a comma-separated list of the
    /// compressions this client can read.
    pub fn with_accept_encoding(mut self, encodings: impl Into<Bytes>) -> RequestHead {
        self.accept_encoding = Some(encodings.into());
        self
    }

    /// Replaces the `user-agent`.
    pub fn with_user_agent(mut self, user_agent: impl Into<Bytes>) -> RequestHead {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sends no `user-agent`.
    pub fn without_user_agent(mut self) -> RequestHead {
        self.user_agent = None;
        self
    }

    /// Replaces the custom metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> RequestHead {
        self.metadata = metadata;
        self
    }

    /// `http` or `https` (for a received request: as sent).
    pub fn scheme(&self) -> &str {
        text(&self.scheme)
    }

    /// The `:authority`, if any.
    pub fn authority(&self) -> Option<&str> {
        Some(text(&self.authority)).filter(|a| !a.is_empty())
    }

    /// The `:path`, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        text(&self.path)
    }

    /// The service part of the path (`package.Service`); empty if the path
    /// does not have the gRPC shape (never for a decoded request).
    pub fn service(&self) -> &str {
        split_path(self.path()).map_or("", |(service, _)| service)
    }

    /// The method part of the path (`Method`); empty if the path does not
    /// have the gRPC shape (never for a decoded request).
    pub fn method(&self) -> &str {
        split_path(self.path()).map_or("", |(_, method)| method)
    }

    /// The `content-type`.
    pub fn content_type(&self) -> &str {
        text(&self.content_type)
    }

    pub(crate) fn content_type_bytes(&self) -> &Bytes {
        &self.content_type
    }

    /// The content subtype: `Some("proto")` for `application/grpc+proto`,
    /// `None` for plain `application/grpc` (which means protobuf).
    pub fn content_subtype(&self) -> Option<&str> {
        content_subtype(self.content_type())
    }

    /// The `grpc-timeout`; `None` means no deadline.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The `grpc-encoding` of the request messages, if any.
    pub fn encoding(&self) -> Option<&str> {
        self.encoding.as_ref().map(|e| text(e))
    }

    /// The `grpc-accept-encoding` value as it came (or will go), if any.
    pub fn accept_encoding_value(&self) -> Option<&Bytes> {
        self.accept_encoding.as_ref()
    }

    /// The encodings listed in `grpc-accept-encoding`, trimmed, in order.
    pub fn accept_encoding(&self) -> impl Iterator<Item = &str> {
        let list = self.accept_encoding.as_ref().map_or("", |a| text(a));
        list.split(',').map(str::trim).filter(|e| !e.is_empty())
    }

    /// The `user-agent`, if any.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_ref().map(|u| text(u))
    }

    /// The custom metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The custom metadata, to change it.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Takes the custom metadata out.
    pub fn into_metadata(self) -> Metadata {
        self.metadata
    }

    /// The HEADERS block, in the order the spec asks for: pseudo-headers,
    /// then `grpc-timeout` right after them, then `content-type`, `te`,
    /// `grpc-encoding`, `grpc-accept-encoding`, `user-agent`, then the custom
    /// metadata.
    ///
    /// One allocation for the list and one for the timeout text; names and
    /// the other values are shared or static.
    pub fn encode(&self) -> Vec<HeaderField> {
        let mut fields = Vec::with_capacity(10 + self.metadata.len());
        self.clone().into_fields(&mut fields);
        fields
    }

    /// [`encode`](RequestHead::encode), appending to `fields` and moving
    /// the values there: a value built for this request (its path, say) is
    /// not cloned, which for a `Bytes` made from a `String` would allocate.
    pub fn into_fields(self, fields: &mut Vec<HeaderField>) {
        fields.push(METHOD_POST);
        fields.push(field(":scheme", self.scheme));
        fields.push(field(":path", self.path));
        if !self.authority.is_empty() {
            fields.push(field(":authority", self.authority));
        }
        if let Some(timeout) = self.timeout {
            fields.push(field("grpc-timeout", Bytes::from(encode_timeout(timeout))));
        }
        fields.push(field("content-type", self.content_type));
        fields.push(TE_TRAILERS);
        if let Some(encoding) = self.encoding {
            fields.push(field("grpc-encoding", encoding));
        }
        if let Some(accept) = self.accept_encoding {
            fields.push(field("grpc-accept-encoding", accept));
        }
        if let Some(user_agent) = self.user_agent {
            fields.push(field("user-agent", user_agent));
        }
        self.metadata.encode(fields);
    }

    /// Validates a received request HEADERS block.
    ///
    /// Checks, in this order (the first failure is returned):
    ///
    /// 1. HTTP/2 rules (RFC 9113 §8.2-8.3): pseudo-headers known, not
    ///    repeated, before regular fields; `:method`, `:scheme`, `:path`
    ///    present; no connection-specific field; `te` absent or `trailers`
    ///    (absent is accepted, as grpc-go does: plain HTTP/2 tools omit it).
    ///    → [`RequestError::Malformed`], answered with RST_STREAM.
    /// 2. `:method` is `POST` → else HTTP 405.
    /// 3. `content-type` is gRPC → else HTTP 415.
    /// 4. `grpc-timeout` parses → else HTTP 400, `INTERNAL` (grpc-go).
    /// 5. `-bin` metadata is base64 → else HTTP 400, `INTERNAL` (grpc-go).
    /// 6. `:path` is `/service/method` → else `UNIMPLEMENTED`.
    /// 7. `grpc-encoding` is a printable token → else `UNIMPLEMENTED`.
    ///    Whether the named compression is supported is the runtime's call
    ///    (also `UNIMPLEMENTED`).
    ///
    /// An unprintable `user-agent` or `grpc-accept-encoding` is ignored,
    /// not refused. Repeated regular fields: the first one counts.
    pub fn decode(fields: &[HeaderField]) -> Result<RequestHead, RequestError> {
        let mut method = None;
        let mut scheme = None;
        let mut path = None;
        let mut authority = None;
        let mut content_type = None;
        let mut timeout = None;
        let mut encoding = None;
        let mut accept_encoding = None;
        let mut user_agent = None;
        let mut regular_seen = false;
        for f in fields {
            if f.is_pseudo() {
                if regular_seen {
                    return Err(malformed("pseudo-header after a regular header"));
                }
                let slot = match f.name.as_ref() {
                    b":method" => &mut method,
                    b":scheme" => &mut scheme,
                    b":path" => &mut path,
                    b":authority" => &mut authority,
                    _ => return Err(malformed("unknown pseudo-header")),
                };
                if slot.replace(&f.value).is_some() {
                    return Err(malformed("repeated pseudo-header"));
                }
                continue;
            }
            regular_seen = true;
            let slot = match f.name.as_ref() {
                b"content-type" => &mut content_type,
                b"grpc-timeout" => &mut timeout,
                b"grpc-encoding" => &mut encoding,
                b"grpc-accept-encoding" => &mut accept_encoding,
                b"user-agent" => &mut user_agent,
                b"te" if !f.value.eq_ignore_ascii_case(b"trailers") => {
                    return Err(malformed("te header other than \"trailers\""));
                }
                b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding"
                | b"upgrade" => {
                    return Err(malformed("connection-specific header"));
                }
                _ => continue,
            };
            slot.get_or_insert(&f.value);
        }

        let (Some(method), Some(scheme), Some(path)) = (method, scheme, path) else {
            return Err(malformed("missing :method, :scheme or :path"));
        };
        if !is_printable(scheme) || authority.is_some_and(|a| !is_printable(a)) {
            return Err(malformed("unprintable :scheme or :authority"));
        }
        if method.as_ref() != b"POST" {
            return Err(RequestError::MethodNotAllowed {
                method: echo(method),
            });
        }
        let content_type = match content_type {
            Some(ct) if is_grpc_content_type(ct) && is_printable(ct) => ct.clone(),
            other => {
                return Err(RequestError::UnsupportedContentType {
                    content_type: other.map(|ct| echo(ct)),
                });
            }
        };
        let timeout = timeout
            .map(|value| {
                decode_timeout(value).map_err(|error| RequestError::InvalidTimeout {
                    value: echo(value),
                    error,
                })
            })
            .transpose()?;
        let metadata = Metadata::decode(fields).map_err(RequestError::InvalidMetadata)?;
        check_path(path)?;
        let encoding = check_encoding(encoding)?;
        Ok(RequestHead {
            scheme: scheme.clone(),
            authority: authority.cloned().unwrap_or_default(),
            path: path.clone(),
            content_type,
            timeout,
            encoding,
            accept_encoding: accept_encoding.map(trim_bytes).filter(|a| is_printable(a)),
            user_agent: user_agent.map(trim_bytes).filter(|u| is_printable(u)),
            metadata,
        })
    }
}

impl RequestHead {
    /// A received request that came without an HTTP/2 header block (Ferry's
    /// native protocol carries the path's parts, the timeout and the
    /// encoding as typed fields): checked as [`decode`](RequestHead::decode)
    /// checks the same parts (steps 5 to 7), so both protocols refuse the
    /// same requests the same way. `metadata` holds the custom metadata as
    /// gRPC over HTTP/2 carries it (base64 for `-bin` keys); the head reads
    /// as scheme `http`, authority `native`, content type
    /// `application/grpc`, no user agent.
    pub fn from_parts(
        path: Bytes,
        timeout: Option<Duration>,
        encoding: Option<&Bytes>,
        metadata: &[HeaderField],
    ) -> Result<RequestHead, RequestError> {
        let metadata = Metadata::decode(metadata).map_err(RequestError::InvalidMetadata)?;
        check_path(&path)?;
        let encoding = check_encoding(encoding)?;
        Ok(RequestHead {
            scheme: Bytes::from_static(b"http"),
            authority: Bytes::from_static(b"native"),
            path,
            content_type: Bytes::from_static(CONTENT_TYPE_GRPC.as_bytes()),
            timeout,
            encoding,
            accept_encoding: None,
            user_agent: None,
            metadata,
        })
    }
}

/// `:path` is `/service/method` in visible ASCII.
fn check_path(path: &Bytes) -> Result<(), RequestError> {
    if !path.iter().all(|&b| b.is_ascii_graphic()) || split_path(text(path)).is_none() {
        return Err(RequestError::InvalidPath { path: echo(path) });
    }
    Ok(())
}

/// `grpc-encoding`, trimmed, is one non-empty token.
fn check_encoding(encoding: Option<&Bytes>) -> Result<Option<Bytes>, RequestError> {
    match encoding.map(trim_bytes) {
        Some(e) if !e.is_empty() && e.iter().all(|&b| b.is_ascii_graphic() && b != b',') => {
            Ok(Some(e))
        }
        Some(e) => Err(RequestError::UnsupportedEncoding { encoding: echo(&e) }),
        None => Ok(None),
    }
}

/// Why a received request was refused, and how to answer it.
///
/// [`reset_reason`](RequestError::reset_reason) says whether to reset the
/// stream; otherwise answer with [`encode_response`](RequestError::encode_response),
/// one HEADERS block with END_STREAM (and RST_STREAM(NO_ERROR) after it if
/// the request is still open, as the spec asks).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The block breaks HTTP/2's request rules: a malformed request,
    /// answered with RST_STREAM(PROTOCOL_ERROR) (RFC 9113 §8.1.1).
    Malformed {
        /// Which rule.
        detail: &'static str,
    },
    /// `:method` is not `POST`: HTTP 405, `INTERNAL`.
    MethodNotAllowed {
        /// The method received (lossy, truncated).
        method: String,
    },
    /// `content-type` is missing or not gRPC: HTTP 415 (the spec's SHOULD),
    /// `INTERNAL`.
    UnsupportedContentType {
        /// The content type received (lossy, truncated), if any.
        content_type: Option<String>,
    },
    /// `grpc-timeout` does not parse: HTTP 400, `INTERNAL`.
    InvalidTimeout {
        /// The value received (lossy, truncated).
        value: String,
        /// What is wrong with it.
        error: TimeoutError,
    },
    /// A `-bin` metadata value is not base64: HTTP 400, `INTERNAL`.
    InvalidMetadata(MetadataError),
    /// `:path` is not `/service/method`: HTTP 200, `UNIMPLEMENTED`.
    InvalidPath {
        /// The path received (lossy, truncated).
        path: String,
    },
    /// `grpc-encoding` is not a compression name: HTTP 200, `UNIMPLEMENTED`.
    UnsupportedEncoding {
        /// The value received (lossy, truncated).
        encoding: String,
    },
}

impl RequestError {
    /// `Some(PROTOCOL_ERROR)` when the stream should be reset rather than
    /// answered.
    pub fn reset_reason(&self) -> Option<Reason> {
        match self {
            RequestError::Malformed { .. } => Some(Reason::PROTOCOL_ERROR),
            _ => None,
        }
    }

    /// The HTTP status of the answer.
    pub fn http_status(&self) -> u16 {
        match self {
            RequestError::Malformed { .. }
            | RequestError::InvalidTimeout { .. }
            | RequestError::InvalidMetadata(_) => 400,
            RequestError::MethodNotAllowed { .. } => 405,
            RequestError::UnsupportedContentType { .. } => 415,
            RequestError::InvalidPath { .. } | RequestError::UnsupportedEncoding { .. } => 200,
        }
    }

    /// The gRPC code of the answer.
    pub fn code(&self) -> Code {
        match self {
            RequestError::InvalidPath { .. } | RequestError::UnsupportedEncoding { .. } => {
                Code::Unimplemented
            }
            _ => Code::Internal,
        }
    }

    /// The status of the answer (code and this error's text).
    pub fn to_status(&self) -> Status {
        Status::new(self.code(), self.to_string())
    }

    /// The answer: one header block (`:status`, `content-type`,
    /// `grpc-status`, `grpc-message`) to send with END_STREAM. With status
    /// 200 it is a regular Trailers-Only response.
    pub fn encode_response(&self) -> Vec<HeaderField> {
        encode_error_response(self.http_status(), &self.to_status())
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed { detail } => write!(f, "malformed request: {detail}"),
            RequestError::MethodNotAllowed { method } => {
                write!(f, "method {method:?} not allowed: gRPC requests use POST")
            }
            RequestError::UnsupportedContentType {
                content_type: Some(ct),
            } => {
                write!(f, "unsupported content-type {ct:?}: not a gRPC request")
            }
            RequestError::UnsupportedContentType { content_type: None } => {
                f.write_str("missing content-type: not a gRPC request")
            }
            RequestError::InvalidTimeout { value, error } => {
                write!(f, "malformed grpc-timeout {value:?}: {error}")
            }
            RequestError::InvalidMetadata(e) => e.fmt(f),
            RequestError::InvalidPath { path } => write!(f, "malformed method name {path:?}"),
            RequestError::UnsupportedEncoding { encoding } => {
                write!(f, "unsupported grpc-encoding {encoding:?}")
            }
        }
    }
}

impl std::error::Error for RequestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RequestError::InvalidTimeout { error, .. } => Some(error),
            RequestError::InvalidMetadata(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RequestError> for Status {
    fn from(e: RequestError) -> Status {
        e.to_status()
    }
}

const fn malformed(detail: &'static str) -> RequestError {
    RequestError::Malformed { detail }
}

fn field(name: &'static str, value: Bytes) -> HeaderField {
    HeaderField {
        name: Bytes::from_static(name.as_bytes()),
        value,
        sensitive: false,
    }
}

/// `"/" service "/" method`, both non-empty; split at the last `/` as
/// grpc-go does.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.rsplit_once('/')?;
    (!service.is_empty() && !method.is_empty()).then_some((service, method))
}

/// Space and visible ASCII only.
fn is_printable(value: &[u8]) -> bool {
    value.iter().all(|&b| (0x20..=0x7e).contains(&b))
}

/// Header bytes as text; validated ASCII on every decoded path, and UTF-8
/// in practice on the builder path (a non-UTF-8 value reads as empty).
fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

/// A peer's bytes for an error message: lossy UTF-8, cut at a limit.
pub(crate) fn echo(bytes: &[u8]) -> String {
    match bytes.get(..ECHO_LIMIT) {
        Some(head) if bytes.len() > ECHO_LIMIT => format!("{}...", String::from_utf8_lossy(head)),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &'static str, value: &'static str) -> HeaderField {
        HeaderField::from_static(name, value)
    }

    fn valid() -> Vec<HeaderField> {
        vec![
            f(":method", "POST"),
            f(":scheme", "http"),
            f(":path", "/grpc.testing.TestService/UnaryCall"),
            f(":authority", "localhost:50051"),
            f("grpc-timeout", "1S"),
            f("content-type", "application/grpc+proto"),
            f("te", "trailers"),
            f("grpc-encoding", "gzip"),
            f("grpc-accept-encoding", "gzip, deflate,identity"),
            f("user-agent", "grpc-go/1.33.0"),
            f("x-grpc-test-echo-initial", "test_initial_metadata_value"),
            f("x-grpc-test-echo-trailing-bin", "q6ur"),
        ]
    }

    fn with(
        mut fields: Vec<HeaderField>,
        name: &'static str,
        value: &'static str,
    ) -> Vec<HeaderField> {
        match fields.iter_mut().find(|x| x.name == name.as_bytes()) {
            Some(x) => x.value = Bytes::from_static(value.as_bytes()),
            None => fields.push(f(name, value)),
        }
        fields
    }

    fn without(fields: Vec<HeaderField>, name: &str) -> Vec<HeaderField> {
        fields
            .into_iter()
            .filter(|x| x.name != name.as_bytes())
            .collect()
    }

    #[test]
    fn encodes_in_spec_order() {
        let mut md = Metadata::new();
        md.append("x-user", "alice").unwrap();
        md.append("authorization", "Bearer abc").unwrap();
        let head = RequestHead::new(Scheme::Https, "example.com:443", "/pkg.Greeter/SayHello")
            .with_timeout(Duration::from_millis(1500))
            .with_content_type("application/grpc+proto")
            .with_encoding("gzip")
            .with_accept_encoding("gzip,identity")
            .with_metadata(md);
        assert_eq!(
            head.encode(),
            vec![
                f(":method", "POST"),
                f(":scheme", "https"),
                f(":path", "/pkg.Greeter/SayHello"),
                f(":authority", "example.com:443"),
                f("grpc-timeout", "1500000u"),
                f("content-type", "application/grpc+proto"),
                f("te", "trailers"),
                f("grpc-encoding", "gzip"),
                f("grpc-accept-encoding", "gzip,identity"),
                HeaderField::new("user-agent", DEFAULT_USER_AGENT),
                f("x-user", "alice"),
                HeaderField::sensitive("authorization", "Bearer abc"),
            ]
        );
    }

    #[test]
    fn minimal_request() {
        let head = RequestHead::new(Scheme::Http, "", "/a.B/C").without_user_agent();
        assert_eq!(
            head.encode(),
            vec![
                f(":method", "POST"),
                f(":scheme", "http"),
                f(":path", "/a.B/C"),
                f("content-type", "application/grpc"),
                f("te", "trailers"),
            ]
        );
        assert_eq!(
            DEFAULT_USER_AGENT,
            concat!("ferry/", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn decodes_what_it_encodes() {
        let mut md = Metadata::new();
        md.append_bin("x-trace-bin", &b"\x00\x01"[..]).unwrap();
        let sent = RequestHead::new(Scheme::Http, "h:1", "/s.S/M")
            .with_timeout(Duration::from_secs(2))
            .with_metadata(md);
        let got = RequestHead::decode(&sent.encode()).unwrap();
        assert_eq!(got.path(), "/s.S/M");
        assert_eq!(got.timeout(), Some(Duration::from_secs(2)));
        assert_eq!(got.metadata(), sent.metadata());
        assert_eq!(got.user_agent(), Some(DEFAULT_USER_AGENT));
    }

    #[test]
    fn decodes_an_interop_request() {
        let head = RequestHead::decode(&valid()).unwrap();
        assert_eq!(head.scheme(), "http");
        assert_eq!(head.authority(), Some("localhost:50051"));
        assert_eq!(head.path(), "/grpc.testing.TestService/UnaryCall");
        assert_eq!(head.service(), "grpc.testing.TestService");
        assert_eq!(head.method(), "UnaryCall");
        assert_eq!(head.content_type(), "application/grpc+proto");
        assert_eq!(head.content_subtype(), Some("proto"));
        assert_eq!(head.timeout(), Some(Duration::from_secs(1)));
        assert_eq!(head.encoding(), Some("gzip"));
        assert_eq!(
            head.accept_encoding().collect::<Vec<_>>(),
            ["gzip", "deflate", "identity"]
        );
        assert_eq!(head.user_agent(), Some("grpc-go/1.33.0"));
        let md = head.metadata();
        assert_eq!(md.len(), 2);
        assert_eq!(
            md.get("x-grpc-test-echo-initial").and_then(|v| v.as_str()),
            Some("test_initial_metadata_value")
        );
        assert_eq!(
            md.get("x-grpc-test-echo-trailing-bin")
                .map(|v| v.as_bytes()),
            Some(&[0xab, 0xab, 0xab][..])
        );
    }

    #[test]
    fn lenient_on_optional_headers() {
        let fields = without(
            without(without(valid(), "te"), ":authority"),
            "grpc-timeout",
        );
        let head = RequestHead::decode(&fields).unwrap();
        assert_eq!(head.authority(), None);
        assert_eq!(head.timeout(), None);
        let head = RequestHead::decode(&with(valid(), "user-agent", "caf\u{e9}")).unwrap();
        assert_eq!(head.user_agent(), None);
        let head = RequestHead::decode(&with(valid(), "te", "Trailers")).unwrap();
        assert_eq!(head.method(), "UnaryCall");
        let head = RequestHead::decode(&with(valid(), "content-type", "application/grpc")).unwrap();
        assert_eq!(head.content_subtype(), None);
    }

    #[test]
    fn malformed_requests_are_reset() {
        let cases: Vec<(Vec<HeaderField>, &str)> = vec![
            (
                without(valid(), ":method"),
                "missing :method, :scheme or :path",
            ),
            (
                without(valid(), ":scheme"),
                "missing :method, :scheme or :path",
            ),
            (
                without(valid(), ":path"),
                "missing :method, :scheme or :path",
            ),
            (
                with(valid(), ":protocol", "websocket"),
                "pseudo-header after a regular header",
            ),
            (
                [vec![f(":status", "200")], valid()].concat(),
                "unknown pseudo-header",
            ),
            (
                [vec![f(":path", "/a/b")], valid()].concat(),
                "repeated pseudo-header",
            ),
            (
                with(valid(), "te", "gzip"),
                "te header other than \"trailers\"",
            ),
            (
                with(valid(), "connection", "keep-alive"),
                "connection-specific header",
            ),
            (
                with(valid(), "transfer-encoding", "chunked"),
                "connection-specific header",
            ),
            (
                with(valid(), ":scheme", "ht\ntp"),
                "unprintable :scheme or :authority",
            ),
        ];
        for (fields, detail) in cases {
            let err = RequestHead::decode(&fields).unwrap_err();
            assert_eq!(err, RequestError::Malformed { detail }, "{detail}");
            assert_eq!(err.reset_reason(), Some(Reason::PROTOCOL_ERROR));
        }
    }

    #[test]
    fn wrong_method_is_405() {
        let err = RequestHead::decode(&with(valid(), ":method", "GET")).unwrap_err();
        assert_eq!(
            err,
            RequestError::MethodNotAllowed {
                method: "GET".into()
            }
        );
        assert_eq!(
            (err.http_status(), err.code(), err.reset_reason()),
            (405, Code::Internal, None)
        );
        assert_eq!(
            err.encode_response(),
            vec![
                f(":status", "405"),
                f("content-type", "application/grpc"),
                f("grpc-status", "13"),
                f(
                    "grpc-message",
                    "method \"GET\" not allowed: gRPC requests use POST"
                ),
            ]
        );
    }

    #[test]
    fn non_grpc_content_type_is_415() {
        for (ct, expected) in [
            (Some("application/json"), Some("application/json")),
            (Some("application/grpc-web"), Some("application/grpc-web")),
            (None, None),
        ] {
            let fields = match ct {
                Some(ct) => with(valid(), "content-type", ct),
                None => without(valid(), "content-type"),
            };
            let err = RequestHead::decode(&fields).unwrap_err();
            assert_eq!(
                err,
                RequestError::UnsupportedContentType {
                    content_type: expected.map(String::from)
                }
            );
            assert_eq!(err.http_status(), 415);
        }
        let err = RequestError::UnsupportedContentType { content_type: None };
        assert_eq!(
            err.to_status(),
            Status::internal("missing content-type: not a gRPC request")
        );
    }

    #[test]
    fn malformed_timeout_is_400_internal() {
        let err = RequestHead::decode(&with(valid(), "grpc-timeout", "1.5S")).unwrap_err();
        assert_eq!(
            err,
            RequestError::InvalidTimeout {
                value: "1.5S".into(),
                error: TimeoutError::InvalidDigit
            }
        );
        assert_eq!((err.http_status(), err.code()), (400, Code::Internal));
        assert_eq!(
            err.to_string(),
            "malformed grpc-timeout \"1.5S\": grpc-timeout value is not all ASCII digits"
        );
        let err = RequestHead::decode(&with(valid(), "grpc-timeout", "123456789S")).unwrap_err();
        assert!(matches!(
            err,
            RequestError::InvalidTimeout {
                error: TimeoutError::TooManyDigits,
                ..
            }
        ));
    }

    #[test]
    fn malformed_binary_metadata_is_400_internal() {
        let err =
            RequestHead::decode(&with(valid(), "x-grpc-test-echo-trailing-bin", "*")).unwrap_err();
        assert_eq!(
            err,
            RequestError::InvalidMetadata(MetadataError::InvalidBase64 {
                key: "x-grpc-test-echo-trailing-bin".into()
            })
        );
        assert_eq!((err.http_status(), err.code()), (400, Code::Internal));
    }

    #[test]
    fn from_parts_checks_what_decode_checks() {
        let head = RequestHead::from_parts(
            Bytes::from_static(b"/pkg.Svc/Do"),
            Some(Duration::from_micros(1500)),
            Some(&Bytes::from_static(b" gzip ")),
            &[f("x-user", "ann"), f("ferry-implementation", "blue")],
        )
        .unwrap();
        assert_eq!((head.service(), head.method()), ("pkg.Svc", "Do"));
        assert_eq!(head.timeout(), Some(Duration::from_micros(1500)));
        assert_eq!(head.encoding(), Some("gzip"));
        assert_eq!(head.authority(), Some("native"));
        assert_eq!(head.user_agent(), None);
        assert_eq!(
            head.metadata().get("x-user").and_then(|v| v.as_str()),
            Some("ann")
        );
        assert_eq!(
            head.metadata()
                .get("ferry-implementation")
                .and_then(|v| v.as_str()),
            Some("blue")
        );

        let path = |p: &'static str| {
            RequestHead::from_parts(Bytes::from_static(p.as_bytes()), None, None, &[])
        };
        assert_eq!(
            path("/pkg.Svc/").unwrap_err(),
            RequestError::InvalidPath {
                path: "/pkg.Svc/".into()
            }
        );
        assert_eq!(
            path("/a b/c").unwrap_err(),
            RequestError::InvalidPath {
                path: "/a b/c".into()
            }
        );
        let err = RequestHead::from_parts(
            Bytes::from_static(b"/a/b"),
            None,
            Some(&Bytes::from_static(b"gzip,br")),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            err,
            RequestError::UnsupportedEncoding {
                encoding: "gzip,br".into()
            }
        );
        let err =
            RequestHead::from_parts(Bytes::from_static(b"/a/b"), None, None, &[f("x-bin", "*")])
                .unwrap_err();
        assert_eq!(
            err,
            RequestError::InvalidMetadata(MetadataError::InvalidBase64 {
                key: "x-bin".into()
            })
        );
    }

    #[test]
    fn bad_paths_are_unimplemented() {
        for path in [
            "/",
            "//",
            "/a",
            "/a/",
            "//b",
            "a/b",
            "/a b/c",
            "/caf\u{e9}/m",
        ] {
            let fields = [
                vec![HeaderField::new(":path", path)],
                without(valid(), ":path"),
            ]
            .concat();
            let err = RequestHead::decode(&fields).unwrap_err();
            assert_eq!(
                err,
                RequestError::InvalidPath { path: path.into() },
                "{path}"
            );
            assert_eq!((err.http_status(), err.code()), (200, Code::Unimplemented));
        }
        let fields = with(valid(), ":path", "/a/b/c");
        let head = RequestHead::decode(&fields).unwrap();
        assert_eq!((head.service(), head.method()), ("a/b", "c"));
        let err = RequestError::InvalidPath { path: "/x".into() };
        assert_eq!(
            err.encode_response(),
            vec![
                f(":status", "200"),
                f("content-type", "application/grpc"),
                f("grpc-status", "12"),
                f("grpc-message", "malformed method name \"/x\""),
            ]
        );
    }

    #[test]
    fn bad_encoding_is_unimplemented() {
        for value in ["", "gzip,deflate", "caf\u{e9}"] {
            let err = RequestHead::decode(&with(valid(), "grpc-encoding", value)).unwrap_err();
            assert_eq!(
                err,
                RequestError::UnsupportedEncoding {
                    encoding: value.into()
                },
                "{value:?}"
            );
            assert_eq!(err.code(), Code::Unimplemented);
        }
    }

    #[test]
    fn echoed_values_are_truncated() {
        let long = "G".repeat(1000);
        let fields = [
            vec![HeaderField::new(":method", long.clone())],
            without(valid(), ":method"),
        ]
        .concat();
        let RequestError::MethodNotAllowed { method } = RequestHead::decode(&fields).unwrap_err()
        else {
            panic!("expected MethodNotAllowed");
        };
        assert_eq!(method, format!("{}...", &long[..ECHO_LIMIT]));
    }
}
