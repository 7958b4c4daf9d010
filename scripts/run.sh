#!/usr/bin/env bash
# The main job. Today: the runtime's echo example (a Ferry server and
# client making all four kinds of call over TCP on 127.0.0.1), then the wire
# core's loopback demo. The chat example (the quick-start's ChatHub)
# replaces them when code generation lands.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p ferry --example echo
cargo run --quiet -p ferry-wire --example loopback
