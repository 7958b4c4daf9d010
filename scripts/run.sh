#!/usr/bin/env bash
# The main job. Today: the wire core's loopback demo (a client and a server
# Connection making gRPC-framed calls over TCP on 127.0.0.1). The chat
# example (the quick-start's ChatHub) replaces it when it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p ferry-wire --example loopback
