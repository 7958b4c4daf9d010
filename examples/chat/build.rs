//! Generates the `aihub` messages, the `ChatHub` server trait and its client
//! from `proto/chat.proto`, with no `protoc`.

fn main() -> Result<(), ferry_build::Error> {
    ferry_build::compile_protos(&["proto/chat.proto"], &["proto"])
}
