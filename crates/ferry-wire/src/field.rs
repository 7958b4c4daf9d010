//! Header fields, the unit HPACK encodes and gRPC builds its metadata from.

use std::fmt;

use bytes::Bytes;

/// Per-field overhead HPACK adds to `name.len() + value.len()` when it sizes a
/// dynamic-table entry or a header list (RFC 7541 §4.1, RFC 9113 §6.5.2).
pub const FIELD_OVERHEAD: usize = 32;

/// One header field: a name, a value and whether the value is sensitive.
///
/// Names are kept as sent; HTTP/2 requires them to be lowercase, which the
/// layers that validate requests and responses check. A *sensitive* field
/// (for example `authorization`) is never entered into a compression table,
/// by us or by any intermediary (RFC 7541 §7.1.3).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HeaderField {
    /// The field name (lowercase for HTTP/2; pseudo-headers start with `:`).
    pub name: Bytes,
    /// The field value.
    pub value: Bytes,
    /// Never index this field in HPACK.
    pub sensitive: bool,
}

impl HeaderField {
    /// A field that may be compressed normally.
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> HeaderField {
        HeaderField {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }

    /// A field from two static strings, with no allocation.
    pub const fn from_static(name: &'static str, value: &'static str) -> HeaderField {
        HeaderField {
            name: Bytes::from_static(name.as_bytes()),
            value: Bytes::from_static(value.as_bytes()),
            sensitive: false,
        }
    }

    /// A field whose value must never be indexed (credentials, tokens).
    pub fn sensitive(name: impl Into<Bytes>, value: impl Into<Bytes>) -> HeaderField {
        HeaderField {
            name: name.into(),
            value: value.into(),
            sensitive: true,
        }
    }

    /// The size HPACK and SETTINGS_MAX_HEADER_LIST_SIZE count for this field:
    /// name length + value length + 32.
    pub fn size(&self) -> usize {
        self.name.len() + self.value.len() + FIELD_OVERHEAD
    }

    /// True for pseudo-header fields (`:method`, `:path`, `:status`, ...).
    pub fn is_pseudo(&self) -> bool {
        self.name.first() == Some(&b':')
    }
}

impl fmt::Debug for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = String::from_utf8_lossy(&self.name);
        if self.sensitive {
            write!(f, "{name}: <sensitive>")
        } else {
            write!(f, "{name}: {}", String::from_utf8_lossy(&self.value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_counts_overhead() {
        assert_eq!(
            HeaderField::from_static("te", "trailers").size(),
            2 + 8 + 32
        );
    }

    #[test]
    fn sensitive_values_are_not_printed() {
        let f = HeaderField::sensitive("authorization", "Bearer secret");
        assert_eq!(format!("{f:?}"), "authorization: <sensitive>");
    }
}
