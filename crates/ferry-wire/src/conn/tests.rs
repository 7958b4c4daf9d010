//! Unit tests that need the connection's insides (stream id exhaustion,
//! window arithmetic) or exact frame order.
//!
//! Compiled only under `#[cfg(test)]` (see `mod tests` in `mod.rs`).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::frame::{FrameHeader, HEADER_LEN};

fn req() -> Vec<HeaderField> {
    vec![
        HeaderField::from_static(":method", "POST"),
        HeaderField::from_static(":scheme", "http"),
        HeaderField::from_static(":path", "/a.B/C"),
        HeaderField::from_static("content-type", "application/grpc"),
    ]
}

fn resp() -> Vec<HeaderField> {
    vec![HeaderField::from_static(":status", "200")]
}

fn frames(mut bytes: &[u8]) -> Vec<Frame> {
    if bytes.starts_with(PREFACE) {
        bytes = &bytes[PREFACE.len()..];
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let head = FrameHeader::decode(bytes[..HEADER_LEN].try_into().unwrap());
        let end = HEADER_LEN + head.length as usize;
        out.push(Frame::decode(head, Bytes::copy_from_slice(&bytes[HEADER_LEN..end])).unwrap());
        bytes = &bytes[end..];
    }
    out
}

fn take_output(c: &mut Connection, now: Instant) -> BytesMut {
    let mut out = BytesMut::new();
    while c.poll_transmit(now, &mut out) > 0 {}
    out
}

/// Moves bytes between the two until neither has anything to say.
fn exchange(a: &mut Connection, b: &mut Connection, now: Instant) {
    loop {
        let x = take_output(a, now);
        let y = take_output(b, now);
        if x.is_empty() && y.is_empty() {
            return;
        }
        b.handle_input(&x, now);
        a.handle_input(&y, now);
    }
}

fn pair(now: Instant) -> (Connection, Connection) {
    pair_with(
        Config {
            adaptive_window: false,
            ..Config::default()
        },
        now,
    )
}

fn pair_with(cfg: Config, now: Instant) -> (Connection, Connection) {
    let mut c = Connection::new(Role::Client, cfg.clone(), now);
    let mut s = Connection::new(Role::Server, cfg, now);
    exchange(&mut c, &mut s, now);
    while c.poll_event().is_some() {}
    while s.poll_event().is_some() {}
    (c, s)
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

#[test]
fn handshake_sends_preface_settings_and_connection_window() {
    let now = Instant::now();
    let mut c = Connection::new(Role::Client, Config::default(), now);
    let out = take_output(&mut c, now);
    assert!(out.starts_with(PREFACE));
    let f = frames(&out);
    match &f[..] {
        [Frame::Settings(s), Frame::WindowUpdate(w)] => {
            assert_eq!(s.enable_push, Some(false));
            assert_eq!(s.max_concurrent_streams, Some(200));
            assert_eq!(s.max_header_list_size, Some(16 << 10));
            assert_eq!(
                s.initial_window_size, None,
                "65,535 is the default: not sent"
            );
            assert_eq!(
                (w.stream_id, w.increment),
                (StreamId::ZERO, (1 << 20) - 65_535)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stream_ids_are_odd_increasing_and_run_out() {
    let now = Instant::now();
    let (mut c, _s) = pair(now);
    assert_eq!(c.open_stream(&req(), true).unwrap().as_u32(), 1);
    assert_eq!(c.open_stream(&req(), true).unwrap().as_u32(), 3);
    assert!(events(&mut c).is_empty());
    c.next_local_id = Some(StreamId::new(0x7fff_ffff - 2 * STREAM_ID_RESERVE - 2));
    c.open_stream(&req(), true).unwrap();
    assert!(
        events(&mut c).is_empty(),
        "one id above the reserve is still quiet"
    );
    c.open_stream(&req(), true).unwrap();
    assert_eq!(events(&mut c), vec![Event::StreamIdsExhausted]);
    c.next_local_id = Some(StreamId::MAX);
    assert_eq!(c.open_stream(&req(), true).unwrap(), StreamId::MAX);
    assert_eq!(c.open_stream(&req(), true), Err(OpenError::IdsExhausted));
    assert!(events(&mut c).is_empty(), "reported once");
}

#[test]
fn client_waits_for_capacity_under_the_peers_limit() {
    let now = Instant::now();
    let cfg = Config {
        max_concurrent_streams: 2,
        ..Config::default()
    };
    let mut c = Connection::new(Role::Client, Config::default(), now);
    let mut s = Connection::new(Role::Server, cfg, now);
    exchange(&mut c, &mut s, now);
    events(&mut c);
    let a = c.open_stream(&req(), true).unwrap();
    c.open_stream(&req(), true).unwrap();
    assert_eq!(c.open_stream(&req(), true), Err(OpenError::AtCapacity));
    c.reset_stream(a, Reason::CANCEL);
    assert_eq!(events(&mut c), vec![Event::StreamsAvailable]);
    assert!(c.open_stream(&req(), true).is_ok());
}

#[test]
fn trailers_only_response_and_send_errors() {
    let now = Instant::now();
    let (mut c, mut s) = pair(now);
    let id = c.open_stream(&req(), true).unwrap();
    exchange(&mut c, &mut s, now);
    assert!(matches!(
        &events(&mut s)[..],
        [Event::StreamOpened {
            end_stream: true,
            ..
        }]
    ));
    assert_eq!(
        s.send_data(id, Bytes::from_static(b"x"), false),
        Err(SendError::HeadersNotSent)
    );
    let mut only = resp();
    only.push(HeaderField::from_static("grpc-status", "12"));
    s.send_headers(id, &only, true).unwrap();
    assert_eq!(s.open_streams(), 0, "both sides ended: the stream is gone");
    assert_eq!(
        s.send_headers(id, &resp(), false),
        Err(SendError::UnknownStream)
    );
    exchange(&mut c, &mut s, now);
    match &events(&mut c)[..] {
        [
            Event::Headers {
                stream_id,
                headers,
                end_stream: true,
            },
        ] => {
            assert_eq!(*stream_id, id);
            assert_eq!(headers.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.open_streams(), 0);
    assert_eq!(
        c.send_data(id, Bytes::new(), true),
        Err(SendError::UnknownStream)
    );
}

#[test]
fn smaller_initial_window_makes_send_windows_negative() {
    let now = Instant::now();
    let (mut c, mut s) = pair(now);
    let id = c.open_stream(&req(), false).unwrap();
    c.send_data(id, Bytes::from(vec![0u8; 60_000]), false)
        .unwrap();
    exchange(&mut c, &mut s, now);
    assert_eq!(c.streams[&id].send.value(), 5_535);
    // The server shrinks the initial window to 1,000: 5,535 - 64,535 < 0.
    let mut settings = BytesMut::new();
    Frame::Settings(Settings {
        initial_window_size: Some(1_000),
        ..Settings::default()
    })
    .encode(&mut settings);
    c.handle_input(&settings, now);
    assert_eq!(c.streams[&id].send.value(), -59_000);
    c.send_data(id, Bytes::from(vec![0u8; 10]), false).unwrap();
    let out = take_output(&mut c, now);
    assert!(
        frames(&out).iter().all(|f| !matches!(f, Frame::Data(_))),
        "nothing may be sent"
    );
    // A WINDOW_UPDATE that leaves the window negative still sends nothing;
    // one that lifts it above zero lets exactly that much out.
    let mut wu = BytesMut::new();
    Frame::WindowUpdate(frame::WindowUpdate {
        stream_id: id,
        increment: 59_000,
    })
    .encode(&mut wu);
    Frame::WindowUpdate(frame::WindowUpdate {
        stream_id: id,
        increment: 4,
    })
    .encode(&mut wu);
    c.handle_input(&wu, now);
    let data: Vec<usize> = frames(&take_output(&mut c, now))
        .into_iter()
        .filter_map(|f| match f {
            Frame::Data(d) => Some(d.payload.len()),
            _ => None,
        })
        .collect();
    assert_eq!(data, vec![4]);
}

#[test]
fn window_overflow_is_a_flow_control_error() {
    let now = Instant::now();
    let (mut c, _s) = pair(now);
    let id = c.open_stream(&req(), false).unwrap();
    let mut wu = BytesMut::new();
    Frame::WindowUpdate(frame::WindowUpdate {
        stream_id: id,
        increment: 0x7fff_ffff,
    })
    .encode(&mut wu);
    c.handle_input(&wu, now);
    match &events(&mut c)[..] {
        [Event::Reset(e)] => assert_eq!((e.stream_id, e.reason), (id, Reason::FLOW_CONTROL_ERROR)),
        other => panic!("{other:?}"),
    }
    let mut wu = BytesMut::new();
    Frame::WindowUpdate(frame::WindowUpdate {
        stream_id: StreamId::ZERO,
        increment: 0x7fff_ffff,
    })
    .encode(&mut wu);
    c.handle_input(&wu, now);
    match &events(&mut c)[..] {
        [Event::Closed(e)] => assert_eq!(
            (e.reason, e.initiator),
            (Reason::FLOW_CONTROL_ERROR, Initiator::Remote)
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn data_is_sent_round_robin() {
    let now = Instant::now();
    // The RFC's frame size, so the turns show within one window.
    let cfg = Config {
        adaptive_window: false,
        max_frame_size: 16_384,
        ..Config::default()
    };
    let (mut c, mut s) = pair_with(cfg, now);
    let a = c.open_stream(&req(), false).unwrap();
    let b = c.open_stream(&req(), false).unwrap();
    c.send_data(a, Bytes::from(vec![0u8; 40_000]), true)
        .unwrap();
    c.send_data(b, Bytes::from(vec![0u8; 40_000]), true)
        .unwrap();
    let order: Vec<(u32, usize)> = frames(&take_output(&mut c, now))
        .into_iter()
        .filter_map(|f| match f {
            Frame::Data(d) => Some((d.stream_id.as_u32(), d.payload.len())),
            _ => None,
        })
        .collect();
    assert_eq!(
        order,
        vec![
            (1, 16_384),
            (3, 16_384),
            (1, 16_384),
            (3, 16_384),
            (1, 7_232),
            (3, 7_232)
        ]
    );
    exchange(&mut c, &mut s, now);
}

#[test]
fn protocol_violations_close_the_connection_with_their_codes() {
    let now = Instant::now();
    let cases: Vec<(Role, Vec<u8>, Reason)> = vec![
        // DATA on an idle stream.
        (
            Role::Server,
            {
                let mut b = BytesMut::new();
                Frame::Data(frame::Data::new(
                    StreamId::new(5),
                    Bytes::from_static(b"x"),
                    false,
                ))
                .encode(&mut b);
                b.to_vec()
            },
            Reason::PROTOCOL_ERROR,
        ),
        // PUSH_PROMISE to a client that disabled push.
        (
            Role::Client,
            {
                let mut b = BytesMut::new();
                Frame::PushPromise(frame::PushPromise {
                    stream_id: StreamId::new(1),
                    promised_id: StreamId::new(2),
                    fragment: Bytes::new(),
                    end_headers: true,
                    pad_len: None,
                })
                .encode(&mut b);
                b.to_vec()
            },
            Reason::PROTOCOL_ERROR,
        ),
        // A server-initiated stream.
        (
            Role::Client,
            {
                let mut b = BytesMut::new();
                frame::encode_header_block(StreamId::new(2), &[0x88], true, 16_384, &mut b);
                b.to_vec()
            },
            Reason::PROTOCOL_ERROR,
        ),
        // An invalid HPACK index.
        (
            Role::Server,
            {
                let mut b = BytesMut::new();
                frame::encode_header_block(StreamId::new(1), &[0xff, 0x7f], true, 16_384, &mut b);
                b.to_vec()
            },
            Reason::COMPRESSION_ERROR,
        ),
        // RST_STREAM on an idle stream.
        (
            Role::Server,
            {
                let mut b = BytesMut::new();
                Frame::RstStream(frame::RstStream {
                    stream_id: StreamId::new(9),
                    reason: Reason::CANCEL,
                })
                .encode(&mut b);
                b.to_vec()
            },
            Reason::PROTOCOL_ERROR,
        ),
        // PING on a stream.
        (
            Role::Server,
            vec![0, 0, 8, 6, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            Reason::PROTOCOL_ERROR,
        ),
    ];
    for (role, bytes, reason) in cases {
        let (mut c, mut s) = pair(now);
        let conn = if role == Role::Client { &mut c } else { &mut s };
        take_output(conn, now);
        conn.handle_input(&bytes, now);
        let closed = events(conn).into_iter().find_map(|e| match e {
            Event::Closed(e) => Some(e),
            _ => None,
        });
        let closed = closed.unwrap_or_else(|| panic!("{role:?} {bytes:?}: not closed"));
        assert_eq!(
            (closed.reason, closed.initiator),
            (reason, Initiator::Remote),
            "{closed}"
        );
        let goaway = frames(&take_output(conn, now))
            .into_iter()
            .find_map(|f| match f {
                Frame::GoAway(g) => Some(g),
                _ => None,
            });
        assert_eq!(goaway.map(|g| g.reason), Some(reason));
    }
}

#[test]
fn unknown_frames_are_ignored() {
    let now = Instant::now();
    let (_c, mut s) = pair(now);
    s.handle_input(&[0, 0, 3, 0xfa, 0xff, 0, 0, 0, 1, 1, 2, 3], now);
    assert!(events(&mut s).is_empty());
    assert!(!s.is_closed());
}

#[test]
fn expect_message_opens_both_windows_ahead() {
    let now = Instant::now();
    let (mut c, mut s) = pair(now);
    let id = c.open_stream(&req(), false).unwrap();
    exchange(&mut c, &mut s, now);
    events(&mut s);
    s.expect_message(id, 4 << 20);
    let updates: Vec<(u32, u32)> = frames(&take_output(&mut s, now))
        .into_iter()
        .filter_map(|f| match f {
            Frame::WindowUpdate(w) => Some((w.stream_id.as_u32(), w.increment)),
            _ => None,
        })
        .collect();
    // Room for the 4 MiB message and 1 MiB of the next. Stream: 5 MiB -
    // 65,535. Connection: its 1 MiB target plus the same extra, minus the
    // 1 MiB already open.
    let extra = (5 << 20) - 65_535;
    assert_eq!(updates, vec![(1, extra), (0, extra)]);
    // Up to 1 MiB, room for a whole second message; the boost of the
    // larger message before is taken back (the peer keeps what it was
    // given, no more is sent).
    s.expect_message(id, 300_000);
    assert_eq!(s.conn_boost_extra, 600_000 - 65_535);
    assert_eq!(s.streams[&id].boost_extra, 600_000 - 65_535);
}

/// A message just over the stream window (64 KiB of payload: 65,541 bytes
/// framed, six over 65,535) opens room for two: the sender has the next
/// message on the wire while the application takes this one, instead of
/// waiting a round trip for each message's WINDOW_UPDATE. And no more than
/// two: without releases the third stays with the sender.
#[test]
fn expect_message_makes_room_for_the_next_message_too() {
    const FRAMED: usize = 65_541;
    let now = Instant::now();
    let (mut c, mut s) = pair(now);
    let id = c.open_stream(&req(), false).unwrap();
    for _ in 0..4 {
        c.send_data(id, Bytes::from(vec![1u8; FRAMED]), false)
            .unwrap();
    }
    let mut received = 0;
    let mut expected = false;
    let pump = |c: &mut Connection, s: &mut Connection, expected: &mut bool| {
        let mut got = 0;
        for _ in 0..100 {
            exchange(c, s, now);
            let mut progress = false;
            for event in events(s) {
                if let Event::Data { data, .. } = event {
                    progress = true;
                    got += data.len();
                    if !*expected {
                        *expected = true;
                        s.expect_message(id, FRAMED);
                    }
                }
            }
            if !progress {
                break;
            }
        }
        got
    };
    received += pump(&mut c, &mut s, &mut expected);
    assert_eq!(received, 2 * FRAMED, "room for exactly two messages");
    // The application takes the first message: one more comes, not two.
    s.release_capacity(id, FRAMED);
    received += pump(&mut c, &mut s, &mut expected);
    assert_eq!(received, 3 * FRAMED);
}

#[test]
fn user_ping_is_acknowledged() {
    let now = Instant::now();
    let (mut c, mut s) = pair(now);
    c.send_ping(*b"12345678").unwrap();
    exchange(&mut c, &mut s, now);
    assert_eq!(
        events(&mut c),
        vec![Event::PingAck {
            payload: *b"12345678"
        }]
    );
}

#[test]
fn direct_reads_split_anywhere_work_like_handle_input() {
    let now = Instant::now();
    let mut client = Connection::new(Role::Client, Config::default(), now);
    let mut server = Connection::new(Role::Server, Config::default(), now);
    let id = client.open_stream(&req(), false).unwrap();
    client
        .send_data(id, Bytes::from_static(b"hello"), true)
        .unwrap();
    let bytes = take_output(&mut client, now);
    // One byte per read, through the preface and every frame boundary.
    for b in bytes.iter() {
        server.recv_buffer().extend_from_slice(&[*b]);
        server.handle_received(now);
    }
    assert!(!server.is_closed());
    let reply = frames(&take_output(&mut server, now));
    assert!(
        reply
            .iter()
            .any(|f| matches!(f, Frame::Settings(s) if s.ack))
    );
    let got: Vec<Event> = events(&mut server);
    assert!(matches!(got[0], Event::SettingsChanged(_)));
    assert!(matches!(got[1], Event::StreamOpened { stream_id, .. } if stream_id == id));
    assert!(
        matches!(&got[2], Event::Data { data, end_stream: true, .. } if data.as_ref() == b"hello")
    );
    assert_eq!(got.len(), 3);

    let mut bad = Connection::new(Role::Server, Config::default(), now);
    bad.recv_buffer()
        .extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    bad.handle_received(now);
    assert!(bad.is_closed(), "a wrong preface closes the connection");
}

/// Many streams each carrying one message larger than a stream window, read
/// the way the runtime reads: `expect_message` once the first bytes arrive,
/// the stream's window released only when the whole message is in, the
/// window growing from bandwidth probes (default config). Every message must
/// complete: when the connection window waited for the application, 40
/// streams holding parts of messages used it all up and none could finish
/// (interop's concurrent_large_unary, 1000 calls of 271 KB, stalled so).
#[test]
fn many_large_messages_at_once_all_complete() {
    const STREAMS: usize = 40;
    const LEN: usize = 300_000;
    let now = Instant::now();
    let cfg = Config::default();
    let mut c = Connection::new(Role::Client, cfg.clone(), now);
    let mut s = Connection::new(Role::Server, cfg, now);
    exchange(&mut c, &mut s, now);
    while c.poll_event().is_some() {}
    while s.poll_event().is_some() {}
    for _ in 0..STREAMS {
        let id = c.open_stream(&req(), false).unwrap();
        c.send_data(id, Bytes::from(vec![0u8; LEN]), true).unwrap();
    }
    let mut received: std::collections::HashMap<StreamId, usize> = std::collections::HashMap::new();
    let mut complete = 0;
    for _ in 0..10_000 {
        exchange(&mut c, &mut s, now);
        let mut progress = false;
        for event in events(&mut s) {
            if let Event::Data {
                stream_id, data, ..
            } = event
            {
                progress = true;
                let got = received.entry(stream_id).or_insert(0);
                if *got == 0 {
                    s.expect_message(stream_id, LEN);
                }
                *got += data.len();
                if *got == LEN {
                    s.release_capacity(stream_id, LEN);
                    complete += 1;
                }
            }
        }
        if !progress {
            break;
        }
    }
    assert_eq!(complete, STREAMS, "bytes received per stream: {received:?}");
}

/// Two identical streams of sends, one transmitted with `poll_transmit`
/// and one with `poll_transmit_buf`: the bytes are the same, and the large
/// payloads of the second are the application's buffers, not copies.
#[test]
fn vectored_output_is_byte_for_byte_the_copied_output() {
    let now = Instant::now();
    let big = Bytes::from((0..40_000u32).map(|i| i as u8).collect::<Vec<u8>>());
    let small = Bytes::from_static(b"tiny message");
    let run = |vectored: bool| {
        let (mut c, mut s) = pair(now);
        let id = c.open_stream(&req(), false).unwrap();
        exchange(&mut c, &mut s, now);
        while s.poll_event().is_some() {}
        s.send_headers(id, &resp(), false).unwrap();
        s.send_data(id, small.clone(), false).unwrap();
        s.send_data(id, big.clone(), false).unwrap();
        s.send_trailers(id, &[HeaderField::from_static("grpc-status", "0")])
            .unwrap();
        let mut bytes = Vec::new();
        let mut referenced = 0;
        if vectored {
            let mut out = OutBuf::with_min_by_reference(1024);
            while s.poll_transmit_buf(now, &mut out) > 0 {}
            let mut slices = [std::io::IoSlice::new(&[]); 64];
            let n = out.chunks(&mut slices);
            for slice in &slices[..n] {
                if big.as_ptr_range().contains(&slice.as_ptr()) {
                    referenced += slice.len();
                }
                bytes.extend_from_slice(slice);
            }
            out.advance(out.len());
            assert!(out.is_empty());
        } else {
            bytes.extend_from_slice(&take_output(&mut s, now));
        }
        (bytes, referenced)
    };
    let (copied, _) = run(false);
    let (vectored, referenced) = run(true);
    assert_eq!(vectored, copied);
    // The stream window (65,535) lets all 40,000 bytes go, in 16 KiB frames.
    assert_eq!(referenced, 40_000);
    let data: usize = frames(&copied)
        .iter()
        .filter_map(|f| match f {
            Frame::Data(d) => Some(d.payload.len()),
            _ => None,
        })
        .sum();
    assert_eq!(data, 40_000 + small.len());
}

/// The pieces of one message (`send_data_parts`) go out in one DATA frame
/// where window and frame size allow, byte for byte their concatenation;
/// separate messages keep separate frames; a window that ends inside the
/// pieces cuts the frame there, and the rest follows the WINDOW_UPDATE.
#[test]
fn pieces_of_a_message_share_a_frame() {
    let now = Instant::now();
    let (mut c, mut s) = pair(now);
    let id = c.open_stream(&req(), false).unwrap();
    exchange(&mut c, &mut s, now);
    while s.poll_event().is_some() {}
    let head = Bytes::from_static(b"\0\0\0\x9c\x4a\x0a");
    let big = Bytes::from((0..40_000u32).map(|i| i as u8).collect::<Vec<u8>>());
    let tail = Bytes::from_static(b"\x10\x01");
    s.send_headers(id, &resp(), false).unwrap();
    s.send_data_parts(id, [head.clone(), big.clone(), tail.clone()], false)
        .unwrap();
    s.send_data(id, Bytes::from_static(b"next"), false).unwrap();
    // Only 10,000 bytes of the next message's pieces fit the window that is left.
    s.send_data_parts(id, [head.clone(), big.clone()], true)
        .unwrap();
    let data = |out: &[u8]| -> Vec<(Bytes, bool)> {
        frames(out)
            .into_iter()
            .filter_map(|f| match f {
                Frame::Data(d) => Some((d.payload, d.end_stream)),
                _ => None,
            })
            .collect()
    };
    let first = data(&take_output(&mut s, now));
    let whole = [head.clone(), big.clone(), tail.clone()].concat();
    assert_eq!(
        first.len(),
        3,
        "{:?}",
        first.iter().map(|d| d.0.len()).collect::<Vec<_>>()
    );
    assert_eq!(first[0], (Bytes::from(whole.clone()), false));
    assert_eq!(first[1], (Bytes::from_static(b"next"), false));
    let window = 65_535 - whole.len() - 4;
    assert_eq!(first[2].0.len(), window);
    assert!(!first[2].1);
    // The client reads it all: the rest comes in one frame that ends the stream.
    let mut input = BytesMut::new();
    Frame::WindowUpdate(frame::WindowUpdate {
        stream_id: id,
        increment: 65_535,
    })
    .encode(&mut input);
    s.handle_input(&input, now);
    let rest = data(&take_output(&mut s, now));
    assert_eq!(rest.len(), 1);
    assert!(rest[0].1, "the last frame ends the stream");
    let sent = [first[2].0.clone(), rest[0].0.clone()].concat();
    assert_eq!(sent, [head, big].concat());
}

/// An empty `send_data` without the end queues nothing that could block
/// what follows; with the end, it is an empty DATA frame with END_STREAM.
#[test]
fn empty_data_neither_blocks_nor_is_lost() {
    let now = Instant::now();
    let (mut c, mut s) = pair(now);
    let id = c.open_stream(&req(), false).unwrap();
    exchange(&mut c, &mut s, now);
    while s.poll_event().is_some() {}
    s.send_headers(id, &resp(), false).unwrap();
    s.send_data(id, Bytes::new(), false).unwrap();
    s.send_data(id, Bytes::from_static(b"x"), false).unwrap();
    s.send_data_parts(id, [Bytes::new(), Bytes::new()], false)
        .unwrap();
    s.send_trailers(id, &[HeaderField::from_static("grpc-status", "0")])
        .unwrap();
    let sent = frames(&take_output(&mut s, now));
    let kinds: Vec<_> = sent
        .iter()
        .map(|f| match f {
            Frame::Headers(h) => format!("headers end={}", h.end_stream),
            Frame::Data(d) => format!("data {} end={}", d.payload.len(), d.end_stream),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        ["headers end=false", "data 1 end=false", "headers end=true"]
    );
    c.send_data(id, Bytes::new(), true).unwrap();
    let sent = frames(&take_output(&mut c, now));
    assert!(
        matches!(&sent[..], [Frame::Data(d)] if d.payload.is_empty() && d.end_stream),
        "{sent:?}"
    );
}

/// A connection that has gone quiet gives its buffers back, and works as
/// before afterwards.
#[test]
fn release_buffers_frees_an_idle_connection_and_keeps_it_working() {
    let now = Instant::now();
    let (mut c, mut s) = pair(now);
    let id = c.open_stream(&req(), false).unwrap();
    c.send_data(id, Bytes::from(vec![1u8; 3000]), true).unwrap();
    exchange(&mut c, &mut s, now);
    for e in events(&mut s) {
        if let Event::Data { data, .. } = e {
            s.release_capacity(id, data.len());
        }
    }
    s.send_headers(id, &resp(), false).unwrap();
    s.send_trailers(id, &[HeaderField::from_static("grpc-status", "0")])
        .unwrap();
    exchange(&mut c, &mut s, now);
    while c.poll_event().is_some() {}
    assert_eq!(s.open_streams(), 0);
    assert!(s.buffer_capacity() > 0);
    s.release_buffers();
    c.release_buffers();
    assert_eq!(s.buffer_capacity(), 0);
    assert_eq!(c.buffer_capacity(), 0);
    // The HPACK tables survived: the next call still decodes.
    let id = c.open_stream(&req(), true).unwrap();
    exchange(&mut c, &mut s, now);
    let opened = events(&mut s);
    assert!(
        matches!(&opened[..], [Event::StreamOpened { stream_id, headers, end_stream: true }]
            if *stream_id == id && headers.len() == req().len()),
        "{opened:?}"
    );
}

/// Large DATA frames (a Ferry peer sends a message of up to about 1 MiB in
/// one) are read the way `prepare_read` says: the rest of a large frame in
/// reads that stop at its end, then only the next header, each frame into
/// one buffer. The payloads are slices of the read buffers, and the
/// buffers are reused: with each payload dropped before the next frame,
/// every frame lands in the same allocation; with the application holding
/// one payload while the next arrives, two allocations take turns.
#[test]
fn large_frames_are_read_whole_into_reused_buffers() {
    const LEN: usize = 200_000;
    const CHUNK: usize = 64 << 10;
    // How many of the latest messages the application still holds.
    for hold in [0usize, 1, 3] {
        let now = Instant::now();
        let (mut c, mut s) = pair(now);
        let id = c.open_stream(&req(), false).unwrap();
        exchange(&mut c, &mut s, now);
        events(&mut s);
        s.expect_message(id, LEN);
        c.handle_input(&take_output(&mut s, now), now);
        for _ in 0..6 {
            c.send_data(id, Bytes::from(vec![9u8; LEN]), false).unwrap();
        }
        let mut wire: std::collections::VecDeque<u8> = Default::default();
        let mut limits = Vec::new();
        let mut payloads = Vec::new();
        let mut held = std::collections::VecDeque::new();
        loop {
            wire.extend(take_output(&mut c, now).iter());
            if wire.is_empty() {
                break;
            }
            while !wire.is_empty() {
                let limit = s.prepare_read(CHUNK);
                let buf = s.recv_buffer();
                let n = limit.min(wire.len()).min(buf.capacity() - buf.len());
                assert!(n > 0);
                limits.push(limit);
                buf.extend(wire.drain(..n));
                s.handle_received(now);
                for event in events(&mut s) {
                    if let Event::Data { data, .. } = event {
                        assert_eq!(data.len(), LEN, "one message, one frame");
                        payloads.push(data.as_ptr() as usize);
                        s.release_capacity(id, LEN);
                        held.push_back(data);
                        if held.len() > hold {
                            held.pop_front();
                        }
                    }
                }
            }
            c.handle_input(&take_output(&mut s, now), now);
        }
        drop(held);
        assert_eq!(payloads.len(), 6);
        // Every large frame is read in pieces that end at its end, and the
        // read after it takes only the next frame's header.
        assert!(limits.iter().all(|&l| l <= LEN + 9 || l == usize::MAX));
        assert!(limits.contains(&9));
        let mut distinct = payloads.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // The first frame starts in the first small buffer and moves once;
        // then a buffer for each message held, and one being filled.
        let expected = hold + 1;
        assert_eq!(
            distinct.len(),
            expected,
            "hold {hold}: payload addresses {payloads:?}"
        );
        assert!(s.buffer_capacity() < (hold + 1).max(2) * (LEN + CHUNK) + (64 << 10));
    }
}

/// `prepare_read` makes room for a frame only once its header has passed
/// the checks made from it: a header left unparsed while reading is paused
/// announcing more than we accept gets no room made for it.
#[test]
fn prepare_read_makes_no_room_for_an_unchecked_frame() {
    let now = Instant::now();
    let (_c, mut s) = pair(now);
    // A DATA header of 16 MiB - 1 (over the 1 MiB + 16 KiB we accept)
    // placed in the buffer without being processed, as input left behind
    // by a pause would be.
    s.recv_buffer()
        .extend_from_slice(&[0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]);
    let limit = s.prepare_read(64 << 10);
    assert!(s.recv_buffer().capacity() < 1 << 20);
    assert!(limit <= 1 << 20);
    s.handle_received(now);
    assert!(s.is_closed());
}

/// The idle clock starts when the last stream ends, even when the
/// application ends it outside `transmit` and long after the connection
/// last heard the time (a runtime handles commands after sleeping, and
/// calls `poll_transmit` only then): a call that ran longer than the idle
/// timeout must not find its connection expired the moment it ends.
#[test]
fn a_stream_ended_by_the_application_starts_the_idle_clock_now() {
    let idle = Duration::from_secs(10);
    let start = Instant::now();
    let (mut c, mut s) = pair_with(
        Config {
            idle_timeout: Some(idle),
            ..Config::default()
        },
        start,
    );
    let body = Bytes::from_static(b"\0\0\0\0\x01x");
    for (i, ending) in ["data", "trailers", "trailers-only"]
        .into_iter()
        .enumerate()
    {
        let t0 = start + Duration::from_secs(100 * i as u64);
        let id = c.open_stream(&req(), false).unwrap();
        c.send_data(id, body.clone(), true).unwrap();
        exchange(&mut c, &mut s, t0);
        while s.poll_event().is_some() {}
        // The handler runs 25 s; nothing reaches the connection meanwhile.
        let t1 = t0 + Duration::from_secs(25);
        match ending {
            "data" => {
                s.send_headers(id, &resp(), false).unwrap();
                s.send_data(id, body.clone(), true).unwrap();
            }
            "trailers" => {
                s.send_headers(id, &resp(), false).unwrap();
                s.send_data(id, body.clone(), false).unwrap();
                s.send_trailers(id, &[HeaderField::from_static("grpc-status", "0")])
                    .unwrap();
            }
            _ => s.send_headers(id, &resp(), true).unwrap(),
        }
        take_output(&mut s, t1);
        assert_eq!(s.open_streams(), 0, "{ending}");
        assert_eq!(s.poll_timeout(), Some(t1 + idle), "{ending}");
    }
}

/// A small DATA frame goes out at once only when nothing of its stream
/// waits and the window takes all of it: otherwise it queues behind, in
/// order, within the window.
#[test]
fn small_data_jumps_no_queue_and_no_window() {
    let now = Instant::now();
    let cfg = Config {
        adaptive_window: false,
        initial_stream_window: 100,
        ..Config::default()
    };
    let (mut c, mut s) = pair_with(cfg, now);
    let id = c.open_stream(&req(), true).unwrap();
    exchange(&mut c, &mut s, now);
    while s.poll_event().is_some() {}
    // The DATA payloads in `out`, and whether the last one ends the stream.
    let data = |out: &[u8]| -> (Vec<u8>, bool) {
        let mut payload = Vec::new();
        let mut end = false;
        for f in frames(out) {
            if let Frame::Data(d) = f {
                payload.extend_from_slice(&d.payload);
                end = d.end_stream;
            }
        }
        (payload, end)
    };
    s.send_headers(id, &resp(), false).unwrap();
    // 60 bytes fit the window of 100 and go out at once; 50 more do not
    // fit what is left: queued, 40 sent now; 5 more wait behind them.
    s.send_data(id, Bytes::from(vec![1u8; 60]), false).unwrap();
    s.send_data(id, Bytes::from(vec![2u8; 50]), false).unwrap();
    s.send_data(id, Bytes::from(vec![3u8; 5]), true).unwrap();
    let (payload, end) = data(&take_output(&mut s, now));
    assert_eq!(payload, [vec![1u8; 60], vec![2u8; 40]].concat());
    assert!(!end);
    // The client opens the window again: the rest follows, in order.
    let mut input = BytesMut::new();
    Frame::WindowUpdate(frame::WindowUpdate {
        stream_id: id,
        increment: 100,
    })
    .encode(&mut input);
    s.handle_input(&input, now);
    let (payload, end) = data(&take_output(&mut s, now));
    assert_eq!(payload, [vec![2u8; 10], vec![3u8; 5]].concat());
    assert!(end, "the last frame ends the stream");
}
