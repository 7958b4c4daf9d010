#!/usr/bin/env bash
# Fails if ferry-wire's normal dependency tree holds an async runtime or an
# I/O crate: the wire core must stay sans-IO.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree -p ferry-wire -e normal --prefix none)
bad=$(echo "$tree" | grep -E '^(tokio|async-std|smol|mio|futures-io|async-io|socket2) ' || true)
if [ -n "$bad" ]; then
    echo "ferry-wire depends on an async runtime or I/O crate:" >&2
    echo "$bad" >&2
    exit 1
fi
echo "ferry-wire dependencies: $(echo "$tree" | awk '{print $1}' | sort -u | tr '\n' ' ')"
