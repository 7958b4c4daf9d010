#!/usr/bin/env bash
# The main job: the quick-start's chat example end to end. Builds and starts
# chat-server (aihub.ChatHub, with its built-in model), calls it with the Rust
# client (unary, then streamed piece by piece) and the Python grpcio client,
# then stops it gracefully. See examples/chat/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec examples/chat/demo.sh
