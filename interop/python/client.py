"""grpc.testing interop client on grpcio, for Ferry's interop matrix.

  python client.py --server_host=127.0.0.1 --server_port=PORT --test_case=CASE[,CASE..|all]
                   [--use_tls=true --use_test_ca=true --ca_file=.. --server_host_override=..]

Prints one line per case: RESULT <tab> case <tab> pass|fail|unsupported <tab> detail,
and exits non-zero if any case failed.

What grpcio cannot show, and so is not asserted here: the compressed flag of
a received message (server_compressed_*), and per-message compression of a
request stream (client_compressed_streaming compresses every message of the
second call, which the case allows the server to accept).
"""

import argparse
import os
import sys
import threading
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".build", "python"))

import grpc  # noqa: E402
from interop_pb import empty_pb2, messages_pb2, test_pb2_grpc  # noqa: E402

CASES = [
    "empty_unary", "large_unary", "client_compressed_unary", "server_compressed_unary",
    "client_streaming", "client_compressed_streaming", "server_streaming",
    "server_compressed_streaming", "ping_pong", "empty_stream", "custom_metadata",
    "status_code_and_message", "special_status_message", "unimplemented_method",
    "unimplemented_service", "cancel_after_begin", "cancel_after_first_response",
    "timeout_on_sleeping_server", "concurrent_large_unary", "rpc_soak", "channel_soak",
]
TIMEOUT = 30  # seconds, for every call that is not about deadlines


class Failure(Exception):
    pass


class Partial(Exception):
    """The case passed, with something grpcio cannot check."""


def check(cond, what):
    if not cond:
        raise Failure(what)


def flag(value):
    return value.lower() in ("1", "true", "yes")


def payload(size):
    return messages_pb2.Payload(body=b"\0" * size)


def check_body(body, size, what="payload"):
    check(len(body) == size, f"{what}: {len(body)} bytes, want {size}")
    check(body.count(0) == size, f"{what}: not all zeros")


def expect_error(fn, code, message=None):
    try:
        fn()
    except grpc.RpcError as e:
        check(e.code() == code, f"status {e.code()} ({e.details()!r}), want {code}")
        if message is not None:
            check(e.details() == message, f"message {e.details()!r}, want {message!r}")
        return e
    raise Failure(f"call succeeded, want {code}")


def large_request(**kw):
    return messages_pb2.SimpleRequest(response_size=314159, payload=payload(271828), **kw)


class Client:
    def __init__(self, args):
        self.args = args
        self.channel = self.new_channel()
        self.stub = test_pb2_grpc.TestServiceStub(self.channel)

    def new_channel(self):
        a = self.args
        target = f"{a.server_host}:{a.server_port}"
        options = [("grpc.max_receive_message_length", 16 << 20)]
        if not a.use_tls:
            return grpc.insecure_channel(target, options=options)
        roots = None
        if a.use_test_ca:
            with open(a.ca_file, "rb") as f:
                roots = f.read()
        if a.server_host_override:
            options.append(("grpc.ssl_target_name_override", a.server_host_override))
        return grpc.secure_channel(target, grpc.ssl_channel_credentials(roots), options=options)

    # --- cases ---------------------------------------------------------------

    def empty_unary(self):
        reply = self.stub.EmptyCall(empty_pb2.Empty(), timeout=TIMEOUT)
        check(isinstance(reply, empty_pb2.Empty), "reply is not Empty")

    def large_unary(self, stub=None):
        reply = (stub or self.stub).UnaryCall(large_request(), timeout=TIMEOUT)
        check_body(reply.payload.body, 314159)

    def client_compressed_unary(self):
        probe = large_request(expect_compressed=messages_pb2.BoolValue(value=True))
        expect_error(lambda: self.stub.UnaryCall(probe, timeout=TIMEOUT), grpc.StatusCode.INVALID_ARGUMENT)
        for compressed in (True, False):
            req = large_request(expect_compressed=messages_pb2.BoolValue(value=compressed))
            comp = grpc.Compression.Gzip if compressed else grpc.Compression.NoCompression
            reply = self.stub.UnaryCall(req, timeout=TIMEOUT, compression=comp)
            check_body(reply.payload.body, 314159)

    def server_compressed_unary(self):
        for compressed in (True, False):
            req = large_request(response_compressed=messages_pb2.BoolValue(value=compressed))
            reply = self.stub.UnaryCall(req, timeout=TIMEOUT)
            check_body(reply.payload.body, 314159)
        raise Partial("compressed flag of responses not visible in grpcio")

    def client_streaming(self):
        sizes = [27182, 8, 1828, 45904]
        reqs = (messages_pb2.StreamingInputCallRequest(payload=payload(n)) for n in sizes)
        reply = self.stub.StreamingInputCall(reqs, timeout=TIMEOUT)
        check(reply.aggregated_payload_size == 74922, f"aggregated {reply.aggregated_payload_size}")

    def client_compressed_streaming(self):
        def req(expect, n):
            return messages_pb2.StreamingInputCallRequest(
                expect_compressed=messages_pb2.BoolValue(value=expect), payload=payload(n))
        expect_error(lambda: self.stub.StreamingInputCall(iter([req(True, 27182)]), timeout=TIMEOUT),
                     grpc.StatusCode.INVALID_ARGUMENT)
        reply = self.stub.StreamingInputCall(iter([req(True, 27182), req(False, 45904)]),
                                             timeout=TIMEOUT, compression=grpc.Compression.Gzip)
        check(reply.aggregated_payload_size == 73086, f"aggregated {reply.aggregated_payload_size}")
        raise Partial("grpcio compresses every message of a call: the second one too")

    def server_streaming(self):
        sizes = [31415, 9, 2653, 58979]
        req = messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=n) for n in sizes])
        got = [r.payload.body for r in self.stub.StreamingOutputCall(req, timeout=TIMEOUT)]
        check(len(got) == 4, f"{len(got)} responses, want 4")
        for body, n in zip(got, sizes):
            check_body(body, n)

    def server_compressed_streaming(self):
        params = [(True, 31415), (False, 92653)]
        req = messages_pb2.StreamingOutputCallRequest(response_parameters=[
            messages_pb2.ResponseParameters(size=n, compressed=messages_pb2.BoolValue(value=c))
            for c, n in params])
        got = [r.payload.body for r in self.stub.StreamingOutputCall(req, timeout=TIMEOUT)]
        check(len(got) == 2, f"{len(got)} responses, want 2")
        for body, (_, n) in zip(got, params):
            check_body(body, n)
        raise Partial("compressed flag of responses not visible in grpcio")

    def ping_pong(self):
        pairs = [(31415, 27182), (9, 8), (2653, 1828), (58979, 45904)]
        requests = Feeder()
        responses = self.stub.FullDuplexCall(requests, timeout=TIMEOUT)
        for size, body in pairs:
            requests.put(messages_pb2.StreamingOutputCallRequest(
                response_parameters=[messages_pb2.ResponseParameters(size=size)], payload=payload(body)))
            reply = next(responses)
            check_body(reply.payload.body, size)
        requests.close()
        check(next(responses, None) is None, "more than four responses")

    def empty_stream(self):
        got = list(self.stub.FullDuplexCall(iter([]), timeout=TIMEOUT))
        check(got == [], f"{len(got)} responses, want 0")

    def custom_metadata(self):
        md = (("x-grpc-test-echo-initial", "test_initial_metadata_value"),
              ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab"))

        def check_md(initial, trailing):
            check(("x-grpc-test-echo-initial", "test_initial_metadata_value") in list(initial),
                  f"initial metadata {list(initial)}")
            check(("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab") in list(trailing),
                  f"trailing metadata {list(trailing)}")

        reply, call = self.stub.UnaryCall.with_call(large_request(), metadata=md, timeout=TIMEOUT)
        check_body(reply.payload.body, 314159)
        check_md(call.initial_metadata(), call.trailing_metadata())
        req = messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=314159)], payload=payload(271828))
        call = self.stub.FullDuplexCall(iter([req]), metadata=md, timeout=TIMEOUT)
        bodies = [r.payload.body for r in call]
        check(len(bodies) == 1, f"{len(bodies)} responses, want 1")
        check_body(bodies[0], 314159)
        check_md(call.initial_metadata(), call.trailing_metadata())

    def status_code_and_message(self, message="test status message", duplex=True):
        status = messages_pb2.EchoStatus(code=2, message=message)
        expect_error(lambda: self.stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status),
                                                 timeout=TIMEOUT),
                     grpc.StatusCode.UNKNOWN, message)
        if duplex:
            req = messages_pb2.StreamingOutputCallRequest(response_status=status)
            expect_error(lambda: list(self.stub.FullDuplexCall(iter([req]), timeout=TIMEOUT)),
                         grpc.StatusCode.UNKNOWN, message)

    def special_status_message(self):
        self.status_code_and_message(
            "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n", duplex=False)

    def unimplemented_method(self):
        call = self.channel.unary_unary(
            "/grpc.testing.TestService/UnimplementedCall",
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString)
        expect_error(lambda: call(empty_pb2.Empty(), timeout=TIMEOUT), grpc.StatusCode.UNIMPLEMENTED)

    def unimplemented_service(self):
        stub = test_pb2_grpc.UnimplementedServiceStub(self.channel)
        expect_error(lambda: stub.UnimplementedCall(empty_pb2.Empty(), timeout=TIMEOUT),
                     grpc.StatusCode.UNIMPLEMENTED)

    def cancel_after_begin(self):
        requests = Feeder()
        future = self.stub.StreamingInputCall.future(requests, timeout=TIMEOUT)
        future.cancel()
        requests.close()
        check(future.cancelled(), "call not cancelled")
        check(future.code() == grpc.StatusCode.CANCELLED, f"status {future.code()}, want CANCELLED")

    def cancel_after_first_response(self):
        requests = Feeder()
        call = self.stub.FullDuplexCall(requests, timeout=TIMEOUT)
        requests.put(messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=31415)], payload=payload(27182)))
        check_body(next(call).payload.body, 31415)
        call.cancel()
        requests.close()
        expect_error(lambda: next(call), grpc.StatusCode.CANCELLED)

    def timeout_on_sleeping_server(self):
        requests = Feeder()
        call = self.stub.FullDuplexCall(requests, timeout=0.001)
        requests.put(messages_pb2.StreamingOutputCallRequest(payload=payload(27182)))
        try:
            expect_error(lambda: next(call), grpc.StatusCode.DEADLINE_EXCEEDED)
        finally:
            requests.close()

    def concurrent_large_unary(self):
        calls = [self.stub.UnaryCall.future(large_request(), timeout=120) for _ in range(1000)]
        for f in calls:
            check_body(f.result().payload.body, 314159)

    def rpc_soak(self):
        for _ in range(self.args.soak_iterations):
            self.large_unary()

    def channel_soak(self):
        for _ in range(self.args.soak_iterations):
            channel = self.new_channel()
            try:
                self.large_unary(test_pb2_grpc.TestServiceStub(channel))
            finally:
                channel.close()


class Feeder:
    """A request iterator fed from the test's thread."""

    _END = object()

    def __init__(self):
        self._items = []
        self._cond = threading.Condition()

    def put(self, item):
        with self._cond:
            self._items.append(item)
            self._cond.notify()

    def close(self):
        self.put(self._END)

    def __iter__(self):
        return self

    def __next__(self):
        with self._cond:
            while not self._items:
                self._cond.wait()
            item = self._items.pop(0)
        if item is self._END:
            raise StopIteration
        return item


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server_host", default="127.0.0.1")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--server_host_override", default="")
    parser.add_argument("--test_case", default="all")
    parser.add_argument("--use_tls", type=flag, default=False)
    parser.add_argument("--use_test_ca", type=flag, default=False)
    parser.add_argument("--ca_file")
    parser.add_argument("--soak_iterations", type=int, default=10)
    args = parser.parse_args()
    cases = CASES if args.test_case == "all" else args.test_case.split(",")
    client = Client(args)
    failed = False
    for case in cases:
        if case not in CASES:
            print(f"RESULT\t{case}\tunsupported\tunknown case", flush=True)
            continue
        try:
            getattr(client, case)()
            print(f"RESULT\t{case}\tpass\t", flush=True)
        except Partial as p:
            print(f"RESULT\t{case}\tpass\t{p}", flush=True)
        except Failure as f:
            failed = True
            print(f"RESULT\t{case}\tfail\t{f}", flush=True)
        except grpc.RpcError as e:
            failed = True
            print(f"RESULT\t{case}\tfail\tstatus {e.code()}: {e.details()!r}", flush=True)
        except Exception as e:  # noqa: BLE001 - report, keep going
            failed = True
            last = traceback.format_exc().strip().splitlines()[-1]
            print(f"RESULT\t{case}\tfail\t{type(e).__name__}: {e} ({last})", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
