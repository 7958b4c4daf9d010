//! Random sequences of operations on a client/server connection pair.
//!
//! Each input byte picks an operation (open a stream, send data, headers or
//! trailers, reset, release window, deliver part of what is in flight, move
//! the clock, shut down, or inject raw bytes). Nothing may panic; and as
//! long as no raw bytes were injected, neither side may ever see a protocol
//! error from the other: our own two halves must always agree.

#![no_main]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferry_wire::conn::{Config, Connection, Event, Role};
use ferry_wire::{HeaderField, Initiator, Reason, StreamId};
use libfuzzer_sys::fuzz_target;

struct Side {
    conn: Connection,
    inbox: VecDeque<u8>,
    streams: Vec<StreamId>,
}

fn request() -> Vec<HeaderField> {
    vec![
        HeaderField::from_static(":method", "POST"),
        HeaderField::from_static(":scheme", "http"),
        HeaderField::from_static(":path", "/f.S/M"),
        HeaderField::from_static("content-type", "application/grpc"),
    ]
}

fn check(side: &mut Side, hostile: bool) {
    while let Some(event) = side.conn.poll_event() {
        match event {
            Event::StreamOpened { stream_id, .. } => side.streams.push(stream_id),
            Event::Closed(e) if !hostile => {
                // Graceful ends, timers the clock ran past, and our own
                // unflushed control frames are fine; a protocol error is not.
                let fine = e.reason == Reason::NO_ERROR
                    || e.reason == Reason::SETTINGS_TIMEOUT
                    || e.detail.contains("control frames");
                assert!(fine, "honest peers disagreed: {e}");
            }
            Event::Reset(e) if !hostile => {
                assert!(
                    e.initiator == Initiator::Remote
                        && (e.reason == Reason::CANCEL || e.reason == Reason::REFUSED_STREAM),
                    "honest peers disagreed: {e}"
                );
            }
            _ => {}
        }
    }
}

fn deliver(from: &mut Side, to: &mut Side, arg: usize, now: Instant, buf: &mut BytesMut) {
    while from.conn.poll_transmit(now, buf) > 0 {}
    to.inbox.extend(buf.split().iter());
    let n = (arg * 64 + 1).min(to.inbox.len());
    let chunk: Vec<u8> = to.inbox.drain(..n).collect();
    to.conn.handle_input(&chunk, now);
}

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let cfg = Config::default();
    let mut client = Side {
        conn: Connection::new(Role::Client, cfg.clone(), now),
        inbox: VecDeque::new(),
        streams: Vec::new(),
    };
    let mut server = Side {
        conn: Connection::new(Role::Server, cfg, now),
        inbox: VecDeque::new(),
        streams: Vec::new(),
    };
    let mut hostile = false;
    let mut input = data.iter().copied();
    let mut buf = BytesMut::new();
    while let Some(op) = input.next() {
        let arg = usize::from(input.next().unwrap_or(0));
        match op % 12 {
            0 => {
                if let Ok(id) = client.conn.open_stream(&request(), op & 0x10 != 0) {
                    client.streams.push(id);
                }
            }
            1 | 3 => {
                let side = if op % 12 == 1 {
                    &mut client
                } else {
                    &mut server
                };
                if let Some(id) = side.streams.get(arg % side.streams.len().max(1)).copied() {
                    let _ =
                        side.conn
                            .send_data(id, Bytes::from(vec![0x5a; arg * 97]), op & 0x20 != 0);
                }
            }
            2 => {
                if let Some(id) = server
                    .streams
                    .get(arg % server.streams.len().max(1))
                    .copied()
                {
                    let _ = server.conn.send_headers(
                        id,
                        &[HeaderField::from_static(":status", "200")],
                        op & 0x20 != 0,
                    );
                }
            }
            4 => {
                if let Some(id) = server
                    .streams
                    .get(arg % server.streams.len().max(1))
                    .copied()
                {
                    let _ = server
                        .conn
                        .send_trailers(id, &[HeaderField::from_static("grpc-status", "0")]);
                }
            }
            5 => {
                let side = if op & 0x10 != 0 {
                    &mut client
                } else {
                    &mut server
                };
                if let Some(id) = side.streams.get(arg % side.streams.len().max(1)).copied() {
                    side.conn.reset_stream(id, Reason::CANCEL);
                }
            }
            6 | 11 => {
                let side = if op & 0x10 != 0 {
                    &mut client
                } else {
                    &mut server
                };
                if let Some(id) = side.streams.get(arg % side.streams.len().max(1)).copied() {
                    if op % 12 == 6 {
                        side.conn.release_capacity(id, arg * 1000);
                    } else {
                        side.conn.expect_message(id, arg * 4096);
                    }
                }
            }
            7 => {
                // Deliver up to arg*64 bytes each way (frames may be split).
                deliver(&mut client, &mut server, arg, now, &mut buf);
                deliver(&mut server, &mut client, arg, now, &mut buf);
            }
            8 => {
                now += Duration::from_millis(arg as u64 * 50);
                client.conn.handle_timeout(now);
                server.conn.handle_timeout(now);
            }
            9 => {
                hostile = true;
                let n = arg.min(input.len());
                let raw: Vec<u8> = input.by_ref().take(n).collect();
                server.conn.handle_input(&raw, now);
            }
            _ => {
                if op & 0x10 != 0 {
                    client.conn.shutdown(now);
                } else {
                    server.conn.shutdown(now);
                }
            }
        }
        check(&mut client, hostile);
        check(&mut server, hostile);
    }
});
