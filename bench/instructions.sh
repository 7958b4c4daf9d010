#!/usr/bin/env bash
# Server instructions per unary call, independent of machine load: each peer
# server runs under callgrind while h2load makes 5,000 and then 25,000 calls
# (50 connections x 20 streams, the 100-byte request); the difference over
# 20,000 calls cancels start-up and connection setup. User space only.
# Needs bench/peers.sh to have run (bench/run.sh does) and valgrind.
#
#   bench/instructions.sh           # the four peer servers, loaded by h2load
#   bench/instructions.sh --native  # Ferry only, gRPC vs the native protocol:
#                                   # server and client instructions per call
set -u
cd "$(dirname "$0")/.."
out=$PWD/target/bench-peers
work=$out/callgrind
mkdir -p "$work"
port=50097

# Instructions (Ir) a callgrind log reports.
refs() { grep -o 'refs: *[0-9,]*' "$1" | tr -d ', ' | cut -d: -f2; }

wait_port() {
  for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

if [ "${1:-}" = --native ]; then
  # A port of its own: the peer mode's may be in use by another run.
  port=50187
  # The Ferry client makes the calls (8 connections x 32 in flight, 100-byte
  # unary, as in bench/run.sh's scenario 7), once with the server under
  # callgrind and once with the client under it; 2,000 and then 12,000 calls,
  # the difference over 10,000 cancelling start-up and connection setup.
  load=(--call unary --size 100 --connections 8 --concurrency 256 --warmup 0s --no-progress)
  for protocol in grpc native; do
    for side in server client; do
      irs=()
      for n in 2000 12000; do
        log=$work/ferry-$protocol-$side-$n.log
        if [ $side = server ]; then
          valgrind --tool=callgrind --callgrind-out-file="$work/ferry-$protocol-$side-$n.out" \
            "$out/ferry-bench-server" "127.0.0.1:$port" >"$log" 2>&1 &
          vp=$!
          wait_port
          "$out/ferry-bench" --target "127.0.0.1:$port" --protocol $protocol --total $n "${load[@]}" \
            >"$log.bench" 2>&1
          kill -INT $vp 2>/dev/null
          wait $vp 2>/dev/null
        else
          "$out/ferry-bench-server" "127.0.0.1:$port" >/dev/null 2>&1 &
          vp=$!
          wait_port
          valgrind --tool=callgrind --callgrind-out-file="$work/ferry-$protocol-$side-$n.out" \
            "$out/ferry-bench" --target "127.0.0.1:$port" --protocol $protocol --total $n "${load[@]}" \
            >"$log.bench" 2>"$log"
          kill -INT $vp 2>/dev/null
          wait $vp 2>/dev/null
        fi
        irs+=("$(refs "$log")")
      done
      if [ -n "${irs[0]}" ] && [ -n "${irs[1]}" ]; then
        echo "ferry $protocol $side: $(((irs[1] - irs[0]) / 10000)) instructions per call"
      else
        echo "ferry $protocol $side: did not run under valgrind (see $work/ferry-$protocol-$side-*.log)"
      fi
    done
  done
  exit 0
fi
for peer in ferry tonic go cpp; do
  case $peer in
    ferry) bin=$out/ferry-bench-server ;;
    tonic) bin=$out/tonic-bench-server ;;
    go) bin=$out/go-bench-server ;;
    cpp) bin=$out/cpp-bench-server ;;
  esac
  irs=()
  for n in 5000 25000; do
    valgrind --tool=callgrind --callgrind-out-file="$work/$peer-$n.out" "$bin" "127.0.0.1:$port" \
      >"$work/$peer-$n.log" 2>&1 &
    vp=$!
    for _ in $(seq 300); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
    h2load -t 1 -c 50 -m 20 -n "$n" -d "$out/unary-100.bin" -H 'content-type: application/grpc' \
      -H 'te: trailers' "http://127.0.0.1:$port/bench.Bench/Unary" >"$work/$peer-$n.h2load" 2>&1
    kill -INT "$vp" 2>/dev/null
    wait "$vp" 2>/dev/null
    irs+=("$(grep -o 'refs: *[0-9,]*' "$work/$peer-$n.log" | tr -d ', ' | cut -d: -f2)")
  done
  if [ -n "${irs[0]}" ] && [ -n "${irs[1]}" ]; then
    echo "$peer: $(((irs[1] - irs[0]) / 20000)) instructions per call"
  else
    echo "$peer: did not run under valgrind (see $work/$peer-*.log)"
  fi
done
