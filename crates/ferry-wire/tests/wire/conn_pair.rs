//! The connection state machine end to end: a client and a server joined by
//! a simulated link on a virtual clock.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use ferry_wire::conn::{Config, Connection, Event, OpenError};
use ferry_wire::frame::{self, Frame};
use ferry_wire::{Initiator, Reason, StreamId};

use crate::reference::Rng;
use crate::support::{Pair, Side, parse_frames, request, response, trailers};

/// The byte at `offset` of the body a side sends on a stream: any loss,
/// duplication or reordering shows up as a mismatch.
fn pattern(id: StreamId, dir: u64, offset: usize) -> u8 {
    ((offset as u64 * 131 + u64::from(id.as_u32()) * 7 + dir) % 251) as u8
}

fn body(id: StreamId, dir: u64, from: usize, len: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(len);
    for o in from..from + len {
        b.put_u8(pattern(id, dir, o));
    }
    b.freeze()
}

#[derive(Default, Debug)]
struct Half {
    out_total: usize,
    out_sent: usize,
    out_finished: bool,
    in_total: usize,
    in_received: usize,
    in_unreleased: usize,
    in_finished: bool,
    slow: bool,
}

/// One application round on one side: readers release what they consumed
/// (slow ones 2 KiB per round), writers queue the next random-sized chunk
/// as far as the stream's send buffer allows.
fn pump<'a>(
    c: &mut Connection,
    side: Side,
    halves: impl Iterator<Item = (&'a StreamId, &'a mut Half)>,
    rng: &mut Rng,
) {
    let dir = if side == Side::Client { 0 } else { 1 };
    for (&id, half) in halves {
        let n = if half.slow {
            half.in_unreleased.min(2048)
        } else {
            half.in_unreleased
        };
        if n > 0 {
            half.in_unreleased -= n;
            c.release_capacity(id, n);
        }
        if half.out_finished {
            continue;
        }
        let Some(cap) = c.send_capacity(id) else {
            continue;
        };
        let left = half.out_total - half.out_sent;
        let n = left.min(cap).min(1 + rng.below_usize(40_000));
        if n == left {
            let chunk = body(id, dir, half.out_sent, n);
            half.out_sent += n;
            half.out_finished = true;
            if side == Side::Client {
                c.send_data(id, chunk, true).unwrap();
            } else {
                if n > 0 {
                    c.send_data(id, chunk, false).unwrap();
                }
                c.send_trailers(id, &trailers()).unwrap();
            }
        } else if n > 0 {
            c.send_data(id, body(id, dir, half.out_sent, n), false)
                .unwrap();
            half.out_sent += n;
        }
    }
}

/// Many concurrent streams with random body sizes in both directions, some
/// of them read slowly: every byte arrives, in order, and no stream or
/// connection error happens on the way.
#[test]
fn random_concurrent_streams_deliver_every_byte_in_order() {
    for seed in [1u64, 7, 42] {
        let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15 ^ seed);
        let mut pair = Pair::new(
            Config::default(),
            Config::default(),
            Duration::from_millis(1),
        );
        let mut client: BTreeMap<StreamId, Half> = BTreeMap::new();
        let mut server: BTreeMap<StreamId, Half> = BTreeMap::new();
        let mut totals_up: HashMap<StreamId, usize> = HashMap::new();
        let mut totals_down: HashMap<StreamId, usize> = HashMap::new();
        let calls = 60;
        for i in 0..calls {
            let id = pair
                .client
                .open_stream(&request("/t.S/M"), false)
                .expect("open");
            let up = if i % 5 == 0 {
                0
            } else {
                rng.below_usize(300_000)
            };
            totals_up.insert(id, up);
            totals_down.insert(id, rng.below_usize(300_000));
            client.insert(
                id,
                Half {
                    out_total: up,
                    slow: i % 4 == 1,
                    ..Half::default()
                },
            );
        }
        let mut done = 0;
        for round in 0..200_000 {
            pair.step();
            for e in pair.events(Side::Server) {
                match e {
                    Event::StreamOpened {
                        stream_id,
                        end_stream,
                        ..
                    } => {
                        assert!(!end_stream);
                        pair.server
                            .send_headers(stream_id, &response(), false)
                            .unwrap();
                        let half = Half {
                            out_total: totals_down[&stream_id],
                            in_total: totals_up[&stream_id],
                            slow: rng.below_usize(3) == 0,
                            ..Half::default()
                        };
                        server.insert(stream_id, half);
                    }
                    Event::Data {
                        stream_id,
                        data,
                        end_stream,
                    } => {
                        let half = server.get_mut(&stream_id).expect("known stream");
                        for (i, b) in data.iter().enumerate() {
                            assert_eq!(
                                *b,
                                pattern(stream_id, 0, half.in_received + i),
                                "request byte"
                            );
                        }
                        half.in_received += data.len();
                        half.in_unreleased += data.len();
                        if end_stream {
                            assert_eq!(half.in_received, half.in_total);
                            half.in_finished = true;
                        }
                    }
                    Event::Writable { .. } | Event::SettingsChanged(_) => {}
                    other => panic!("server: unexpected {other:?}"),
                }
            }
            for e in pair.events(Side::Client) {
                match e {
                    Event::Headers {
                        stream_id,
                        end_stream,
                        ..
                    } => {
                        assert!(!end_stream);
                        client.get_mut(&stream_id).unwrap().in_total = totals_down[&stream_id];
                    }
                    Event::Data {
                        stream_id,
                        data,
                        end_stream,
                    } => {
                        let half = client.get_mut(&stream_id).unwrap();
                        for (i, b) in data.iter().enumerate() {
                            assert_eq!(
                                *b,
                                pattern(stream_id, 1, half.in_received + i),
                                "response byte"
                            );
                        }
                        half.in_received += data.len();
                        half.in_unreleased += data.len();
                        assert!(!end_stream, "the server ends with trailers");
                    }
                    Event::Trailers { stream_id, .. } => {
                        let half = client.get_mut(&stream_id).unwrap();
                        assert_eq!(half.in_received, half.in_total);
                        half.in_finished = true;
                        done += 1;
                    }
                    Event::Writable { .. } | Event::SettingsChanged(_) => {}
                    other => panic!("client: unexpected {other:?}"),
                }
            }
            pump(&mut pair.client, Side::Client, client.iter_mut(), &mut rng);
            pump(&mut pair.server, Side::Server, server.iter_mut(), &mut rng);
            if done == calls && server.values().all(|h| h.in_finished) {
                break;
            }
            assert!(
                round < 199_999,
                "seed {seed}: did not finish: {done}/{calls} done"
            );
        }
        pair.run();
        assert_eq!(pair.client.open_streams(), 0, "seed {seed}");
        assert_eq!(pair.server.open_streams(), 0, "seed {seed}");
        assert!(!pair.client.is_closed() && !pair.server.is_closed());
    }
}

/// Opens two streams, has the client send 1 MiB on each, and lets the server
/// application read only the second.
#[test]
fn slow_reader_stalls_its_own_stream_and_nothing_else() {
    let no_bdp = Config {
        adaptive_window: false,
        ..Config::default()
    };
    let mut pair = Pair::new(no_bdp.clone(), no_bdp, Duration::from_millis(1));
    let stalled = pair
        .client
        .open_stream(&request("/t.S/Slow"), false)
        .unwrap();
    let flowing = pair
        .client
        .open_stream(&request("/t.S/Fast"), false)
        .unwrap();
    let total = 1 << 20;
    let mut queued: HashMap<StreamId, usize> = HashMap::from([(stalled, 0), (flowing, 0)]);
    let mut received: HashMap<StreamId, usize> = HashMap::new();
    for _ in 0..5_000 {
        for (id, q) in queued.iter_mut() {
            let cap = pair.client.send_capacity(*id).unwrap_or(0).min(total - *q);
            if cap > 0 {
                pair.client
                    .send_data(*id, Bytes::from(vec![7u8; cap]), *q + cap == total)
                    .unwrap();
                *q += cap;
            }
        }
        if !pair.step() {
            break;
        }
        for e in pair.events(Side::Server) {
            if let Event::Data {
                stream_id, data, ..
            } = e
            {
                *received.entry(stream_id).or_default() += data.len();
                if stream_id == flowing {
                    pair.server.release_capacity(stream_id, data.len());
                }
            }
        }
    }
    assert_eq!(
        received[&flowing], total,
        "the other stream was not held back"
    );
    assert_eq!(
        received[&stalled], 65_535,
        "exactly one stream window and not a byte more"
    );
    assert!(
        pair.client.send_capacity(stalled).unwrap() < 64 << 10,
        "the sender holds the rest"
    );
    // Reading the stalled stream lets everything through.
    pair.server.release_capacity(stalled, 65_535);
    for _ in 0..5_000 {
        let queued_now = queued[&stalled];
        if queued_now < total {
            let cap = pair
                .client
                .send_capacity(stalled)
                .unwrap_or(0)
                .min(total - queued_now);
            if cap > 0 {
                pair.client
                    .send_data(
                        stalled,
                        Bytes::from(vec![7u8; cap]),
                        queued_now + cap == total,
                    )
                    .unwrap();
                queued.insert(stalled, queued_now + cap);
            }
        }
        if !pair.step() && queued[&stalled] == total {
            break;
        }
        for e in pair.events(Side::Server) {
            if let Event::Data {
                stream_id, data, ..
            } = e
            {
                *received.entry(stream_id).or_default() += data.len();
                pair.server.release_capacity(stream_id, data.len());
            }
        }
    }
    assert_eq!(received[&stalled], total);
}

/// Bytes the receiving side advertises grow from the bandwidth-delay
/// estimate, and a large transfer needs far fewer round trips than with a
/// fixed 64 KiB window.
#[test]
fn windows_grow_from_the_bandwidth_delay_estimate() {
    fn transfer(adaptive: bool) -> (Duration, Vec<u32>) {
        let cfg = Config {
            adaptive_window: adaptive,
            ..Config::default()
        };
        let mut pair = Pair::new(cfg.clone(), cfg, Duration::from_millis(10));
        pair.run();
        let start = pair.now;
        let id = pair.client.open_stream(&request("/t.S/Up"), false).unwrap();
        let total = 8 << 20;
        let mut sent = 0;
        let mut received = 0;
        while received < total {
            let cap = pair.client.send_capacity(id).unwrap().min(total - sent);
            if cap > 0 {
                pair.client
                    .send_data(id, Bytes::from(vec![1u8; cap]), sent + cap == total)
                    .unwrap();
                sent += cap;
            }
            assert!(pair.step(), "stalled at {received}");
            for e in pair.events(Side::Server) {
                if let Event::Data {
                    stream_id, data, ..
                } = e
                {
                    received += data.len();
                    pair.server.release_capacity(stream_id, data.len());
                }
            }
        }
        let windows = parse_frames(&pair.server_sent)
            .into_iter()
            .filter_map(|f| match f {
                Frame::Settings(s) => s.initial_window_size,
                _ => None,
            })
            .collect();
        (pair.now - start, windows)
    }
    let (fixed_time, fixed_windows) = transfer(false);
    let (adaptive_time, adaptive_windows) = transfer(true);
    assert!(fixed_windows.is_empty());
    assert!(
        adaptive_windows.len() >= 3,
        "window grew in steps: {adaptive_windows:?}"
    );
    assert!(adaptive_windows.windows(2).all(|w| w[0] < w[1]));
    assert!(*adaptive_windows.last().unwrap() <= 16 << 20);
    assert!(
        adaptive_time * 3 < fixed_time,
        "adaptive {adaptive_time:?} should beat fixed {fixed_time:?} by far"
    );
}

/// A GOAWAY ends exactly the streams above its last-stream-id (reported as
/// refused, so the runtime can retry them), lets the others finish, and
/// blocks new streams.
#[test]
fn goaway_refuses_exactly_the_streams_above_last_stream_id() {
    let mut pair = Pair::default_pair();
    let ids: Vec<StreamId> = (0..10)
        .map(|_| pair.client.open_stream(&request("/t.S/M"), true).unwrap())
        .collect();
    assert_eq!(ids.last().unwrap().as_u32(), 19);
    pair.run();
    let opened = pair
        .events(Side::Server)
        .iter()
        .filter(|e| matches!(e, Event::StreamOpened { .. }))
        .count();
    assert_eq!(opened, 10);
    pair.events(Side::Client);

    let mut goaway = BytesMut::new();
    Frame::GoAway(frame::GoAway {
        last_stream_id: StreamId::new(11),
        reason: Reason::NO_ERROR,
        debug_data: Bytes::new(),
    })
    .encode(&mut goaway);
    pair.client.handle_input(&goaway, pair.now);
    let events: Vec<Event> = std::iter::from_fn(|| pair.client.poll_event()).collect();
    let refused: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Reset(err) => {
                assert_eq!(
                    (err.reason, err.initiator),
                    (Reason::REFUSED_STREAM, Initiator::Remote)
                );
                Some(err.stream_id.as_u32())
            }
            _ => None,
        })
        .collect();
    assert_eq!(refused, vec![13, 15, 17, 19]);
    assert!(
        matches!(events.last(), Some(Event::GoAway { last_stream_id, .. }) if last_stream_id.as_u32() == 11)
    );
    assert_eq!(
        pair.client.open_stream(&request("/t.S/M"), true),
        Err(OpenError::GoingAway)
    );

    for id in &ids {
        pair.server.send_headers(*id, &response(), false).unwrap();
        pair.server
            .send_data(*id, Bytes::from_static(b"reply"), false)
            .unwrap();
        pair.server.send_trailers(*id, &trailers()).unwrap();
    }
    pair.run();
    let events = pair.events(Side::Client);
    let finished: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Trailers { stream_id, .. } => Some(stream_id.as_u32()),
            _ => None,
        })
        .collect();
    assert_eq!(finished, vec![1, 3, 5, 7, 9, 11]);
    match events.last() {
        Some(Event::Closed(e)) => assert_eq!(
            (e.reason, e.initiator),
            (Reason::NO_ERROR, Initiator::Remote)
        ),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(pair.client.is_closed());
}

/// A GOAWAY that refuses every open stream ends the connection, but only
/// after the refusals and the GOAWAY itself are reported: a runtime that
/// saw `Closed` first would fail those calls as lost instead of retrying.
#[test]
fn goaway_refusing_every_stream_reports_refusals_before_closing() {
    let mut pair = Pair::default_pair();
    let first = pair.client.open_stream(&request("/t.S/M"), true).unwrap();
    pair.run();
    pair.server.send_headers(first, &response(), false).unwrap();
    pair.server.send_trailers(first, &trailers()).unwrap();
    pair.run();
    pair.events(Side::Server);
    pair.events(Side::Client);
    let open = pair.client.open_stream(&request("/t.S/M"), false).unwrap();
    assert_eq!(open.as_u32(), 3);
    pair.run();

    let mut goaway = BytesMut::new();
    Frame::GoAway(frame::GoAway {
        last_stream_id: first,
        reason: Reason::NO_ERROR,
        debug_data: Bytes::new(),
    })
    .encode(&mut goaway);
    pair.client.handle_input(&goaway, pair.now);
    let events: Vec<Event> = std::iter::from_fn(|| pair.client.poll_event()).collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::Reset(err) if err.reason == Reason::REFUSED_STREAM && err.stream_id == open => {
                "refused 3"
            }
            Event::GoAway { .. } => "goaway",
            Event::Closed(_) => "closed",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["refused 3", "goaway", "closed"], "{events:?}");
    assert!(pair.client.is_closed());
}

/// The server's graceful shutdown: GOAWAY(2^31-1) and a PING, then the real
/// last-stream-id. A stream the client opened before it saw the first GOAWAY
/// is still served; every accepted stream finishes; both ends close.
#[test]
fn two_step_graceful_shutdown_drains_in_flight_streams() {
    let mut pair = Pair::default_pair();
    let first = pair.client.open_stream(&request("/t.S/M"), true).unwrap();
    pair.run();
    pair.events(Side::Server);
    pair.server.shutdown(pair.now);
    // Raced: opened before the client has seen the first GOAWAY.
    let raced = pair.client.open_stream(&request("/t.S/M"), true).unwrap();
    pair.run();
    let goaways: Vec<u32> = parse_frames(&pair.server_sent)
        .into_iter()
        .filter_map(|f| match f {
            Frame::GoAway(g) => Some(g.last_stream_id.as_u32()),
            _ => None,
        })
        .collect();
    assert_eq!(goaways, vec![0x7fff_ffff, raced.as_u32()]);
    let opened: Vec<StreamId> = pair
        .events(Side::Server)
        .into_iter()
        .filter_map(|e| match e {
            Event::StreamOpened { stream_id, .. } => Some(stream_id),
            _ => None,
        })
        .collect();
    assert_eq!(opened, vec![raced]);
    assert_eq!(
        pair.client.open_stream(&request("/t.S/M"), true),
        Err(OpenError::GoingAway)
    );
    assert!(!pair.server.is_closed(), "streams are still open");
    for id in [first, raced] {
        pair.server.send_headers(id, &response(), false).unwrap();
        pair.server.send_trailers(id, &trailers()).unwrap();
    }
    pair.run();
    for side in [Side::Client, Side::Server] {
        let events = pair.events(side);
        match events.last() {
            Some(Event::Closed(e)) => assert_eq!(e.reason, Reason::NO_ERROR, "{side:?}"),
            other => panic!("{side:?}: expected Closed, got {other:?}"),
        }
    }
    assert!(pair.client.is_closed() && pair.server.is_closed());
}

/// The idle timeout counts from the end of the last stream, not from the
/// last frame received: a call that ran longer than the timeout does not
/// have its connection shut down the moment it ends.
#[test]
fn idle_timeout_counts_from_the_end_of_the_last_stream() {
    let idle = Duration::from_secs(10);
    let server = Config {
        idle_timeout: Some(idle),
        ..Config::default()
    };
    let mut pair = Pair::new(Config::default(), server, Duration::from_millis(1));
    let id = pair.client.open_stream(&request("/t.S/M"), true).unwrap();
    pair.run();
    // The handler runs for 25 s; the client sends nothing meanwhile.
    pair.advance(Duration::from_secs(25));
    pair.server.send_headers(id, &response(), false).unwrap();
    pair.server.send_trailers(id, &trailers()).unwrap();
    pair.run();
    assert_eq!(pair.server.open_streams(), 0);
    let goaway_at = |pair: &Pair| {
        parse_frames(&pair.server_sent)
            .iter()
            .any(|f| matches!(f, Frame::GoAway(_)))
    };
    pair.advance(Duration::from_secs(9));
    pair.run();
    assert!(
        !goaway_at(&pair),
        "GOAWAY before the connection was idle for 10 s"
    );
    pair.advance(Duration::from_secs(2));
    pair.run();
    assert!(goaway_at(&pair), "no GOAWAY after 11 s idle");
}

/// Keepalive: a silent peer is pinged after the interval and the connection
/// closes when the ACK does not come within the timeout.
#[test]
fn keepalive_closes_a_silent_connection() {
    use ferry_wire::conn::Keepalive;
    let cfg = Config {
        keepalive: Some(Keepalive {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            while_idle: true,
        }),
        ..Config::default()
    };
    let mut pair = Pair::new(cfg, Config::default(), Duration::from_millis(1));
    pair.run();
    let before = pair.client_sent.len();
    // The peer answers: still open.
    pair.advance(Duration::from_secs(10));
    pair.run();
    assert!(pair.client_sent.len() > before, "a keepalive PING went out");
    pair.advance(Duration::from_secs(6));
    assert!(!pair.client.is_closed());
    // Now the link goes dead: nothing is delivered any more.
    pair.advance(Duration::from_secs(10));
    pair.advance(Duration::from_secs(5));
    assert!(pair.client.is_closed());
    let closed = pair.events(Side::Client).into_iter().find_map(|e| match e {
        Event::Closed(e) => Some(e),
        _ => None,
    });
    let closed = closed.expect("Closed event");
    assert_eq!(closed.initiator, Initiator::Library);
    assert!(closed.detail.contains("keepalive"));
}

/// Many streams each receiving a message that spans several DATA frames,
/// with a reader that releases a stream's window only once its whole
/// message is in (as the runtime does): if the connection window were
/// released only by the application too, every stream would hold part of a
/// message, the connection window would run out, and nothing would ever
/// complete. Found by `bench/` (16 concurrent 1 MiB server streams stalled).
#[test]
fn partial_messages_on_many_streams_do_not_exhaust_the_connection_window() {
    let no_bdp = Config {
        adaptive_window: false,
        ..Config::default()
    };
    let mut pair = Pair::new(no_bdp.clone(), no_bdp, Duration::from_millis(1));
    let message = 60_000;
    let streams = 40;
    let ids: Vec<StreamId> = (0..streams)
        .map(|_| {
            pair.client
                .open_stream(&request("/t.S/Many"), true)
                .unwrap()
        })
        .collect();
    pair.run();
    let mut opened = 0;
    for e in pair.events(Side::Server) {
        if let Event::StreamOpened { stream_id, .. } = e {
            pair.server
                .send_headers(stream_id, &response(), false)
                .unwrap();
            pair.server
                .send_data(stream_id, Bytes::from(vec![1u8; message]), false)
                .unwrap();
            pair.server.send_trailers(stream_id, &trailers()).unwrap();
            opened += 1;
        }
    }
    assert_eq!(opened, streams);
    let mut received: HashMap<StreamId, usize> = HashMap::new();
    let mut complete = 0;
    for _ in 0..10_000 {
        let progressed = pair.step();
        for e in pair.events(Side::Client) {
            if let Event::Data {
                stream_id, data, ..
            } = e
            {
                let got = received.entry(stream_id).or_default();
                *got += data.len();
                if *got == message {
                    // The whole message is in: the application takes it.
                    pair.client.release_capacity(stream_id, message);
                    complete += 1;
                }
            }
        }
        if !progressed && complete == streams {
            break;
        }
    }
    assert_eq!(
        complete, streams,
        "messages completed: {complete} of {streams} ({received:?}, ids {ids:?})"
    );
}
