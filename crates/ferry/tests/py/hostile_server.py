#!/usr/bin/env python3
"""A misbehaving gRPC server for Ferry's end-to-end tests (`tests/e2e/hostile_server.rs`).

It listens on 127.0.0.1 (``--port``, 0 for any) and prints ``LISTENING <port>``.
Each call's method name (the last segment of ``:path``) picks what the server
does wrong; ``Ok`` answers properly, so a test can check that the client still
works after each case. Frames come from Python's ``h2`` (with outbound header
validation off); what h2 will not write (a DATA frame claiming a huge message,
RST_STREAM in the middle of a message) is still framed by h2, only the gRPC
bytes inside are wrong.

Request messages are the test service's ``Msg`` (``tests/proto/echo.proto``);
``Ok`` and the client-streaming cases reply with a ``Msg`` whose ``text`` is
the requests' texts joined and whose ``count`` is how many arrived.

Cases named ``RefuseFirst*`` and ``GoawayFirst*`` refuse the first call of
that exact name (RST_STREAM REFUSED_STREAM, or a GOAWAY whose last-stream-id
is below the stream) and answer later ones like ``Ok``; ``RefuseAfter*``
refuses once the first request message has arrived. They print a line when
they act, so a test can wait for them: ``REFUSED <stream>`` and
``GOAWAY <stream>``, and ``REQUEST <case> <stream>`` for each of their
requests (a second one for a case is the client's retry). The process ends when stdin
closes.
"""

import argparse
import gzip
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

GRPC = b"application/grpc"
say_lock = threading.Lock()
# Cases that act only on the first call they see (then answer like Ok).
first_seen = set()
first_lock = threading.Lock()


def say(line):
    with say_lock:
        print(line, flush=True)


def first_time(case):
    with first_lock:
        if case in first_seen:
            return False
        first_seen.add(case)
        return True


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(buf, i):
    n = shift = 0
    while i < len(buf):
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return n, i


def msg_text(body):
    """Field 1 (text) of a Msg, or ''."""
    i = 0
    while i < len(body):
        key, i = read_varint(body, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = read_varint(body, i)
        elif wire == 2:
            n, i = read_varint(body, i)
            if field == 1:
                return body[i : i + n].decode("utf-8", "replace")
            i += n
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            break
    return ""


def make_msg(text, count=0):
    raw = text.encode()
    out = b"\x0a" + varint(len(raw)) + raw
    if count:
        out += b"\x10" + varint(count)
    return out


def grpc_frame(message, flag=0):
    return bytes([flag]) + len(message).to_bytes(4, "big") + message


def split_messages(data):
    out = []
    i = 0
    while i + 5 <= len(data):
        n = int.from_bytes(data[i + 1 : i + 5], "big")
        if i + 5 + n > len(data):
            break
        out.append(data[i + 5 : i + 5 + n])
        i += 5 + n
    return out, i


RESPONSE_HEADERS = [(b":status", b"200"), (b"content-type", GRPC)]
OK_TRAILERS = [(b"grpc-status", b"0")]

# Trailers-Only answers with an HTTP status and no grpc-status.
HTTP_CASES = {f"Http{code}": code for code in (400, 401, 403, 404, 429, 500, 502, 503, 504)}


class Stream:
    def __init__(self, sid, case):
        self.sid = sid
        self.case = case
        self.data = b""
        self.ended = False
        self.acted = False


class Conn:
    """One client connection, served on its own thread."""

    def __init__(self, sock):
        self.sock = sock
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
        )
        self.h2 = h2.connection.H2Connection(config=config)
        self.streams = {}
        self.closed = False

    def flush(self):
        out = self.h2.data_to_send()
        if out:
            try:
                self.sock.sendall(out)
            except OSError:
                self.closed = True

    def run(self):
        self.h2.initiate_connection()
        self.flush()
        try:
            while not self.closed:
                data = self.sock.recv(65536)
                if not data:
                    break
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError:
                    self.flush()
                    break
                for event in events:
                    self.on_event(event)
                self.flush()
        except OSError:
            pass
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def on_event(self, event):
        if isinstance(event, h2.events.RequestReceived):
            path = dict(event.headers).get(b":path", b"/")
            case = path.rsplit(b"/", 1)[-1].decode("ascii", "replace")
            st = Stream(event.stream_id, case)
            self.streams[event.stream_id] = st
            if case.startswith(("RefuseFirst", "GoawayFirst", "RefuseAfter")):
                say(f"REQUEST {case} {st.sid}")
            self.on_headers(st)
        elif isinstance(event, h2.events.DataReceived):
            if event.flow_controlled_length:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            st = self.streams.get(event.stream_id)
            if st is not None and not st.acted:
                st.data += event.data
                self.on_data(st)
        elif isinstance(event, h2.events.StreamEnded):
            st = self.streams.get(event.stream_id)
            if st is not None and not st.acted:
                st.ended = True
                self.on_end(st)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.closed = True

    # ---- what each case does --------------------------------------------

    def on_headers(self, st):
        """Cases that act as soon as the request headers arrive."""
        if st.case.startswith("RefuseFirst") and first_time(st.case):
            st.acted = True
            self.h2.reset_stream(st.sid, h2.errors.ErrorCodes.REFUSED_STREAM)
            self.flush()
            say(f"REFUSED {st.sid}")
        elif st.case.startswith("GoawayFirst") and first_time(st.case):
            # A GOAWAY whose last-stream-id is below this stream: the
            # stream never reached the application, the client may retry.
            st.acted = True
            self.h2.close_connection(
                error_code=h2.errors.ErrorCodes.NO_ERROR, last_stream_id=st.sid - 2
            )
            self.flush()
            say(f"GOAWAY {st.sid}")
        elif st.case in ("Silent",):
            st.acted = True

    def on_data(self, st):
        messages, _ = split_messages(st.data)
        if st.case.startswith("RefuseAfter") and messages:
            st.acted = True
            self.h2.reset_stream(st.sid, h2.errors.ErrorCodes.REFUSED_STREAM)
            self.flush()
            say(f"REFUSED {st.sid}")

    def on_end(self, st):
        messages, _ = split_messages(st.data)
        texts = "".join(msg_text(m) for m in messages)
        reply = make_msg(texts, len(messages))
        sid = st.sid
        h = self.h2
        case = st.case
        if case == "Ok" or case.startswith(("RefuseFirst", "GoawayFirst", "RefuseAfter")):
            h.send_headers(sid, RESPONSE_HEADERS)
            h.send_data(sid, grpc_frame(reply))
            h.send_headers(sid, OK_TRAILERS, end_stream=True)
        elif case == "StatusNonNumeric":
            self.answer(sid, reply, [(b"grpc-status", b"abc")])
        elif case == "StatusOutOfRange":
            self.answer(sid, reply, [(b"grpc-status", b"99")])
        elif case == "StatusNegative":
            self.answer(sid, reply, [(b"grpc-status", b"-1")])
        elif case == "BadPercent":
            self.answer(
                sid,
                reply,
                [(b"grpc-status", b"3"), (b"grpc-message", b"bad %zz%4 %E2%28%A1 %41")],
            )
        elif case == "GarbageDetails":
            self.answer(
                sid,
                reply,
                [
                    (b"grpc-status", b"5"),
                    (b"grpc-message", b"gone"),
                    (b"grpc-status-details-bin", b"@@not*base64!!"),
                ],
            )
        elif case == "NoTrailers":
            h.send_headers(sid, RESPONSE_HEADERS)
            h.send_data(sid, grpc_frame(reply), end_stream=True)
        elif case == "NoGrpcStatus":
            self.answer(sid, reply, [(b"x-note", b"no status here")])
        elif case == "TrailersOnly200":
            h.send_headers(
                sid,
                RESPONSE_HEADERS + [(b"grpc-status", b"7"), (b"grpc-message", b"denied")],
                end_stream=True,
            )
        elif case == "TrailersOnlyNoStatus":
            h.send_headers(sid, RESPONSE_HEADERS, end_stream=True)
        elif case in HTTP_CASES:
            status = str(HTTP_CASES[case]).encode()
            h.send_headers(
                sid, [(b":status", status), (b"content-type", b"text/plain")], end_stream=True
            )
        elif case == "HttpWithBody":
            h.send_headers(sid, [(b":status", b"503"), (b"content-type", b"text/html")])
            h.send_data(sid, b"<html>unavailable</html>", end_stream=True)
        elif case == "WrongContentType":
            h.send_headers(sid, [(b":status", b"200"), (b"content-type", b"text/html")])
            h.send_data(sid, b"<html>hello</html>", end_stream=True)
        elif case == "OversizedPrefix":
            # A prefix announcing 5 MiB (over the 4 MiB receive limit), then
            # a few bytes; the server never sends the rest.
            h.send_headers(sid, RESPONSE_HEADERS)
            h.send_data(sid, b"\x00" + (5 << 20).to_bytes(4, "big") + b"x" * 100)
        elif case == "FlagNoEncoding":
            h.send_headers(sid, RESPONSE_HEADERS)
            h.send_data(sid, grpc_frame(gzip.compress(reply), flag=1))
            h.send_headers(sid, OK_TRAILERS, end_stream=True)
        elif case == "UnknownEncoding":
            h.send_headers(sid, RESPONSE_HEADERS + [(b"grpc-encoding", b"snappy")])
            h.send_data(sid, grpc_frame(reply, flag=1))
            h.send_headers(sid, OK_TRAILERS, end_stream=True)
        elif case == "BadFlag":
            h.send_headers(sid, RESPONSE_HEADERS)
            h.send_data(sid, grpc_frame(reply, flag=7))
            h.send_headers(sid, OK_TRAILERS, end_stream=True)
        elif case == "RstMidMessage":
            h.send_headers(sid, RESPONSE_HEADERS)
            h.send_data(sid, b"\x00" + (100).to_bytes(4, "big") + b"y" * 10)
            self.flush()
            h.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
        elif case == "CancelMidMessage":
            h.send_headers(sid, RESPONSE_HEADERS)
            h.send_data(sid, b"\x00" + (100).to_bytes(4, "big") + b"y" * 10)
            self.flush()
            h.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        elif case == "GoawayMidCall":
            h.send_headers(sid, RESPONSE_HEADERS)
            h.send_data(sid, b"\x00" + (100).to_bytes(4, "big") + b"y" * 10)
            h.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR, last_stream_id=sid)
            self.flush()
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        elif case == "LargeHeaders":
            # Over the client's 16 KiB header-list limit once decoded, but a
            # block small enough to decode: a stream error.
            h.send_headers(sid, RESPONSE_HEADERS + [(b"x-big", b"b" * (20 << 10))])
            h.send_data(sid, grpc_frame(reply))
            h.send_headers(sid, OK_TRAILERS, end_stream=True)
        elif case == "LargeTrailers":
            h.send_headers(sid, RESPONSE_HEADERS)
            h.send_data(sid, grpc_frame(reply))
            h.send_headers(sid, OK_TRAILERS + [(b"x-big", b"b" * (20 << 10))], end_stream=True)
        elif case == "GoawayGraceful":
            # A GOAWAY that covers this stream, in the middle of its answer
            # (hand-made, so h2 keeps sending): the call still completes.
            h.send_headers(sid, RESPONSE_HEADERS)
            frame = grpc_frame(reply)
            h.send_data(sid, frame[:3])
            self.flush()
            goaway = sid.to_bytes(4, "big") + (0).to_bytes(4, "big")
            self.sock.sendall(len(goaway).to_bytes(3, "big") + b"\x07\x00" + bytes(4) + goaway)
            h.send_data(sid, frame[3:])
            h.send_headers(sid, OK_TRAILERS, end_stream=True)
            self.flush()
            self.closed = True
            return
        elif case == "OversizedHeaders":
            h.send_headers(sid, RESPONSE_HEADERS + [(b"x-big", b"b" * (64 << 10))])
            h.send_data(sid, grpc_frame(reply))
            h.send_headers(sid, OK_TRAILERS, end_stream=True)
        elif case == "OversizedTrailers":
            h.send_headers(sid, RESPONSE_HEADERS)
            h.send_data(sid, grpc_frame(reply))
            h.send_headers(sid, OK_TRAILERS + [(b"x-big", b"b" * (64 << 10))], end_stream=True)
        else:
            h.send_headers(
                sid,
                RESPONSE_HEADERS
                + [(b"grpc-status", b"12"), (b"grpc-message", f"no case {case}".encode())],
                end_stream=True,
            )
        self.flush()

    def answer(self, sid, reply, trailers):
        self.h2.send_headers(sid, RESPONSE_HEADERS)
        self.h2.send_data(sid, grpc_frame(reply))
        self.h2.send_headers(sid, trailers, end_stream=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(64)

    def accept():
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=Conn(sock).run, daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    say(f"LISTENING {listener.getsockname()[1]}")
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
