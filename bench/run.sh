#!/usr/bin/env bash
# Runs every benchmark scenario of issue 6 against Ferry, tonic, grpc-go and
# gRPC C++, with the server pinned to core 0 and the load generator to core 1,
# peers one after another in each round, and writes the medians with ratios to
# tonic into BENCHMARKS.md (between the bench:results markers).
#
#   bench/run.sh            # 3 rounds, 5 s per measurement, 10,000-connection memory test
#   bench/run.sh --quick    # 1 round, 1.5 s per measurement, 1,000 connections: for iteration
#   bench/run.sh --no-write # print the table instead of writing BENCHMARKS.md
#   bench/run.sh --only 3,6 --peers ferry,tonic --no-write
#                           # only these scenarios (1-7) and peers: for iteration
#                           # on one scenario (a partial run never writes BENCHMARKS.md)
#   bench/run.sh --only native  # just scenario 7 (issue 7): native protocol vs gRPC on
#                           # the Ferry server; writes only its own block of BENCHMARKS.md
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
write=1
only=1,2,3,4,5,6,7
peers=ferry,tonic,go,cpp
usage="usage: bench/run.sh [--quick] [--no-write] [--only 1,2,3,4,5,6,7|native] [--peers ferry,tonic,go,cpp]"
command="bench/run.sh $*"
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --no-write) write=0 ;;
    --only)
      only=${2:?$usage}
      only=${only//native/7}
      # Scenario 7 alone has a block of its own to rewrite; other partial
      # runs would leave the results table half stale.
      if [ "$only" = 7 ]; then peers=ferry; else write=0; fi
      shift ;;
    --peers) peers=${2:?$usage}; write=0; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done
# want N: scenario N was asked for.
want() { [[ ",$only," == *",$1,"* ]]; }
IFS=, read -r -a peer_list <<<"$peers"

if ((quick)); then
  rounds=1 duration_ms=1500 warmup_ms=500 idle_conns=1000 open_streams=1000
else
  rounds=3 duration_ms=5000 warmup_ms=1000 idle_conns=10000 open_streams=10000
fi
duration=${duration_ms}ms warmup=${warmup_ms}ms
warmup_s=$(awk "BEGIN { print $warmup_ms / 1000 }")
duration_s=$(awk "BEGIN { print $duration_ms / 1000 }")

bench/peers.sh "${peer_list[@]}"
out=$PWD/target/bench-peers
raw=$out/results.jsonl
: >"$raw"
log=$out/servers.log
: >"$log"
hz=$(getconf CLK_TCK)
port=50071
server_core=0
client_core=1
# 10,000 connections need as many descriptors on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

server_bin() {
  case $1 in
    ferry) echo "$out/ferry-bench-server" ;;
    tonic) echo "$out/tonic-bench-server" ;;
    go) echo "$out/go-bench-server" ;;
    cpp) echo "$out/cpp-bench-server" ;;
  esac
}

spid=""
start_server() { # peer
  taskset -c "$server_core" "$(server_bin "$1")" "127.0.0.1:$port" >>"$log" 2>&1 &
  spid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "run.sh: $1 server did not start (see $log)" >&2
  exit 1
}

stop_server() {
  kill -INT "$spid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  spid=""
}
trap '[ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null; [ -n "${capped:-}" ] && rmdir "$(dirname "$capped")" 2>/dev/null; true' EXIT

# CPU time (user + system, all threads) of a process, in clock ticks.
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# Appends one result line: the load generator's JSON plus our fields.
record() { # json-file extra-json
  python3 - "$1" "$2" >>"$raw" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d.update(json.loads(sys.argv[2]))
print(json.dumps(d))
PY
}

# Scenario 5 at a fixed CPU budget: the load generator runs in a cgroup
# allowed a quarter of its core (2.5 ms in every 10 ms), so that the client,
# not the peer server, is what limits calls/s. cgroup v1's cpu controller or
# v2's; without either (no root, say), the capped rows are skipped.
budget_pct=25
capped=""
setup_budget() {
  local v1=/sys/fs/cgroup/cpu v2=/sys/fs/cgroup
  if [ -w "$v1" ] && mkdir -p "$v1/ferry-bench" 2>/dev/null &&
    echo 10000 >"$v1/ferry-bench/cpu.cfs_period_us" &&
    echo $((100 * budget_pct)) >"$v1/ferry-bench/cpu.cfs_quota_us"; then
    capped=$v1/ferry-bench/cgroup.procs
  elif [ -f "$v2/cgroup.controllers" ] && grep -qw cpu "$v2/cgroup.controllers" &&
    { grep -qw cpu "$v2/cgroup.subtree_control" || echo +cpu >"$v2/cgroup.subtree_control"; } 2>/dev/null &&
    mkdir -p "$v2/ferry-bench" 2>/dev/null &&
    echo "$((100 * budget_pct)) 10000" >"$v2/ferry-bench/cpu.max"; then
    capped=$v2/ferry-bench/cgroup.procs
  else
    echo "run.sh: no cgroup cpu controller to limit the client's CPU: scenario 5 at a fixed budget skipped" >&2
  fi
}
want 5 && setup_budget

# One ferry-bench measurement; server CPU is sampled over the measured window.
# With CAPPED set (a cgroup.procs file), the load generator runs in that cgroup.
measure() { # scenario peer round client [ferry-bench args...]
  local scenario=$1 peer=$2 round=$3 client=$4
  shift 4
  local tmp=$out/last.json t0 t1 enter=()
  if [ -n "${CAPPED:-}" ]; then
    # Joins the cgroup, then becomes the load generator.
    enter=(bash -c 'echo $$ >"$0" && exec "$@"' "$CAPPED")
  fi
  "${enter[@]}" taskset -c "$client_core" "$out/ferry-bench" --target "127.0.0.1:$port" --json --no-progress \
    --client "$client" --warmup "$warmup" --duration "$duration" "$@" >"$tmp" &
  local lg=$!
  sleep "$warmup_s"
  t0=$(cpu_ticks "$spid")
  if ! wait "$lg"; then
    echo "run.sh: $scenario on $peer ($client client) failed" >&2
    return 0
  fi
  t1=$(cpu_ticks "$spid")
  local budget=null
  [ -n "${CAPPED:-}" ] && budget=$budget_pct
  record "$tmp" "{\"scenario\": \"$scenario\", \"peer\": \"$peer\", \"round\": $round, \"server_cpu_s\": $(python3 -c "print(($t1 - $t0) / $hz)"), \"cpu_budget_pct\": $budget}"
  printf '  %-14s %-6s %-6s %s\n' "$scenario" "$peer" "$client" \
    "$(python3 -c "import json; d = json.load(open('$tmp')); print(f\"{d['calls_per_s']:.0f}/s {d['bytes_per_s'] / 1e6:.1f} MB/s errors={sum(d['errors'].values())}\")")"
}

# h2load: 50 connections x 20 streams, the pre-framed 100-byte request.
measure_h2load() { # peer round
  local peer=$1 round=$2 tmp=$out/h2load.txt t0 t1
  taskset -c "$client_core" h2load -t 1 -c 50 -m 20 -D "$duration" --warm-up-time="$warmup" \
    -d "$out/unary-100.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$port/bench.Bench/Unary" >"$tmp" 2>&1 &
  local lg=$!
  sleep "$warmup_s"
  t0=$(cpu_ticks "$spid")
  wait "$lg" || { echo "run.sh: h2load on $peer failed" >&2; return 0; }
  t1=$(cpu_ticks "$spid")
  python3 bench/report.py h2load "$tmp" >"$out/h2load.json"
  record "$out/h2load.json" "{\"scenario\": \"s1-h2load\", \"peer\": \"$peer\", \"round\": $round, \"client\": \"h2load\", \"server_cpu_s\": $(python3 -c "print(($t1 - $t0) / $hz)")}"
  printf '  %-14s %-6s %-6s %s\n' s1-h2load "$peer" h2load "$(python3 -c "import json; print(f\"{json.load(open('$out/h2load.json'))['calls_per_s']:.0f}/s\")")"
}

"$out/ferry-bench" --size 100 --write-h2load-body "$out/unary-100.bin"

# Scenario 7 (issue 7): the same Ferry server answers gRPC and the native
# protocol on one port; unary 100 B, 8 connections x 256 calls in flight in
# all, from the Ferry client. The order alternates between rounds so drift in
# the machine's load does not favour one protocol.
measure_native() { # round
  local round=$1 first=grpc second=native
  if ((round % 2 == 0)); then first=native second=grpc; fi
  for protocol in $first $second; do
    measure "s7-$protocol" ferry "$round" ferry --protocol "$protocol" --call unary --size 100 \
      --connections 8 --concurrency 256
  done
}

streams=(
  "s3-ss-1m-1 server-stream 1048576 1"
  "s3-ss-64k-1 server-stream 65536 1"
  "s3-ss-1m-16 server-stream 1048576 16"
  "s3-ss-64k-16 server-stream 65536 16"
  "s3-cs-1m-1 client-stream 1048576 1"
  "s3-cs-64k-1 client-stream 65536 1"
  "s3-cs-1m-16 client-stream 1048576 16"
  "s3-cs-64k-16 client-stream 65536 16"
)

for round in $(seq "$rounds"); do
  echo "run.sh: round $round of $rounds"
  want 3 && for size in 1048576 65536; do
    taskset -c "$server_core" "$out/tcp-ceiling" receive "127.0.0.1:$port" &
    spid=$!
    sleep 0.3
    taskset -c "$client_core" "$out/tcp-ceiling" send "127.0.0.1:$port" "$size" "$duration_s" >"$out/tcp.json"
    record "$out/tcp.json" "{\"scenario\": \"s3-tcp-$size\", \"peer\": \"tcp\", \"round\": $round, \"client\": \"tcp\"}"
    kill -KILL "$spid"; wait "$spid" 2>/dev/null || true; spid=""
  done
  # Scenario 2 first, every peer's latency back to back (seconds apart, not
  # minutes), so the machine's drift during a round touches all of them alike.
  want 2 && for peer in "${peer_list[@]}"; do
    start_server "$peer"
    measure s2-latency "$peer" "$round" ferry --call unary --size 100
    if [ "$peer" = tonic ]; then
      # tonic's own client against its own server, for stack-to-stack ratios.
      measure s2-latency "$peer" "$round" tonic --call unary --size 100
    fi
    stop_server
  done
  for peer in "${peer_list[@]}"; do
    want 1 || want 3 || want 4 || want 5 || { want 7 && [ "$peer" = ferry ]; } || continue
    start_server "$peer"
    if want 1; then measure_h2load "$peer" "$round"; fi
    if want 1 || want 5; then
      measure s1-unary "$peer" "$round" ferry --call unary --size 100 --connections 50 --concurrency 1000
    fi
    if want 3; then
      for s in "${streams[@]}"; do
        read -r name call size n <<<"$s"
        measure "$name" "$peer" "$round" ferry --call "$call" --size "$size" --concurrency "$n"
      done
    fi
    if want 4; then measure s4-pingpong "$peer" "$round" ferry --call ping-pong --size 100; fi
    case $peer in
      ferry)
        if want 7; then measure_native "$round"; fi
        ;;
      tonic)
        # tonic's own client against its own server, for stack-to-stack ratios.
        if want 3; then
          for s in "${streams[@]}"; do
            read -r name call size n <<<"$s"
            measure "$name" "$peer" "$round" tonic --call "$call" --size "$size" --concurrency "$n"
          done
        fi
        if want 4; then measure s4-pingpong "$peer" "$round" tonic --call ping-pong --size 100; fi
        ;;
      go | cpp)
        # Scenario 5: the tonic client against the same peer as s1-unary's Ferry client.
        if want 5; then
          measure s1-unary "$peer" "$round" tonic --call unary --size 100 --connections 50 --concurrency 1000
          # Both clients again with a quarter of their core each.
          if [ -n "$capped" ]; then
            for client in ferry tonic; do
              CAPPED=$capped measure s5-budget "$peer" "$round" "$client" --call unary --size 100 \
                --connections 50 --concurrency 1000
            done
          fi
        fi
        ;;
    esac
    stop_server
  done
done

# Scenario 6: resident memory of a fresh server per idle connection and per open call.
hold() { # scenario peer count [ferry-bench args...]
  local scenario=$1 peer=$2 count=$3
  shift 3
  start_server "$peer"
  sleep 0.5
  local before after ready=$out/ready
  rm -f "$ready"
  before=$(rss_kb "$spid")
  taskset -c "$client_core" "$out/ferry-bench" --target "127.0.0.1:$port" --json --no-progress \
    --duration 3s --ready-file "$ready" "$@" >"$out/last.json" &
  local lg=$!
  for _ in $(seq 1200); do
    [ -e "$ready" ] && break
    kill -0 "$lg" 2>/dev/null || break
    sleep 0.1
  done
  sleep 1
  after=$(rss_kb "$spid")
  wait "$lg" || echo "run.sh: $scenario on $peer failed" >&2
  record "$out/last.json" "{\"scenario\": \"$scenario\", \"peer\": \"$peer\", \"round\": 1, \"count\": $count, \"rss_before_kb\": $before, \"rss_after_kb\": $after}"
  printf '  %-14s %-6s %s KiB per item\n' "$scenario" "$peer" "$(python3 -c "print(round(($after - $before) / $count, 1))")"
  stop_server
}
want 6 && echo "run.sh: memory"
want 6 && for peer in "${peer_list[@]}"; do
  hold s6-idle "$peer" "$idle_conns" --call idle-connections --connections "$idle_conns"
  hold s6-streams "$peer" "$open_streams" --call open-streams --connections 50 --concurrency "$open_streams"
done

python3 bench/report.py table "$raw" --command "$command" --quick "$quick" \
  $( ((write)) && echo --write BENCHMARKS.md)
