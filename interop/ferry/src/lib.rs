//! Ferry's side of the gRPC interop matrix: `grpc.testing.TestService`
//! served by Ferry ([`server::TestServer`]) and the official interop cases
//! run by a Ferry client ([`client`]). The two binaries, `interop-server`
//! and `interop-client`, take the standard flags of every gRPC
//! implementation's interop programs; `interop/run.sh` runs them against
//! grpc-go, grpcio and grpc-js. The cases follow grpc's
//! `doc/interop-test-descriptions.md`.

pub mod client;
pub mod server;

/// The generated messages and services of `grpc.testing` (Debian's
/// `grpc-proto` package, compiled by `ferry-build`).
#[allow(missing_docs, clippy::all, unreachable_pub)]
pub mod pb {
    ferry::include_proto!("grpc.testing");
}

/// Parses the interop flags' booleans: `--use_tls`, `--use_tls=true`,
/// `--use_tls=false` (as the other implementations accept them).
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}

/// A payload of `size` zero bytes, the only kind the cases use.
pub fn zeros(size: usize) -> pb::Payload {
    pb::Payload {
        r#type: pb::PayloadType::Compressable as i32,
        body: vec![0; size],
    }
}
