//! Translation between the runtime's HTTP/2-shaped header lists and the
//! native protocol's metadata.

use bytes::Bytes;
use ferry_wire::HeaderField;
use ferry_wire::grpc::{self, RequestError, RequestHead, percent_encode};
use ferry_wire::native::{Flags, Frame, Meta};

use crate::driver::Answer;

/// Request pseudo-headers and fields a native REQUEST leaves out (they are
/// implied, or carried in their own metadata entries).
pub(super) fn is_reserved(name: &[u8]) -> bool {
    name.first() == Some(&b':')
        || matches!(
            name,
            b"content-type"
                | b"te"
                | b"user-agent"
                | b"grpc-timeout"
                | b"grpc-encoding"
                | b"grpc-accept-encoding"
                | b"grpc-status"
                | b"grpc-message"
                | b"ferry-one-way"
        )
}

pub(super) fn utf8(value: &[u8]) -> Option<String> {
    std::str::from_utf8(value).ok().map(str::to_owned)
}

pub(super) fn push_header(headers: &mut Vec<(String, Bytes)>, field: &HeaderField) {
    if let Some(name) = utf8(&field.name) {
        headers.push((name, field.value.clone()));
    }
}

/// A client call's request metadata, straight from its request head.
pub(super) fn request_meta(head: &RequestHead) -> Meta {
    let mut meta = Meta::default();
    let path = head.path();
    let path = path.strip_prefix('/').unwrap_or(path);
    match path.split_once('/') {
        Some((service, method)) => {
            meta.service = Some(service.to_owned());
            meta.method = Some(method.to_owned());
        }
        None => meta.method = Some(path.to_owned()),
    }
    meta.timeout = head.timeout();
    meta.encoding = head.encoding().map(str::to_owned);
    meta.accept_encoding = head.accept_encoding_value().and_then(|v| utf8(v));
    if !head.metadata().is_empty() {
        // Values as gRPC over HTTP/2 carries them (base64 for `-bin`).
        let mut fields = Vec::with_capacity(head.metadata().len());
        head.metadata().encode(&mut fields);
        for field in &fields {
            match &field.name[..] {
                b"ferry-implementation" => meta.implementation = utf8(&field.value),
                name if is_reserved(name) => {}
                _ => push_header(&mut meta.headers, field),
            }
        }
    }
    meta
}

/// A client's last reusable request metadata section (see
/// [`request_meta_bytes`]) and what it was made from.
#[derive(Debug)]
pub(super) struct MetaCache {
    path: String,
    encoding: Option<String>,
    accept: Option<Bytes>,
    encoded: Bytes,
}

/// A request's metadata section without its timeout, encoded. Calls to one
/// method without application metadata repeat it byte for byte (what
/// HPACK's dynamic table saves HTTP/2), so the last such section is kept
/// in `cache` and reused while method and encodings stay the same.
pub(super) fn request_meta_bytes(head: &RequestHead, cache: &mut Option<MetaCache>) -> Bytes {
    let cacheable = head.metadata().is_empty();
    if cacheable
        && let Some(hit) = cache.as_ref().filter(|c| {
            c.path == head.path()
                && c.encoding.as_deref() == head.encoding()
                && c.accept.as_ref() == head.accept_encoding_value()
        })
    {
        return hit.encoded.clone();
    }
    let mut meta = request_meta(head);
    meta.timeout = None;
    let encoded = meta.to_bytes();
    if cacheable {
        *cache = Some(MetaCache {
            path: head.path().to_owned(),
            encoding: head.encoding().map(str::to_owned),
            accept: head.accept_encoding_value().cloned(),
            encoded: encoded.clone(),
        });
    }
    encoded
}

/// A unary answer's part of a RESPONSE's metadata: the response metadata,
/// the encoding, and the OK status's trailing metadata.
pub(super) fn answer_meta(answer: &Answer, meta: &mut Meta) {
    meta.encoding = answer.head.encoding().map(str::to_owned);
    let mut fields = Vec::new();
    for (metadata, into) in [
        (answer.head.metadata(), &mut meta.headers),
        (&answer.trailers, &mut meta.trailers),
    ] {
        if metadata.is_empty() {
            continue;
        }
        fields.clear();
        metadata.encode(&mut fields);
        for field in &fields {
            if !is_reserved(&field.name) {
                push_header(into, field);
            }
        }
    }
}

/// The request head the server's routing reads, built from the REQUEST's
/// metadata and checked as an HTTP/2 request's headers would be.
pub(super) fn request_head(meta: Meta) -> Result<RequestHead, RequestError> {
    let service = meta.service.as_deref().unwrap_or_default();
    let method = meta.method.as_deref().unwrap_or_default();
    // Joined by hand: `format!` costs about a thousand instructions here,
    // on every call.
    let mut path = String::with_capacity(2 + service.len() + method.len());
    path.push('/');
    path.push_str(service);
    path.push('/');
    path.push_str(method);
    let mut fields = Vec::new();
    if let Some(implementation) = &meta.implementation {
        fields.push(HeaderField::new(
            "ferry-implementation",
            implementation.clone(),
        ));
    }
    fields.extend(header_fields(&meta.headers));
    let encoding = meta.encoding.map(Bytes::from);
    let head =
        RequestHead::from_parts(Bytes::from(path), meta.timeout, encoding.as_ref(), &fields)?;
    Ok(match meta.accept_encoding {
        Some(accept) => head.with_accept_encoding(accept),
        None => head,
    })
}

/// Native metadata pairs as the header fields gRPC over HTTP/2 carries.
pub(super) fn header_fields(pairs: &[(String, Bytes)]) -> impl Iterator<Item = HeaderField> + '_ {
    pairs
        .iter()
        .map(|(key, value)| HeaderField::new(key.clone(), value.clone()))
}

/// The start of a response's header list, with room for `more` fields.
pub(super) fn response_start(more: usize) -> Vec<HeaderField> {
    let mut fields = Vec::with_capacity(2 + more);
    fields.extend([
        HeaderField::from_static(":status", "200"),
        HeaderField::from_static("content-type", "application/grpc"),
    ]);
    fields
}

/// `grpc-status` values 0 to 16 as text, so a status costs no formatting.
const STATUS_TEXT: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// The trailers a call reads from a frame that ends the response.
pub(super) fn trailer_fields(frame: &Frame, meta: &Meta) -> Vec<HeaderField> {
    // Codes past 16 are UNKNOWN (2).
    let code = STATUS_TEXT.get(usize::from(frame.status)).unwrap_or(&"2");
    let mut fields = Vec::with_capacity(3 + meta.trailers.len());
    fields.push(HeaderField::from_static("grpc-status", code));
    if let Some(message) = &meta.status_message {
        fields.push(HeaderField::new(
            "grpc-message",
            percent_encode(message).into_owned(),
        ));
    }
    if frame.has(Flags::FRAMEWORK_ERROR) {
        fields.push(HeaderField::from_static("ferry-error-source", "framework"));
    }
    for (key, value) in &meta.trailers {
        fields.push(HeaderField::new(key.clone(), value.clone()));
    }
    fields
}

pub(super) fn status_fields(status: &grpc::Status) -> Vec<HeaderField> {
    let mut fields = vec![HeaderField::new(
        "grpc-status",
        status.code().as_i32().to_string(),
    )];
    fields.push(HeaderField::new(
        "grpc-message",
        percent_encode(status.message()).into_owned(),
    ));
    fields
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::BytesMut;
    use ferry_wire::grpc::Scheme;
    use ferry_wire::native::{FrameDecoder, Kind};

    use super::*;

    fn head(path: &str, timeout: Option<Duration>) -> RequestHead {
        let mut head = RequestHead::new(Scheme::Http, "native", path.to_owned())
            .with_accept_encoding("identity,gzip");
        head.set_timeout(timeout);
        head
    }

    /// What a server decodes from a unary REQUEST frame written with the
    /// cached section and the timeout in front of it.
    fn sent(head: &RequestHead, cache: &mut Option<MetaCache>) -> Meta {
        let timeout = head.timeout().map(|t| Meta {
            timeout: Some(t),
            ..Meta::default()
        });
        let frame = Frame {
            meta: request_meta_bytes(head, cache),
            ..Frame::new(Kind::Request, 1)
        };
        let mut wire = BytesMut::new();
        match &timeout {
            Some(meta) => frame.encode_with_meta(meta, &mut wire),
            None => frame.encode(&mut wire),
        }
        let frame = FrameDecoder::new().decode(&mut wire).unwrap().unwrap();
        Meta::decode(&frame.meta).unwrap()
    }

    #[test]
    fn a_cached_request_section_says_what_a_fresh_one_says() {
        let mut cache = None;
        let calls = [
            head("/a.S/One", None),
            head("/a.S/One", Some(Duration::from_millis(250))),
            head("/a.S/Two", None),
            head("/a.S/One", Some(Duration::from_secs(3))),
            head("/a.S/One", None).with_encoding("gzip"),
            head("/a.S/One", None),
        ];
        for call in &calls {
            assert_eq!(
                sent(call, &mut cache),
                request_meta(call),
                "{}",
                call.path()
            );
        }
        // Application metadata is never cached: it changes call to call.
        let mut with_metadata = head("/a.S/One", None);
        with_metadata
            .metadata_mut()
            .insert("x-user", "ann")
            .unwrap();
        assert_eq!(
            sent(&with_metadata, &mut cache),
            request_meta(&with_metadata)
        );
        assert_eq!(cache.as_ref().map(|c| c.path.as_str()), Some("/a.S/One"));
        assert!(cache.as_ref().is_some_and(|c| !c.encoded.is_empty()));
    }
}
