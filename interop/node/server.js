// grpc.testing.TestService on @grpc/grpc-js, for Ferry's interop matrix.
//
//   node server.js --port=PORT [--use_tls=true --cert_file=.. --key_file=..]
//
// The grpc-js server never compresses responses, and its handlers cannot
// see whether a request was compressed: response_compressed and
// expect_compressed are not honoured, and interop/matrix.py does not run the
// *_compressed_* cases against this server.
'use strict';

const fs = require('fs');
const { grpc, loadTesting, parseFlags, isTrue } = require('./common');

const testing = loadTesting();
const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function payload(size) {
  return { type: 0, body: Buffer.alloc(size) };
}

// The echoed metadata: initial goes out at once, trailing with the status.
function echo(call) {
  const initial = new grpc.Metadata();
  const trailing = new grpc.Metadata();
  for (const v of call.metadata.get(ECHO_INITIAL)) initial.add(ECHO_INITIAL, v);
  for (const v of call.metadata.get(ECHO_TRAILING)) trailing.add(ECHO_TRAILING, v);
  if (initial.getMap()[ECHO_INITIAL] !== undefined) call.sendMetadata(initial);
  return trailing;
}

function echoStatus(status, trailing) {
  if (status && status.code !== 0) {
    return { code: status.code, details: status.message, metadata: trailing };
  }
  return null;
}

// Replies for one request's response_parameters, in order, each after its interval.
async function respond(call, request) {
  for (const p of request.response_parameters) {
    if (p.interval_us > 0) await sleep(p.interval_us / 1000);
    if (call.cancelled) return;
    call.write({ payload: payload(p.size) });
  }
}

// Full duplex: replies to each request as it arrives; half duplex: after
// the client half-closes.
function duplex(call, buffered) {
  const trailing = echo(call);
  const requests = [];
  let ended = false;
  let failed = false;
  let chain = Promise.resolve();
  const handle = (request) => {
    chain = chain.then(async () => {
      if (failed) return;
      const error = echoStatus(request.response_status, trailing);
      if (error) {
        failed = true;
        call.emit('error', error);
        return;
      }
      await respond(call, request);
    });
  };
  call.on('data', (request) => (buffered ? requests.push(request) : handle(request)));
  call.on('end', () => {
    ended = true;
    if (buffered) requests.forEach(handle);
    chain.then(() => {
      if (!failed && ended) call.end(trailing);
    });
  });
  call.on('error', () => {});
}

const service = {
  EmptyCall(call, callback) {
    callback(null, {}, echo(call));
  },

  UnaryCall(call, callback) {
    const trailing = echo(call);
    const request = call.request;
    if (request.response_type !== 0) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'unsupported response_type', metadata: trailing });
      return;
    }
    const error = echoStatus(request.response_status, trailing);
    if (error) {
      callback(error);
      return;
    }
    callback(null, { payload: payload(request.response_size) }, trailing);
  },

  CacheableUnaryCall(call, callback) {
    callback({ code: grpc.status.UNIMPLEMENTED, details: 'not used by the interop cases' });
  },

  StreamingOutputCall(call) {
    const trailing = echo(call);
    const error = echoStatus(call.request.response_status, trailing);
    if (error) {
      call.emit('error', error);
      return;
    }
    respond(call, call.request).then(() => call.end(trailing));
  },

  StreamingInputCall(call, callback) {
    const trailing = echo(call);
    let total = 0;
    call.on('data', (request) => {
      total += request.payload ? request.payload.body.length : 0;
    });
    call.on('end', () => callback(null, { aggregated_payload_size: total }, trailing));
    call.on('error', () => {});
  },

  FullDuplexCall(call) {
    duplex(call, false);
  },

  HalfDuplexCall(call) {
    duplex(call, true);
  },
};

function main() {
  const flags = parseFlags(process.argv.slice(2), { use_tls: 'false' });
  const server = new grpc.Server();
  server.addService(testing.TestService.service, service);
  let creds = grpc.ServerCredentials.createInsecure();
  if (isTrue(flags.use_tls)) {
    creds = grpc.ServerCredentials.createSsl(null, [
      { cert_chain: fs.readFileSync(flags.cert_file), private_key: fs.readFileSync(flags.key_file) },
    ]);
  }
  server.bindAsync(`127.0.0.1:${flags.port}`, creds, (err, port) => {
    if (err) {
      console.error(`bind: ${err.message}`);
      process.exit(1);
    }
    console.log(`listening on 127.0.0.1:${port}`);
  });
}

main();
