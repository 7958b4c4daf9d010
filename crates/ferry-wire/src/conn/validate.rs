//! Header-list rules of HTTP/2 itself (RFC 9113 §8.2, §8.3): what makes a
//! request, response or trailer section *malformed*. A malformed list is a
//! stream error of type PROTOCOL_ERROR; the connection goes on. gRPC's own
//! rules (content-type, `:path` shape, `grpc-*` fields) are checked a layer
//! up, in [`crate::grpc`].

use crate::HeaderField;

/// Which header section a list is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    Request,
    Response,
    Trailers,
}

/// What validation learned on the way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Checked {
    /// The `content-length`, when one was sent.
    pub(crate) content_length: Option<u64>,
    /// A 1xx response: more response headers follow.
    pub(crate) informational: bool,
}

/// Checks one decoded header list; the error says why it is malformed.
pub(crate) fn check(fields: &[HeaderField], section: Section) -> Result<Checked, &'static str> {
    let mut checked = Checked::default();
    let mut regular_seen = false;
    let (mut method, mut scheme, mut path, mut authority, mut status) =
        (false, false, false, false, false);
    let mut connect = false;
    for f in fields {
        let name = &f.name[..];
        if name.is_empty() {
            return Err("empty header name");
        }
        if !valid_value(&f.value) {
            return Err("header value has a forbidden character");
        }
        if name[0] == b':' {
            if regular_seen {
                return Err("pseudo-header after a regular header");
            }
            let seen = match (section, name) {
                (Section::Request, b":method") => {
                    connect = &f.value[..] == b"CONNECT";
                    &mut method
                }
                (Section::Request, b":scheme") => &mut scheme,
                (Section::Request, b":path") => {
                    if f.value.is_empty() {
                        return Err("empty :path");
                    }
                    &mut path
                }
                (Section::Request, b":authority") => &mut authority,
                (Section::Response, b":status") => {
                    let v = &f.value[..];
                    if v.len() != 3 || !v.iter().all(u8::is_ascii_digit) {
                        return Err("malformed :status");
                    }
                    checked.informational = v[0] == b'1';
                    &mut status
                }
                (Section::Trailers, _) => return Err("pseudo-header in trailers"),
                _ => return Err("unknown or misplaced pseudo-header"),
            };
            if *seen {
                return Err("duplicate pseudo-header");
            }
            *seen = true;
            continue;
        }
        regular_seen = true;
        if !valid_name(name) {
            return Err("header name has an uppercase or forbidden character");
        }
        match name {
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding"
            | b"upgrade" => {
                return Err("connection-specific header field");
            }
            b"te" if &f.value[..] != b"trailers" => return Err("te other than \"trailers\""),
            b"content-length" => {
                let n = parse_decimal(&f.value).ok_or("malformed content-length")?;
                if checked.content_length.is_some_and(|old| old != n) {
                    return Err("conflicting content-length values");
                }
                checked.content_length = Some(n);
            }
            _ => {}
        }
    }
    match section {
        Section::Request if connect && (!authority || scheme || path) => {
            return Err("malformed CONNECT request");
        }
        Section::Request if !(connect || method && scheme && path) => {
            return Err("request without :method, :scheme or :path");
        }
        Section::Response if !status => return Err("response without :status"),
        _ => {}
    }
    Ok(checked)
}

/// RFC 9113 §8.2.1: no uppercase, no controls, space, DEL or non-ASCII.
fn valid_name(name: &[u8]) -> bool {
    name.iter()
        .all(|&b| b > 0x20 && b < 0x7f && !b.is_ascii_uppercase())
}

/// RFC 9113 §8.2.1: no NUL, CR or LF, no leading or trailing space or tab.
fn valid_value(value: &[u8]) -> bool {
    if let (Some(first), Some(last)) = (value.first(), value.last()) {
        if matches!(first, b' ' | b'\t') || matches!(last, b' ' | b'\t') {
            return false;
        }
    }
    !value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n'))
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(extra: &[(&'static str, &'static str)]) -> Vec<HeaderField> {
        let mut v = vec![
            HeaderField::from_static(":method", "POST"),
            HeaderField::from_static(":scheme", "http"),
            HeaderField::from_static(":path", "/a.B/C"),
        ];
        v.extend(
            extra
                .iter()
                .map(|(n, val)| HeaderField::from_static(n, val)),
        );
        v
    }

    #[test]
    fn good_request_and_response() {
        let c = check(
            &req(&[("te", "trailers"), ("content-length", "5")]),
            Section::Request,
        )
        .unwrap();
        assert_eq!(c.content_length, Some(5));
        let r = [HeaderField::from_static(":status", "200")];
        assert_eq!(check(&r, Section::Response), Ok(Checked::default()));
        let r = [HeaderField::from_static(":status", "100")];
        assert!(check(&r, Section::Response).unwrap().informational);
        let t = [HeaderField::from_static("grpc-status", "0")];
        assert!(check(&t, Section::Trailers).is_ok());
    }

    #[test]
    fn malformed_lists() {
        let cases: Vec<(Vec<HeaderField>, Section, &str)> = vec![
            (
                req(&[("Upper", "x")]),
                Section::Request,
                "header name has an uppercase or forbidden character",
            ),
            (
                req(&[("connection", "close")]),
                Section::Request,
                "connection-specific header field",
            ),
            (
                req(&[("te", "gzip")]),
                Section::Request,
                "te other than \"trailers\"",
            ),
            (
                req(&[("x", " padded")]),
                Section::Request,
                "header value has a forbidden character",
            ),
            (
                req(&[("x", "a\nb")]),
                Section::Request,
                "header value has a forbidden character",
            ),
            (
                req(&[("content-length", "1x")]),
                Section::Request,
                "malformed content-length",
            ),
            (req(&[("", "v")]), Section::Request, "empty header name"),
            (
                vec![
                    HeaderField::from_static(":method", "POST"),
                    HeaderField::from_static(":path", "/x"),
                ],
                Section::Request,
                "request without :method, :scheme or :path",
            ),
            (
                vec![
                    HeaderField::from_static("a", "b"),
                    HeaderField::from_static(":status", "200"),
                ],
                Section::Response,
                "pseudo-header after a regular header",
            ),
            (
                vec![
                    HeaderField::from_static(":status", "200"),
                    HeaderField::from_static(":status", "200"),
                ],
                Section::Response,
                "duplicate pseudo-header",
            ),
            (
                vec![HeaderField::from_static(":status", "20")],
                Section::Response,
                "malformed :status",
            ),
            (
                vec![HeaderField::from_static(":path", "/x")],
                Section::Response,
                "unknown or misplaced pseudo-header",
            ),
            (
                vec![HeaderField::from_static(":status", "200")],
                Section::Trailers,
                "pseudo-header in trailers",
            ),
            (vec![], Section::Response, "response without :status"),
        ];
        for (fields, section, why) in cases {
            assert_eq!(check(&fields, section), Err(why), "{fields:?}");
        }
    }
}
