//! The `content-type` that marks an HTTP/2 request or response as gRPC.

/// The base gRPC content type (protobuf implied).
pub const CONTENT_TYPE_GRPC: &str = "application/grpc";
/// gRPC with protobuf messages, spelled out.
pub const CONTENT_TYPE_GRPC_PROTO: &str = "application/grpc+proto";
/// gRPC with JSON messages.
pub const CONTENT_TYPE_GRPC_JSON: &str = "application/grpc+json";

/// True when `value` is `application/grpc`, alone or followed by `+` (a
/// subtype) or `;` (parameters). `application/grpc-web` and
/// `application/grpcfoo` are not gRPC. The media type is compared ignoring
/// ASCII case, as HTTP media types are case-insensitive.
pub(crate) fn is_grpc_content_type(value: &[u8]) -> bool {
    let base = CONTENT_TYPE_GRPC.as_bytes();
    match value.split_at_checked(base.len()) {
        Some((head, rest)) => {
            head.eq_ignore_ascii_case(base)
                && matches!(rest.first(), None | Some(b'+') | Some(b';'))
        }
        None => false,
    }
}

/// The subtype of a gRPC content type: `proto` for `application/grpc+proto`,
/// `None` for the bare type. Parameters after `;` are not part of it.
pub(crate) fn content_subtype(value: &str) -> Option<&str> {
    let rest = value.get(CONTENT_TYPE_GRPC.len()..)?.strip_prefix('+')?;
    let subtype = rest.split(';').next().unwrap_or(rest).trim();
    if subtype.is_empty() {
        None
    } else {
        Some(subtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_grpc_content_types() {
        for ok in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+json",
            "application/grpc+custom",
            "application/grpc;charset=utf-8",
            "Application/GRPC",
        ] {
            assert!(is_grpc_content_type(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "application/grp",
            "application/grpc-web",
            "application/grpcx",
            "text/html",
            "application/json",
        ] {
            assert!(!is_grpc_content_type(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn subtypes() {
        assert_eq!(content_subtype("application/grpc"), None);
        assert_eq!(content_subtype("application/grpc+proto"), Some("proto"));
        assert_eq!(
            content_subtype("application/grpc+json; charset=utf-8"),
            Some("json")
        );
        assert_eq!(content_subtype("application/grpc;x=y"), None);
        assert_eq!(content_subtype("application/grpc+"), None);
        assert_eq!(content_subtype("app"), None);
    }
}
