#!/usr/bin/env bash
# The test command: formatting, lints, every test of the workspace (with
# the Python reference implementations the differential tests need), the
# sans-IO check of the wire core, the interop matrix against grpc-go,
# grpcio and grpc-js (interop/README.md), and a short run of each fuzz
# target.
#
#   scripts/test.sh            everything
#   FERRY_FUZZ_SECONDS=0 scripts/test.sh   skip the fuzz smoke run
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== python peers and reference implementations (hpack, hyperframe, h2, grpcio)"
FERRY_PYTHON=$(scripts/python-env.sh)
export FERRY_PYTHON

echo "== interop peers (grpc-go from Debian, grpcio, grpc-js; protos; test CA)"
interop/setup.sh

echo "== rustfmt"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== the wire core stays sans-IO"
scripts/check-sans-io.sh

echo "== tests"
cargo test --workspace

echo "== interop matrix (every client x server x case, plaintext and TLS)"
interop_start=$(date +%s)
interop/run.sh
echo "interop matrix took $(( $(date +%s) - interop_start ))s"

fuzz_seconds=${FERRY_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" != 0 ]; then
    echo "== fuzz smoke run (${fuzz_seconds}s per target)"
    scripts/fuzz.sh all "$fuzz_seconds"
fi
