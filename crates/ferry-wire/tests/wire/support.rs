//! Test harness: a client/server pair of connections joined by a simulated
//! link with latency, on a virtual clock (no sockets, no sleeping), and a
//! raw peer that writes frames by hand.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferry_wire::conn::{Config, Connection, Event, PREFACE, Role};
use ferry_wire::frame::{self, Frame, FrameHeader, HEADER_LEN};
use ferry_wire::{HeaderField, StreamId, hpack};

/// Which end of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

pub(crate) struct Pair {
    pub(crate) client: Connection,
    pub(crate) server: Connection,
    pub(crate) now: Instant,
    latency: Duration,
    to_server: VecDeque<(Instant, Bytes)>,
    to_client: VecDeque<(Instant, Bytes)>,
    pub(crate) client_events: VecDeque<Event>,
    pub(crate) server_events: VecDeque<Event>,
    /// Every byte each side put on the wire, to inspect frames afterwards.
    pub(crate) client_sent: Vec<u8>,
    pub(crate) server_sent: Vec<u8>,
}

impl Pair {
    pub(crate) fn new(client: Config, server: Config, latency: Duration) -> Pair {
        let now = Instant::now();
        Pair {
            client: Connection::new(Role::Client, client, now),
            server: Connection::new(Role::Server, server, now),
            now,
            latency,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            client_events: VecDeque::new(),
            server_events: VecDeque::new(),
            client_sent: Vec::new(),
            server_sent: Vec::new(),
        }
    }

    pub(crate) fn default_pair() -> Pair {
        Pair::new(Config::default(), Config::default(), Duration::ZERO)
    }

    fn transmit(&mut self) -> bool {
        let mut any = false;
        let mut buf = BytesMut::new();
        while self.client.poll_transmit(self.now, &mut buf) > 0 {}
        if !buf.is_empty() {
            self.client_sent.extend_from_slice(&buf);
            self.to_server
                .push_back((self.now + self.latency, buf.split().freeze()));
            any = true;
        }
        while self.server.poll_transmit(self.now, &mut buf) > 0 {}
        if !buf.is_empty() {
            self.server_sent.extend_from_slice(&buf);
            self.to_client
                .push_back((self.now + self.latency, buf.split().freeze()));
            any = true;
        }
        any
    }

    fn deliver_due(&mut self) -> bool {
        let mut any = false;
        while self.to_server.front().is_some_and(|(t, _)| *t <= self.now) {
            let (_, bytes) = self.to_server.pop_front().unwrap();
            if self.server.wants_read() || self.server.is_closed() {
                self.server.handle_input(&bytes, self.now);
            } else {
                self.to_server.push_front((self.now, bytes));
                break;
            }
            any = true;
        }
        while self.to_client.front().is_some_and(|(t, _)| *t <= self.now) {
            let (_, bytes) = self.to_client.pop_front().unwrap();
            self.client.handle_input(&bytes, self.now);
            any = true;
        }
        self.collect();
        any
    }

    fn collect(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push_back(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push_back(e);
        }
    }

    /// One round: both sides transmit, then due bytes are delivered; if
    /// nothing was due, the clock jumps to the next arrival. False once
    /// nothing is in flight and nobody had anything to send.
    pub(crate) fn step(&mut self) -> bool {
        let sent = self.transmit();
        let delivered = self.deliver_due();
        if delivered || sent {
            return true;
        }
        let next = [self.to_server.front(), self.to_client.front()]
            .into_iter()
            .flatten()
            .map(|(t, _)| *t)
            .min();
        match next {
            Some(t) => {
                self.now = self.now.max(t);
                self.deliver_due();
                true
            }
            None => false,
        }
    }

    /// Steps until quiet (bounded, so a livelock fails the test).
    pub(crate) fn run(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle");
    }

    /// Moves the clock and runs both sides' timers.
    pub(crate) fn advance(&mut self, d: Duration) {
        self.now += d;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.collect();
    }

    pub(crate) fn events(&mut self, side: Side) -> Vec<Event> {
        match side {
            Side::Client => self.client_events.drain(..).collect(),
            Side::Server => self.server_events.drain(..).collect(),
        }
    }
}

pub(crate) fn request(path: &'static str) -> Vec<HeaderField> {
    vec![
        HeaderField::from_static(":method", "POST"),
        HeaderField::from_static(":scheme", "http"),
        HeaderField::from_static(":path", path),
        HeaderField::from_static(":authority", "localhost"),
        HeaderField::from_static("content-type", "application/grpc"),
        HeaderField::from_static("te", "trailers"),
    ]
}

pub(crate) fn response() -> Vec<HeaderField> {
    vec![
        HeaderField::from_static(":status", "200"),
        HeaderField::from_static("content-type", "application/grpc"),
    ]
}

pub(crate) fn trailers() -> Vec<HeaderField> {
    vec![HeaderField::from_static("grpc-status", "0")]
}

/// Splits a byte stream (optionally starting with the client preface) into
/// frames. Panics on malformed output: our encoder must never produce any.
pub(crate) fn parse_frames(mut bytes: &[u8]) -> Vec<Frame> {
    if bytes.starts_with(PREFACE) {
        bytes = &bytes[PREFACE.len()..];
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let head = FrameHeader::decode(bytes[..HEADER_LEN].try_into().unwrap());
        let end = HEADER_LEN + head.length as usize;
        let payload = Bytes::copy_from_slice(&bytes[HEADER_LEN..end]);
        out.push(Frame::decode(head, payload).expect("our own frames decode"));
        bytes = &bytes[end..];
    }
    out
}

/// A hand-driven client: writes whatever frames a test wants, byte for
/// byte, into a server connection.
pub(crate) struct RawClient {
    pub(crate) server: Connection,
    pub(crate) now: Instant,
    pub(crate) encoder: hpack::Encoder,
    /// What the server wrote, not yet parsed.
    out: BytesMut,
}

impl RawClient {
    /// A server that has seen a valid preface and SETTINGS.
    pub(crate) fn new(config: Config) -> RawClient {
        let now = Instant::now();
        let mut raw = RawClient {
            server: Connection::new(Role::Server, config, now),
            now,
            encoder: hpack::Encoder::new(),
            out: BytesMut::new(),
        };
        let mut hello = BytesMut::new();
        hello.extend_from_slice(PREFACE);
        Frame::Settings(frame::Settings::default()).encode(&mut hello);
        raw.send_bytes(&hello);
        let events = raw.events();
        assert!(
            matches!(&events[..], [Event::SettingsChanged(_)]),
            "{events:?}"
        );
        raw
    }

    pub(crate) fn send_bytes(&mut self, bytes: &[u8]) {
        self.server.handle_input(bytes, self.now);
    }

    pub(crate) fn send(&mut self, frame: Frame) {
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        self.send_bytes(&buf);
    }

    pub(crate) fn send_all(&mut self, frames: impl IntoIterator<Item = Frame>) {
        let mut buf = BytesMut::new();
        for f in frames {
            f.encode(&mut buf);
        }
        self.send_bytes(&buf);
    }

    pub(crate) fn header_block(&mut self, fields: &[HeaderField]) -> Bytes {
        let mut block = BytesMut::new();
        self.encoder.encode(fields, &mut block);
        block.freeze()
    }

    pub(crate) fn headers_frame(
        &mut self,
        id: u32,
        fields: &[HeaderField],
        end_stream: bool,
    ) -> Frame {
        let fragment = self.header_block(fields);
        Frame::Headers(frame::Headers {
            stream_id: StreamId::new(id),
            fragment,
            end_stream,
            end_headers: true,
            priority: None,
            pad_len: None,
        })
    }

    /// Everything the server wrote since the last call, as frames.
    pub(crate) fn server_frames(&mut self) -> Vec<Frame> {
        while self.server.poll_transmit(self.now, &mut self.out) > 0 {}
        let bytes = self.out.split();
        parse_frames(&bytes)
    }

    pub(crate) fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    /// The GOAWAY the server sent, if any.
    pub(crate) fn goaway(frames: &[Frame]) -> Option<&frame::GoAway> {
        frames.iter().find_map(|f| match f {
            Frame::GoAway(g) => Some(g),
            _ => None,
        })
    }
}
