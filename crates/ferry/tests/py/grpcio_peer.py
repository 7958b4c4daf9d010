"""grpcio (the C core behind Python gRPC) as a peer of Ferry's `test.Echo`.

Used by crates/ferry/tests/e2e/grpcio.rs; the service is
crates/ferry/tests/proto/echo.proto, and its stubs are generated at start-up
into a temporary directory with the protoc that grpcio-tools ships.

    --mode client --target HOST:PORT
        Calls a Ferry server, one case after another, and prints one line per
        case: `NAME OK` or `NAME FAIL reason`. Exits 1 if any case failed.

    --mode server --port PORT
        Serves the same semantics as the Rust test service (support.rs) on
        127.0.0.1:PORT (0 picks a free port), prints `LISTENING <port>`, then
        `CANCELLED <method> <text>` whenever a handler sees its call end before
        it answered, and stops when standard input closes.
"""

import argparse
import os
import queue
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc
from grpc_tools import protoc

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proto")

NOT_FOUND = 5
# A deadline further away than a year (in seconds) counts as none.
NO_DEADLINE = 365 * 24 * 3600


def load_stubs(out_dir):
    """Compiles echo.proto into `out_dir` and imports the two modules."""
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        os.path.join(PROTO_DIR, "echo.proto"),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("grpc_tools.protoc could not compile echo.proto")
    sys.path.insert(0, out_dir)
    import echo_pb2
    import echo_pb2_grpc

    return echo_pb2, echo_pb2_grpc


def status_code(number):
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return code
    return grpc.StatusCode.UNKNOWN


# ---- client mode ----


class CaseFailed(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise CaseFailed(why)


def expect_error(call, code, details=None):
    """Runs `call`, which must raise an RpcError with `code` (and `details`)."""
    try:
        call()
    except grpc.RpcError as err:
        expect(err.code() == code, f"code {err.code()} ({err.details()!r}), want {code}")
        if details is not None:
            expect(err.details() == details, f"details {err.details()!r}, want {details!r}")
        return
    raise CaseFailed(f"no error, want {code}")


def run_client(target, pb, pb_grpc):
    Msg = pb.Msg
    # No proxy from the environment may stand between the two.
    channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = pb_grpc.EchoStub(channel)

    def unary():
        reply = stub.Unary(Msg(text="hello"))
        expect(reply.text == "hello", f"text {reply.text!r}")

    def unary_with_deadline():
        # Ferry's handler sees the grpc-timeout grpcio sent.
        reply = stub.Unary(Msg(text="hello"), timeout=30)
        expect(reply.text == "hello (deadline)", f"text {reply.text!r}")

    def unary_large():
        payload = bytes(i % 251 for i in range(1 << 20))
        reply = stub.Unary(Msg(text="big", payload=payload))
        expect(reply.text == "big", f"text {reply.text!r}")
        expect(reply.payload == payload, f"payload of {len(reply.payload)} bytes differs")

    def unary_error():
        expect_error(
            lambda: stub.Unary(Msg(text="missing", fail_code=NOT_FOUND)),
            grpc.StatusCode.NOT_FOUND,
            "failed as asked: missing",
        )

    def server_stream():
        got = [m.text for m in stub.ServerStream(Msg(text="x", count=10))]
        want = [f"x#{i}" for i in range(10)]
        expect(got == want, f"got {got}")

    def server_stream_error():
        got = []

        def read():
            for m in stub.ServerStream(Msg(text="f", count=2, fail_code=10)):
                got.append(m.text)

        expect_error(read, grpc.StatusCode.ABORTED, "stream failed as asked")
        expect(got == ["f#0", "f#1"], f"got {got} before the error")

    def client_stream():
        reply = stub.ClientStream(iter([Msg(text=str(i), payload=b"p") for i in range(5)]))
        expect(reply.count == 5, f"count {reply.count}")
        expect(reply.text == "01234", f"text {reply.text!r}")
        expect(reply.payload == b"ppppp", f"payload {reply.payload!r}")

    def bidi():
        outbox = queue.Queue()

        def requests():
            while True:
                m = outbox.get()
                if m is None:
                    return
                yield m

        replies = stub.Bidi(requests())
        # Ping-pong: the next request leaves only after its reply came back.
        for i in range(10):
            outbox.put(Msg(text=f"ping {i}"))
            reply = next(replies)
            expect(reply.text == f"ping {i}", f"reply {i}: {reply.text!r}")
        outbox.put(None)
        rest = list(replies)
        expect(rest == [], f"{len(rest)} replies after the half-close")
        expect(replies.code() == grpc.StatusCode.OK, f"ended with {replies.code()}")

    def unimplemented():
        nope = channel.unary_unary(
            "/test.Echo/Nope",
            request_serializer=Msg.SerializeToString,
            response_deserializer=Msg.FromString,
        )
        expect_error(
            lambda: nope(Msg(text="x")),
            grpc.StatusCode.UNIMPLEMENTED,
            "method Nope not found in service test.Echo",
        )

    def deadline():
        started = time.monotonic()
        expect_error(
            lambda: stub.Unary(Msg(text="slow", sleep_ms=2000), timeout=0.2),
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
        took = time.monotonic() - started
        expect(took < 1.5, f"took {took:.2f} s")

    cases = [
        unary,
        unary_with_deadline,
        unary_large,
        unary_error,
        server_stream,
        server_stream_error,
        client_stream,
        bidi,
        unimplemented,
        deadline,
    ]
    failed = 0
    for case in cases:
        try:
            case()
            print(f"{case.__name__} OK", flush=True)
        except Exception as err:  # one case's surprise must not hide the others
            failed += 1
            reason = " ".join(f"{type(err).__name__}: {err}".split())
            print(f"{case.__name__} FAIL {reason}", flush=True)
    channel.close()
    return 1 if failed else 0


# ---- server mode ----


def serve(port, pb, pb_grpc):
    Msg = pb.Msg
    say = threading.Lock()

    def report(line):
        with say:
            print(line, flush=True)

    def pause(method, m, context):
        """Sleeps `sleep_ms`, stopping early (and saying so) if the call
        ends meanwhile. False if it did."""
        end = time.monotonic() + m.sleep_ms / 1000
        while time.monotonic() < end:
            if not context.is_active():
                report(f"CANCELLED {method} {m.text}")
                return False
            time.sleep(0.005)
        return True

    def handle(method, m, context):
        """Like support.rs: sleep, then fail with `fail_code` if set."""
        if not pause(method, m, context):
            return False
        if m.fail_code:
            context.abort(status_code(m.fail_code), f"failed as asked: {m.text}")
        return True

    class Echo(pb_grpc.EchoServicer):
        def Unary(self, request, context):
            if not handle("Unary", request, context):
                return Msg()
            # Without a deadline grpcio reports its "infinite future" (about
            # 2^63 s); no test deadline comes anywhere near a year.
            if context.time_remaining() < NO_DEADLINE:
                request.text += " (deadline)"
            return request

        def ServerStream(self, request, context):
            for i in range(request.count):
                if not pause("ServerStream", request, context):
                    return
                yield Msg(text=f"{request.text}#{i}", payload=request.payload)
            if request.fail_code:
                context.abort(status_code(request.fail_code), "stream failed as asked")

        def ClientStream(self, request_iterator, context):
            total = Msg()
            for m in request_iterator:
                if not handle("ClientStream", m, context):
                    return Msg()
                total.count += 1
                total.payload += m.payload
                total.text += m.text
            return total

        def Bidi(self, request_iterator, context):
            for m in request_iterator:
                if not handle("Bidi", m, context):
                    return
                yield m

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    pb_grpc.add_EchoServicer_to_server(Echo(), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    if bound == 0:
        raise SystemExit(f"could not bind 127.0.0.1:{port}")
    server.start()
    report(f"LISTENING {bound}")
    sys.stdin.read()
    server.stop(grace=None).wait()
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["client", "server"], required=True)
    parser.add_argument("--target", help="client: HOST:PORT of a Ferry server")
    parser.add_argument("--port", type=int, default=0, help="server: port to listen on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferry-grpcio-") as out_dir:
        pb, pb_grpc = load_stubs(out_dir)
        if args.mode == "client":
            if not args.target:
                parser.error("--mode client needs --target")
            return run_client(args.target, pb, pb_grpc)
        return serve(args.port, pb, pb_grpc)


if __name__ == "__main__":
    sys.exit(main())
