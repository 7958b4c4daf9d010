#!/usr/bin/env bash
# Builds the peers (interop/setup.sh) and Ferry's interop client and
# server, then runs the matrix: every client x every server x every case,
# plaintext and TLS. Prints a markdown table; exits non-zero if any cell
# failed. Options go to interop/matrix.py, for example:
#
#   interop/run.sh --clients ferry --servers go,python --modes plain
#   interop/run.sh --cases large_unary,ping_pong --table /tmp/table.md
#   interop/run.sh --known-bugs        # also run the cells of known Ferry bugs
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh"
(cd "$here/.." && cargo build --quiet -p ferry-interop --bins)
exec "$(cat "$here/.build/python-path")" "$here/matrix.py" "$@"
