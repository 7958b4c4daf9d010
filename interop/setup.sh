#!/usr/bin/env bash
# Installs and builds the interop peers, idempotently (a second run does
# only what changed):
#
#   - Debian packages: grpc-go 1.33 (golang-google-grpc-dev, with golang-go
#     and golang-goprotobuf-dev), the grpc.testing protos (grpc-proto),
#     protoc (protobuf-compiler, for the Go stubs only), openssl (test CA).
#   - Python: grpcio / grpcio-tools from scripts/python-requirements.txt in
#     the repo's .venv; stubs generated into interop/.build/python.
#   - Node: @grpc/grpc-js and @grpc/proto-loader pinned by
#     interop/node/package-lock.json (`npm ci`).
#   - Go: our client and server built offline in GOPATH mode against the
#     Debian sources in /usr/share/gocode.
#   - A test CA and a server certificate for *.test.google.fr.
#
# Everything generated goes to interop/.build (git-ignored). The Ferry
# client and server are built by interop/run.sh with cargo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build="$here/.build"
protos=/usr/share/grpc-proto
mkdir -p "$build"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- Debian packages -------------------------------------------------------
packages=(golang-go golang-google-grpc-dev golang-goprotobuf-dev grpc-proto protobuf-compiler openssl)
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: apt-get install ${missing[*]}" >&2
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
for f in test.proto messages.proto empty.proto; do
    [ -f "$protos/grpc/testing/$f" ] || { echo "setup: $protos/grpc/testing/$f missing" >&2; exit 1; }
done

# --- Python ----------------------------------------------------------------
python=$("$root/scripts/python-env.sh")
echo "$python" >"$build/python-path"
# The generated modules would be `grpc.testing.*_pb2`, which the `grpc`
# package shadows: compile a copy whose imports live under `interop_pb`.
pyout="$build/python"
if [ ! -f "$pyout/interop_pb/test_pb2_grpc.py" ] || [ "$pyout/interop_pb/test_pb2_grpc.py" -ot "$root/scripts/python-requirements.txt" ]; then
    rm -rf "$pyout" && mkdir -p "$pyout/src/interop_pb"
    for f in test messages empty; do
        sed 's#import "grpc/testing/#import "interop_pb/#' "$protos/grpc/testing/$f.proto" >"$pyout/src/interop_pb/$f.proto"
    done
    (cd "$pyout" && "$python" -m grpc_tools.protoc -Isrc --python_out=. --grpc_python_out=. \
        src/interop_pb/test.proto src/interop_pb/messages.proto src/interop_pb/empty.proto)
    touch "$pyout/interop_pb/__init__.py"
fi

# --- Node ------------------------------------------------------------------
if ! cmp -s "$here/node/package-lock.json" "$here/node/node_modules/.package-lock.json.ferry" 2>/dev/null; then
    (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$here/node/package-lock.json" "$here/node/node_modules/.package-lock.json.ferry"
fi

# --- Go --------------------------------------------------------------------
gobuild="$build/go"
export GO111MODULE=off GOFLAGS= GOPATH="$gobuild/gopath:/usr/share/gocode" GOCACHE="$gobuild/cache"
pkg="$gobuild/gopath/src/ferryinterop"
mkdir -p "$pkg/testpb" "$gobuild/bin"
if [ ! -x "$gobuild/bin/protoc-gen-go" ]; then
    go build -o "$gobuild/bin/protoc-gen-go" github.com/golang/protobuf/protoc-gen-go
fi
if [ ! -f "$pkg/testpb/test.pb.go" ]; then
    m="Mgrpc/testing/test.proto=ferryinterop/testpb,Mgrpc/testing/messages.proto=ferryinterop/testpb,Mgrpc/testing/empty.proto=ferryinterop/testpb"
    protoc -I"$protos" --plugin=protoc-gen-go="$gobuild/bin/protoc-gen-go" \
        --go_out="plugins=grpc,paths=source_relative,$m:$gobuild" \
        grpc/testing/test.proto grpc/testing/messages.proto grpc/testing/empty.proto
    mv "$gobuild"/grpc/testing/*.pb.go "$pkg/testpb/" && rm -rf "$gobuild/grpc"
fi
for d in client server; do
    rm -rf "${pkg:?}/$d" && mkdir -p "$pkg/$d" && cp "$here/go/$d"/*.go "$pkg/$d/"
    go build -o "$gobuild/bin/$d" "ferryinterop/$d"
done

# --- test CA and server certificate -----------------------------------------
# Like grpc's own test credentials: the server's certificate names
# *.test.google.fr, and clients connect with the override foo.test.google.fr.
certs="$build/certs"
if [ ! -f "$certs/server.pem" ]; then
    mkdir -p "$certs"
    (
        cd "$certs"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -subj "/CN=Ferry interop test CA" -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=*.test.google.fr" -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:*.test.google.fr,DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile ext.cnf -out server.pem 2>/dev/null
        rm -f server.csr ext.cnf ca.srl
    )
fi
echo "setup: peers ready in $build" >&2
