//! Hostile peers against a real server over loopback.
//!
//! Each test starts a server, runs one attack of `tests/py/hostile.py` (a
//! client built on Python's `h2`, with hand-made frames where h2 refuses to
//! write the bad bytes) and asserts:
//!
//! * the exact outcome `docs/architecture.md` documents in its "Defences"
//!   table: the GOAWAY or RST_STREAM code, the debug text, and how many
//!   attack frames the server accepted before it cut the peer off. The token
//!   buckets refill on the server's clock while the attack runs, so a count
//!   is checked against `burst + per_second × elapsed` (elapsed as the
//!   attacker measured it, which contains the server's);
//! * a well-behaved [`Channel`] on another connection gets answers while the
//!   attack runs and after it, and a new connection is still accepted;
//! * the process's resident memory (the server runs in this process) grows by
//!   less than [`RSS_BOUND_KIB`] across the attack.
//!
//! The interpreter comes from `FERRY_PYTHON` or from `scripts/python-env.sh`;
//! without it the tests fail, they never skip.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferry::{Channel, Request, Server};
use ferry_wire::conn::{Config, Rate};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;

use crate::support::{Running, codec, msg, path};

/// Resident memory the process may gain across one attack. Every attack is
/// bounded (at most a few MB on the wire), so an unbounded buffer shows up
/// far above this; the slack covers allocator growth and the other tests of
/// this binary running at the same time.
const RSS_BOUND_KIB: i64 = 64 << 10;
/// The longest an attack script may run (the idle ones wait for the
/// server's 10 s handshake timers).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(40);
/// One well-behaved call, at most.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between the well-behaved calls made while an attack runs.
const PROBE_EVERY: Duration = Duration::from_millis(10);

// ---- the Python side ----

fn python() -> &'static Path {
    ferry_testkit::python("the `h2` package to play the attacker")
}

/// A child process killed (and reaped) when dropped, so a failing test
/// leaves no attacker behind.
struct Script {
    child: std::process::Child,
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `RESULT label | outcome | k=v ...` line of the script.
#[derive(Debug, Clone)]
struct Outcome {
    text: String,
    fields: HashMap<String, String>,
}

impl Outcome {
    fn parse(rest: &str) -> (String, Outcome) {
        let mut parts = rest.splitn(3, " | ");
        let label = parts.next().unwrap_or_default().trim().to_owned();
        let text = parts.next().unwrap_or_default().trim().to_owned();
        let fields = parts
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        (label, Outcome { text, fields })
    }

    fn field(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("no {key}= in {self:?}"))
    }

    fn num(&self, key: &str) -> f64 {
        let v = self.field(key);
        v.parse()
            .unwrap_or_else(|_| panic!("{key}={v} is not a number in {self:?}"))
    }

    fn count(&self, key: &str) -> u64 {
        let v = self.field(key);
        v.parse()
            .unwrap_or_else(|_| panic!("{key}={v} is not a count in {self:?}"))
    }
}

/// What one attack run produced.
#[derive(Debug)]
struct Run {
    attack: String,
    results: HashMap<String, Outcome>,
    probes_during: usize,
    rss_growth_kib: i64,
    took: Duration,
}

impl Run {
    fn get(&self, label: &str) -> &Outcome {
        self.results
            .get(label)
            .unwrap_or_else(|| panic!("{}: no RESULT {label} in {:?}", self.attack, self.results))
    }

    fn main(&self) -> &Outcome {
        self.get("main")
    }
}

/// Symbolizing the first backtrace of the process parses this debug
/// binary's DWARF: about 100 MB of resident memory. With `RUST_BACKTRACE`
/// on, another test of this binary that panics while an attack runs would
/// count as the server's growth, so that price is paid once, before any
/// measurement.
fn settle_backtraces() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            let _ = std::backtrace::Backtrace::force_capture().to_string();
        }
    });
}

fn vm_rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// One well-behaved unary call.
async fn probe(channel: &Channel) -> Result<(), String> {
    let path = path("Unary");
    let call = channel.unary(&path, Request::new(msg("still here")), codec());
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(reply)) if reply.get_ref().text == "still here" => Ok(()),
        Ok(Ok(reply)) => Err(format!("wrong reply {:?}", reply.get_ref())),
        Ok(Err(status)) => Err(format!("{status:?}")),
        Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
    }
}

/// Runs `attack` against `server` and checks what every attack must leave
/// true: the script ran to its end, well-behaved calls on another
/// connection were answered during and after it, and memory stayed
/// bounded. The attack's own outcome is for the caller to assert.
async fn run(server: &Running, attack: &str, args: &[&str]) -> Run {
    let started = Instant::now();
    settle_backtraces();
    let channel = tokio::time::timeout(CALL_TIMEOUT, Channel::connect(&server.uri()))
        .await
        .expect("connect in time")
        .expect("connect");
    probe(&channel).await.expect("a call before the attack");
    let rss_before = vm_rss_kib();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/hostile.py");
    let mut child = Command::new(python())
        .arg(&script)
        .arg("--target")
        .arg(server.addr.to_string())
        .arg("--attack")
        .arg(attack)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", script.display()));
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let mut script_proc = Script { child };
    let (tx, mut lines) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr_text = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    // Well-behaved calls, one after another, from the moment the attack
    // starts until the script has ended.
    let stop = Arc::new(AtomicBool::new(false));
    let mut prober = None;
    let mut results = HashMap::new();
    let mut other_output = Vec::new();
    let deadline = tokio::time::Instant::now() + SCRIPT_TIMEOUT;
    loop {
        let line = tokio::time::timeout_at(deadline, lines.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("{attack}: the script did not end within {SCRIPT_TIMEOUT:?}")
            });
        let Some(line) = line else { break };
        if line == "ATTACK" && prober.is_none() {
            let channel = channel.clone();
            let stop = stop.clone();
            prober = Some(tokio::spawn(async move {
                // At least one probe, even when the attack ends before this
                // task first runs (the test runtime has one thread).
                let mut answered = 0usize;
                loop {
                    probe(&channel).await?;
                    answered += 1;
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    tokio::time::sleep(PROBE_EVERY).await;
                }
                Ok::<usize, String>(answered)
            }));
        } else if let Some(rest) = line.strip_prefix("RESULT ") {
            let (label, outcome) = Outcome::parse(rest);
            results.insert(label, outcome);
        } else {
            other_output.push(line);
        }
    }
    let status = loop {
        if let Some(status) = script_proc.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{attack}: the script did not exit"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let stderr_text = stderr_text.join().unwrap_or_default();
    assert!(
        status.success(),
        "{attack}: the script failed ({status}); stdout: {other_output:?}\nstderr:\n{stderr_text}"
    );
    stop.store(true, Ordering::Release);
    let prober = prober.unwrap_or_else(|| panic!("{attack}: the script never printed ATTACK"));
    let probes_during = tokio::time::timeout(CALL_TIMEOUT * 2, prober)
        .await
        .expect("the last call during the attack ends")
        .expect("prober task")
        .unwrap_or_else(|e| panic!("{attack}: a well-behaved call failed during the attack: {e}"));
    assert!(
        probes_during >= 1,
        "{attack}: no well-behaved call was answered during the attack"
    );

    // After it: the same connection and a new one are served.
    probe(&channel)
        .await
        .unwrap_or_else(|e| panic!("{attack}: a well-behaved call failed after the attack: {e}"));
    let fresh = tokio::time::timeout(CALL_TIMEOUT, Channel::connect(&server.uri()))
        .await
        .unwrap_or_else(|_| panic!("{attack}: no new connection after the attack"))
        .expect("connect after the attack");
    probe(&fresh)
        .await
        .unwrap_or_else(|e| panic!("{attack}: a call on a new connection failed: {e}"));

    let rss_growth_kib = vm_rss_kib() - rss_before;
    let run = Run {
        attack: attack.to_owned(),
        results,
        probes_during,
        rss_growth_kib,
        took: started.elapsed(),
    };
    eprintln!(
        "hostile {attack}: {:?} well-behaved calls during={} rss growth={} KiB took={:?}",
        run.results, run.probes_during, run.rss_growth_kib, run.took
    );
    assert!(
        rss_growth_kib < RSS_BOUND_KIB,
        "{attack}: resident memory grew by {rss_growth_kib} KiB (bound {RSS_BOUND_KIB} KiB)"
    );
    run
}

/// `accepted` lies between the bucket's burst and what the bucket could
/// have refilled while the attack ran (plus one for rounding).
fn assert_bucket(run: &Run, outcome: &Outcome, burst: u64, per_second: u64) {
    let accepted = outcome.count("accepted");
    let elapsed = outcome.num("elapsed");
    let most = burst + (per_second as f64 * elapsed).floor() as u64 + 1;
    assert!(
        (burst..=most).contains(&accepted),
        "{}: {accepted} frames accepted in {elapsed} s; the bucket allows {burst}..={most}",
        run.attack
    );
}

fn assert_after_call(run: &Run) {
    let after = run.get("after");
    assert_eq!(after.text, "STATUS 0 HTTP 200", "{}: {after:?}", run.attack);
    assert_eq!(after.field("reply"), "after", "{}", run.attack);
}

async fn attack(attack: &str, args: &[&str]) -> Run {
    let server = Running::start().await;
    let run = run(&server, attack, args).await;
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("the server stops after the attack");
    run
}

// ---- stream resets ----

#[tokio::test]
async fn rapid_reset_is_cut_off() {
    let run = attack("rapid-reset", &[]).await;
    let main = run.main();
    assert_eq!(
        main.text,
        "GOAWAY ENHANCE_YOUR_CALM too many streams reset by the peer (rapid reset)"
    );
    // Burst 400, 200 per second.
    assert_bucket(&run, main, 400, 200);
}

#[tokio::test]
async fn resets_provoked_by_zero_window_updates_are_cut_off() {
    let run = attack("provoked-reset", &[]).await;
    let main = run.main();
    assert_eq!(
        main.text,
        "GOAWAY ENHANCE_YOUR_CALM peer provoked too many stream resets"
    );
    // Each accepted provocation came back as RST_STREAM(PROTOCOL_ERROR).
    assert_bucket(&run, main, 400, 200);
    assert_eq!(main.count("other_rsts"), 0);
}

#[tokio::test]
async fn resets_provoked_by_data_after_end_stream_are_cut_off() {
    let run = attack("provoked-reset-data", &[]).await;
    let main = run.main();
    assert_eq!(
        main.text,
        "GOAWAY ENHANCE_YOUR_CALM peer provoked too many stream resets"
    );
    // Counted: RST_STREAM(STREAM_CLOSED). A stream the server had already
    // answered and forgotten ignores the DATA, so it provokes nothing.
    assert_bucket(&run, main, 400, 200);
    assert_eq!(main.count("other_rsts"), 0);
}

#[tokio::test]
async fn excess_streams_are_refused_and_the_connection_lives() {
    let run = attack("excess-streams", &[]).await;
    assert_eq!(run.get("refused").text, "RST_STREAM 401 REFUSED_STREAM");
    assert_eq!(run.get("refused").count("rsts"), 1);
    assert_after_call(&run);
}

// ---- header blocks ----

#[tokio::test]
async fn continuation_flood_is_cut_off_after_32_frames() {
    let run = attack("continuation-flood", &[]).await;
    // 32 CONTINUATIONs and then EOF: the server saw the end of input, not a
    // flood.
    assert_eq!(run.get("at-limit").text, "CLOSED");
    let over = run.get("over-limit");
    assert_eq!(
        over.text,
        "GOAWAY ENHANCE_YOUR_CALM too many CONTINUATION frames in one header block"
    );
    assert_eq!(over.count("sent"), 33);
}

#[tokio::test]
async fn header_block_over_twice_the_list_limit_is_cut_off() {
    let run = attack("continuation-oversize", &[]).await;
    assert_eq!(run.get("at-limit").text, "CLOSED");
    let over = run.get("over-limit");
    assert_eq!(over.text, "GOAWAY ENHANCE_YOUR_CALM header block too large");
    assert_eq!(over.count("sent"), 2);
}

#[tokio::test]
async fn hpack_bomb_resets_the_stream_and_the_connection_lives() {
    let run = attack("hpack-bomb", &[]).await;
    let bomb = run.get("bomb");
    assert_eq!(bomb.text, "RST_STREAM 1 ENHANCE_YOUR_CALM");
    assert!(bomb.count("block_bytes") < 8 << 10);
    assert!(bomb.count("decoded_bytes") > 8_000_000);
    // The block was decoded to its end: the tables are in step and the next
    // request on the connection decodes.
    assert_after_call(&run);
}

#[tokio::test]
async fn zero_length_header_flood_resets_the_stream_at_the_field_cap() {
    let run = attack("zero-length-headers", &[]).await;
    let at = run.get("at-limit");
    assert_eq!(at.text, "STATUS 0 HTTP 200");
    assert_eq!(at.field("reply"), "at-limit");
    assert_eq!(run.get("over-limit").text, "RST_STREAM 3 ENHANCE_YOUR_CALM");
    assert_eq!(run.get("flood").text, "RST_STREAM 5 ENHANCE_YOUR_CALM");
    assert_eq!(run.get("timing").text, "ALIVE");
    assert_after_call(&run);
}

#[tokio::test]
async fn huge_metadata_resets_the_stream_at_16_kib() {
    let run = attack("huge-metadata", &[]).await;
    let at = run.get("at-limit");
    assert_eq!(at.count("list_size"), 16 << 10);
    assert_eq!(at.text, "STATUS 0 HTTP 200");
    assert_eq!(at.field("reply"), "at-limit");
    let over = run.get("over-limit");
    assert_eq!(over.count("list_size"), (16 << 10) + 1);
    assert_eq!(over.text, "RST_STREAM 3 ENHANCE_YOUR_CALM");
    assert_eq!(run.get("one-big").text, "RST_STREAM 5 ENHANCE_YOUR_CALM");
    assert_eq!(run.get("many").text, "RST_STREAM 7 ENHANCE_YOUR_CALM");
    assert_eq!(run.get("timing").text, "ALIVE");
    assert_after_call(&run);
}

// ---- control-frame floods ----

#[tokio::test]
async fn ping_flood_is_cut_off() {
    let run = attack("ping-flood", &["--max-frames", "2000"]).await;
    let main = run.main();
    // The server enforces grpc-go's ping policy: with no stream open every
    // PING after the first is a strike, and the third strike ends it (the
    // flood bucket behind it is tested in ferry-wire's defences).
    assert_eq!(main.text, "GOAWAY ENHANCE_YOUR_CALM too_many_pings");
    assert_eq!(main.count("accepted"), 3, "{main:?}");
}

#[tokio::test]
async fn settings_flood_is_cut_off() {
    let run = attack("settings-flood", &[]).await;
    let main = run.main();
    assert_eq!(
        main.text,
        "GOAWAY ENHANCE_YOUR_CALM too many SETTINGS frames"
    );
    // The burst of 50 includes the SETTINGS of the handshake.
    assert_eq!(main.count("handshake_settings"), 1);
    assert_bucket(&run, main, 49, 5);
}

#[tokio::test]
async fn empty_frame_flood_is_cut_off() {
    let run = attack("empty-frames", &[]).await;
    let main = run.main();
    assert_eq!(main.text, "GOAWAY ENHANCE_YOUR_CALM too many empty frames");
    assert_eq!(main.field("burst_ok"), "yes");
    assert_bucket(&run, main, 100, 10);
}

#[tokio::test]
async fn window_dribble_is_cut_off() {
    let run = attack("window-dribble", &[]).await;
    let main = run.main();
    assert_eq!(
        main.text,
        "GOAWAY ENHANCE_YOUR_CALM too many small WINDOW_UPDATEs (window dribble)"
    );
    // The whole connection window went before the dribble started, and the
    // burst of 500 reopenings was allowed before the cut-off.
    assert!(main.num("window_used") >= 65_535.0, "{main:?}");
    let updates = main.num("updates");
    assert!((500.0..=2_500.0).contains(&updates), "{main:?}");
}

#[tokio::test]
async fn oversized_frame_is_refused_from_its_header() {
    let run = attack("oversized-frame", &[]).await;
    assert_eq!(
        run.main().text,
        "GOAWAY FRAME_SIZE_ERROR frame of 16777215 bytes exceeds SETTINGS_MAX_FRAME_SIZE 1064960"
    );
}

// ---- peers that do not read, or say nothing ----

#[tokio::test]
async fn pings_from_a_peer_that_never_reads_are_cut_off_by_the_ping_limit() {
    let run = attack("never-read", &["--count", "10000"]).await;
    let main = run.main();
    // With the server's defaults the ping policy (three strikes) ends it
    // long before any socket buffer fills.
    assert_eq!(main.text, "GOAWAY ENHANCE_YOUR_CALM too_many_pings");
    assert_eq!(main.count("acked"), 3, "{main:?}");
}

/// A peer that writes PINGs and never reads, against a server whose ping
/// limit is lifted (so that the control-frame backlog, not the ping bucket,
/// is what stops the peer) and whose socket buffers are small (64 KiB, so
/// that the backlog forms within a few hundred KB). `args` go to the script.
/// Our writes must stall (the server stopped reading while its ACKs could
/// not be written), and once we read, the server must catch up and answer
/// every PING: pausing is not closing.
async fn never_read_against_small_buffers(args: &[&str]) {
    let mut config = Config::default();
    config.limits.pings = Rate::new(u32::MAX, u32::MAX);
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(64 << 10).expect("SO_RCVBUF");
    socket.set_send_buffer_size(64 << 10).expect("SO_SNDBUF");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(128).expect("listen");
    let server = Running::start_on(listener, Server::builder().connection_config(config));
    let run = run(&server, "never-read", args).await;
    let main = run.main();
    assert_eq!(main.field("stalled"), "yes", "{main:?}");
    assert!(main.count("sent") < 2_000_000);
    assert_eq!(main.text, "ALIVE");
    assert_eq!(main.count("acked"), main.count("sent"));
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("the server stops after the attack");
}

#[tokio::test]
async fn a_peer_that_never_reads_makes_the_server_stop_reading() {
    never_read_against_small_buffers(&["--count", "2000000"]).await;
}

#[tokio::test]
async fn a_peer_that_never_reads_in_uneven_writes_makes_the_server_stop_reading() {
    // Writes of 500 and 4,000 PINGs in turn, 2 ms apart: the server reads
    // some small batches and some full buffers.
    never_read_against_small_buffers(&["--count", "2000000", "--paced"]).await;
}

#[tokio::test]
async fn idle_and_half_open_connections_are_closed_by_the_handshake_timers() {
    let server = Running::start().await;
    let (silent, preface, no_ack) = tokio::join!(
        run(
            &server,
            "idle-silent",
            &["--conns", "20", "--max-seconds", "15"]
        ),
        run(
            &server,
            "idle-preface",
            &["--conns", "5", "--max-seconds", "15"]
        ),
        run(
            &server,
            "idle-no-ack",
            &["--conns", "5", "--max-seconds", "15"]
        ),
    );
    for (run, conns, text) in [
        (
            &silent,
            20,
            "GOAWAY SETTINGS_TIMEOUT peer sent no preface and SETTINGS in time",
        ),
        (
            &preface,
            5,
            "GOAWAY SETTINGS_TIMEOUT peer sent no preface and SETTINGS in time",
        ),
        (
            &no_ack,
            5,
            "GOAWAY SETTINGS_TIMEOUT SETTINGS not acknowledged in time",
        ),
    ] {
        let main = run.main();
        assert_eq!(main.text, text, "{}", run.attack);
        assert_eq!(main.count("conns"), conns);
        assert_eq!(main.count("same"), conns, "{}: {main:?}", run.attack);
        assert_eq!(main.count("closed"), conns, "{}: {main:?}", run.attack);
        // The timers are 10 s from accept; the script starts counting a
        // little after that.
        let first = main.num("first_goaway");
        let last = main.num("last_closed");
        assert!(
            (9.0..=12.0).contains(&first) && last <= 12.0,
            "{}: GOAWAY at {first} s, last close at {last} s",
            run.attack
        );
    }
    tokio::time::timeout(Duration::from_secs(20), server.stop())
        .await
        .expect("the server stops after the attack");
}

// ---- the gRPC layer ----

#[tokio::test]
async fn message_over_the_receive_limit_fails_from_its_length_prefix() {
    let run = attack("oversized-message", &[]).await;
    let main = run.main();
    assert_eq!(
        main.text,
        "STATUS 8 HTTP 200 received message larger than max (16777216 vs. 4194304)"
    );
    // The window was not opened for the announced 16 MiB: the server never
    // asked for more than a few stream windows' worth.
    let opened = main.count("stream_window_opened");
    assert!(
        opened < 4 << 20,
        "the server opened {opened} bytes of window"
    );
    assert_after_call(&run);
}

#[tokio::test]
async fn decompression_bomb_fails_at_the_receive_limit() {
    let run = attack("decompression-bomb", &[]).await;
    let main = run.main();
    assert!(main.text.starts_with("STATUS 8 HTTP 200 "), "{}", main.text);
    assert!(main.count("compressed_bytes") < 64 << 10);
    assert_after_call(&run);
}

#[tokio::test]
async fn malformed_grpc_timeout_is_answered_with_a_status() {
    let run = attack("bad-timeout", &[]).await;
    for value in ["99999999999S", "1X", "-1S", "1", "(empty)", "1.5S"] {
        let bad = run.get(&format!("bad:{value}"));
        assert!(
            bad.text
                .starts_with("STATUS 13 HTTP 400 malformed grpc-timeout"),
            "grpc-timeout {value}: {bad:?}"
        );
    }
    for value in ["5S", "99999999m"] {
        let good = run.get(&format!("good:{value}"));
        assert_eq!(good.text, "STATUS 0 HTTP 200", "grpc-timeout {value}");
        assert_eq!(good.field("reply"), "after_(deadline)");
    }
    assert_eq!(run.get("timing").text, "ALIVE");
}

#[tokio::test]
async fn malformed_binary_metadata_is_answered_with_a_status() {
    let run = attack("bad-bin", &[]).await;
    for value in ["!!!!", "Y", "YW Jj", "YWJj,%%"] {
        let bad = run.get(&format!("bad:{value}"));
        assert!(
            bad.text.starts_with("STATUS 13 HTTP 400 "),
            "x-data-bin {value}: {bad:?}"
        );
        assert!(bad.text.contains("x-data-bin"), "{bad:?}");
    }
    for value in ["YWJj", "YWI", "YWI=", "YWI,YWJj"] {
        let good = run.get(&format!("good:{value}"));
        assert_eq!(good.text, "STATUS 0 HTTP 200", "x-data-bin {value}");
        assert_eq!(good.field("reply"), "after");
    }
    assert_eq!(run.get("timing").text, "ALIVE");
}
