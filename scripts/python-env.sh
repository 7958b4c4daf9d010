#!/usr/bin/env bash
# Creates (or refreshes) .venv with the Python packages the tests use as
# independent implementations: hpack and hyperframe (differential tests of
# HPACK and frames), h2 (a scriptable hostile HTTP/2 peer), and grpcio with
# grpcio-tools and protobuf (a real gRPC peer for the interop smoke tests).
# Prints the interpreter's path on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
req="$root/scripts/python-requirements.txt"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
fi
if ! cmp -s "$req" "$stamp" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
    cp "$req" "$stamp"
fi
echo "$venv/bin/python"
