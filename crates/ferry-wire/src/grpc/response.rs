//! Response headers and trailers: built by the server, parsed by the client.
//!
//! A response is either `headers, messages, trailers` or, for a call that
//! fails at once, *Trailers-Only*: one HEADERS block with END_STREAM holding
//! `:status`, `content-type` and the trailers. The server builds the first
//! with [`ResponseHead::encode`] and [`Trailers::encode`], the second with
//! [`Trailers::encode_trailers_only`]. The client reads the first block with
//! [`ResponseStart::decode`] and the trailers with [`Trailers::decode`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use bytes::Bytes;

use super::content_type::{CONTENT_TYPE_GRPC, is_grpc_content_type};
use super::metadata::{LENIENT_BASE64, Metadata, trim_bytes};
use super::percent::{percent_decode, percent_encode};
use super::request::{RequestHead, echo};
use super::status::{Code, Status, http_reason_phrase};
use crate::HeaderField;

const STATUS_200: HeaderField = HeaderField::from_static(":status", "200");
const CONTENT_TYPE_DEFAULT: HeaderField =
    HeaderField::from_static("content-type", CONTENT_TYPE_GRPC);

/// The headers that open a response (before its messages).
#[derive(Clone, Debug)]
pub struct ResponseHead {
    content_type: Bytes,
    encoding: Option<Bytes>,
    accept_encoding: Option<Bytes>,
    metadata: Metadata,
}

impl ResponseHead {
    /// `:status 200`, `content-type: application/grpc`, no compression, no
    /// metadata.
    pub fn new() -> ResponseHead {
        ResponseHead {
            content_type: Bytes::from_static(CONTENT_TYPE_GRPC.as_bytes()),
            encoding: None,
            accept_encoding: None,
            metadata: Metadata::new(),
        }
    }

    /// Like [`new`](ResponseHead::new), with the request's content type (as
    /// grpc-go answers: same codec subtype), shared rather than copied.
    pub fn for_request(request: &RequestHead) -> ResponseHead {
        ResponseHead {
            content_type: request.content_type_bytes().clone(),
            ..ResponseHead::new()
        }
    }

    /// Sets the content type (usually the request's, e.g.
    /// `application/grpc+proto`).
    pub fn with_content_type(mut self, content_type: impl Into<Bytes>) -> ResponseHead {
        self.content_type = content_type.into();
        self
    }

    /// Sends `grpc-encoding`: the compression of the response messages.
    pub fn with_encoding(mut self, encoding: impl Into<Bytes>) -> ResponseHead {
        self.encoding = Some(encoding.into());
        self
    }

    /// Sends `grpc-accept-encoding`: the compressions this server reads.
    pub fn with_accept_encoding(mut self, encodings: impl Into<Bytes>) -> ResponseHead {
        self.accept_encoding = Some(encodings.into());
        self
    }

    /// Replaces the initial metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> ResponseHead {
        self.metadata = metadata;
        self
    }

    /// The `content-type`.
    pub fn content_type(&self) -> &str {
        text(&self.content_type)
    }

    /// The `grpc-encoding` of the response messages, if any.
    pub fn encoding(&self) -> Option<&str> {
        self.encoding.as_ref().map(|e| text(e))
    }

    /// The encodings listed in `grpc-accept-encoding`, trimmed, in order.
    pub fn accept_encoding(&self) -> impl Iterator<Item = &str> {
        let list = self.accept_encoding.as_ref().map_or("", |a| text(a));
        list.split(',').map(str::trim).filter(|e| !e.is_empty())
    }

    /// The initial metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The initial metadata, to change it.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Takes the initial metadata out.
    pub fn into_metadata(self) -> Metadata {
        self.metadata
    }

    /// The HEADERS block: `:status 200`, `grpc-encoding`,
    /// `grpc-accept-encoding`, `content-type`, then the metadata (the spec's
    /// order).
    pub fn encode(&self) -> Vec<HeaderField> {
        let mut fields = Vec::with_capacity(4 + self.metadata.len());
        self.encode_into(&mut fields);
        fields
    }

    /// [`encode`](ResponseHead::encode), appending to `fields` (a buffer
    /// kept for the next block saves allocating one per response).
    pub fn encode_into(&self, fields: &mut Vec<HeaderField>) {
        fields.push(STATUS_200);
        if let Some(encoding) = &self.encoding {
            fields.push(field("grpc-encoding", encoding.clone()));
        }
        if let Some(accept) = &self.accept_encoding {
            fields.push(field("grpc-accept-encoding", accept.clone()));
        }
        fields.push(field("content-type", self.content_type.clone()));
        self.metadata.encode(fields);
    }
}

impl Default for ResponseHead {
    fn default() -> ResponseHead {
        ResponseHead::new()
    }
}

/// The end of a response: its status and trailing metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trailers {
    status: Status,
    metadata: Metadata,
}

impl Trailers {
    /// Trailers with `status` and no metadata.
    pub fn new(status: Status) -> Trailers {
        Trailers {
            status,
            metadata: Metadata::new(),
        }
    }

    /// Replaces the trailing metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Trailers {
        self.metadata = metadata;
        self
    }

    /// The status.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// The trailing metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The trailing metadata, to change it.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Splits into status and metadata.
    pub fn into_parts(self) -> (Status, Metadata) {
        (self.status, self.metadata)
    }

    /// The trailers block (sent with END_STREAM): `grpc-status` (always,
    /// also for OK), `grpc-message` when the message is not empty
    /// (percent-encoded), `grpc-status-details-bin` when there are details
    /// (base64 without padding), then the metadata.
    pub fn encode(&self) -> Vec<HeaderField> {
        let mut fields = Vec::with_capacity(3 + self.metadata.len());
        self.encode_into(&mut fields);
        fields
    }

    /// A Trailers-Only response (sent with END_STREAM, nothing before it):
    /// `:status 200` and `content-type` followed by the trailers.
    pub fn encode_trailers_only(&self, content_type: impl Into<Bytes>) -> Vec<HeaderField> {
        let mut fields = Vec::with_capacity(5 + self.metadata.len());
        fields.push(STATUS_200);
        fields.push(field("content-type", content_type.into()));
        self.encode_into(&mut fields);
        fields
    }

    /// [`encode`](Trailers::encode), appending to `fields`.
    pub fn encode_into(&self, fields: &mut Vec<HeaderField>) {
        encode_status(&self.status, fields);
        self.metadata.encode(fields);
    }

    /// Reads a trailers block (or the trailers part of a Trailers-Only
    /// block). Never fails: whatever the peer sent, the call gets a status.
    ///
    /// * `grpc-status` missing → `UNKNOWN` (what an HTTP 200 maps to).
    /// * `grpc-status` not a number → `UNKNOWN`, "malformed grpc-status".
    /// * a number gRPC does not define → `UNKNOWN`, keeping the peer's
    ///   message.
    /// * `grpc-message` is percent-decoded leniently.
    /// * `grpc-status-details-bin` that is not base64 → the details are
    ///   dropped, the code and message kept: the code is the server's answer
    ///   and matters more than its optional attachment.
    /// * other `-bin` metadata that is not base64 → `INTERNAL`, no metadata
    ///   (as grpc-go: the application's data arrived corrupted).
    pub fn decode(fields: &[HeaderField]) -> Trailers {
        let mut grpc_status = None;
        let mut message = None;
        let mut details = None;
        for f in fields {
            let slot = match f.name.as_ref() {
                b"grpc-status" => &mut grpc_status,
                b"grpc-message" => &mut message,
                b"grpc-status-details-bin" => &mut details,
                _ => continue,
            };
            slot.get_or_insert(&f.value);
        }
        let metadata = match Metadata::decode(fields) {
            Ok(metadata) => metadata,
            Err(e) => return Trailers::new(Status::internal(format!("malformed trailers: {e}"))),
        };
        let message = message
            .map(|m| percent_decode(m).into_owned())
            .unwrap_or_default();
        let status = match grpc_status.map(|raw| (raw, parse_status_number(raw))) {
            None => Status::unknown("grpc-status missing from the trailers"),
            Some((raw, None)) => Status::unknown(format!("malformed grpc-status {:?}", echo(raw))),
            Some((_, Some(number))) => {
                let code = match i32::try_from(number) {
                    Ok(n) => Code::from_i32(n),
                    Err(_) => Code::Unknown,
                };
                let message = if code == Code::Unknown && message.is_empty() && number != 2 {
                    format!("grpc-status {number} is not a gRPC code")
                } else {
                    message
                };
                let details = details
                    .and_then(|d| LENIENT_BASE64.decode(trim_bytes(d)).ok())
                    .map(Bytes::from)
                    .unwrap_or_default();
                Status::with_details(code, message, details)
            }
        };
        Trailers { status, metadata }
    }
}

impl From<Status> for Trailers {
    fn from(status: Status) -> Trailers {
        Trailers::new(status)
    }
}

/// What the first header block of a response says.
#[derive(Clone, Debug)]
pub enum ResponseStart {
    /// Response-Headers: messages and then trailers follow.
    Headers(ResponseHead),
    /// Trailers-Only: the call is over.
    TrailersOnly(Trailers),
    /// A 1xx interim response: ignore it and wait for the next block.
    Informational,
}

impl ResponseStart {
    /// Reads the first header block of a response; `end_stream` is the
    /// HEADERS frame's END_STREAM flag.
    ///
    /// * 1xx → [`Informational`](ResponseStart::Informational).
    /// * END_STREAM with `grpc-status` → [`TrailersOnly`](ResponseStart::TrailersOnly),
    ///   whatever the `:status` and `content-type`: the spec says a
    ///   `grpc-status`, when present, must be used.
    /// * `:status` other than 200, or a `content-type` that is not gRPC →
    ///   `Err`, the code from the HTTP status
    ///   ([`Code::from_http_status`]; 200 gives `UNKNOWN`).
    /// * END_STREAM without `grpc-status` → `Err(UNKNOWN)`.
    /// * a missing or malformed `:status`, another pseudo-header, or `-bin`
    ///   metadata that is not base64 → `Err(INTERNAL)`.
    ///
    /// On `Err` the call has failed; if the stream is still open the runtime
    /// resets it.
    pub fn decode(fields: &[HeaderField], end_stream: bool) -> Result<ResponseStart, Status> {
        let mut http_status = None;
        let mut content_type = None;
        let mut encoding = None;
        let mut accept_encoding = None;
        let mut has_grpc_status = false;
        let mut regular_seen = false;
        for f in fields {
            if f.is_pseudo() {
                if f.name.as_ref() != b":status" || regular_seen || http_status.is_some() {
                    return Err(Status::internal(
                        "malformed response headers: unexpected pseudo-header",
                    ));
                }
                http_status = Some(&f.value);
                continue;
            }
            regular_seen = true;
            let slot = match f.name.as_ref() {
                b"content-type" => &mut content_type,
                b"grpc-encoding" => &mut encoding,
                b"grpc-accept-encoding" => &mut accept_encoding,
                b"grpc-status" => {
                    has_grpc_status = true;
                    continue;
                }
                _ => continue,
            };
            slot.get_or_insert(&f.value);
        }
        let Some(raw) = http_status else {
            return Err(Status::internal(
                "malformed response headers: missing :status",
            ));
        };
        let Some(http) = parse_http_status(raw) else {
            return Err(Status::internal(format!(
                "malformed response headers: invalid :status {:?}",
                echo(raw)
            )));
        };
        if (100..200).contains(&http) {
            if end_stream {
                return Err(Status::internal(
                    "malformed response: interim 1xx response ended the stream",
                ));
            }
            return Ok(ResponseStart::Informational);
        }
        if end_stream && has_grpc_status {
            return Ok(ResponseStart::TrailersOnly(Trailers::decode(fields)));
        }
        let grpc_content_type = content_type.filter(|ct| is_grpc_content_type(ct));
        if http != 200 || grpc_content_type.is_none() {
            let mut reasons = Vec::with_capacity(2);
            if http != 200 {
                reasons.push(match http_reason_phrase(http) {
                    "" => format!("unexpected HTTP status {http} from server"),
                    phrase => format!("unexpected HTTP status {http} ({phrase}) from server"),
                });
            }
            if grpc_content_type.is_none() {
                reasons.push(match content_type {
                    Some(ct) => format!("unexpected content-type {:?}", echo(ct)),
                    None => "missing content-type".to_owned(),
                });
            }
            return Err(Status::new(
                Code::from_http_status(http),
                reasons.join("; "),
            ));
        }
        if end_stream {
            return Err(Status::unknown("response ended without grpc-status"));
        }
        let metadata = Metadata::decode(fields)
            .map_err(|e| Status::internal(format!("malformed response headers: {e}")))?;
        Ok(ResponseStart::Headers(ResponseHead {
            content_type: grpc_content_type.cloned().unwrap_or_default(),
            encoding: encoding.map(trim_bytes).filter(|e| is_printable(e)),
            accept_encoding: accept_encoding.map(trim_bytes).filter(|a| is_printable(a)),
            metadata,
        }))
    }
}

/// The block a server answers a refused request with: `:status`,
/// `content-type`, `grpc-status`, `grpc-message` (grpc-go answers the same
/// way, so gRPC clients read the status and plain HTTP clients the HTTP
/// status).
pub(crate) fn encode_error_response(http_status: u16, status: &Status) -> Vec<HeaderField> {
    let mut fields = Vec::with_capacity(4);
    fields.push(match http_status {
        200 => STATUS_200,
        other => field(":status", Bytes::from(other.to_string())),
    });
    fields.push(CONTENT_TYPE_DEFAULT);
    encode_status(status, &mut fields);
    fields
}

fn encode_status(status: &Status, fields: &mut Vec<HeaderField>) {
    fields.push(HeaderField::from_static(
        "grpc-status",
        status.code().header_value(),
    ));
    if !status.message().is_empty() {
        let value = match percent_encode(status.message()) {
            std::borrow::Cow::Borrowed(s) => Bytes::copy_from_slice(s.as_bytes()),
            std::borrow::Cow::Owned(s) => Bytes::from(s),
        };
        fields.push(field("grpc-message", value));
    }
    if !status.details().is_empty() {
        fields.push(field(
            "grpc-status-details-bin",
            Bytes::from(STANDARD_NO_PAD.encode(status.details())),
        ));
    }
}

/// `grpc-status`: 1 to 10 ASCII digits. Leading zeros are tolerated.
fn parse_status_number(value: &[u8]) -> Option<u32> {
    if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = value
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    u32::try_from(n).ok()
}

/// `:status`: exactly three ASCII digits (RFC 9110 §15).
fn parse_http_status(value: &[u8]) -> Option<u16> {
    match value {
        [a, b, c] if value.iter().all(u8::is_ascii_digit) => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

fn field(name: &'static str, value: Bytes) -> HeaderField {
    HeaderField {
        name: Bytes::from_static(name.as_bytes()),
        value,
        sensitive: false,
    }
}

fn is_printable(value: &[u8]) -> bool {
    value.iter().all(|&b| (0x20..=0x7e).contains(&b))
}

/// Header bytes as text; printable ASCII on every decoded path.
fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::Scheme;
    use proptest::prelude::*;

    fn f(name: &'static str, value: &'static str) -> HeaderField {
        HeaderField::from_static(name, value)
    }

    fn decode_ok(fields: &[HeaderField], end_stream: bool) -> ResponseStart {
        match ResponseStart::decode(fields, end_stream) {
            Ok(start) => start,
            Err(status) => panic!("unexpected error {status}"),
        }
    }

    fn decode_err(fields: &[HeaderField], end_stream: bool) -> Status {
        match ResponseStart::decode(fields, end_stream) {
            Ok(start) => panic!("unexpected success {start:?}"),
            Err(status) => status,
        }
    }

    #[test]
    fn encodes_response_headers() {
        let mut md = Metadata::new();
        md.append("x-grpc-test-echo-initial", "v").unwrap();
        let head = ResponseHead::new()
            .with_content_type("application/grpc+proto")
            .with_encoding("gzip")
            .with_accept_encoding("gzip,identity")
            .with_metadata(md);
        assert_eq!(
            head.encode(),
            vec![
                f(":status", "200"),
                f("grpc-encoding", "gzip"),
                f("grpc-accept-encoding", "gzip,identity"),
                f("content-type", "application/grpc+proto"),
                f("x-grpc-test-echo-initial", "v"),
            ]
        );
        let request = RequestHead::new(Scheme::Http, "h", "/a.B/C")
            .with_content_type("application/grpc+json");
        let head = ResponseHead::for_request(&request);
        assert_eq!(head.content_type(), "application/grpc+json");
        assert_eq!(
            ResponseHead::new().encode(),
            vec![f(":status", "200"), f("content-type", "application/grpc")]
        );
    }

    #[test]
    fn encodes_ok_trailers() {
        assert_eq!(
            Trailers::new(Status::ok()).encode(),
            vec![f("grpc-status", "0")]
        );
    }

    #[test]
    fn encodes_error_trailers_with_message_details_and_metadata() {
        let mut md = Metadata::new();
        md.append_bin("x-grpc-test-echo-trailing-bin", &b"\xab\xab\xab"[..])
            .unwrap();
        let status = Status::with_details(
            Code::Unknown,
            "\t\ntest with whitespace\r\nand Unicode BMP ☺",
            &b"\x08\x02"[..],
        );
        let trailers = Trailers::new(status.clone()).with_metadata(md);
        let fields = trailers.encode();
        assert_eq!(
            fields,
            vec![
                f("grpc-status", "2"),
                f(
                    "grpc-message",
                    "%09%0Atest with whitespace%0D%0Aand Unicode BMP %E2%98%BA"
                ),
                f("grpc-status-details-bin", "CAI"),
                f("x-grpc-test-echo-trailing-bin", "q6ur"),
            ]
        );
        assert_eq!(Trailers::decode(&fields), trailers);
    }

    #[test]
    fn encodes_trailers_only() {
        let fields = Trailers::new(Status::unimplemented("unknown service a.B"))
            .encode_trailers_only(CONTENT_TYPE_GRPC);
        assert_eq!(
            fields,
            vec![
                f(":status", "200"),
                f("content-type", "application/grpc"),
                f("grpc-status", "12"),
                f("grpc-message", "unknown service a.B"),
            ]
        );
        let ResponseStart::TrailersOnly(trailers) = decode_ok(&fields, true) else {
            panic!("expected Trailers-Only");
        };
        assert_eq!(
            trailers.status(),
            &Status::unimplemented("unknown service a.B")
        );
        assert!(trailers.metadata().is_empty());
    }

    #[test]
    fn decodes_response_headers() {
        let fields = vec![
            f(":status", "200"),
            f("grpc-encoding", "gzip"),
            f("content-type", "application/grpc"),
            f("x-grpc-test-echo-initial", "test_initial_metadata_value"),
        ];
        let ResponseStart::Headers(head) = decode_ok(&fields, false) else {
            panic!("expected headers");
        };
        assert_eq!(head.content_type(), "application/grpc");
        assert_eq!(head.encoding(), Some("gzip"));
        assert_eq!(head.accept_encoding().count(), 0);
        assert_eq!(
            head.metadata()
                .get("x-grpc-test-echo-initial")
                .and_then(|v| v.as_str()),
            Some("test_initial_metadata_value")
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        assert!(matches!(
            decode_ok(&[f(":status", "100")], false),
            ResponseStart::Informational
        ));
        assert_eq!(
            decode_err(&[f(":status", "103")], true).code(),
            Code::Internal
        );
    }

    #[test]
    fn grpc_status_wins_over_http_status_in_trailers_only() {
        let fields = vec![
            f(":status", "503"),
            f("grpc-status", "8"),
            f("grpc-message", "slow down"),
        ];
        let ResponseStart::TrailersOnly(trailers) = decode_ok(&fields, true) else {
            panic!("expected Trailers-Only");
        };
        assert_eq!(trailers.status(), &Status::resource_exhausted("slow down"));
    }

    #[test]
    fn non_grpc_responses_map_the_http_status() {
        let cases: Vec<(Vec<HeaderField>, bool, Status)> = vec![
            (
                vec![f(":status", "404"), f("content-type", "text/html")],
                true,
                Status::unimplemented(
                    "unexpected HTTP status 404 (Not Found) from server; unexpected content-type \"text/html\"",
                ),
            ),
            (
                vec![f(":status", "503"), f("content-type", "application/grpc")],
                false,
                Status::unavailable("unexpected HTTP status 503 (Service Unavailable) from server"),
            ),
            (
                vec![f(":status", "401")],
                true,
                Status::unauthenticated(
                    "unexpected HTTP status 401 (Unauthorized) from server; missing content-type",
                ),
            ),
            (
                vec![f(":status", "200"), f("content-type", "text/plain")],
                false,
                Status::unknown("unexpected content-type \"text/plain\""),
            ),
            (
                vec![
                    f(":status", "500"),
                    f("content-type", "application/grpc"),
                    f("grpc-status", "0"),
                ],
                false,
                Status::unknown("unexpected HTTP status 500 (Internal Server Error) from server"),
            ),
            (
                vec![f(":status", "200"), f("content-type", "application/grpc")],
                true,
                Status::unknown("response ended without grpc-status"),
            ),
        ];
        for (fields, end_stream, expected) in cases {
            assert_eq!(decode_err(&fields, end_stream), expected, "{fields:?}");
        }
    }

    #[test]
    fn malformed_response_headers_are_internal() {
        let cases: Vec<(Vec<HeaderField>, &str)> = vec![
            (
                vec![f("content-type", "application/grpc")],
                "malformed response headers: missing :status",
            ),
            (
                vec![f(":status", "2000")],
                "malformed response headers: invalid :status \"2000\"",
            ),
            (
                vec![f(":status", "abc")],
                "malformed response headers: invalid :status \"abc\"",
            ),
            (
                vec![f(":status", "200"), f(":status", "200")],
                "malformed response headers: unexpected pseudo-header",
            ),
            (
                vec![f(":path", "/"), f(":status", "200")],
                "malformed response headers: unexpected pseudo-header",
            ),
            (
                vec![f("content-type", "application/grpc"), f(":status", "200")],
                "malformed response headers: unexpected pseudo-header",
            ),
            (
                vec![
                    f(":status", "200"),
                    f("content-type", "application/grpc"),
                    f("x-bin", "*"),
                ],
                "malformed response headers: malformed base64 in binary metadata \"x-bin\"",
            ),
        ];
        for (fields, message) in cases {
            assert_eq!(
                decode_err(&fields, false),
                Status::internal(message),
                "{fields:?}"
            );
        }
    }

    #[test]
    fn trailers_status_parsing() {
        let cases: Vec<(Vec<HeaderField>, Status)> = vec![
            (vec![f("grpc-status", "0")], Status::ok()),
            (
                vec![
                    f("grpc-status", "5"),
                    f("grpc-message", "no%20such%zzthing"),
                ],
                Status::not_found("no such%zzthing"),
            ),
            (
                vec![],
                Status::unknown("grpc-status missing from the trailers"),
            ),
            (
                vec![f("grpc-message", "lost")],
                Status::unknown("grpc-status missing from the trailers"),
            ),
            (
                vec![f("grpc-status", "abc")],
                Status::unknown("malformed grpc-status \"abc\""),
            ),
            (
                vec![f("grpc-status", "-1")],
                Status::unknown("malformed grpc-status \"-1\""),
            ),
            (
                vec![f("grpc-status", "")],
                Status::unknown("malformed grpc-status \"\""),
            ),
            (
                vec![f("grpc-status", "99999999999")],
                Status::unknown("malformed grpc-status \"99999999999\""),
            ),
            (
                vec![f("grpc-status", "17")],
                Status::unknown("grpc-status 17 is not a gRPC code"),
            ),
            (
                vec![f("grpc-status", "4294967295")],
                Status::unknown("grpc-status 4294967295 is not a gRPC code"),
            ),
            (
                vec![f("grpc-status", "17"), f("grpc-message", "custom")],
                Status::unknown("custom"),
            ),
            (vec![f("grpc-status", "2")], Status::unknown("")),
            (
                vec![f("grpc-status", "14"), f("grpc-status", "0")],
                Status::unavailable(""),
            ),
            (
                vec![f("grpc-status", "3"), f("grpc-status-details-bin", "CAM=")],
                Status::with_details(Code::InvalidArgument, "", &b"\x08\x03"[..]),
            ),
            (
                vec![
                    f("grpc-status", "3"),
                    f("grpc-message", "bad"),
                    f("grpc-status-details-bin", "!!!"),
                ],
                Status::invalid_argument("bad"),
            ),
            (
                vec![f("grpc-status", "0"), f("x-trailer-bin", "!!!")],
                Status::internal(
                    "malformed trailers: malformed base64 in binary metadata \"x-trailer-bin\"",
                ),
            ),
        ];
        for (fields, expected) in cases {
            assert_eq!(Trailers::decode(&fields).status(), &expected, "{fields:?}");
        }
    }

    #[test]
    fn trailers_keep_custom_metadata_only() {
        let fields = vec![
            f("grpc-status", "0"),
            f("grpc-message", ""),
            f("x-grpc-test-echo-trailing-bin", "q6ur"),
            f("x-other", "v"),
        ];
        let (status, md) = Trailers::decode(&fields).into_parts();
        assert!(status.is_ok());
        let keys: Vec<_> = md.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["x-grpc-test-echo-trailing-bin", "x-other"]);
    }

    #[test]
    fn error_response_blocks() {
        assert_eq!(
            encode_error_response(415, &Status::internal("not gRPC")),
            vec![
                f(":status", "415"),
                f("content-type", "application/grpc"),
                f("grpc-status", "13"),
                f("grpc-message", "not gRPC"),
            ]
        );
        // A plain HTTP/2 client sees 415; a gRPC client that honours
        // grpc-status sees INTERNAL.
        let ResponseStart::TrailersOnly(t) =
            decode_ok(&encode_error_response(415, &Status::internal("x")), true)
        else {
            panic!("expected Trailers-Only");
        };
        assert_eq!(t.status().code(), Code::Internal);
    }

    proptest! {
        /// Whatever status goes out comes back, byte for byte.
        #[test]
        fn status_round_trip(
            code in 0i32..=16,
            message in any::<String>(),
            details in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            let status = Status::with_details(Code::from_i32(code), message, details);
            let trailers = Trailers::new(status.clone());
            let decoded = Trailers::decode(&trailers.encode());
            prop_assert_eq!(decoded.status(), &status);
            let block = trailers.encode_trailers_only(CONTENT_TYPE_GRPC);
            match ResponseStart::decode(&block, true) {
                Ok(ResponseStart::TrailersOnly(t)) => prop_assert_eq!(t.status(), &status),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }

        /// Arbitrary header blocks never panic.
        #[test]
        fn decode_never_panics(
            fields in proptest::collection::vec(
                ("(:status|:path|content-type|grpc-status|grpc-message|grpc-status-details-bin|x-bin|x)",
                 proptest::collection::vec(any::<u8>(), 0..12)),
                0..6,
            ),
            end_stream in any::<bool>(),
        ) {
            let fields: Vec<HeaderField> = fields.into_iter().map(|(n, v)| HeaderField::new(n, v)).collect();
            let _ = ResponseStart::decode(&fields, end_stream);
            let _ = Trailers::decode(&fields);
        }
    }
}
