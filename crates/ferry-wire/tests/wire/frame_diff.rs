//! Differential test of `ferry_wire::frame` against Python's `hyperframe`, an
//! independent HTTP/2 frame codec.
//!
//! Both directions, on many seeded random frames:
//!
//! * our encoder → hyperframe parses → its view of every field (plus the raw
//!   header bytes) must match what we meant to send;
//! * hyperframe serialises → our decoder → the frame (or the exact error for
//!   frames RFC 9113 forbids) must match, and where the bytes are canonical our
//!   encoder must produce the very same bytes.
//!
//! One long-lived Python process (`tests/py/frame_diff.py`) answers a line per
//! request. The interpreter comes from `FERRY_PYTHON` or from
//! `scripts/python-env.sh`; without it the test fails, it never skips.

use bytes::{Bytes, BytesMut};
use ferry_wire::frame::{
    Continuation, Data, Frame, FrameError, FrameHeader, GoAway, HEADER_LEN, Headers, Ping,
    Priority, PrioritySpec, PushPromise, RstStream, Settings, Unknown, WindowUpdate,
};
use ferry_wire::{Reason, StreamId};

use crate::reference::{Rng, hex, unhex};

/// Random frame parts, on top of the shared PRNG.
trait FrameRng {
    fn len(&mut self) -> usize;
    fn bytes(&mut self) -> Bytes;
    fn stream(&mut self) -> StreamId;
    fn any_stream(&mut self) -> StreamId;
    fn pad(&mut self) -> Option<u8>;
    fn priority_not_on(&mut self, stream_id: StreamId) -> PrioritySpec;
}

impl FrameRng for Rng {
    /// Mostly short, sometimes large, rarely above the default frame size.
    fn len(&mut self) -> usize {
        match self.below(20) {
            0 => self.below(20_000) as usize,
            1..=5 => self.below(1_000) as usize,
            _ => self.below(32) as usize,
        }
    }

    fn bytes(&mut self) -> Bytes {
        let len = self.len();
        (0..len).map(|_| self.byte()).collect::<Vec<u8>>().into()
    }

    fn stream(&mut self) -> StreamId {
        match self.below(4) {
            0 => StreamId::new(self.range(1, 10)),
            1 => StreamId::MAX,
            _ => StreamId::new(self.range(1, 0x7fff_ffff)),
        }
    }

    fn any_stream(&mut self) -> StreamId {
        if self.one_in(5) {
            StreamId::ZERO
        } else {
            self.stream()
        }
    }

    fn pad(&mut self) -> Option<u8> {
        if self.one_in(3) {
            Some(self.byte())
        } else {
            None
        }
    }

    fn priority_not_on(&mut self, stream_id: StreamId) -> PrioritySpec {
        let mut dependency = self.any_stream();
        if dependency == stream_id {
            dependency = StreamId::ZERO;
        }
        PrioritySpec {
            dependency,
            exclusive: self.flip(),
            weight: self.byte(),
        }
    }
}

/// One request per line to `frame_diff.py`, answers in order.
fn ask(requests: &[String]) -> Vec<String> {
    crate::reference::ask("frame_diff.py", "hyperframe", requests)
}

/// Random frames per direction.
const CASES: usize = 5_000;

// ---- deterministic randomness ----

// ---- the Python side ----

// ---- formatting shared with frame_diff.py ----

/// Flag names as hyperframe prints them (sorted), and the flag byte they
/// make. Computed from the fields, not by our encoder.
fn flags(set: &[(bool, &'static str, u8)]) -> (String, u8) {
    let mut names: Vec<&str> = set.iter().filter(|f| f.0).map(|f| f.1).collect();
    names.sort_unstable();
    let bits = set.iter().filter(|f| f.0).fold(0, |acc, f| acc | f.2);
    let names = if names.is_empty() {
        "-".to_owned()
    } else {
        names.join(",")
    };
    (names, bits)
}

fn pad_text(pad_len: Option<u8>) -> String {
    pad_len.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

fn pad_overhead(pad_len: Option<u8>) -> usize {
    pad_len.map_or(0, |n| 1 + usize::from(n))
}

fn prio_text(p: &PrioritySpec) -> String {
    format!(
        "{}/{}/{}",
        p.dependency.as_u32(),
        u8::from(p.exclusive),
        p.weight
    )
}

/// What `frame_diff.py`'s `describe` prints for a correct encoding of `f`:
/// (raw header fields | hyperframe's reading of the payload).
fn describe(f: &Frame) -> String {
    let (len, kind, flag_bits, body) = match f {
        Frame::Data(d) => {
            let (names, bits) = flags(&[
                (d.end_stream, "END_STREAM", 0x1),
                (d.pad_len.is_some(), "PADDED", 0x8),
            ]);
            let len = d.payload.len() + pad_overhead(d.pad_len);
            let body = format!(
                "DATA flags={names} pad={} flow={len} data={}",
                pad_text(d.pad_len),
                hex(&d.payload)
            );
            (len, 0, bits, body)
        }
        Frame::Headers(h) => {
            let (names, bits) = flags(&[
                (h.end_stream, "END_STREAM", 0x1),
                (h.end_headers, "END_HEADERS", 0x4),
                (h.pad_len.is_some(), "PADDED", 0x8),
                (h.priority.is_some(), "PRIORITY", 0x20),
            ]);
            let len = pad_overhead(h.pad_len)
                + if h.priority.is_some() { 5 } else { 0 }
                + h.fragment.len();
            let prio = h
                .priority
                .as_ref()
                .map_or_else(|| "-".to_owned(), prio_text);
            let body = format!(
                "HEADERS flags={names} pad={} prio={prio} data={}",
                pad_text(h.pad_len),
                hex(&h.fragment)
            );
            (len, 1, bits, body)
        }
        Frame::Priority(p) => (5, 2, 0, format!("PRIORITY prio={}", prio_text(&p.spec))),
        Frame::RstStream(r) => (4, 3, 0, format!("RST_STREAM code={}", r.reason.as_u32())),
        Frame::Settings(s) => {
            let (names, bits) = flags(&[(s.ack, "ACK", 0x1)]);
            let params: Vec<String> = settings_params(s)
                .iter()
                .map(|(id, v)| format!("{id}:{v}"))
                .collect();
            let text = if params.is_empty() {
                "-".to_owned()
            } else {
                params.join(",")
            };
            (
                params.len() * 6,
                4,
                bits,
                format!("SETTINGS flags={names} params={text}"),
            )
        }
        Frame::PushPromise(p) => {
            let (names, bits) = flags(&[
                (p.end_headers, "END_HEADERS", 0x4),
                (p.pad_len.is_some(), "PADDED", 0x8),
            ]);
            let len = pad_overhead(p.pad_len) + 4 + p.fragment.len();
            let body = format!(
                "PUSH_PROMISE flags={names} pad={} promised={} data={}",
                pad_text(p.pad_len),
                p.promised_id.as_u32(),
                hex(&p.fragment)
            );
            (len, 5, bits, body)
        }
        Frame::Ping(p) => {
            let (names, bits) = flags(&[(p.ack, "ACK", 0x1)]);
            (
                8,
                6,
                bits,
                format!("PING flags={names} data={}", hex(&p.payload)),
            )
        }
        Frame::GoAway(g) => {
            let body = format!(
                "GOAWAY last={} code={} data={}",
                g.last_stream_id.as_u32(),
                g.reason.as_u32(),
                hex(&g.debug_data)
            );
            (8 + g.debug_data.len(), 7, 0, body)
        }
        Frame::WindowUpdate(w) => (4, 8, 0, format!("WINDOW_UPDATE inc={}", w.increment)),
        Frame::Continuation(c) => {
            let (names, bits) = flags(&[(c.end_headers, "END_HEADERS", 0x4)]);
            (
                c.fragment.len(),
                9,
                bits,
                format!("CONTINUATION flags={names} data={}", hex(&c.fragment)),
            )
        }
        Frame::Unknown(u) => {
            let len = u.length as usize;
            let body = format!(
                "EXT type={} flags=0x{:02x} body={}",
                u.kind,
                u.flags,
                "00".repeat(len)
            );
            (len, u.kind, u.flags, body)
        }
    };
    let sid = f.stream_id().as_u32();
    format!("len={len} type={kind} flags=0x{flag_bits:02x} sid={sid} stream={sid} | {body}")
}

/// The parameters a Settings value carries, in identifier order.
fn settings_params(s: &Settings) -> Vec<(u16, u32)> {
    [
        (1, s.header_table_size),
        (2, s.enable_push.map(u32::from)),
        (3, s.max_concurrent_streams),
        (4, s.initial_window_size),
        (5, s.max_frame_size),
        (6, s.max_header_list_size),
        (8, s.enable_connect_protocol.map(u32::from)),
    ]
    .into_iter()
    .filter_map(|(id, v)| v.map(|v| (id, v)))
    .collect()
}

// ---- direction 1: our encoder, hyperframe's parser ----

/// A random frame that RFC 9113 allows us to send.
fn random_frame(rng: &mut Rng) -> Frame {
    match rng.below(11) {
        0 => Frame::Data(Data {
            stream_id: rng.stream(),
            payload: rng.bytes(),
            end_stream: rng.flip(),
            pad_len: rng.pad(),
        }),
        1 => {
            let stream_id = rng.stream();
            let priority = if rng.one_in(3) {
                Some(rng.priority_not_on(stream_id))
            } else {
                None
            };
            Frame::Headers(Headers {
                stream_id,
                fragment: rng.bytes(),
                end_stream: rng.flip(),
                end_headers: rng.flip(),
                priority,
                pad_len: rng.pad(),
            })
        }
        2 => {
            let stream_id = rng.stream();
            Frame::Priority(Priority::new(stream_id, rng.priority_not_on(stream_id)))
        }
        3 => Frame::RstStream(RstStream::new(rng.stream(), Reason::from_u32(rng.u32()))),
        4 => Frame::Settings(if rng.one_in(5) {
            Settings::ack()
        } else {
            random_settings(rng)
        }),
        5 => Frame::PushPromise(PushPromise {
            stream_id: rng.stream(),
            // hyperframe insists on an even (server-initiated) promise.
            promised_id: StreamId::new(rng.range(1, 0x3fff_ffff) * 2),
            fragment: rng.bytes(),
            end_headers: rng.flip(),
            pad_len: rng.pad(),
        }),
        6 => {
            let payload: [u8; 8] = std::array::from_fn(|_| rng.byte());
            Frame::Ping(if rng.flip() {
                Ping::ack(payload)
            } else {
                Ping::new(payload)
            })
        }
        7 => Frame::GoAway(GoAway::new(
            rng.any_stream(),
            Reason::from_u32(rng.u32()),
            rng.bytes(),
        )),
        8 => Frame::WindowUpdate(WindowUpdate::new(
            rng.any_stream(),
            rng.range(1, 0x7fff_ffff),
        )),
        9 => Frame::Continuation(Continuation::new(rng.stream(), rng.bytes(), rng.flip())),
        _ => {
            // 0x0a is ALTSVC, which hyperframe parses as such; skip it.
            let length = rng.len().min(2_000) as u32;
            Frame::Unknown(Unknown {
                kind: rng.range(0x0b, 0xff) as u8,
                flags: rng.byte(),
                stream_id: rng.any_stream(),
                length,
            })
        }
    }
}

fn random_settings(rng: &mut Rng) -> Settings {
    let mut s = Settings::default();
    if rng.flip() {
        s.header_table_size = Some(rng.u32());
    }
    if rng.flip() {
        s.enable_push = Some(rng.flip());
    }
    if rng.flip() {
        s.max_concurrent_streams = Some(rng.u32());
    }
    if rng.flip() {
        s.initial_window_size = Some(rng.range(0, 0x7fff_ffff));
    }
    if rng.flip() {
        s.max_frame_size = Some(rng.range(16_384, 16_777_215));
    }
    if rng.flip() {
        s.max_header_list_size = Some(rng.u32());
    }
    if rng.flip() {
        s.enable_connect_protocol = Some(rng.flip());
    }
    s
}

/// hyperframe 6.1 rejects a padded HEADERS frame whose padding takes every
/// byte after the Pad Length byte (no priority block, empty fragment):
/// it compares the pad length with the length *after* the Pad Length byte
/// using `>=`. RFC 9113 §6.2 only forbids padding that *exceeds* that, and we
/// follow the RFC, so for these frames hyperframe's refusal is the expected
/// answer.
fn hyperframe_rejects(f: &Frame) -> bool {
    matches!(f, Frame::Headers(h) if h.priority.is_none() && h.fragment.is_empty() && h.pad_len.unwrap_or(0) > 0)
}

#[test]
fn hyperframe_parses_what_we_encode() {
    let mut rng = Rng::new(0x5eed_f00d_1234_5678);
    let frames: Vec<Frame> = (0..CASES).map(|_| random_frame(&mut rng)).collect();
    let requests: Vec<String> = frames
        .iter()
        .map(|f| {
            let mut dst = BytesMut::new();
            f.encode(&mut dst);
            format!("P {}", hex(&dst))
        })
        .collect();
    let answers = ask(&requests);

    let mut failures = Vec::new();
    let mut kinds = [0usize; 11];
    for (i, (frame, answer)) in frames.iter().zip(&answers).enumerate() {
        kinds[usize::from(frame.kind().min(10))] += 1;
        let expected = if hyperframe_rejects(frame) {
            "ERR InvalidPaddingError: Padding is too long.".to_owned()
        } else {
            format!("OK {}", describe(frame))
        };
        if *answer != expected {
            failures.push(format!(
                "case {i}: {frame:?}\n  hyperframe: {answer}\n  expected:   {expected}"
            ));
        }
    }
    report(&failures, CASES);
    assert!(
        kinds.iter().all(|&n| n > 300),
        "every frame type is exercised: {kinds:?}"
    );
}

// ---- direction 2: hyperframe's serialiser, our decoder ----

/// A JSON request for frame_diff.py and the result our decoder must give.
struct Case {
    spec: String,
    expected: Result<Frame, FrameError>,
    /// Whether our encoder must reproduce hyperframe's bytes exactly.
    same_bytes: bool,
}

fn flag_list(set: &[(bool, &str)]) -> String {
    let names: Vec<String> = set
        .iter()
        .filter(|f| f.0)
        .map(|f| format!("\"{}\"", f.1))
        .collect();
    format!("[{}]", names.join(","))
}

fn prio_json(p: &PrioritySpec) -> String {
    format!(
        "[{},{},{}]",
        p.dependency.as_u32(),
        u8::from(p.exclusive),
        p.weight
    )
}

fn random_case(rng: &mut Rng) -> Case {
    let ok = |spec: String, frame: Frame| Case {
        spec,
        expected: Ok(frame),
        same_bytes: true,
    };
    match rng.below(11) {
        0 => {
            let d = Data {
                stream_id: rng.stream(),
                payload: rng.bytes(),
                end_stream: rng.flip(),
                pad_len: rng.pad(),
            };
            let spec = format!(
                r#"{{"t":"data","sid":{},"flags":{},"pad":{},"data":"{}"}}"#,
                d.stream_id.as_u32(),
                flag_list(&[
                    (d.end_stream, "END_STREAM"),
                    (d.pad_len.is_some(), "PADDED")
                ]),
                d.pad_len.unwrap_or(0),
                hex(&d.payload)
            );
            ok(spec, Frame::Data(d))
        }
        1 => {
            let stream_id = rng.stream();
            let priority = match rng.below(6) {
                0 => Some(PrioritySpec {
                    dependency: stream_id,
                    exclusive: rng.flip(),
                    weight: rng.byte(),
                }),
                1 | 2 => Some(rng.priority_not_on(stream_id)),
                _ => None,
            };
            let h = Headers {
                stream_id,
                fragment: rng.bytes(),
                end_stream: rng.flip(),
                end_headers: rng.flip(),
                priority,
                pad_len: rng.pad(),
            };
            let spec = format!(
                r#"{{"t":"headers","sid":{},"flags":{},"pad":{},"prio":{},"data":"{}"}}"#,
                h.stream_id.as_u32(),
                flag_list(&[
                    (h.end_stream, "END_STREAM"),
                    (h.end_headers, "END_HEADERS"),
                    (h.pad_len.is_some(), "PADDED"),
                    (h.priority.is_some(), "PRIORITY"),
                ]),
                h.pad_len.unwrap_or(0),
                h.priority
                    .as_ref()
                    .map_or_else(|| "null".to_owned(), prio_json),
                hex(&h.fragment)
            );
            if h.priority.is_some_and(|p| p.dependency == stream_id) {
                Case {
                    spec,
                    expected: Err(FrameError::HeadersSelfDependency(Box::new(h))),
                    same_bytes: false,
                }
            } else {
                ok(spec, Frame::Headers(h))
            }
        }
        2 => {
            let stream_id = rng.stream();
            let spec = if rng.one_in(6) {
                PrioritySpec {
                    dependency: stream_id,
                    exclusive: rng.flip(),
                    weight: rng.byte(),
                }
            } else {
                rng.priority_not_on(stream_id)
            };
            let json = format!(
                r#"{{"t":"priority","sid":{},"prio":{}}}"#,
                stream_id.as_u32(),
                prio_json(&spec)
            );
            if spec.dependency == stream_id {
                Case {
                    spec: json,
                    expected: Err(FrameError::PrioritySelfDependency { stream_id }),
                    same_bytes: false,
                }
            } else {
                ok(json, Frame::Priority(Priority::new(stream_id, spec)))
            }
        }
        3 => {
            let r = RstStream::new(rng.stream(), Reason::from_u32(rng.u32()));
            let spec = format!(
                r#"{{"t":"rst_stream","sid":{},"code":{}}}"#,
                r.stream_id.as_u32(),
                r.reason.as_u32()
            );
            ok(spec, Frame::RstStream(r))
        }
        4 => settings_case(rng),
        5 => {
            let p = PushPromise {
                stream_id: rng.stream(),
                promised_id: rng.any_stream(),
                fragment: rng.bytes(),
                end_headers: rng.flip(),
                pad_len: rng.pad(),
            };
            let spec = format!(
                r#"{{"t":"push_promise","sid":{},"promised":{},"flags":{},"pad":{},"data":"{}"}}"#,
                p.stream_id.as_u32(),
                p.promised_id.as_u32(),
                flag_list(&[
                    (p.end_headers, "END_HEADERS"),
                    (p.pad_len.is_some(), "PADDED")
                ]),
                p.pad_len.unwrap_or(0),
                hex(&p.fragment)
            );
            ok(spec, Frame::PushPromise(p))
        }
        6 => {
            let p = Ping {
                ack: rng.flip(),
                payload: std::array::from_fn(|_| rng.byte()),
            };
            let spec = format!(
                r#"{{"t":"ping","flags":{},"data":"{}"}}"#,
                flag_list(&[(p.ack, "ACK")]),
                hex(&p.payload)
            );
            ok(spec, Frame::Ping(p))
        }
        7 => {
            let g = GoAway::new(rng.any_stream(), Reason::from_u32(rng.u32()), rng.bytes());
            let spec = format!(
                r#"{{"t":"goaway","last":{},"code":{},"data":"{}"}}"#,
                g.last_stream_id.as_u32(),
                g.reason.as_u32(),
                hex(&g.debug_data)
            );
            ok(spec, Frame::GoAway(g))
        }
        8 => {
            let stream_id = rng.any_stream();
            let increment = if rng.one_in(8) {
                0
            } else {
                rng.range(1, 0x7fff_ffff)
            };
            let spec = format!(
                r#"{{"t":"window_update","sid":{},"inc":{increment}}}"#,
                stream_id.as_u32()
            );
            if increment == 0 {
                Case {
                    spec,
                    expected: Err(FrameError::ZeroWindowIncrement { stream_id }),
                    same_bytes: false,
                }
            } else {
                ok(
                    spec,
                    Frame::WindowUpdate(WindowUpdate::new(stream_id, increment)),
                )
            }
        }
        9 => {
            let c = Continuation::new(rng.stream(), rng.bytes(), rng.flip());
            let spec = format!(
                r#"{{"t":"continuation","sid":{},"flags":{},"data":"{}"}}"#,
                c.stream_id.as_u32(),
                flag_list(&[(c.end_headers, "END_HEADERS")]),
                hex(&c.fragment)
            );
            ok(spec, Frame::Continuation(c))
        }
        _ => {
            let kind = rng.range(0x0b, 0xff) as u8;
            let flags = rng.byte();
            let stream_id = rng.any_stream();
            let body = rng.bytes();
            let spec = format!(
                r#"{{"t":"ext","type":{kind},"sid":{},"flag_byte":{flags},"data":"{}"}}"#,
                stream_id.as_u32(),
                hex(&body)
            );
            let u = Unknown {
                kind,
                flags,
                stream_id,
                length: body.len() as u32,
            };
            // Our encoder cannot reproduce a payload it dropped.
            Case {
                spec,
                expected: Ok(Frame::Unknown(u)),
                same_bytes: false,
            }
        }
    }
}

/// SETTINGS with distinct identifiers in random order, some unknown, some
/// with out-of-range values; the expected result follows RFC 9113 §6.5.
fn settings_case(rng: &mut Rng) -> Case {
    if rng.one_in(8) {
        let spec = r#"{"t":"settings","flags":["ACK"],"params":[]}"#.to_owned();
        return Case {
            spec,
            expected: Ok(Frame::Settings(Settings::ack())),
            same_bytes: true,
        };
    }
    let mut ids: Vec<u16> = [1, 2, 3, 4, 5, 6, 8]
        .into_iter()
        .filter(|_| rng.flip())
        .collect();
    if rng.one_in(3) {
        // Unknown identifiers (hyperframe writes `id & 0xff`).
        for _ in 0..rng.range(1, 3) {
            let id = [0, 7, 9, 0x10, 0xff][rng.below(5) as usize];
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    // Shuffle.
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let invalid = rng.one_in(5);
    let mut params = Vec::new();
    let mut expected = Ok(Settings::default());
    for &id in &ids {
        let bad = invalid && rng.one_in(2);
        // Boundary values half of the time, where off-by-one bugs live.
        let edge = rng.flip();
        let value = match (id, bad, edge) {
            (2 | 8, false, _) => rng.range(0, 1),
            (2 | 8, true, true) => [2, 3, u32::MAX][rng.below(3) as usize],
            (2 | 8, true, false) => rng.range(2, u32::MAX),
            (4, false, true) => [0, 1, 0x7fff_ffff][rng.below(3) as usize],
            (4, false, false) => rng.range(0, 0x7fff_ffff),
            (4, true, true) => [0x8000_0000, u32::MAX][rng.below(2) as usize],
            (4, true, false) => rng.range(0x8000_0000, u32::MAX),
            (5, false, true) => [16_384, 16_777_215][rng.below(2) as usize],
            (5, false, false) => rng.range(16_384, 16_777_215),
            (5, true, true) => [0, 16_383, 16_777_216, u32::MAX][rng.below(4) as usize],
            (5, true, false) => {
                if rng.flip() {
                    rng.range(0, 16_383)
                } else {
                    rng.range(16_777_216, u32::MAX)
                }
            }
            _ => rng.u32(),
        };
        params.push(format!("[{id},{value}]"));
        let valid = match id {
            2 | 8 => value <= 1,
            4 => value <= 0x7fff_ffff,
            5 => (16_384..=16_777_215).contains(&value),
            _ => true,
        };
        if let Ok(s) = &mut expected {
            if !valid {
                expected = Err(FrameError::InvalidSetting { id, value });
                continue;
            }
            match id {
                1 => s.header_table_size = Some(value),
                2 => s.enable_push = Some(value == 1),
                3 => s.max_concurrent_streams = Some(value),
                4 => s.initial_window_size = Some(value),
                5 => s.max_frame_size = Some(value),
                6 => s.max_header_list_size = Some(value),
                8 => s.enable_connect_protocol = Some(value == 1),
                _ => {}
            }
        }
    }
    let canonical = ids.windows(2).all(|w| w[0] < w[1])
        && ids.iter().all(|id| [1, 2, 3, 4, 5, 6, 8].contains(id));
    let spec = format!(
        r#"{{"t":"settings","flags":[],"params":[{}]}}"#,
        params.join(",")
    );
    let same_bytes = canonical && expected.is_ok();
    Case {
        spec,
        expected: expected.map(Frame::Settings),
        same_bytes,
    }
}

/// Our decoder on one frame from hyperframe: `Err` when the bytes are not
/// even one well-framed frame, otherwise what `Frame::decode` says.
fn decode_wire(wire: &[u8]) -> Result<Result<Frame, FrameError>, String> {
    let head: &[u8; HEADER_LEN] = wire
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| format!("only {} bytes", wire.len()))?;
    let head = FrameHeader::decode(head);
    let payload = &wire[HEADER_LEN..];
    if head.length as usize != payload.len() {
        return Err(format!(
            "header length {} but {} bytes follow",
            head.length,
            payload.len()
        ));
    }
    Ok(Frame::decode(head, Bytes::copy_from_slice(payload)))
}

#[test]
fn we_decode_what_hyperframe_serialises() {
    let mut rng = Rng::new(0x0ddb_a11c_afe0_4242);
    let cases: Vec<Case> = (0..CASES).map(|_| random_case(&mut rng)).collect();
    let requests: Vec<String> = cases.iter().map(|c| format!("S {}", c.spec)).collect();
    let answers = ask(&requests);

    let mut failures = Vec::new();
    let (mut errors, mut byte_checks) = (0, 0);
    for (i, (case, answer)) in cases.iter().zip(&answers).enumerate() {
        let Some(wire) = answer.strip_prefix("OK ") else {
            failures.push(format!("case {i}: {}\n  hyperframe: {answer}", case.spec));
            continue;
        };
        let wire = unhex(wire);
        let got = match decode_wire(&wire) {
            Ok(got) => got,
            Err(why) => {
                failures.push(format!(
                    "case {i}: {}\n  bytes: {}\n  {why}",
                    case.spec,
                    hex(&wire)
                ));
                continue;
            }
        };
        if got != case.expected {
            failures.push(format!(
                "case {i}: {}\n  bytes:    {}\n  decoded:  {got:?}\n  expected: {:?}",
                case.spec,
                hex(&wire),
                case.expected
            ));
            continue;
        }
        if case.expected.is_err() {
            errors += 1;
        }
        if let (true, Ok(frame)) = (case.same_bytes, &case.expected) {
            byte_checks += 1;
            let mut ours = BytesMut::new();
            frame.encode(&mut ours);
            if ours[..] != wire[..] {
                failures.push(format!(
                    "case {i}: {}\n  hyperframe: {}\n  ours:       {}",
                    case.spec,
                    hex(&wire),
                    hex(&ours)
                ));
            }
        }
    }
    report(&failures, CASES);
    assert!(errors > 150, "only {errors} cases exercised decode errors");
    assert!(
        byte_checks > CASES / 2,
        "only {byte_checks} byte-for-byte comparisons"
    );
}

fn report(failures: &[String], total: usize) {
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(8).map(String::as_str).collect();
        panic!(
            "{} of {total} cases differ from hyperframe:\n{}",
            failures.len(),
            shown.join("\n")
        );
    }
}
