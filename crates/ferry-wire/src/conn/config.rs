//! Connection settings and limits, each default with the reason it was chosen.

use std::time::Duration;

/// A token bucket's shape: how many events may come in a burst, and how many
/// per second are allowed for as long as the connection lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed at once (the bucket's size).
    pub burst: u32,
    /// Events allowed per second once the burst is spent (the refill rate).
    pub per_second: u32,
}

impl Rate {
    /// A bucket of `burst` tokens refilled at `per_second`.
    pub const fn new(burst: u32, per_second: u32) -> Rate {
        Rate { burst, per_second }
    }
}

/// Limits against abusive peers (see `Hostile input` in the design brief).
/// Each limit, when exceeded, ends the connection with GOAWAY
/// `ENHANCE_YOUR_CALM` and a reason in the debug data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloodLimits {
    /// RST_STREAM frames the peer sends on streams it opened (rapid reset,
    /// CVE-2023-44487). A legitimate client cancels some calls; thousands a
    /// second is an attack. Default: burst 400, 200 per second.
    pub remote_resets: Rate,
    /// Streams *we* reset because of something the peer did (the peer
    /// provoking resets, CVE-2025-8671 "MadeYouReset"), including streams
    /// refused for exceeding SETTINGS_MAX_CONCURRENT_STREAMS. Default: burst
    /// 400, 200 per second.
    pub local_resets: Rate,
    /// PING frames that ask for an ACK (ping flood, CVE-2019-9512). The bucket
    /// is refilled whenever we send HEADERS or DATA, because a peer with
    /// calls in flight may ping for bandwidth estimates as often as data
    /// arrives (writing our own ACKs does not count). Default: burst 100,
    /// 10 per second.
    pub pings: Rate,
    /// SETTINGS frames (settings flood, CVE-2019-9515). Default: burst 50, 5
    /// per second.
    pub settings: Rate,
    /// Frames that carry nothing: DATA without payload or END_STREAM,
    /// HEADERS / CONTINUATION with an empty fragment that does not end the
    /// block (empty-frame flood, CVE-2019-9518). Default: burst 100, 10 per
    /// second.
    pub empty_frames: Rate,
    /// WINDOW_UPDATE frames that open fewer than [`SMALL_WINDOW_UPDATE`]
    /// bytes of a window that had fewer than that open (window dribble: a
    /// peer that makes us cut data into tiny frames; small increments to an
    /// open window are harmless and grpcio sends many). Also counted: small
    /// increments for streams we do not know. Default: burst 500, 100 per
    /// second.
    pub small_window_updates: Rate,
}

/// A WINDOW_UPDATE increment below this many bytes counts against
/// [`FloodLimits::small_window_updates`].
pub const SMALL_WINDOW_UPDATE: u32 = 32;

impl Default for FloodLimits {
    fn default() -> Self {
        FloodLimits {
            remote_resets: Rate::new(400, 200),
            local_resets: Rate::new(400, 200),
            pings: Rate::new(100, 10),
            settings: Rate::new(50, 5),
            empty_frames: Rate::new(100, 10),
            small_window_updates: Rate::new(500, 100),
        }
    }
}

/// Keepalive: ping a quiet peer and give up on one that does not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Send a PING after this long without receiving anything.
    pub interval: Duration,
    /// Close the connection when nothing arrives this long after the PING.
    pub timeout: Duration,
    /// Ping also while no stream is open. Off by default: grpc-go servers
    /// count such pings against the client (`too_many_pings`).
    pub while_idle: bool,
}

/// Server-side enforcement of how often a client may ping (grpc-go's
/// `keepalive.EnforcementPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingPolicy {
    /// The shortest allowed time between two PINGs. grpc-go's default is
    /// 5 minutes.
    pub min_interval: Duration,
    /// Allow PINGs while no stream is open (otherwise each is a strike).
    pub permit_without_stream: bool,
    /// Strikes tolerated before GOAWAY `too_many_pings`; grpc-go allows 2.
    pub max_strikes: u32,
}

impl PingPolicy {
    /// grpc-go's server default: 5 minutes, no pings without streams, 2
    /// strikes.
    pub const GRPC_DEFAULT: PingPolicy = PingPolicy {
        min_interval: Duration::from_secs(300),
        permit_without_stream: false,
        max_strikes: 2,
    };
}

/// Everything a [`Connection`](super::Connection) can be tuned with.
///
/// Field defaults are documented on each field and chosen to match what
/// grpc-go does, unless a safer value costs nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise; streams the peer opens
    /// beyond it are refused with REFUSED_STREAM, which clients retry
    /// elsewhere. Default 200 (the RFC recommends at least 100; grpc-go
    /// advertises unlimited, which is how rapid reset hurt it).
    pub max_concurrent_streams: u32,
    /// Receive window of each new stream at start. Default 65,535, the RFC
    /// initial value (grpc-go: 64 KiB); grows with the bandwidth-delay
    /// estimate when [`Config::adaptive_window`] is on.
    pub initial_stream_window: u32,
    /// Receive window of the connection at start. Default 1 MiB (16 streams'
    /// worth, as grpc-go's 16 × 64 KiB).
    pub initial_connection_window: u32,
    /// Ceiling for windows grown from the bandwidth-delay estimate. Default
    /// 16 MiB, grpc-go's ceiling: enough for 1 Gbit/s at 130 ms RTT.
    pub max_window: u32,
    /// Grow receive windows from a bandwidth-delay product measured with
    /// PINGs (grpc-go's BDP estimator). Default on.
    pub adaptive_window: bool,
    /// SETTINGS_MAX_FRAME_SIZE we advertise and accept. Default 1 MiB +
    /// 16 KiB: a peer that uses it (Ferry does; grpc-go always sends
    /// 16 KiB frames) sends a message of up to about 1 MiB in one DATA
    /// frame, which the runtime reads into one buffer and hands up as a
    /// slice, with no reassembly copy (BENCHMARKS.md, scenario 3). Only DATA
    /// and header blocks may be larger than the RFC's 16,384 bytes; a DATA
    /// frame must fit the connection window and a header block the
    /// header-list limit, both checked from the frame header, so a
    /// partial frame never holds more than the peer may send anyway.
    /// Between 16,384 and 16,777,215 (RFC 9113 §6.5.2).
    pub max_frame_size: u32,
    /// SETTINGS_HEADER_TABLE_SIZE for our HPACK decoder. Default 4,096 (RFC).
    pub header_table_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce: decoded size
    /// of one header list counted as name + value + 32 per field. Default
    /// 16 KiB, the hard metadata limit of the gRPC C core, so a list we
    /// accept is one every peer accepts. A list over it resets the stream
    /// (ENHANCE_YOUR_CALM) and keeps the connection.
    pub max_header_list_size: u32,
    /// Fields in one header list (caps a flood of empty headers whose size
    /// is just the 32-byte overhead). Default 256.
    pub max_header_fields: usize,
    /// CONTINUATION frames allowed in one header block (CONTINUATION flood).
    /// Default 32: a 16 KiB header list needs at most 2 with 16 KiB frames.
    pub max_continuation_frames: usize,
    /// Time the peer has to send its preface and first SETTINGS. Default 10 s.
    pub handshake_timeout: Duration,
    /// Time the peer has to acknowledge our SETTINGS (SETTINGS_TIMEOUT).
    /// Default 10 s.
    pub settings_timeout: Duration,
    /// Close the connection gracefully after this long with no open stream,
    /// counted from when the last stream ended (or the connection began).
    /// Default: none (the runtime decides).
    pub idle_timeout: Option<Duration>,
    /// Keepalive pings. Default: none.
    pub keepalive: Option<Keepalive>,
    /// How long the first step of a graceful shutdown waits for its PING ACK
    /// before sending the final GOAWAY anyway. Default 5 s.
    pub shutdown_ping_timeout: Duration,
    /// Control frames (ACKs, RST_STREAM, WINDOW_UPDATE) queued and not yet
    /// taken by `poll_transmit` at which [`Connection::wants_read`] turns
    /// false and input parsing pauses (the rest stays buffered until
    /// `poll_transmit` has taken the replies), so a peer that does not read
    /// cannot make us queue replies without bound. Default 1,024.
    ///
    /// [`Connection::wants_read`]: super::Connection::wants_read
    pub max_pending_control_frames: usize,
    /// Bytes the application may queue on one stream before the stream stops
    /// being writable (it gets an `Event::Writable` when it drains). Default
    /// 64 KiB, grpc-go's per-stream write quota.
    pub stream_send_buffer: usize,
    /// Bytes `poll_transmit` writes in one call, at most (it always writes
    /// whole frames, so it may pass this by one frame). Default 128 KiB.
    pub max_write_batch: usize,
    /// Flood limits.
    pub limits: FloodLimits,
    /// How often the peer may ping (servers). Default: none in the wire
    /// core; Ferry's `Server` uses [`PingPolicy::GRPC_DEFAULT`].
    pub ping_policy: Option<PingPolicy>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_concurrent_streams: 200,
            initial_stream_window: 65_535,
            initial_connection_window: 1 << 20,
            max_window: 16 << 20,
            adaptive_window: true,
            max_frame_size: (1 << 20) + (16 << 10),
            header_table_size: 4_096,
            max_header_list_size: 16 << 10,
            max_header_fields: 256,
            max_continuation_frames: 32,
            handshake_timeout: Duration::from_secs(10),
            settings_timeout: Duration::from_secs(10),
            idle_timeout: None,
            keepalive: None,
            shutdown_ping_timeout: Duration::from_secs(5),
            max_pending_control_frames: 1_024,
            stream_send_buffer: 64 << 10,
            max_write_batch: 128 << 10,
            limits: FloodLimits::default(),
            ping_policy: None,
        }
    }
}
