//! gRPC over HTTP/2: message framing, headers, status, metadata, timeouts.
