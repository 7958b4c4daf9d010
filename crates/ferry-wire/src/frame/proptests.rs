//! Property tests: every frame type survives `decode(encode(f)) == f`, and
//! arbitrary bytes never panic the decoder.
//!
//! Compiled only under `#[cfg(test)]` (see `mod proptests` in `mod.rs`).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::Reason;

fn stream() -> impl Strategy<Value = StreamId> {
    (1..=0x7fff_ffffu32).prop_map(StreamId::new)
}

fn any_stream() -> impl Strategy<Value = StreamId> {
    prop_oneof![Just(StreamId::ZERO), stream()]
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

/// Up to ~3 frames' worth of bytes. Built from a length and a seed: a
/// 50,000-element `vec(any::<u8>())` costs seconds per run in debug builds.
fn big_block() -> impl Strategy<Value = Vec<u8>> {
    (0..50_000usize, any::<u8>()).prop_map(|(len, seed)| {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    })
}

fn priority_spec() -> impl Strategy<Value = PrioritySpec> {
    (any_stream(), any::<bool>(), any::<u8>()).prop_map(|(dependency, exclusive, weight)| {
        PrioritySpec {
            dependency,
            exclusive,
            weight,
        }
    })
}

fn data() -> impl Strategy<Value = Frame> {
    (stream(), bytes(300), any::<bool>(), any::<Option<u8>>()).prop_map(
        |(stream_id, payload, end_stream, pad_len)| {
            Frame::Data(Data {
                stream_id,
                payload,
                end_stream,
                pad_len,
            })
        },
    )
}

fn headers() -> impl Strategy<Value = Frame> {
    (
        stream(),
        bytes(300),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(priority_spec()),
        any::<Option<u8>>(),
    )
        .prop_map(
            |(stream_id, fragment, end_stream, end_headers, priority, pad_len)| {
                // A self-dependency is an error; move it to the root.
                let priority = priority.map(|mut p| {
                    if p.dependency == stream_id {
                        p.dependency = StreamId::ZERO;
                    }
                    p
                });
                Frame::Headers(Headers {
                    stream_id,
                    fragment,
                    end_stream,
                    end_headers,
                    priority,
                    pad_len,
                })
            },
        )
}

fn priority() -> impl Strategy<Value = Frame> {
    (stream(), priority_spec()).prop_filter_map("self-dependency", |(stream_id, spec)| {
        (spec.dependency != stream_id).then_some(Frame::Priority(Priority { stream_id, spec }))
    })
}

fn rst_stream() -> impl Strategy<Value = Frame> {
    (stream(), any::<u32>())
        .prop_map(|(s, code)| Frame::RstStream(RstStream::new(s, Reason::from_u32(code))))
}

fn settings() -> impl Strategy<Value = Frame> {
    let params = (
        any::<Option<u32>>(),
        any::<Option<bool>>(),
        any::<Option<u32>>(),
        proptest::option::of(0..=0x7fff_ffffu32),
        proptest::option::of(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE),
        any::<Option<u32>>(),
        any::<Option<bool>>(),
    )
        .prop_map(|(a, b, c, d, e, f, g)| Settings {
            ack: false,
            header_table_size: a,
            enable_push: b,
            max_concurrent_streams: c,
            initial_window_size: d,
            max_frame_size: e,
            max_header_list_size: f,
            enable_connect_protocol: g,
        });
    prop_oneof![Just(Settings::ack()), params].prop_map(Frame::Settings)
}

fn push_promise() -> impl Strategy<Value = Frame> {
    (
        stream(),
        any_stream(),
        bytes(300),
        any::<bool>(),
        any::<Option<u8>>(),
    )
        .prop_map(|(stream_id, promised_id, fragment, end_headers, pad_len)| {
            Frame::PushPromise(PushPromise {
                stream_id,
                promised_id,
                fragment,
                end_headers,
                pad_len,
            })
        })
}

fn ping() -> impl Strategy<Value = Frame> {
    (any::<bool>(), any::<[u8; 8]>()).prop_map(|(ack, payload)| Frame::Ping(Ping { ack, payload }))
}

fn goaway() -> impl Strategy<Value = Frame> {
    (any_stream(), any::<u32>(), bytes(100)).prop_map(|(last, code, debug)| {
        Frame::GoAway(GoAway::new(last, Reason::from_u32(code), debug))
    })
}

fn window_update() -> impl Strategy<Value = Frame> {
    (any_stream(), 1..=0x7fff_ffffu32)
        .prop_map(|(s, inc)| Frame::WindowUpdate(WindowUpdate::new(s, inc)))
}

fn continuation() -> impl Strategy<Value = Frame> {
    (stream(), bytes(300), any::<bool>())
        .prop_map(|(s, fragment, end)| Frame::Continuation(Continuation::new(s, fragment, end)))
}

fn unknown() -> impl Strategy<Value = Frame> {
    (0x0au8..=0xff, any::<u8>(), any_stream(), 0..300u32).prop_map(
        |(kind, flags, stream_id, length)| {
            Frame::Unknown(Unknown {
                kind,
                flags,
                stream_id,
                length,
            })
        },
    )
}

fn any_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        data(),
        headers(),
        priority(),
        rst_stream(),
        settings(),
        push_promise(),
        ping(),
        goaway(),
        window_update(),
        continuation(),
        unknown(),
    ]
}

/// Encodes, checks the header against the frame, and decodes again.
fn round_trip(frame: &Frame) -> Result<Frame, FrameError> {
    let mut dst = BytesMut::new();
    frame.encode(&mut dst);
    assert_eq!(dst.len(), frame.encoded_len());
    let mut wire = dst.freeze();
    let head_bytes: [u8; HEADER_LEN] = wire[..HEADER_LEN].try_into().unwrap();
    let head = FrameHeader::decode(&head_bytes);
    assert_eq!(head.length as usize, wire.len() - HEADER_LEN);
    assert_eq!(head.kind, frame.kind());
    assert_eq!(head.stream_id, frame.stream_id());
    let _ = wire.split_to(HEADER_LEN);
    Frame::decode(head, wire)
}

/// The flags each type defines; encoders must never set any other.
fn defined_flags(kind: u8) -> u8 {
    match kind {
        kind::DATA => flag::END_STREAM | flag::PADDED,
        kind::HEADERS => flag::END_STREAM | flag::END_HEADERS | flag::PADDED | flag::PRIORITY,
        kind::SETTINGS | kind::PING => flag::ACK,
        kind::PUSH_PROMISE => flag::END_HEADERS | flag::PADDED,
        kind::CONTINUATION => flag::END_HEADERS,
        kind::PRIORITY | kind::RST_STREAM | kind::GOAWAY | kind::WINDOW_UPDATE => 0,
        _ => 0xff,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn data_round_trips(f in data()) { prop_assert_eq!(round_trip(&f), Ok(f)); }
    #[test]
    fn headers_round_trip(f in headers()) { prop_assert_eq!(round_trip(&f), Ok(f)); }
    #[test]
    fn priority_round_trips(f in priority()) { prop_assert_eq!(round_trip(&f), Ok(f)); }
    #[test]
    fn rst_stream_round_trips(f in rst_stream()) { prop_assert_eq!(round_trip(&f), Ok(f)); }
    #[test]
    fn settings_round_trip(f in settings()) { prop_assert_eq!(round_trip(&f), Ok(f)); }
    #[test]
    fn push_promise_round_trips(f in push_promise()) { prop_assert_eq!(round_trip(&f), Ok(f)); }
    #[test]
    fn ping_round_trips(f in ping()) { prop_assert_eq!(round_trip(&f), Ok(f)); }
    #[test]
    fn goaway_round_trips(f in goaway()) { prop_assert_eq!(round_trip(&f), Ok(f)); }
    #[test]
    fn window_update_round_trips(f in window_update()) { prop_assert_eq!(round_trip(&f), Ok(f)); }
    #[test]
    fn continuation_round_trips(f in continuation()) { prop_assert_eq!(round_trip(&f), Ok(f)); }
    #[test]
    fn unknown_round_trips(f in unknown()) { prop_assert_eq!(round_trip(&f), Ok(f)); }

    #[test]
    fn encoders_set_only_defined_flags(f in any_frame()) {
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        let flags = dst[4];
        prop_assert_eq!(flags & !defined_flags(f.kind()), 0);
        // The reserved bit of the stream id is never sent.
        prop_assert_eq!(dst[5] & 0x80, 0);
    }

    /// Any header and payload: no panic, and whatever decodes re-encodes to
    /// something that decodes to the same value.
    #[test]
    fn arbitrary_bytes_never_panic(
        kind in prop_oneof![0u8..=9, any::<u8>()],
        flags in any::<u8>(),
        stream_id in any::<u32>(),
        payload in bytes(64),
    ) {
        let head = FrameHeader {
            length: payload.len() as u32,
            kind,
            flags,
            stream_id: StreamId::new(stream_id),
        };
        match Frame::decode(head, payload) {
            Ok(frame) => prop_assert_eq!(round_trip(&frame), Ok(frame.clone())),
            Err(e) => {
                // Every error maps to an RFC code and scope.
                let reason = e.reason();
                prop_assert!(reason.name().is_some());
                let _ = e.into_error();
            }
        }
    }

    #[test]
    fn data_head_plus_payload_plus_padding_is_encode(f in data()) {
        let Frame::Data(d) = f else { unreachable!() };
        let mut whole = BytesMut::new();
        d.encode(&mut whole);
        let mut parts = BytesMut::new();
        d.encode_head(&mut parts);
        parts.extend_from_slice(&d.payload);
        d.encode_padding(&mut parts);
        prop_assert_eq!(whole, parts);
    }

    #[test]
    fn header_block_reassembles(
        stream_id in stream(),
        block in big_block(),
        end_stream in any::<bool>(),
        max in prop_oneof![Just(0u32), Just(DEFAULT_MAX_FRAME_SIZE), 16_384..20_000u32],
    ) {
        let mut dst = BytesMut::new();
        encode_header_block(stream_id, &block, end_stream, max, &mut dst);
        let frames = split(dst.freeze());
        let n = frames.len();
        prop_assert_eq!(n, block.len().div_ceil(max.max(DEFAULT_MAX_FRAME_SIZE) as usize).max(1));
        let mut joined = Vec::new();
        for (i, f) in frames.into_iter().enumerate() {
            let last = i + 1 == n;
            match f {
                Frame::Headers(h) if i == 0 => {
                    prop_assert_eq!(h.stream_id, stream_id);
                    prop_assert_eq!(h.end_stream, end_stream);
                    prop_assert_eq!(h.end_headers, last);
                    prop_assert_eq!(h.priority, None);
                    prop_assert_eq!(h.pad_len, None);
                    joined.extend_from_slice(&h.fragment);
                }
                Frame::Continuation(c) if i > 0 => {
                    prop_assert_eq!(c.stream_id, stream_id);
                    prop_assert_eq!(c.end_headers, last);
                    joined.extend_from_slice(&c.fragment);
                }
                other => prop_assert!(false, "unexpected frame {i}: {other:?}"),
            }
        }
        prop_assert_eq!(joined, block);
    }

    #[test]
    fn data_reassembles(
        stream_id in stream(),
        payload in big_block(),
        end_stream in any::<bool>(),
        max in prop_oneof![Just(DEFAULT_MAX_FRAME_SIZE), 16_384..20_000u32],
    ) {
        let mut dst = BytesMut::new();
        encode_data(stream_id, &payload, end_stream, max, &mut dst);
        let frames = split(dst.freeze());
        let n = frames.len();
        prop_assert_eq!(n, payload.len().div_ceil(max as usize).max(1));
        let mut joined = Vec::new();
        for (i, f) in frames.into_iter().enumerate() {
            let Frame::Data(d) = f else { return Err(TestCaseError::fail("not DATA")) };
            prop_assert!(d.payload.len() <= max as usize);
            prop_assert_eq!(d.end_stream, end_stream && i + 1 == n);
            prop_assert_eq!(d.pad_len, None);
            joined.extend_from_slice(&d.payload);
        }
        prop_assert_eq!(joined, payload);
    }
}

/// Splits a buffer of whole frames and decodes each.
fn split(mut wire: Bytes) -> Vec<Frame> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        let head = FrameHeader::decode(&wire[..HEADER_LEN].try_into().unwrap());
        let _ = wire.split_to(HEADER_LEN);
        let payload = wire.split_to(head.length as usize);
        out.push(Frame::decode(head, payload).unwrap());
    }
    out
}
