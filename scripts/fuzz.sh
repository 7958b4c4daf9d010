#!/usr/bin/env bash
# Runs the cargo-fuzz targets under fuzz/ for a bounded time each.
#
#   scripts/fuzz.sh all 60            every target, 60 seconds each
#   scripts/fuzz.sh hpack_decode 600  one target, ten minutes
#
# cargo-fuzz needs nightly-only compiler flags; on a stable toolchain they
# are unlocked with RUSTC_BOOTSTRAP=1. Crashes land in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-all}
seconds=${2:-60}
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
if [ "$target" = all ]; then
    targets=$(cargo fuzz list --fuzz-dir fuzz)
else
    targets=$target
fi
for t in $targets; do
    echo "-- fuzz $t for ${seconds}s"
    log=$(mktemp)
    status=0
    cargo fuzz run --fuzz-dir fuzz "$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1 || status=$?
    grep -E '^Done|ERROR|panicked|SUMMARY' "$log" || true
    if [ "$status" != 0 ]; then
        tail -n 40 "$log" >&2
        echo "fuzz target $t failed (status $status); see fuzz/artifacts/$t" >&2
        exit "$status"
    fi
    rm -f "$log"
done
