//! The Ferry benchmark server's code, generated from `proto/bench.proto`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    ferry_build::configure()
        .build_client(false)
        .compile(&["proto/bench.proto"], &["proto"])?;
    Ok(())
}
