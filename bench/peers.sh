#!/usr/bin/env bash
# Installs and builds the benchmark peers into target/bench/:
#   ferry-bench, ferry-bench-server, tcp-ceiling   (cargo, release)
#   tonic-bench-server                             (cargo, release; tonic pinned in Cargo.toml)
#   go-bench-server                                (Debian grpc-go, GOPATH mode, offline)
#   cpp-bench-server                               (Debian libgrpc++-dev, callback API)
#   h2load                                         (Debian nghttp2-client)
# Debian packages are installed with apt-get (as root, or through sudo).
#
#   bench/peers.sh                # everything
#   bench/peers.sh ferry tonic    # only the cargo-built peers (no apt, no Go, no C++)
set -euo pipefail
wanted=" ${*:-ferry tonic go cpp} "
cd "$(dirname "$0")/.."
root=$PWD
out=$root/target/bench-peers
mkdir -p "$out"

packages=(golang-go golang-google-grpc-dev golang-goprotobuf-dev protobuf-compiler
          libgrpc++-dev protobuf-compiler-grpc nghttp2-client pkg-config g++)
missing=()
[[ $wanted == *" go "* || $wanted == *" cpp "* ]] || packages=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "peers.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "peers.sh: cargo build --release (ferry-bench, tonic-bench-server)"
cargo build --release -q -p ferry-bench -p tonic-bench-server
for b in ferry-bench ferry-bench-server tcp-ceiling tonic-bench-server; do
  cp "$root/target/release/$b" "$out/$b"
done

# Rebuilt only when its sources changed.
stale() { # binary sources...
  local bin=$1 src
  shift
  [ -x "$bin" ] || return 0
  for src; do [ "$src" -nt "$bin" ] && return 0; done
  return 1
}

if [[ $wanted == *" go "* ]] && stale "$out/go-bench-server" bench/go/server.go bench/proto/bench.proto; then
echo "peers.sh: go build (grpc-go $(dpkg-query -W -f='${Version}' golang-google-grpc-dev))"
gopath=$out/gopath
rm -rf "$gopath/src/ferry.bench"
mkdir -p "$gopath/src/ferry.bench/server"
protoc -I bench/proto --go_out=plugins=grpc:"$gopath/src" bench/proto/bench.proto
cp bench/go/server.go "$gopath/src/ferry.bench/server/"
(cd "$gopath/src/ferry.bench/server" &&
  GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$out/gocache" GOFLAGS= \
    go build -o "$out/go-bench-server" .)
fi

if [[ $wanted == *" cpp "* ]] && stale "$out/cpp-bench-server" bench/cpp/server.cc bench/proto/bench.proto; then
echo "peers.sh: g++ (gRPC C++ $(dpkg-query -W -f='${Version}' libgrpc++-dev))"
gen=$out/cpp
mkdir -p "$gen"
protoc -I bench/proto --cpp_out="$gen" --grpc_out="$gen" \
  --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" bench/proto/bench.proto
# shellcheck disable=SC2046
g++ -O2 -std=c++17 -I"$gen" bench/cpp/server.cc "$gen/bench.pb.cc" "$gen/bench.grpc.pb.cc" \
  -o "$out/cpp-bench-server" $(pkg-config --cflags --libs grpc++ protobuf)
fi

echo "peers.sh: built into $out"
