//! The connection state machine alone: one gRPC unary exchange between an
//! in-memory client and server (request HEADERS + DATA, response HEADERS +
//! DATA + trailers), with no sockets, so the number is the wire core's own
//! cost per call on both sides together; and the receive path of a 1 MiB
//! stream fed in 64 KiB socket reads, through `handle_input` (a copy into
//! the connection's buffer) and through `recv_buffer` + `handle_received`
//! (read straight into it, as the runtime's driver does); and the send path
//! of a 1 MiB message in 256 KiB write batches, copied into one reused
//! buffer (`poll_transmit`) or with the payloads kept by reference for one
//! vectored write (`poll_transmit_buf` into an `OutBuf`, as the driver
//! does). Both send variants then copy the batch once more, standing in for
//! the kernel's copy into the socket. And whole 1 MiB gRPC messages
//! received through `prepare_read` and a `MessageDecoder`, in 16 KiB frames
//! or one frame each.

use std::io::IoSlice;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput};
use ferry_wire::conn::{Config, Connection, Event, OutBuf, Role};
use ferry_wire::grpc::{MessageDecoder, encode_message};
use ferry_wire::{HeaderField, StreamId};

fn request() -> Vec<HeaderField> {
    vec![
        HeaderField::from_static(":method", "POST"),
        HeaderField::from_static(":scheme", "http"),
        HeaderField::from_static(":path", "/helloworld.Greeter/SayHello"),
        HeaderField::from_static(":authority", "localhost:50051"),
        HeaderField::from_static("content-type", "application/grpc"),
        HeaderField::from_static("te", "trailers"),
        HeaderField::from_static("user-agent", "ferry/0.1"),
    ]
}

fn exchange(from: &mut Connection, to: &mut Connection, buf: &mut BytesMut, now: Instant) {
    while from.poll_transmit(now, buf) > 0 {}
    if !buf.is_empty() {
        to.handle_input(buf, now);
        buf.clear();
    }
}

/// Takes the DATA events a connection has, giving their bytes back as
/// window (as a reading application does); returns how many.
fn release_data(conn: &mut Connection) -> usize {
    let mut received = 0;
    while let Some(e) = conn.poll_event() {
        if let Event::Data {
            stream_id, data, ..
        } = e
        {
            received += data.len();
            conn.release_capacity(stream_id, data.len());
        }
    }
    received
}

/// The server ends stream `id` (RST_STREAM NO_ERROR) and the client hears
/// of it, so the next iteration starts from a quiet pair.
fn end_stream(
    server: &mut Connection,
    client: &mut Connection,
    id: StreamId,
    buf: &mut BytesMut,
    now: Instant,
) {
    server.reset_stream(id, ferry_wire::Reason::NO_ERROR);
    exchange(server, client, buf, now);
    while client.poll_event().is_some() {}
}

/// A client and a server connection past the preface and SETTINGS
/// exchange, with their events drained, and the "socket" buffer between
/// them.
fn settled_pair(now: Instant, capacity: usize) -> (Connection, Connection, BytesMut) {
    let mut client = Connection::new(Role::Client, Config::default(), now);
    let mut server = Connection::new(Role::Server, Config::default(), now);
    let mut buf = BytesMut::with_capacity(capacity);
    for _ in 0..3 {
        exchange(&mut client, &mut server, &mut buf, now);
        exchange(&mut server, &mut client, &mut buf, now);
    }
    while client.poll_event().is_some() {}
    while server.poll_event().is_some() {}
    (client, server, buf)
}

fn unary(c: &mut Criterion) {
    let now = Instant::now();
    let (mut client, mut server, mut buf) = settled_pair(now, 64 * 1024);
    let req = request();
    let resp = [
        HeaderField::from_static(":status", "200"),
        HeaderField::from_static("content-type", "application/grpc"),
    ];
    let payload = Bytes::from(vec![0x2a; 105]);
    let mut group = c.benchmark_group("conn");
    group.throughput(Throughput::Elements(1));
    group.bench_function("unary_exchange_100B", |b| {
        b.iter(|| {
            let id = client.open_stream(&req, false).expect("open");
            client.send_data(id, payload.clone(), true).expect("send");
            exchange(&mut client, &mut server, &mut buf, now);
            while let Some(e) = server.poll_event() {
                if let Event::Data {
                    stream_id, data, ..
                } = e
                {
                    server.release_capacity(stream_id, data.len());
                    server
                        .send_headers(stream_id, &resp, false)
                        .expect("headers");
                    server
                        .send_data(stream_id, payload.clone(), false)
                        .expect("data");
                    server
                        .send_trailers(stream_id, &[HeaderField::from_static("grpc-status", "0")])
                        .expect("trailers");
                }
            }
            exchange(&mut server, &mut client, &mut buf, now);
            while let Some(e) = client.poll_event() {
                if let Event::Data {
                    stream_id, data, ..
                } = e
                {
                    client.release_capacity(stream_id, data.len());
                }
            }
            exchange(&mut client, &mut server, &mut buf, now);
        })
    });
    group.finish();
}

/// How the server connection is fed the bytes of one 64 KiB socket read.
#[derive(Clone, Copy)]
enum Feed {
    /// Read into a buffer of our own, then `handle_input` copies it.
    Copy,
    /// Read straight into the connection's `recv_buffer`.
    Direct,
}

fn recv_stream(c: &mut Criterion) {
    const TOTAL: usize = 1 << 20;
    const READ: usize = 64 * 1024;
    let mut group = c.benchmark_group("conn");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    for (name, feed) in [
        ("recv_1MiB_copied_reads", Feed::Copy),
        ("recv_1MiB_direct_reads", Feed::Direct),
    ] {
        let now = Instant::now();
        let (mut client, mut server, mut buf) = settled_pair(now, 256 * 1024);
        let req = request();
        let payload = Bytes::from(vec![0x2a; TOTAL]);
        let mut read_buf = BytesMut::with_capacity(READ);
        group.bench_function(name, |b| {
            b.iter(|| {
                let id = client.open_stream(&req, false).expect("open");
                client.send_data(id, payload.clone(), true).expect("send");
                let mut received = 0;
                while received < TOTAL {
                    while client.poll_transmit(now, &mut buf) > 0 {}
                    for chunk in buf.chunks(READ) {
                        match feed {
                            Feed::Copy => {
                                read_buf.extend_from_slice(chunk);
                                server.handle_input(&read_buf, now);
                                read_buf.clear();
                            }
                            Feed::Direct => {
                                server.recv_buffer().extend_from_slice(chunk);
                                server.handle_received(now);
                            }
                        }
                    }
                    buf.clear();
                    received += release_data(&mut server);
                    exchange(&mut server, &mut client, &mut buf, now);
                    while client.poll_event().is_some() {}
                }
                end_stream(&mut server, &mut client, id, &mut buf, now);
            })
        });
    }
    group.finish();
}

/// The receive path of whole gRPC messages as the runtime runs it: 1 MiB
/// messages sent by a client connection, read by the server in reads that
/// `prepare_read` sizes (each a copy from the "socket", standing in for
/// the kernel's), the DATA payloads pushed into a `MessageDecoder`, every
/// message announced with `expect_message` and released once out. With
/// the RFC's 16 KiB frames each message is reassembled from 64 of them (a
/// copy into a fresh 1 MiB allocation); with our 1 MiB + 16 KiB frames
/// each message is one frame, read into one reused buffer and handed out
/// as a slice of it.
fn recv_messages(c: &mut Criterion) {
    const MESSAGES: usize = 4;
    const LEN: usize = 1 << 20;
    const READ: usize = 64 * 1024;
    let mut group = c.benchmark_group("conn");
    group.throughput(Throughput::Bytes((MESSAGES * LEN) as u64));
    for (name, max_frame_size) in [
        ("recv_1MiB_messages_16KiB_frames", 16_384),
        (
            "recv_1MiB_messages_whole_frames",
            Config::default().max_frame_size,
        ),
    ] {
        let now = Instant::now();
        let config = Config {
            max_frame_size,
            ..Config::default()
        };
        let mut client = Connection::new(Role::Client, Config::default(), now);
        let mut server = Connection::new(Role::Server, config, now);
        let mut buf = BytesMut::with_capacity(256 * 1024);
        for _ in 0..3 {
            exchange(&mut client, &mut server, &mut buf, now);
            exchange(&mut server, &mut client, &mut buf, now);
        }
        while client.poll_event().is_some() {}
        while server.poll_event().is_some() {}
        let req = request();
        let mut framed = BytesMut::new();
        encode_message(false, &vec![0x2a; LEN], &mut framed).expect("frame");
        let message = framed.freeze();
        group.bench_function(name, |b| {
            b.iter(|| {
                let id = client.open_stream(&req, false).expect("open");
                for _ in 0..MESSAGES {
                    client.send_data(id, message.clone(), false).expect("send");
                }
                let mut decoder = MessageDecoder::new();
                let mut expected = None;
                let mut received = 0;
                while received < MESSAGES {
                    while client.poll_transmit(now, &mut buf) > 0 {}
                    let mut wire = &buf[..];
                    while !wire.is_empty() {
                        let limit = server.prepare_read(READ);
                        let inbuf = server.recv_buffer();
                        let n = limit.min(inbuf.capacity() - inbuf.len()).min(wire.len());
                        inbuf.extend_from_slice(&wire[..n]);
                        wire = &wire[n..];
                        server.handle_received(now);
                        while let Some(e) = server.poll_event() {
                            if let Event::Data { data, .. } = e {
                                decoder.push(data);
                            }
                        }
                        while let Some(m) = decoder.next_message().expect("decode") {
                            received += 1;
                            server.release_capacity(id, m.data.len() + 5);
                        }
                        if decoder.pending_len() != expected {
                            expected = decoder.pending_len();
                            if let Some(len) = expected {
                                server.expect_message(id, len + 5);
                            }
                        }
                    }
                    buf.clear();
                    exchange(&mut server, &mut client, &mut buf, now);
                    while client.poll_event().is_some() {}
                }
                end_stream(&mut server, &mut client, id, &mut buf, now);
            })
        });
    }
    group.finish();
}

/// How the sending connection's output reaches the "socket" (a copy into
/// `buf`, standing in for the kernel's copy).
#[derive(Clone, Copy)]
enum Write {
    /// `poll_transmit` copies payloads into one buffer, written as one.
    Copied,
    /// `poll_transmit_buf` keeps payloads by reference; the slices are
    /// written as one vectored write.
    Vectored,
}

fn send_stream(c: &mut Criterion) {
    const TOTAL: usize = 1 << 20;
    const BATCH: usize = 256 * 1024;
    let mut group = c.benchmark_group("conn");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    for (name, write) in [
        ("send_1MiB_write_batches", Write::Copied),
        ("send_1MiB_vectored_batches", Write::Vectored),
    ] {
        let now = Instant::now();
        let (mut client, mut server, mut buf) = settled_pair(now, BATCH);
        let req = request();
        let payload = Bytes::from(vec![0x2a; TOTAL]);
        let mut out = BytesMut::with_capacity(BATCH);
        let mut vectored = OutBuf::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                let id = client.open_stream(&req, false).expect("open");
                client.send_data(id, payload.clone(), true).expect("send");
                let mut sent = 0;
                while sent < TOTAL {
                    // As the driver does: fill a batch, "write" it all.
                    let produced = match write {
                        Write::Copied => {
                            out.reserve(BATCH);
                            while out.len() < BATCH && client.poll_transmit(now, &mut out) > 0 {}
                            buf.extend_from_slice(&out);
                            let n = out.len();
                            out.clear();
                            n
                        }
                        Write::Vectored => {
                            while vectored.len() < BATCH
                                && client.poll_transmit_buf(now, &mut vectored) > 0
                            {
                            }
                            let mut slices = [IoSlice::new(&[]); 64];
                            let n = vectored.chunks(&mut slices);
                            let mut written = 0;
                            for slice in &slices[..n] {
                                buf.extend_from_slice(slice);
                                written += slice.len();
                            }
                            vectored.advance(written);
                            written
                        }
                    };
                    if produced == 0 {
                        // Out of window: the server reads and gives credit back.
                        server.handle_input(&buf, now);
                        buf.clear();
                        sent += release_data(&mut server);
                        exchange(&mut server, &mut client, &mut buf, now);
                        while client.poll_event().is_some() {}
                    }
                }
                end_stream(&mut server, &mut client, id, &mut buf, now);
            })
        });
    }
    group.finish();
}

// What `criterion_group!` / `criterion_main!` expand to, written out because
// the generated function would trip the `missing_docs` lint.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    unary(&mut c);
    recv_stream(&mut c);
    recv_messages(&mut c);
    send_stream(&mut c);
    c.final_summary();
}
