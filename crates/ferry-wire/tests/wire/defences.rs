//! Hostile peers: each attack pattern is sent byte for byte and the outcome
//! (the exact GOAWAY or RST_STREAM code, and a bound on what the server
//! holds) is asserted.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use ferry_wire::conn::{Config, Event, Rate};
use ferry_wire::frame::{self, Frame};
use ferry_wire::{HeaderField, Reason, StreamId};

use crate::support::{RawClient, request, response};

fn assert_goaway(raw: &mut RawClient, reason: Reason, debug: &str) {
    // Whatever the attack, what the connection holds stays small.
    let held = raw.server.buffered_bytes();
    assert!(held < 96 << 10, "{held} bytes buffered");
    let frames = raw.server_frames();
    let g = RawClient::goaway(&frames).unwrap_or_else(|| panic!("no GOAWAY in {frames:?}"));
    assert_eq!(g.reason, reason);
    let text = String::from_utf8_lossy(&g.debug_data);
    assert!(
        text.contains(debug),
        "debug data {text:?} should mention {debug:?}"
    );
    assert!(raw.server.is_closed());
    let closed = raw
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Closed(_)))
        .count();
    assert_eq!(closed, 1);
}

fn rst_codes(frames: &[Frame]) -> Vec<(u32, Reason)> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::RstStream(r) => Some((r.stream_id.as_u32(), r.reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn rapid_reset_is_cut_off() {
    let mut raw = RawClient::new(Config::default());
    let mut sent = 0;
    for i in 0..10_000u32 {
        let id = 2 * i + 1;
        let h = raw.headers_frame(id, &request("/t.S/M"), false);
        raw.send_all([
            h,
            Frame::RstStream(frame::RstStream {
                stream_id: StreamId::new(id),
                reason: Reason::CANCEL,
            }),
        ]);
        sent += 1;
        if raw.server.is_closed() {
            break;
        }
    }
    // The default allows a burst of 400 resets.
    assert_eq!(sent, 401);
    assert_eq!(raw.server.open_streams(), 0);
    assert_goaway(&mut raw, Reason::ENHANCE_YOUR_CALM, "rapid reset");
}

#[test]
fn resets_spread_over_time_are_allowed() {
    let mut raw = RawClient::new(Config::default());
    for i in 0..2_000u32 {
        let id = 2 * i + 1;
        let h = raw.headers_frame(id, &request("/t.S/M"), false);
        raw.send_all([
            h,
            Frame::RstStream(frame::RstStream {
                stream_id: StreamId::new(id),
                reason: Reason::CANCEL,
            }),
        ]);
        // 100 per second is under the sustained rate of 200.
        raw.now += Duration::from_millis(10);
    }
    assert!(!raw.server.is_closed());
}

#[test]
fn provoked_resets_are_cut_off() {
    // A zero WINDOW_UPDATE increment on a stream makes us reset it
    // ("MadeYouReset", CVE-2025-8671).
    let mut raw = RawClient::new(Config::default());
    let mut provoked = 0;
    for i in 0..10_000u32 {
        let id = 2 * i + 1;
        let h = raw.headers_frame(id, &request("/t.S/M"), false);
        let mut bytes = BytesMut::new();
        h.encode(&mut bytes);
        // WINDOW_UPDATE, stream id, increment 0 (our encoder refuses to
        // write that, so by hand).
        bytes.put_slice(&[0, 0, 4, 0x8, 0]);
        bytes.put_u32(id);
        bytes.put_u32(0);
        raw.send_bytes(&bytes);
        if raw.server.is_closed() {
            break;
        }
        provoked += 1;
    }
    assert_eq!(provoked, 400);
    assert_goaway(
        &mut raw,
        Reason::ENHANCE_YOUR_CALM,
        "provoked too many stream resets",
    );
}

#[test]
fn continuation_flood_is_cut_off() {
    let mut raw = RawClient::new(Config::default());
    raw.send(Frame::Headers(frame::Headers {
        stream_id: StreamId::new(1),
        fragment: Bytes::from_static(&[0x83]),
        end_stream: false,
        end_headers: false,
        priority: None,
        pad_len: None,
    }));
    let mut sent = 0;
    while !raw.server.is_closed() && sent < 100_000 {
        // Each a single byte: a literal that never completes.
        raw.send(Frame::Continuation(frame::Continuation {
            stream_id: StreamId::new(1),
            fragment: Bytes::from_static(&[0x00]),
            end_headers: false,
        }));
        sent += 1;
    }
    assert_eq!(sent, 33, "the 33rd CONTINUATION passes the limit of 32");
    assert!(raw.server.buffered_bytes() < 1024);
    assert_goaway(
        &mut raw,
        Reason::ENHANCE_YOUR_CALM,
        "too many CONTINUATION frames",
    );
}

#[test]
fn oversized_header_block_is_cut_off() {
    let mut raw = RawClient::new(Config::default());
    let chunk = Bytes::from(vec![0u8; 16_000]);
    raw.send(Frame::Headers(frame::Headers {
        stream_id: StreamId::new(1),
        fragment: chunk.clone(),
        end_stream: false,
        end_headers: false,
        priority: None,
        pad_len: None,
    }));
    let mut sent = 0;
    while !raw.server.is_closed() && sent < 100 {
        raw.send(Frame::Continuation(frame::Continuation {
            stream_id: StreamId::new(1),
            fragment: chunk.clone(),
            end_headers: false,
        }));
        sent += 1;
    }
    // 16,000 × 3 passes twice the 16 KiB header-list limit.
    assert_eq!(sent, 2);
    assert_goaway(
        &mut raw,
        Reason::ENHANCE_YOUR_CALM,
        "header block too large",
    );
}

#[test]
fn interleaved_frame_during_header_block_is_a_protocol_error() {
    let mut raw = RawClient::new(Config::default());
    raw.send(Frame::Headers(frame::Headers {
        stream_id: StreamId::new(1),
        fragment: Bytes::from_static(&[0x83]),
        end_stream: false,
        end_headers: false,
        priority: None,
        pad_len: None,
    }));
    raw.send(Frame::Ping(frame::Ping {
        ack: false,
        payload: [0; 8],
    }));
    assert_goaway(&mut raw, Reason::PROTOCOL_ERROR, "expected CONTINUATION");
}

/// A 4 KiB entry inserted once, then referenced 2,000 times by one-byte
/// indexes: 6 KiB on the wire that would decode to 8 MiB.
fn hpack_bomb() -> Bytes {
    let mut b = BytesMut::new();
    // Literal with incremental indexing, new name "x-bomb", 4,000-byte value.
    b.put_u8(0x40);
    b.put_u8(6);
    b.put_slice(b"x-bomb");
    // 4000 = 127 + 3873: 0x7f then 3873 in 7-bit groups (0xa1 0x1e).
    b.put_slice(&[0x7f, 0xa1, 0x1e]);
    b.put_slice(&[b'a'; 4000]);
    for _ in 0..2_000 {
        b.put_u8(0x80 | 62);
    }
    b.freeze()
}

#[test]
fn hpack_bomb_resets_the_stream_and_keeps_the_connection() {
    let mut raw = RawClient::new(Config::default());
    let mut block = BytesMut::new();
    raw.encoder.encode(&request("/t.S/M"), &mut block);
    block.extend_from_slice(&hpack_bomb());
    raw.send(Frame::Headers(frame::Headers {
        stream_id: StreamId::new(1),
        fragment: block.freeze(),
        end_stream: true,
        end_headers: true,
        priority: None,
        pad_len: None,
    }));
    assert_eq!(
        rst_codes(&raw.server_frames()),
        vec![(1, Reason::ENHANCE_YOUR_CALM)]
    );
    assert!(
        raw.events().is_empty(),
        "the application never saw the stream"
    );
    assert!(!raw.server.is_closed());
    // The dynamic table stayed in step: a normal request, encoded by an
    // encoder that knows nothing of the bomb's entry, still decodes.
    raw.encoder = ferry_wire::hpack::Encoder::new();
    let mut block = BytesMut::new();
    // The bomb's entry is index 62 on both sides now; a fresh encoder only
    // uses static entries and its own inserts, which push it further down.
    raw.encoder.encode(&request("/t.S/After"), &mut block);
    raw.send(Frame::Headers(frame::Headers {
        stream_id: StreamId::new(3),
        fragment: block.freeze(),
        end_stream: true,
        end_headers: true,
        priority: None,
        pad_len: None,
    }));
    let events = raw.events();
    match &events[..] {
        [
            Event::StreamOpened {
                stream_id, headers, ..
            },
        ] => {
            assert_eq!(stream_id.as_u32(), 3);
            assert!(
                headers
                    .iter()
                    .any(|h| &h.name[..] == b":path" && &h.value[..] == b"/t.S/After")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn zero_length_header_flood_resets_the_stream() {
    let mut raw = RawClient::new(Config::default());
    let mut fields = request("/t.S/M");
    fields.extend((0..300).map(|i| HeaderField::new(format!("e{i}"), "")));
    let h = raw.headers_frame(1, &fields, true);
    raw.send(h);
    assert_eq!(
        rst_codes(&raw.server_frames()),
        vec![(1, Reason::ENHANCE_YOUR_CALM)]
    );
    assert!(!raw.server.is_closed());
}

#[test]
fn ping_flood_is_cut_off() {
    let mut raw = RawClient::new(Config::default());
    let mut sent = 0;
    while !raw.server.is_closed() && sent < 10_000 {
        raw.send(Frame::Ping(frame::Ping {
            ack: false,
            payload: [1; 8],
        }));
        sent += 1;
    }
    assert_eq!(sent, 101);
    assert_goaway(&mut raw, Reason::ENHANCE_YOUR_CALM, "too many PINGs");
}

#[test]
fn settings_flood_is_cut_off() {
    let mut raw = RawClient::new(Config::default());
    let mut sent = 0;
    while !raw.server.is_closed() && sent < 10_000 {
        raw.send(Frame::Settings(frame::Settings::default()));
        sent += 1;
    }
    // One SETTINGS already came with the preface.
    assert_eq!(sent, 50);
    assert_goaway(&mut raw, Reason::ENHANCE_YOUR_CALM, "too many SETTINGS");
}

#[test]
fn empty_data_flood_is_cut_off() {
    let mut raw = RawClient::new(Config::default());
    let h = raw.headers_frame(1, &request("/t.S/M"), false);
    raw.send(h);
    let mut sent = 0;
    while !raw.server.is_closed() && sent < 10_000 {
        raw.send(Frame::Data(frame::Data::new(
            StreamId::new(1),
            Bytes::new(),
            false,
        )));
        sent += 1;
    }
    assert_eq!(sent, 101);
    assert_goaway(&mut raw, Reason::ENHANCE_YOUR_CALM, "too many empty frames");
}

/// A stream whose response has used up the connection's send window (the
/// peer's initial 65,535 bytes), with more data queued behind it.
fn exhausted_window() -> RawClient {
    let mut raw = RawClient::new(Config::default());
    let h = raw.headers_frame(1, &request("/t.S/M"), false);
    raw.send(h);
    raw.events();
    let id = StreamId::new(1);
    raw.server.send_headers(id, &response(), false).unwrap();
    raw.server
        .send_data(id, Bytes::from(vec![0u8; 200_000]), false)
        .unwrap();
    raw.server_frames();
    raw
}

#[test]
fn window_dribble_is_cut_off() {
    let mut raw = exhausted_window();
    let mut sent = 0;
    while !raw.server.is_closed() && sent < 10_000 {
        // Both windows are reopened by one byte, which goes out at once as a
        // 1-byte DATA frame and closes them again.
        for stream_id in [StreamId::ZERO, StreamId::new(1)] {
            if !raw.server.is_closed() {
                raw.send(Frame::WindowUpdate(frame::WindowUpdate {
                    stream_id,
                    increment: 1,
                }));
                sent += 1;
            }
        }
        if !raw.server.is_closed() {
            raw.server_frames();
        }
    }
    assert_eq!(sent, 501);
    assert_goaway(&mut raw, Reason::ENHANCE_YOUR_CALM, "window dribble");
}

/// Small WINDOW_UPDATEs that answer our DATA are fair (gRPC C++ sends one
/// per small message it receives): they go to a window that is open, so
/// they do not count as a dribble.
#[test]
fn small_window_updates_answering_our_data_are_allowed() {
    let mut raw = RawClient::new(Config::default());
    let h = raw.headers_frame(1, &request("/t.S/M"), false);
    raw.send(h);
    let id = StreamId::new(1);
    raw.server.send_headers(id, &response(), false).unwrap();
    for round in 0..20 {
        raw.server
            .send_data(id, Bytes::from_static(&[7u8; 20]), false)
            .unwrap();
        let frames = raw.server_frames();
        assert!(
            frames.iter().any(|f| matches!(f, Frame::Data(_))),
            "round {round}"
        );
        for _ in 0..100 {
            raw.send(Frame::WindowUpdate(frame::WindowUpdate {
                stream_id: StreamId::ZERO,
                increment: 1,
            }));
        }
        assert!(!raw.server.is_closed(), "closed in round {round}");
    }
    // 2,000 small updates in all, each batch following our DATA.
}

#[test]
fn small_updates_to_an_open_window_are_not_a_dribble() {
    // grpcio under load: thousands of 5-byte WINDOW_UPDATEs to windows that
    // are wide open.
    let mut raw = RawClient::new(Config::default());
    let h = raw.headers_frame(1, &request("/t.S/M"), false);
    raw.send(h);
    for _ in 0..5_000 {
        raw.send_all([
            Frame::WindowUpdate(frame::WindowUpdate {
                stream_id: StreamId::ZERO,
                increment: 5,
            }),
            Frame::WindowUpdate(frame::WindowUpdate {
                stream_id: StreamId::new(1),
                increment: 5,
            }),
        ]);
    }
    assert!(!raw.server.is_closed());
    assert!(RawClient::goaway(&raw.server_frames()).is_none());
}

#[test]
fn unread_control_replies_pause_reading_then_close() {
    let mut cfg = Config::default();
    cfg.limits.pings = Rate::new(1_000_000, 1_000_000);
    let mut raw = RawClient::new(cfg);
    // Drain what the handshake queued, as a runtime would.
    raw.server_frames();
    // One read carrying 3,000 PINGs: 1,024 are answered, then the
    // connection pauses with the rest still unparsed.
    let mut burst = BytesMut::new();
    for _ in 0..3_000 {
        Frame::Ping(frame::Ping {
            ack: false,
            payload: [2; 8],
        })
        .encode(&mut burst);
    }
    raw.send_bytes(&burst);
    assert!(!raw.server.wants_read());
    assert!(!raw.server.is_closed(), "pausing is not closing");
    // 1,024 ACKs queued plus 1,976 PINGs unparsed, 17 bytes each.
    assert_eq!(raw.server.buffered_bytes(), 3_000 * 17);
    // Writing the ACKs out lets the rest through, in turns.
    let acks = raw
        .server_frames()
        .iter()
        .filter(|f| matches!(f, Frame::Ping(p) if p.ack))
        .count();
    assert_eq!(acks, 3_000);
    assert!(raw.server.wants_read());
    // A runtime that ignores the pause and keeps feeding bytes is cut off
    // once 1 MiB waits unparsed beyond one frame of the largest size.
    let mut reads = 0;
    while !raw.server.is_closed() && reads < 100 {
        raw.send_bytes(&burst);
        reads += 1;
    }
    assert_eq!(
        reads, 42,
        "51,000 bytes a read: the 42nd passes 1 MiB + 1,064,960"
    );
    assert_goaway(
        &mut raw,
        Reason::ENHANCE_YOUR_CALM,
        "too many control frames queued",
    );
}

#[test]
fn excess_streams_are_refused() {
    let mut raw = RawClient::new(Config {
        max_concurrent_streams: 3,
        ..Config::default()
    });
    for id in [1, 3, 5, 7] {
        let h = raw.headers_frame(id, &request("/t.S/M"), false);
        raw.send(h);
    }
    assert_eq!(
        rst_codes(&raw.server_frames()),
        vec![(7, Reason::REFUSED_STREAM)]
    );
    assert_eq!(raw.server.open_streams(), 3);
    let opened = raw
        .events()
        .iter()
        .filter(|e| matches!(e, Event::StreamOpened { .. }))
        .count();
    assert_eq!(opened, 3);
}

#[test]
fn settings_must_be_acknowledged_in_time() {
    let mut raw = RawClient::new(Config::default());
    raw.server_frames();
    raw.now += Duration::from_secs(9);
    raw.server.handle_timeout(raw.now);
    assert!(!raw.server.is_closed());
    raw.now += Duration::from_secs(1);
    assert_eq!(raw.server.poll_timeout(), Some(raw.now));
    raw.server.handle_timeout(raw.now);
    assert_goaway(&mut raw, Reason::SETTINGS_TIMEOUT, "not acknowledged");
}

#[test]
fn acknowledged_settings_stop_the_timer() {
    let mut raw = RawClient::new(Config::default());
    raw.send(Frame::Settings(frame::Settings::ack()));
    raw.now += Duration::from_secs(60);
    raw.server.handle_timeout(raw.now);
    assert!(!raw.server.is_closed());
    assert_eq!(raw.server.poll_timeout(), None);
}

#[test]
fn silent_connection_times_out_in_the_handshake() {
    let start = std::time::Instant::now();
    let mut server =
        ferry_wire::conn::Connection::new(ferry_wire::conn::Role::Server, Config::default(), start);
    server.handle_input(&ferry_wire::conn::PREFACE[..10], start);
    server.handle_timeout(start + Duration::from_secs(10));
    assert!(server.is_closed());
    match server.poll_event() {
        Some(Event::Closed(e)) => assert!(e.detail.contains("no preface"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_preface_is_a_protocol_error() {
    let now = std::time::Instant::now();
    let mut server =
        ferry_wire::conn::Connection::new(ferry_wire::conn::Role::Server, Config::default(), now);
    server.handle_input(b"GET / HTTP/1.1\r\n", now);
    assert!(server.is_closed());
    match server.poll_event() {
        Some(Event::Closed(e)) => assert_eq!(e.reason, Reason::PROTOCOL_ERROR),
        other => panic!("{other:?}"),
    }
}

/// A frame header: length, type, flags, stream id.
fn frame_head(len: u32, kind: u8, flags: u8, id: u32) -> [u8; 9] {
    let [_, a, b, c] = len.to_be_bytes();
    let [d, e, f, g] = id.to_be_bytes();
    [a, b, c, kind, flags, d, e, f, g]
}

#[test]
fn oversized_frame_is_a_frame_size_error() {
    for max in [16_384, Config::default().max_frame_size] {
        let mut raw = RawClient::new(Config {
            max_frame_size: max,
            ..Config::default()
        });
        // A DATA header announcing one byte over the limit: refused before
        // any payload is buffered.
        raw.send_bytes(&frame_head(max + 1, frame::kind::DATA, 0, 1));
        assert_goaway(
            &mut raw,
            Reason::FRAME_SIZE_ERROR,
            "exceeds SETTINGS_MAX_FRAME_SIZE",
        );
    }
}

/// We advertise frames of up to 1 MiB + 16 KiB for DATA. A frame within
/// that size that could not be accepted once complete is refused from its
/// header, with nothing of it buffered: DATA longer than the connection
/// window, a header block over its limit (twice the header-list limit),
/// and any other frame over the RFC's 16,384 bytes.
#[test]
fn large_frames_are_refused_from_their_header() {
    let mut raw = RawClient::new(Config::default());
    let h = raw.headers_frame(1, &request("/t.S/M"), false);
    raw.send(h);
    // The connection window is the default 1 MiB.
    raw.send_bytes(&frame_head((1 << 20) + 1, frame::kind::DATA, 0, 1));
    assert!(raw.server.is_closed(), "refused from the header alone");
    assert_goaway(
        &mut raw,
        Reason::FLOW_CONTROL_ERROR,
        "DATA exceeds the connection window",
    );

    let mut raw = RawClient::new(Config::default());
    raw.send_bytes(&frame_head((32 << 10) + 1, frame::kind::HEADERS, 0x4, 1));
    assert!(raw.server.is_closed(), "refused from the header alone");
    assert_goaway(
        &mut raw,
        Reason::ENHANCE_YOUR_CALM,
        "header block too large",
    );

    for kind in [
        frame::kind::PING,
        frame::kind::SETTINGS,
        frame::kind::GOAWAY,
        0xfa,
    ] {
        let mut raw = RawClient::new(Config::default());
        raw.send_bytes(&frame_head(16_385, kind, 0, 0));
        assert!(raw.server.is_closed(), "refused from the header alone");
        assert_goaway(
            &mut raw,
            Reason::ENHANCE_YOUR_CALM,
            "frame too large for its type",
        );
    }

    // At the limits themselves the frames are accepted: a 16,384-byte
    // unknown frame is ignored, a 32 KiB header block is decoded.
    let mut raw = RawClient::new(Config::default());
    raw.send_bytes(&frame_head(16_384, 0xfa, 0, 0));
    raw.send_bytes(&[0; 16_384]);
    assert!(!raw.server.is_closed());
}

/// A peer announcing a large DATA frame and sending it a little at a time
/// makes the connection hold that frame, and no more: at most the
/// connection window it was given (the frame is refused from its header
/// otherwise). Once complete, the frame is judged as any other: here it
/// overruns the 65,535-byte stream window, so the stream is reset, and what
/// was held is gone.
#[test]
fn a_large_frame_sent_slowly_holds_no_more_than_the_connection_window() {
    let cfg = Config {
        adaptive_window: false,
        ..Config::default()
    };
    let window = cfg.initial_connection_window as usize;
    let mut raw = RawClient::new(cfg);
    let h = raw.headers_frame(1, &request("/t.S/M"), false);
    raw.send(h);
    raw.server_frames();
    raw.send_bytes(&frame_head(window as u32, frame::kind::DATA, 0, 1));
    let piece = [0u8; 4_096];
    let mut sent = 0;
    let mut most = 0;
    while sent < window {
        raw.send_bytes(&piece);
        sent += piece.len();
        most = most.max(raw.server.buffered_bytes());
        assert!(!raw.server.is_closed());
    }
    // The most held: the header and all of the payload but the last piece
    // (the last completes the frame, which is then handled at once).
    assert_eq!(most, 9 + window - piece.len());
    assert_eq!(
        rst_codes(&raw.server_frames()),
        vec![(1, Reason::FLOW_CONTROL_ERROR)]
    );
    assert_eq!(raw.server.buffered_bytes(), 0);
    assert!(!raw.server.is_closed());
}

#[test]
fn data_beyond_the_window_is_a_flow_control_error() {
    let cfg = Config {
        adaptive_window: false,
        ..Config::default()
    };
    let mut raw = RawClient::new(cfg);
    let h = raw.headers_frame(1, &request("/t.S/M"), false);
    raw.send(h);
    let chunk = Bytes::from(vec![0u8; 16_384]);
    for _ in 0..3 {
        raw.send(Frame::Data(frame::Data::new(
            StreamId::new(1),
            chunk.clone(),
            false,
        )));
    }
    // 49,152 received; 16,384 more passes the 65,535 stream window.
    raw.send(Frame::Data(frame::Data::new(
        StreamId::new(1),
        chunk.clone(),
        false,
    )));
    assert_eq!(
        rst_codes(&raw.server_frames()),
        vec![(1, Reason::FLOW_CONTROL_ERROR)]
    );
    assert!(!raw.server.is_closed());
}

#[test]
fn self_dependent_headers_reset_the_stream_and_keep_hpack_in_step() {
    let mut raw = RawClient::new(Config::default());
    let block = raw.header_block(&request("/t.S/First"));
    raw.send(Frame::Headers(frame::Headers {
        stream_id: StreamId::new(1),
        fragment: block,
        end_stream: true,
        end_headers: true,
        priority: Some(frame::PrioritySpec {
            dependency: StreamId::new(1),
            exclusive: false,
            weight: 16,
        }),
        pad_len: None,
    }));
    assert_eq!(
        rst_codes(&raw.server_frames()),
        vec![(1, Reason::PROTOCOL_ERROR)]
    );
    assert!(raw.events().is_empty());
    // The same encoder goes on: its table entries from the first block must
    // exist on the server too.
    let h = raw.headers_frame(3, &request("/t.S/Second"), true);
    raw.send(h);
    match &raw.events()[..] {
        [
            Event::StreamOpened {
                stream_id, headers, ..
            },
        ] => {
            assert_eq!(stream_id.as_u32(), 3);
            assert!(
                headers
                    .iter()
                    .any(|h| &h.name[..] == b":path" && &h.value[..] == b"/t.S/Second")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!raw.server.is_closed());
}

#[test]
fn paced_ping_flood_is_cut_off_too() {
    // PINGs in small batches, with the ACKs written out in between as a
    // runtime does: writing ACKs must not count as "busy sending".
    let mut raw = RawClient::new(Config::default());
    let mut sent = 0;
    while !raw.server.is_closed() && sent < 2_000 {
        for _ in 0..10 {
            raw.send(Frame::Ping(frame::Ping {
                ack: false,
                payload: [1; 8],
            }));
            sent += 1;
        }
        if !raw.server.is_closed() {
            raw.server_frames();
        }
    }
    assert_eq!(sent, 110, "the 101st PING passes the burst of 100");
    assert_goaway(&mut raw, Reason::ENHANCE_YOUR_CALM, "too many PINGs");
}

#[test]
fn ping_policy_strikes_out_clients_that_ping_too_often() {
    use ferry_wire::conn::PingPolicy;
    let policy = PingPolicy {
        min_interval: Duration::from_secs(10),
        permit_without_stream: false,
        max_strikes: 2,
    };
    let ping = || {
        Frame::Ping(frame::Ping {
            ack: false,
            payload: [3; 8],
        })
    };

    // No stream open: every PING after the first is a strike; the third ends it.
    let mut raw = RawClient::new(Config {
        ping_policy: Some(policy),
        ..Config::default()
    });
    for _ in 0..3 {
        raw.send(ping());
        raw.now += Duration::from_secs(60);
    }
    assert!(!raw.server.is_closed());
    raw.send(ping());
    assert_goaway(&mut raw, Reason::ENHANCE_YOUR_CALM, "too_many_pings");

    // With a call open, pings at the allowed interval are fine, and pings
    // while we send data are forgiven however close together.
    let mut raw = RawClient::new(Config {
        ping_policy: Some(policy),
        ..Config::default()
    });
    let h = raw.headers_frame(1, &request("/t.S/M"), false);
    raw.send(h);
    for _ in 0..10 {
        raw.send(ping());
        raw.now += Duration::from_secs(10);
    }
    assert!(!raw.server.is_closed());
    raw.server
        .send_headers(
            StreamId::new(1),
            &[HeaderField::from_static(":status", "200")],
            false,
        )
        .unwrap();
    for _ in 0..10 {
        raw.send(ping());
        raw.server
            .send_data(StreamId::new(1), Bytes::from_static(b"busy"), false)
            .unwrap();
        raw.server_frames();
    }
    assert!(!raw.server.is_closed());
    // Idle again on our side: three quick pings are three strikes.
    for _ in 0..3 {
        raw.send(ping());
    }
    assert_goaway(&mut raw, Reason::ENHANCE_YOUR_CALM, "too_many_pings");
}
