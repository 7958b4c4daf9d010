//! A TCP proxy that forwards plaintext HTTP/2 connections unchanged and
//! records, per direction, every gRPC message they carry (the stream, the
//! compressed flag byte and the length from the 5-byte prefix), every GOAWAY,
//! and when connections open and close. Tests use it to check what actually
//! went over the wire.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const DATA: u8 = 0x0;
const GOAWAY: u8 = 0x7;
const PADDED: u8 = 0x8;

/// One gRPC message seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) stream: u32,
    pub(crate) compressed_flag: u8,
    pub(crate) len: u32,
}

/// Connection-level things seen, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// A client connected through the tap (connection number, from 1).
    Connected(usize),
    /// A GOAWAY frame: sent by the client (else the server), its
    /// last-stream-id.
    GoAway {
        from_client: bool,
        last_stream_id: u32,
    },
    /// One side stopped sending on connection `n` (EOF or error).
    Closed { n: usize, by_client: bool },
}

#[derive(Debug, Default)]
pub(crate) struct Recorded {
    /// Connections, GOAWAYs and closes, in order.
    pub(crate) events: Vec<Wire>,
    /// Client to server: request messages.
    pub(crate) requests: Vec<Seen>,
    /// Server to client: response messages.
    pub(crate) responses: Vec<Seen>,
}

/// The proxy: connect to [`Wiretap::uri`] instead of the server.
pub(crate) struct Wiretap {
    pub(crate) addr: SocketAddr,
    pub(crate) recorded: Arc<Mutex<Recorded>>,
    tasks: JoinSet<()>,
}

impl Wiretap {
    /// A proxy on 127.0.0.1 in front of `server`.
    pub(crate) async fn start(server: SocketAddr) -> Wiretap {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tap");
        let addr = listener.local_addr().expect("tap addr");
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let mut tasks = JoinSet::new();
        let record = recorded.clone();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            let mut n = 0;
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(server).await else {
                    continue;
                };
                n += 1;
                record.lock().unwrap().events.push(Wire::Connected(n));
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = upstream.into_split();
                connections.spawn(relay(
                    client_read,
                    server_write,
                    Parser::new(true, n),
                    record.clone(),
                ));
                connections.spawn(relay(
                    server_read,
                    client_write,
                    Parser::new(false, n),
                    record.clone(),
                ));
            }
        });
        Wiretap {
            addr,
            recorded,
            tasks,
        }
    }

    pub(crate) fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The flag bytes of the request messages seen so far, in order.
    pub(crate) fn request_flags(&self) -> Vec<u8> {
        let recorded = self.recorded.lock().unwrap();
        recorded
            .requests
            .iter()
            .map(|m| m.compressed_flag)
            .collect()
    }

    /// The flag bytes of the response messages seen so far, in order.
    pub(crate) fn response_flags(&self) -> Vec<u8> {
        let recorded = self.recorded.lock().unwrap();
        recorded
            .responses
            .iter()
            .map(|m| m.compressed_flag)
            .collect()
    }

    /// Connections, GOAWAYs and closes seen so far.
    pub(crate) fn events(&self) -> Vec<Wire> {
        self.recorded.lock().unwrap().events.clone()
    }

    /// Forgets what was recorded.
    pub(crate) fn clear(&self) {
        let mut recorded = self.recorded.lock().unwrap();
        recorded.requests.clear();
        recorded.responses.clear();
    }

    /// Stops the proxy and every connection through it.
    pub(crate) async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut parser: Parser,
    recorded: Arc<Mutex<Recorded>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (messages, events) = parser.push(&buf[..n]);
        {
            let mut recorded = recorded.lock().unwrap();
            for seen in messages {
                if parser.client_to_server {
                    recorded.requests.push(seen);
                } else {
                    recorded.responses.push(seen);
                }
            }
            recorded.events.extend(events);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    recorded.lock().unwrap().events.push(Wire::Closed {
        n: parser.connection,
        by_client: parser.client_to_server,
    });
    let _ = to.shutdown().await;
}

/// Splits one direction's bytes into frames and DATA payloads into gRPC
/// message prefixes.
struct Parser {
    client_to_server: bool,
    connection: usize,
    preface_left: usize,
    buf: Vec<u8>,
    /// Per stream: bytes of the current message still to skip, and a
    /// partial prefix.
    streams: HashMap<u32, (usize, Vec<u8>)>,
}

impl Parser {
    fn new(client_to_server: bool, connection: usize) -> Parser {
        Parser {
            client_to_server,
            connection,
            preface_left: if client_to_server { PREFACE_LEN } else { 0 },
            buf: Vec::new(),
            streams: HashMap::new(),
        }
    }

    fn push(&mut self, mut data: &[u8]) -> (Vec<Seen>, Vec<Wire>) {
        let skip = self.preface_left.min(data.len());
        self.preface_left -= skip;
        data = &data[skip..];
        self.buf.extend_from_slice(data);
        let mut seen = Vec::new();
        let mut events = Vec::new();
        loop {
            if self.buf.len() < FRAME_HEADER_LEN {
                break;
            }
            let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
            if self.buf.len() < FRAME_HEADER_LEN + len {
                break;
            }
            let kind = self.buf[3];
            let flags = self.buf[4];
            let stream = u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]])
                & 0x7fff_ffff;
            let frame: Vec<u8> = self.buf.drain(..FRAME_HEADER_LEN + len).collect();
            if kind == GOAWAY && len >= 8 {
                let p = &frame[FRAME_HEADER_LEN..];
                events.push(Wire::GoAway {
                    from_client: self.client_to_server,
                    last_stream_id: u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff,
                });
            }
            if kind != DATA {
                continue;
            }
            let mut payload = &frame[FRAME_HEADER_LEN..];
            if flags & PADDED != 0 && !payload.is_empty() {
                let pad = payload[0] as usize;
                payload = &payload[1..payload.len().saturating_sub(pad).max(1)];
            }
            self.data(stream, payload, &mut seen);
        }
        (seen, events)
    }

    fn data(&mut self, stream: u32, mut payload: &[u8], seen: &mut Vec<Seen>) {
        let (skip, prefix) = self.streams.entry(stream).or_default();
        while !payload.is_empty() {
            if *skip > 0 {
                let n = (*skip).min(payload.len());
                *skip -= n;
                payload = &payload[n..];
                continue;
            }
            let need = 5 - prefix.len();
            let n = need.min(payload.len());
            prefix.extend_from_slice(&payload[..n]);
            payload = &payload[n..];
            if prefix.len() == 5 {
                let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
                seen.push(Seen {
                    stream,
                    compressed_flag: prefix[0],
                    len,
                });
                *skip = len as usize;
                prefix.clear();
            }
        }
    }
}
