//! Generates the test protos' code, and their descriptor set for the
//! descriptor test.

fn main() -> Result<(), ferry_build::Error> {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    ferry_build::configure()
        .file_descriptor_set_path(out.join("descriptors.bin"))
        .bytes([".codegen.shapes.Item.blob"])
        .compile(
            &[
                "proto/codegen/shapes.proto",
                "proto/codegen/inventory.proto",
                "proto/codegen/orders.proto",
            ],
            &["proto"],
        )
}
