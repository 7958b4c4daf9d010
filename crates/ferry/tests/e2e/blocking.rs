//! The blocking client from a plain thread.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ferry::{Code, Request};

use crate::support::{Msg, Running, codec, msg, path};

#[test]
fn blocking_calls_from_a_plain_thread() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(Running::start());
    let channel = ferry::blocking::Channel::connect(&server.uri()).unwrap();

    let reply = channel
        .unary(&path("Unary"), Request::new(msg("sync")), codec())
        .unwrap();
    assert_eq!(reply.into_inner().text, "sync");

    let req = Msg {
        count: 3,
        ..msg("it")
    };
    let replies: Vec<String> = channel
        .server_streaming(&path("ServerStream"), Request::new(req), codec())
        .unwrap()
        .into_inner()
        .map(|m| m.unwrap().text)
        .collect();
    assert_eq!(replies, vec!["it#0", "it#1", "it#2"]);

    let reply = channel
        .client_streaming(
            &path("ClientStream"),
            Request::new(vec![msg("a"), msg("b")]),
            codec(),
        )
        .unwrap();
    assert_eq!(reply.into_inner().text, "ab");

    let failing = Msg {
        count: 1,
        fail_code: Code::DataLoss as i32,
        ..msg("f")
    };
    let mut iter = channel
        .server_streaming(&path("ServerStream"), Request::new(failing), codec())
        .unwrap()
        .into_inner();
    assert_eq!(iter.next().unwrap().unwrap().text, "f#0");
    assert_eq!(iter.next().unwrap().unwrap_err().code(), Code::DataLoss);
    assert!(iter.next().is_none());

    drop(channel);
    runtime.block_on(server.stop());
}

#[test]
fn blocking_one_way_calls_return_before_the_handler_finishes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(Running::start());
    let uris = [server.uri(), format!("ferry://{}", server.addr)];
    for (i, uri) in uris.iter().enumerate() {
        let channel = ferry::blocking::Channel::connect(uri).unwrap();
        let slow = Msg {
            sleep_ms: 1_000,
            ..msg("fire and forget")
        };
        channel
            .one_way(&path("Unary"), Request::new(slow), codec())
            .unwrap();
        // Returned while the handler still runs (or has not started).
        assert_eq!(server.probe.finished.load(Ordering::SeqCst), i, "{uri}");
        let give_up = Instant::now() + Duration::from_secs(10);
        while server.probe.finished.load(Ordering::SeqCst) == i && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            server.probe.finished.load(Ordering::SeqCst),
            i + 1,
            "{uri}: the handler ran to the end"
        );
        assert_eq!(server.probe.cancelled.load(Ordering::SeqCst), 0, "{uri}");
    }
    runtime.block_on(server.stop());
}
