#!/usr/bin/env bash
# Heap allocations per unary call, by size, for the Ferry server and client
# over gRPC and the native protocol: a small LD_PRELOAD shim
# (bench/allocs/count.c) counts every malloc, calloc, realloc and aligned
# allocation of the process under test while ferry-bench makes 2,000 and then
# 12,000 calls (8 connections x 256 in flight, 100-byte unary, as scenario 7);
# the difference over 10,000 calls cancels start-up and connection setup.
# Needs gcc and the Ferry peers (bench/peers.sh ferry).
#
#   bench/allocs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/target/bench-peers
work=$out/allocs
mkdir -p "$work"
gcc -O2 -shared -fPIC -o "$work/count.so" bench/allocs/count.c -ldl
port=50189
load=(--call unary --size 100 --connections 8 --concurrency 256 --warmup 0s --no-progress)

wait_port() {
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "allocs.sh: the server did not start" >&2
  return 1
}

# Runs `n` calls with the shim in `side`'s process; its counts go to $work.
count() { # protocol side n
  local protocol=$1 side=$2 n=$3 file=$work/$1-$2-$3.txt server_env=() client_env=()
  if [ "$side" = server ]; then
    server_env=(env LD_PRELOAD="$work/count.so" FERRY_ALLOCS_OUT="$file")
  else
    client_env=(env LD_PRELOAD="$work/count.so" FERRY_ALLOCS_OUT="$file")
  fi
  "${server_env[@]}" "$out/ferry-bench-server" "127.0.0.1:$port" >/dev/null 2>&1 &
  local sp=$!
  wait_port
  "${client_env[@]}" "$out/ferry-bench" --target "127.0.0.1:$port" --protocol "$protocol" \
    --total "$n" "${load[@]}" >/dev/null
  kill -INT "$sp"
  wait "$sp" || true
}

for protocol in grpc native; do
  for side in server client; do
    count "$protocol" "$side" 2000
    count "$protocol" "$side" 12000
    python3 - "$protocol" "$side" "$work/$protocol-$side-2000.txt" "$work/$protocol-$side-12000.txt" <<'PY'
import sys
protocol, side, small, large = sys.argv[1:]
def load(path):
    return {int(s): int(c) for s, c in (line.split() for line in open(path))}
a, b = load(small), load(large)
per = {size: (b.get(size, 0) - a.get(size, 0)) / 10_000 for size in set(a) | set(b)}
shown = sorted((size, n) for size, n in per.items() if n >= 0.5)
total = sum(per.values())
print(f"{protocol} {side}: {total:.1f} allocations per call; by size (bytes x per call): "
      + ", ".join(f"{size} x {n:.1f}" for size, n in shown))
PY
  done
done
