#!/usr/bin/env python3
"""Reference side of the differential frame test
(crates/ferry-wire/tests/wire/frame_diff.rs), built on the hyperframe package.

Reads one request per line on stdin and answers one line per request on
stdout, in order, until stdin closes:

    P <hex>      parse the frame (9-byte header + payload) with hyperframe and
                 answer "OK <description>" (see describe()), or "ERR <what>"
    S <json>     build the frame the JSON object describes with hyperframe,
                 serialise it and answer "OK <hex>", or "ERR <what>"

The description format is mirrored by `describe` in frame_diff.rs; both sides
must print a frame the same way, field for field.
"""

import json
import sys

from hyperframe.frame import (
    AltSvcFrame,
    ContinuationFrame,
    DataFrame,
    ExtensionFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)


def flag_names(frame):
    return ",".join(sorted(frame.flags)) or "-"


def pad(frame):
    return str(frame.pad_length) if "PADDED" in frame.flags else "-"


def describe_body(frame):
    if isinstance(frame, DataFrame):
        return (f"DATA flags={flag_names(frame)} pad={pad(frame)} "
                f"flow={frame.flow_controlled_length} data={frame.data.hex()}")
    if isinstance(frame, HeadersFrame):
        if "PRIORITY" in frame.flags:
            prio = f"{frame.depends_on}/{int(frame.exclusive)}/{frame.stream_weight}"
        else:
            prio = "-"
        return (f"HEADERS flags={flag_names(frame)} pad={pad(frame)} prio={prio} "
                f"data={frame.data.hex()}")
    if isinstance(frame, PriorityFrame):
        return f"PRIORITY prio={frame.depends_on}/{int(frame.exclusive)}/{frame.stream_weight}"
    if isinstance(frame, RstStreamFrame):
        return f"RST_STREAM code={frame.error_code}"
    if isinstance(frame, SettingsFrame):
        params = ",".join(f"{k}:{v}" for k, v in sorted(frame.settings.items())) or "-"
        return f"SETTINGS flags={flag_names(frame)} params={params}"
    if isinstance(frame, PushPromiseFrame):
        return (f"PUSH_PROMISE flags={flag_names(frame)} pad={pad(frame)} "
                f"promised={frame.promised_stream_id} data={frame.data.hex()}")
    if isinstance(frame, PingFrame):
        return f"PING flags={flag_names(frame)} data={frame.opaque_data.hex()}"
    if isinstance(frame, GoAwayFrame):
        return (f"GOAWAY last={frame.last_stream_id} code={frame.error_code} "
                f"data={frame.additional_data.hex()}")
    if isinstance(frame, WindowUpdateFrame):
        return f"WINDOW_UPDATE inc={frame.window_increment}"
    if isinstance(frame, ContinuationFrame):
        return f"CONTINUATION flags={flag_names(frame)} data={frame.data.hex()}"
    if isinstance(frame, AltSvcFrame):
        return f"ALTSVC origin={frame.origin.hex()} field={frame.field.hex()}"
    if isinstance(frame, ExtensionFrame):
        return f"EXT type={frame.type} flags=0x{frame.flag_byte:02x} body={frame.body.hex()}"
    raise TypeError(f"unexpected frame class {type(frame).__name__}")


def describe(data):
    """The raw header fields (read straight from the bytes, so reserved bits
    and undefined flags show) followed by hyperframe's view of the frame."""
    view = memoryview(data)
    frame, length = Frame.parse_frame_header(view[:9])
    body = view[9:]
    if length != len(body):
        raise ValueError(f"header says {length} bytes, {len(body)} follow")
    frame.parse_body(body)
    raw_sid = int.from_bytes(data[5:9], "big")
    head = f"len={length} type={data[3]} flags=0x{data[4]:02x} sid={raw_sid} stream={frame.stream_id}"
    return f"{head} | {describe_body(frame)}"


def build(spec):
    """A hyperframe frame from a JSON spec written by frame_diff.rs."""
    t = spec["t"]
    sid = spec.get("sid", 0)
    flags = spec.get("flags", [])
    data = bytes.fromhex(spec.get("data", ""))
    if t == "data":
        return DataFrame(sid, data=data, flags=flags, pad_length=spec.get("pad", 0))
    if t == "headers":
        kwargs = {}
        if spec.get("prio") is not None:
            dep, excl, weight = spec["prio"]
            kwargs = {"depends_on": dep, "exclusive": bool(excl), "stream_weight": weight}
        return HeadersFrame(sid, data=data, flags=flags, pad_length=spec.get("pad", 0), **kwargs)
    if t == "priority":
        dep, excl, weight = spec["prio"]
        return PriorityFrame(sid, depends_on=dep, exclusive=bool(excl), stream_weight=weight)
    if t == "rst_stream":
        return RstStreamFrame(sid, error_code=spec["code"])
    if t == "settings":
        # A list of pairs keeps the order the Rust side chose.
        return SettingsFrame(0, settings={k: v for k, v in spec["params"]}, flags=flags)
    if t == "push_promise":
        return PushPromiseFrame(sid, promised_stream_id=spec["promised"], data=data, flags=flags,
                                pad_length=spec.get("pad", 0))
    if t == "ping":
        return PingFrame(0, opaque_data=data, flags=flags)
    if t == "goaway":
        return GoAwayFrame(0, last_stream_id=spec["last"], error_code=spec["code"], additional_data=data)
    if t == "window_update":
        return WindowUpdateFrame(sid, window_increment=spec["inc"])
    if t == "continuation":
        return ContinuationFrame(sid, data=data, flags=flags)
    if t == "ext":
        frame = ExtensionFrame(type=spec["type"], stream_id=sid, flag_byte=spec["flag_byte"], body=data)
        # ExtensionFrame.serialize() writes body_len, which only parse_body sets.
        frame.body_len = len(data)
        return frame
    raise ValueError(f"unknown spec type {t!r}")


def answer(line):
    op, _, arg = line.partition(" ")
    try:
        if op == "P":
            return "OK " + describe(bytes.fromhex(arg))
        if op == "S":
            return "OK " + build(json.loads(arg)).serialize().hex()
        return f"ERR unknown request {op!r}"
    except Exception as exc:  # every failure is an answer, never a crash
        return f"ERR {type(exc).__name__}: {exc}".replace("\n", " ")


def main():
    out = sys.stdout
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line:
            continue
        out.write(answer(line) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
