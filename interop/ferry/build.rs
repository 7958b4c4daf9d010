//! Compiles Debian's grpc.testing protos (package `grpc-proto`, installed by
//! `interop/setup.sh`); `FERRY_GRPC_PROTO_DIR` points elsewhere.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-env-changed=FERRY_GRPC_PROTO_DIR");
    let dir = PathBuf::from(
        std::env::var("FERRY_GRPC_PROTO_DIR").unwrap_or_else(|_| "/usr/share/grpc-proto".into()),
    );
    let test = dir.join("grpc/testing/test.proto");
    if !test.exists() {
        return Err(format!(
            "{} not found: run interop/setup.sh (it installs Debian's grpc-proto) \
             or set FERRY_GRPC_PROTO_DIR",
            test.display()
        )
        .into());
    }
    ferry_build::compile_protos(&[test], &[dir])?;
    Ok(())
}
