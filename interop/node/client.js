// grpc.testing interop client on @grpc/grpc-js, for Ferry's interop matrix.
//
//   node client.js --server_host=127.0.0.1 --server_port=PORT --test_case=CASE[,CASE..|all]
//                  [--use_tls=true --use_test_ca=true --ca_file=.. --server_host_override=..]
//
// Prints one line per case: RESULT <tab> case <tab> pass|fail|unsupported <tab> detail,
// and exits 1 if any case failed. grpc-js does not show whether a received
// message was compressed, so server_compressed_* pass without that check
// (the detail says so).
'use strict';

const fs = require('fs');
const { grpc, loadTesting, parseFlags, isTrue } = require('./common');

const testing = loadTesting();
const CASES = [
  'empty_unary', 'large_unary', 'client_compressed_unary', 'server_compressed_unary',
  'client_streaming', 'client_compressed_streaming', 'server_streaming',
  'server_compressed_streaming', 'ping_pong', 'empty_stream', 'custom_metadata',
  'status_code_and_message', 'special_status_message', 'unimplemented_method',
  'unimplemented_service', 'cancel_after_begin', 'cancel_after_first_response',
  'timeout_on_sleeping_server', 'concurrent_large_unary', 'rpc_soak', 'channel_soak',
];
const CALL_TIMEOUT_MS = 30000;
const NO_COMPRESS = 2; // grpc-js WriteFlags.NoCompress

class Failure extends Error {}
class Partial extends Error {}

function check(cond, what) {
  if (!cond) throw new Failure(what);
}

function payload(size) {
  return { body: Buffer.alloc(size) };
}

function checkBody(p, size) {
  const body = p ? p.body : Buffer.alloc(0);
  check(body.length === size, `payload of ${body.length} bytes, want ${size}`);
  check(body.every((b) => b === 0), 'payload not all zeros');
}

function deadline(ms = CALL_TIMEOUT_MS) {
  return { deadline: Date.now() + ms };
}

function largeRequest(extra = {}) {
  return { response_size: 314159, payload: payload(271828), ...extra };
}

function statusName(code) {
  return Object.keys(grpc.status).find((k) => grpc.status[k] === code) || String(code);
}

async function expectError(promise, code, message) {
  try {
    await promise;
  } catch (e) {
    if (e instanceof Failure) throw e;
    check(e.code === code, `status ${statusName(e.code)} (${JSON.stringify(e.details)}), want ${statusName(code)}`);
    if (message !== undefined) {
      check(e.details === message, `message ${JSON.stringify(e.details)}, want ${JSON.stringify(message)}`);
    }
    return;
  }
  throw new Failure(`call succeeded, want ${statusName(code)}`);
}

// A unary call as a promise of { reply, initial, trailing }.
function unary(client, method, request, options = {}, metadata = new grpc.Metadata()) {
  // The callback runs before the 'status' event that carries the trailers.
  return new Promise((resolve, reject) => {
    let initial;
    let result;
    const call = client[method](request, metadata, { ...deadline(), ...options }, (err, reply) => {
      result = { err, reply };
    });
    call.on('metadata', (md) => (initial = md));
    call.on('status', (s) => {
      if (!result || result.err) reject(result ? result.err : s);
      else resolve({ reply: result.reply, initial, trailing: s.metadata });
    });
  });
}

// A client-streaming call: writes `requests` (each [message, flags]) and half-closes.
function clientStream(client, requests, options = {}) {
  return new Promise((resolve, reject) => {
    const call = client.StreamingInputCall(new grpc.Metadata(), { ...deadline(), ...options }, (err, reply) =>
      err ? reject(err) : resolve(reply),
    );
    for (const [message, flags] of requests) call.write(message, flags);
    call.end();
  });
}

// Reads a response stream into a queue of awaitable messages.
class Reader {
  constructor(call) {
    this.items = [];
    this.waiters = [];
    call.on('data', (m) => this.push({ message: m }));
    call.on('error', (e) => this.push({ error: e }));
    call.on('end', () => this.push({ end: true }));
  }

  push(item) {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }

  next() {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async message() {
    const item = await this.next();
    if (item.error) throw item.error;
    return item.end ? null : item.message;
  }
}

class Runner {
  constructor(flags) {
    this.flags = flags;
    this.client = this.newClient();
  }

  newClient(options = {}) {
    const f = this.flags;
    const target = `${f.server_host}:${f.server_port}`;
    const opts = { 'grpc.max_receive_message_length': 16 << 20, ...options };
    let creds = grpc.credentials.createInsecure();
    if (isTrue(f.use_tls)) {
      const ca = isTrue(f.use_test_ca) ? fs.readFileSync(f.ca_file) : null;
      creds = grpc.credentials.createSsl(ca);
      if (f.server_host_override) {
        opts['grpc.ssl_target_name_override'] = f.server_host_override;
        opts['grpc.default_authority'] = f.server_host_override;
      }
    }
    return new testing.TestService(target, creds, opts);
  }

  async empty_unary() {
    const { reply } = await unary(this.client, 'EmptyCall', {});
    check(reply !== null && reply !== undefined, 'no reply');
  }

  async large_unary(client = this.client) {
    const { reply } = await unary(client, 'UnaryCall', largeRequest());
    checkBody(reply.payload, 314159);
  }

  async client_compressed_unary() {
    const gzip = this.newClient({ 'grpc.default_compression_algorithm': 2 });
    try {
      const probe = largeRequest({ expect_compressed: { value: true } });
      await expectError(unary(this.client, 'UnaryCall', probe), grpc.status.INVALID_ARGUMENT);
      let { reply } = await unary(gzip, 'UnaryCall', largeRequest({ expect_compressed: { value: true } }));
      checkBody(reply.payload, 314159);
      ({ reply } = await unary(this.client, 'UnaryCall', largeRequest({ expect_compressed: { value: false } })));
      checkBody(reply.payload, 314159);
    } finally {
      gzip.close();
    }
  }

  async server_compressed_unary() {
    for (const value of [true, false]) {
      const { reply } = await unary(this.client, 'UnaryCall', largeRequest({ response_compressed: { value } }));
      checkBody(reply.payload, 314159);
    }
    throw new Partial('compressed flag of responses not visible in grpc-js');
  }

  async client_streaming() {
    const reqs = [27182, 8, 1828, 45904].map((n) => [{ payload: payload(n) }]);
    const reply = await clientStream(this.client, reqs);
    check(reply.aggregated_payload_size === 74922, `aggregated size ${reply.aggregated_payload_size}`);
  }

  async client_compressed_streaming() {
    const req = (value, n) => ({ expect_compressed: { value }, payload: payload(n) });
    await expectError(clientStream(this.client, [[req(true, 27182)]]), grpc.status.INVALID_ARGUMENT);
    const gzip = this.newClient({ 'grpc.default_compression_algorithm': 2 });
    try {
      const reply = await clientStream(gzip, [[req(true, 27182)], [req(false, 45904), NO_COMPRESS]]);
      check(reply.aggregated_payload_size === 73086, `aggregated size ${reply.aggregated_payload_size}`);
    } finally {
      gzip.close();
    }
  }

  async readSizes(request, sizes) {
    const reader = new Reader(this.client.StreamingOutputCall(request, deadline()));
    for (const size of sizes) {
      const m = await reader.message();
      check(m !== null, `call ended early, want ${sizes.length} responses`);
      checkBody(m.payload, size);
    }
    check((await reader.message()) === null, `more than ${sizes.length} responses`);
  }

  async server_streaming() {
    const sizes = [31415, 9, 2653, 58979];
    await this.readSizes({ response_parameters: sizes.map((size) => ({ size })) }, sizes);
  }

  async server_compressed_streaming() {
    const params = [
      { size: 31415, compressed: { value: true } },
      { size: 92653, compressed: { value: false } },
    ];
    await this.readSizes({ response_parameters: params }, [31415, 92653]);
    throw new Partial('compressed flag of responses not visible in grpc-js');
  }

  async ping_pong() {
    const call = this.client.FullDuplexCall(deadline());
    const reader = new Reader(call);
    for (const [size, body] of [[31415, 27182], [9, 8], [2653, 1828], [58979, 45904]]) {
      call.write({ response_parameters: [{ size }], payload: payload(body) });
      const m = await reader.message();
      check(m !== null, 'call ended early');
      checkBody(m.payload, size);
    }
    call.end();
    check((await reader.message()) === null, 'more than four responses');
  }

  async empty_stream() {
    const call = this.client.FullDuplexCall(deadline());
    const reader = new Reader(call);
    call.end();
    check((await reader.message()) === null, 'got a response, want none');
  }

  async custom_metadata() {
    const md = new grpc.Metadata();
    md.add('x-grpc-test-echo-initial', 'test_initial_metadata_value');
    md.add('x-grpc-test-echo-trailing-bin', Buffer.from([0xab, 0xab, 0xab]));
    const checkMd = (initial, trailing, where) => {
      const i = initial ? initial.get('x-grpc-test-echo-initial') : [];
      check(i.length === 1 && i[0] === 'test_initial_metadata_value', `${where}: initial metadata ${JSON.stringify(i)}`);
      const t = trailing ? trailing.get('x-grpc-test-echo-trailing-bin') : [];
      check(t.length === 1 && Buffer.from([0xab, 0xab, 0xab]).equals(t[0]), `${where}: trailing metadata ${JSON.stringify(t)}`);
    };
    const { reply, initial, trailing } = await unary(this.client, 'UnaryCall', largeRequest(), {}, md);
    checkBody(reply.payload, 314159);
    checkMd(initial, trailing, 'unary');

    const call = this.client.FullDuplexCall(md, deadline());
    let header;
    call.on('metadata', (m) => (header = m));
    const status = new Promise((resolve) => call.on('status', (s) => resolve(s)));
    const reader = new Reader(call);
    call.write({ response_parameters: [{ size: 314159 }], payload: payload(271828) });
    call.end();
    const m = await reader.message();
    check(m !== null, 'full duplex: no response');
    checkBody(m.payload, 314159);
    check((await reader.message()) === null, 'full duplex: more than one response');
    checkMd(header, (await status).metadata, 'full duplex');
  }

  async status_code_and_message(message = 'test status message', duplex = true) {
    const response_status = { code: 2, message };
    await expectError(unary(this.client, 'UnaryCall', { response_status }), grpc.status.UNKNOWN, message);
    if (!duplex) return;
    const call = this.client.FullDuplexCall(deadline());
    const reader = new Reader(call);
    call.write({ response_status });
    call.end();
    await expectError(reader.message(), grpc.status.UNKNOWN, message);
  }

  async special_status_message() {
    await this.status_code_and_message('\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \u{1f608}\t\n', false);
  }

  async unimplemented_method() {
    await expectError(unary(this.client, 'UnimplementedCall', {}), grpc.status.UNIMPLEMENTED);
  }

  async unimplemented_service() {
    // The other service, on the test client's channel.
    const other = new testing.UnimplementedService(null, null, { channelOverride: this.client.getChannel() });
    await expectError(unary(other, 'UnimplementedCall', {}), grpc.status.UNIMPLEMENTED);
  }

  async cancel_after_begin() {
    const result = new Promise((resolve) => {
      const call = this.client.StreamingInputCall(deadline(), (err) => resolve(err));
      call.cancel();
    });
    const err = await result;
    check(err && err.code === grpc.status.CANCELLED, `status ${err ? statusName(err.code) : 'OK'}, want CANCELLED`);
  }

  async cancel_after_first_response() {
    const call = this.client.FullDuplexCall(deadline());
    const reader = new Reader(call);
    call.write({ response_parameters: [{ size: 31415 }], payload: payload(27182) });
    const m = await reader.message();
    check(m !== null, 'call ended without a response');
    checkBody(m.payload, 31415);
    call.cancel();
    await expectError(reader.message(), grpc.status.CANCELLED);
  }

  async timeout_on_sleeping_server() {
    const call = this.client.FullDuplexCall(deadline(1));
    const reader = new Reader(call);
    call.write({ payload: payload(27182) });
    await expectError(reader.message(), grpc.status.DEADLINE_EXCEEDED);
  }

  async concurrent_large_unary() {
    const calls = [];
    for (let i = 0; i < 1000; i++) {
      calls.push(unary(this.client, 'UnaryCall', largeRequest(), deadline(120000)));
    }
    for (const { reply } of await Promise.all(calls)) checkBody(reply.payload, 314159);
  }

  async rpc_soak() {
    for (let i = 0; i < Number(this.flags.soak_iterations); i++) await this.large_unary();
  }

  async channel_soak() {
    for (let i = 0; i < Number(this.flags.soak_iterations); i++) {
      const client = this.newClient({ 'grpc.use_local_subchannel_pool': 1 });
      try {
        await this.large_unary(client);
      } finally {
        client.close();
      }
    }
  }
}

async function main() {
  const flags = parseFlags(process.argv.slice(2), {
    server_host: '127.0.0.1',
    test_case: 'all',
    use_tls: 'false',
    use_test_ca: 'false',
    soak_iterations: '10',
  });
  const runner = new Runner(flags);
  const cases = flags.test_case === 'all' ? CASES : flags.test_case.split(',');
  let failed = false;
  for (const name of cases) {
    if (!CASES.includes(name)) {
      console.log(`RESULT\t${name}\tunsupported\tunknown case`);
      continue;
    }
    try {
      await runner[name]();
      console.log(`RESULT\t${name}\tpass\t`);
    } catch (e) {
      if (e instanceof Partial) {
        console.log(`RESULT\t${name}\tpass\t${e.message}`);
      } else {
        failed = true;
        const what = e instanceof Failure ? e.message : `status ${statusName(e.code)}: ${JSON.stringify(e.details || e.message)}`;
        console.log(`RESULT\t${name}\tfail\t${String(what).replace(/\n/g, ' ')}`);
      }
    }
  }
  process.exit(failed ? 1 : 0);
}

main();
