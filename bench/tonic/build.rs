//! tonic's code for `../proto/bench.proto`, without protoc: protox parses
//! the file into a descriptor set and tonic-prost-build generates from it.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["bench.proto"], ["../proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        // `body` as bytes::Bytes, as the Ferry server has it.
        .bytes(".")
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=../proto/bench.proto");
    Ok(())
}
