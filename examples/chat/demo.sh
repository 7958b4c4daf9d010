#!/usr/bin/env bash
# The chat example end to end: starts chat-server (Rust, seed 7) on a free
# port, asks it for a reply with the Rust client (unary, then streamed piece
# by piece) and with the Python client (grpcio), then stops it with Ctrl-C
# (SIGINT) and waits for its graceful shutdown. Run from anywhere:
#
#   examples/chat/demo.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

python=$(scripts/python-env.sh)
cargo build --quiet -p ferry-chat --bins
bin=$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug

log=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$log"' EXIT
"$bin/chat-server" --addr 127.0.0.1:0 --seed 7 >"$log/out" 2>"$log/err" &
server=$!
for _ in $(seq 100); do
    grep -q "listening on" "$log/out" 2>/dev/null && break
    sleep 0.1
done
addr=$(sed -n 's/^chat-server listening on //p' "$log/out")
[ -n "$addr" ] || { echo "chat-server did not start:"; cat "$log/err"; exit 1; }
echo "chat-server listening on $addr (seed 7)"

echo
echo "\$ chat-client \"Tell me about the river\""
"$bin/chat-client" --addr "$addr" "Tell me about the river"
echo
echo "\$ chat-client --stream --max-length 40 --history \"Who rings the bell?\" \"The ferryman\""
"$bin/chat-client" --addr "$addr" --stream --max-length 40 --history "Who rings the bell?" "The ferryman"
echo
echo "\$ python examples/chat/python/chat_client.py --stream \"Tell me about the river\""
"$python" examples/chat/python/chat_client.py --addr "$addr" --stream "Tell me about the river"

kill -INT "$server"
wait "$server"
trap 'rm -rf "$log"' EXIT
echo
echo "server log:"
sed 's/^/  /' "$log/err"
