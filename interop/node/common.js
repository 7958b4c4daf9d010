// What the Node interop client and server share: the grpc.testing protos
// (Debian's grpc-proto, loaded at run time by @grpc/proto-loader) and flag
// parsing in the `--name=value` form every interop program takes.
'use strict';

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = process.env.FERRY_GRPC_PROTO_DIR || '/usr/share/grpc-proto';

function loadTesting() {
  const definition = protoLoader.loadSync(['grpc/testing/test.proto'], {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: Number,
    enums: Number,
    defaults: true,
  });
  return grpc.loadPackageDefinition(definition).grpc.testing;
}

function parseFlags(argv, defaults) {
  const flags = { ...defaults };
  for (const arg of argv) {
    const m = /^--([a-z_]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unexpected argument ${arg}`);
    flags[m[1]] = m[2] === undefined ? 'true' : m[2];
  }
  return flags;
}

function isTrue(value) {
  return ['true', '1', 'yes'].includes(String(value).toLowerCase());
}

module.exports = { grpc, loadTesting, parseFlags, isTrue };
