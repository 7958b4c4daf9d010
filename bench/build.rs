//! The Ferry benchmark server's code, generated from `proto/bench.proto`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ferry_build::configure()
        .build_client(false)
        // `body` as bytes::Bytes: a streamed payload is shared, not copied
        // per message (the tonic server is configured the same way).
        .bytes(["."])
        .compile(&["proto/bench.proto"], &["proto"])?;
    Ok(())
}
