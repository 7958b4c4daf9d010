//! Requests that are not gRPC get proper HTTP answers, not resets: a raw
//! HTTP/2 client (the wire core's own `Connection` over a TCP socket) sends
//! them and reads the response headers.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use ferry_wire::HeaderField;
use ferry_wire::conn::{Config, Connection, Event, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::Running;

/// Sends one request with `headers` (no body) and returns the response
/// header block as (name, value) strings.
async fn exchange(server: &Running, headers: Vec<HeaderField>) -> Vec<(String, String)> {
    let mut sock = TcpStream::connect(server.addr).await.unwrap();
    let mut conn = Connection::new(Role::Client, Config::default(), Instant::now());
    let id = conn.open_stream(&headers, true).unwrap();
    let mut out = BytesMut::new();
    let mut buf = vec![0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        while conn.poll_transmit(Instant::now(), &mut out) > 0 {}
        sock.write_all(&out).await.unwrap();
        out.clear();
        while let Some(event) = conn.poll_event() {
            if let Event::Headers {
                stream_id, headers, ..
            } = event
            {
                assert_eq!(stream_id, id);
                return headers
                    .iter()
                    .map(|h| {
                        (
                            String::from_utf8_lossy(&h.name).into_owned(),
                            String::from_utf8_lossy(&h.value).into_owned(),
                        )
                    })
                    .collect();
            }
        }
        let n = tokio::time::timeout_at(deadline, sock.read(&mut buf))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "server closed without answering");
        conn.handle_input(&buf[..n], Instant::now());
    }
}

fn value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn request(
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
) -> Vec<HeaderField> {
    let mut h = vec![
        HeaderField::from_static(":method", method),
        HeaderField::from_static(":scheme", "http"),
        HeaderField::from_static(":path", path),
        HeaderField::from_static(":authority", "localhost"),
    ];
    if let Some(ct) = content_type {
        h.push(HeaderField::from_static("content-type", ct));
    }
    h
}

#[tokio::test]
async fn non_grpc_requests_get_http_statuses() {
    let server = Running::start().await;
    // A browser-style GET of the root.
    let headers = exchange(&server, request("GET", "/", None)).await;
    assert_eq!(value(&headers, ":status"), Some("405"), "{headers:?}");
    // POST with a non-gRPC content type.
    let headers = exchange(
        &server,
        request("POST", "/test.Echo/Unary", Some("application/json")),
    )
    .await;
    assert_eq!(value(&headers, ":status"), Some("415"), "{headers:?}");
    // A gRPC request to a path that is not /service/method.
    let headers = exchange(
        &server,
        request("POST", "/not-grpc", Some("application/grpc")),
    )
    .await;
    assert_eq!(value(&headers, ":status"), Some("200"), "{headers:?}");
    assert_eq!(value(&headers, "grpc-status"), Some("12"), "{headers:?}");
    server.stop().await;
}
