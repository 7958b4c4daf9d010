//! Nothing leaks: file descriptors and heap memory, measured in a process
//! of its own (the other tests of this binary run in parallel and share the
//! process's descriptor table and heap).
//!
//! `no_descriptor_or_memory_leaks` re-runs this test binary with only
//! `isolated_workload` (ignored in normal runs) and checks what it reports.
//! The workload counts open descriptors in `/proc/self/fd` and live heap
//! bytes through a counting global allocator, around many calls of every
//! shape (including cancelled, failed and deadline-exceeded ones) and many
//! connections opened and dropped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use ferry::{Channel, Code, Request};
use futures_util::StreamExt;

use crate::support::{Msg, Running, codec, msg, path};

/// Wraps the system allocator and counts the bytes currently allocated.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// The only unsafe code in the tests: a global allocator must implement an
// unsafe trait. It forwards every call to `System` unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: `ptr` came from `System` with `layout`; the caller
        // guarantees `new_size` is valid for it.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// The process's open descriptors, with what each points at.
fn open_fds() -> Vec<String> {
    let mut fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok())
        .map(|e| {
            let target = std::fs::read_link(e.path())
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into());
            format!("{} -> {target}", e.file_name().to_string_lossy())
        })
        .collect();
    fds.sort();
    fds
}

#[test]
fn no_descriptor_or_memory_leaks() {
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args([
            "leaks::isolated_workload",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .expect("run the workload");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the workload failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // It ran (and was not filtered out): its report is there.
    assert!(
        stdout.contains("LEAKS fds") && stdout.contains("LEAKS heap"),
        "no report from the workload:\n{stdout}\n{stderr}"
    );
}

/// One round: every call shape, plus a cancelled call, a business error and
/// a deadline that expires.
async fn round(channel: &Channel) {
    for i in 0..20u32 {
        let req = Msg {
            payload: vec![1; if i % 5 == 0 { 64 << 10 } else { 100 }],
            ..msg("u")
        };
        let reply = channel
            .unary(&path("Unary"), Request::new(req), codec())
            .await
            .unwrap();
        assert_eq!(reply.into_inner().text, "u");
    }
    let req = Msg {
        count: 10,
        ..msg("s")
    };
    let stream = channel
        .server_streaming(&path("ServerStream"), Request::new(req), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.count().await, 10);
    let requests = futures_util::stream::iter((0..10).map(|_| msg("c")));
    let reply = channel
        .client_streaming(&path("ClientStream"), Request::new(requests), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().count, 10);
    let requests = futures_util::stream::iter((0..10).map(|_| msg("b")));
    let stream = channel
        .bidi_streaming(&path("Bidi"), Request::new(requests), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.count().await, 10);
    let failing = Msg {
        fail_code: Code::NotFound as i32,
        ..msg("f")
    };
    let status = channel
        .unary(&path("Unary"), Request::new(failing), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let slow = Msg {
        sleep_ms: 5_000,
        ..msg("slow")
    };
    let status = channel
        .unary(
            &path("Unary"),
            Request::new(slow.clone()).with_timeout(Duration::from_millis(5)),
            codec(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    // Cancelled: the caller drops the call while the handler runs.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(5),
        channel.unary(&path("Unary"), Request::new(slow), codec()),
    )
    .await;
    assert!(cancelled.is_err());
}

/// Waits until only this test's own task is left on the runtime.
async fn tasks_ended() {
    let metrics = tokio::runtime::Handle::current().metrics();
    for _ in 0..1000 {
        if metrics.num_alive_tasks() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{} tasks still alive", metrics.num_alive_tasks());
}

#[test]
#[ignore = "run by no_descriptor_or_memory_leaks in a process of its own"]
fn isolated_workload() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // Warm the runtime's lazy parts (timer wheel, blocking pool for the
        // address lookups) before the baseline.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let _ = tokio::net::lookup_host("127.0.0.1:1").await;
        let fds_before = open_fds();
        let heap_before = live_bytes();

        let server = Running::start().await;
        let channel = server.channel().await;
        for _ in 0..3 {
            round(&channel).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let heap_warm = live_bytes();
        for _ in 0..15 {
            round(&channel).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let heap_after = live_bytes();
        // Connections opened and dropped, one call each.
        for _ in 0..30 {
            let extra = server.channel().await;
            let reply = extra
                .unary(&path("Unary"), Request::new(msg("x")), codec())
                .await
                .unwrap();
            assert_eq!(reply.into_inner().text, "x");
        }
        drop(channel);
        server.stop().await;
        tasks_ended().await;
        let fds_after = open_fds();
        let heap_end = live_bytes();

        let per_call = (heap_after - heap_warm) as f64 / (15.0 * 27.0);
        println!(
            "LEAKS fds before={} after={}",
            fds_before.len(),
            fds_after.len()
        );
        println!(
            "LEAKS heap before={heap_before} warm={heap_warm} after 405 more calls={heap_after} \
             ({per_call:.1} B/call) end={heap_end}"
        );
        assert_eq!(fds_after, fds_before, "descriptors left open");
        // Steady state: 405 more calls (about 10 MB moved) keep the heap
        // where it was after warming up, within allocator-noise of 64 KiB
        // (a leak of 160 bytes per call would pass it).
        assert!(
            heap_after - heap_warm < 64 << 10,
            "the heap grew by {} bytes over 405 calls",
            heap_after - heap_warm
        );
        // Everything the server, the connections and the calls held is
        // returned once they are gone.
        assert!(
            heap_end - heap_before < 64 << 10,
            "{} bytes still allocated after everything stopped",
            heap_end - heap_before
        );
    });
}
