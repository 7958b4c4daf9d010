//! The wire core over a real socket: a client and a server
//! `ferry_wire::conn::Connection`, each driven by a small blocking loop over
//! a TCP connection on 127.0.0.1, make gRPC-framed calls to each other.
//!
//! The loops below are what the tokio runtime does with async I/O: feed
//! the bytes read, run timers, hand out events, write what
//! `poll_transmit` produced. Message bodies here are plain UTF-8 (protobuf
//! comes with code generation).
//!
//! ```sh
//! cargo run -p ferry-wire --example loopback
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferry_wire::StreamId;
use ferry_wire::conn::{Config, Connection, Event, Role};
use ferry_wire::grpc::{
    CONTENT_TYPE_GRPC, Code, MessageDecoder, RequestHead, ResponseHead, ResponseStart, Scheme,
    Status, Trailers, encode_message,
};

/// Runs one connection until `on_event` says it is done or it closes.
fn drive(
    conn: &mut Connection,
    sock: &mut TcpStream,
    mut on_event: impl FnMut(&mut Connection, Event) -> bool,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = BytesMut::new();
    let mut done = false;
    loop {
        while conn.poll_transmit(Instant::now(), &mut out) > 0 {}
        if !out.is_empty() {
            sock.write_all(&out)?;
            out.clear();
        }
        if done || conn.is_closed() {
            return Ok(());
        }
        let now = Instant::now();
        let wait = conn
            .poll_timeout()
            .map_or(Duration::from_secs(1), |t| t.saturating_duration_since(now))
            .clamp(Duration::from_millis(1), Duration::from_secs(1));
        sock.set_read_timeout(Some(wait))?;
        match sock.read(&mut buf) {
            Ok(0) => conn.handle_eof(),
            Ok(n) => conn.handle_input(&buf[..n], Instant::now()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        conn.handle_timeout(Instant::now());
        while let Some(event) = conn.poll_event() {
            done |= on_event(conn, event);
        }
    }
}

fn serve(mut sock: TcpStream) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let mut conn = Connection::new(Role::Server, Config::default(), Instant::now());
    let mut calls: HashMap<StreamId, (RequestHead, MessageDecoder)> = HashMap::new();
    drive(&mut conn, &mut sock, |conn, event| {
        match event {
            Event::StreamOpened {
                stream_id, headers, ..
            } => match RequestHead::decode(&headers) {
                Ok(head) => {
                    calls.insert(stream_id, (head, MessageDecoder::new()));
                }
                Err(e) => {
                    let _ = conn.send_headers(stream_id, &e.encode_response(), true);
                }
            },
            Event::Data {
                stream_id,
                data,
                end_stream,
            } => {
                conn.release_capacity(stream_id, data.len());
                let Some((head, decoder)) = calls.get_mut(&stream_id) else {
                    return false;
                };
                decoder.push(data);
                if !end_stream {
                    return false;
                }
                let reply = match (head.method(), decoder.next_message()) {
                    ("SayHello", Ok(Some(msg))) => {
                        Ok(format!("Hello, {}!", String::from_utf8_lossy(&msg.data)))
                    }
                    ("SayHello", _) => {
                        Err(Status::new(Code::InvalidArgument, "expected one message"))
                    }
                    (other, _) => Err(Status::new(
                        Code::Unimplemented,
                        format!("unknown method {other}"),
                    )),
                };
                calls.remove(&stream_id);
                match reply {
                    Ok(text) => {
                        let mut body = BytesMut::new();
                        encode_message(false, text.as_bytes(), &mut body).expect("small message");
                        let _ = conn.send_headers(stream_id, &ResponseHead::new().encode(), false);
                        let _ = conn.send_data(stream_id, body.freeze(), false);
                        let _ =
                            conn.send_trailers(stream_id, &Trailers::new(Status::ok()).encode());
                    }
                    Err(status) => {
                        let fields = Trailers::new(status).encode_trailers_only(CONTENT_TYPE_GRPC);
                        let _ = conn.send_headers(stream_id, &fields, true);
                    }
                }
            }
            Event::Closed(e) => println!("server: connection closed ({e})"),
            _ => {}
        }
        false
    })
}

fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("server: listening on {addr}");
    let server = thread::spawn(move || -> io::Result<()> {
        let (sock, peer) = listener.accept()?;
        println!("server: connection from {peer}");
        serve(sock)
    });

    let mut sock = TcpStream::connect(addr)?;
    sock.set_nodelay(true)?;
    let mut conn = Connection::new(Role::Client, Config::default(), Instant::now());
    let mut pending: HashMap<StreamId, (String, BytesMut)> = HashMap::new();
    for (method, name) in [
        ("SayHello", "ferry"),
        ("SayHello", "wire"),
        ("SayGoodbye", "nobody"),
    ] {
        let path = format!("/helloworld.Greeter/{method}");
        let head = RequestHead::new(Scheme::Http, addr.to_string(), path.clone())
            .with_timeout(Duration::from_secs(5));
        let id = conn
            .open_stream(&head.encode(), false)
            .expect("a fresh connection takes streams");
        let mut body = BytesMut::new();
        encode_message(false, name.as_bytes(), &mut body).expect("small message");
        conn.send_data(id, body.freeze(), true)
            .expect("stream is open");
        pending.insert(id, (path, BytesMut::new()));
    }
    let mut failures = 0;
    drive(&mut conn, &mut sock, |conn, event| {
        match event {
            Event::Headers {
                stream_id,
                headers,
                end_stream,
            } => match ResponseStart::decode(&headers, end_stream) {
                Ok(ResponseStart::TrailersOnly(trailers)) => {
                    let (path, _) = pending.remove(&stream_id).unwrap_or_default();
                    println!(
                        "client: {path} -> {:?}: {}",
                        trailers.status().code(),
                        trailers.status().message()
                    );
                }
                Ok(ResponseStart::Headers(_) | ResponseStart::Informational) => {}
                Err(status) => {
                    failures += 1;
                    println!("client: stream {stream_id} failed: {status:?}");
                }
            },
            Event::Data {
                stream_id, data, ..
            } => {
                conn.release_capacity(stream_id, data.len());
                if let Some((_, body)) = pending.get_mut(&stream_id) {
                    body.extend_from_slice(&data);
                }
            }
            Event::Trailers {
                stream_id,
                trailers,
            } => {
                let (path, body) = pending.remove(&stream_id).unwrap_or_default();
                let status = Trailers::decode(&trailers);
                let mut decoder = MessageDecoder::new();
                decoder.push(Bytes::from(body));
                match decoder.next_message() {
                    Ok(Some(msg)) => println!(
                        "client: {path} -> {:?}: {:?}",
                        status.status().code(),
                        String::from_utf8_lossy(&msg.data)
                    ),
                    other => {
                        failures += 1;
                        println!("client: {path}: bad body {other:?}");
                    }
                }
            }
            Event::Reset(e) => {
                failures += 1;
                println!("client: {e}");
            }
            _ => {}
        }
        if pending.is_empty() {
            conn.shutdown(Instant::now());
        }
        false
    })?;
    server.join().expect("server thread")?;
    if failures > 0 {
        return Err(io::Error::other(format!("{failures} calls failed")));
    }
    println!("client: done, connection closed gracefully");
    Ok(())
}
