//! The settings a native connection announces, and the limits it keeps.

use std::time::Duration;

/// The settings a side announces in HELLO.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NativeConfig {
    pub(crate) max_body: u32,
    pub(crate) initial_credit: u32,
    pub(crate) max_calls: u32,
    /// A HEARTBEAT goes out after this long without hearing the peer.
    pub(crate) heartbeat: Duration,
    /// The peer is gone when nothing arrives this long after a HEARTBEAT.
    pub(crate) heartbeat_timeout: Duration,
    pub(crate) max_meta: u32,
    /// How long the peer has to send its HELLO.
    pub(crate) handshake: Duration,
}

impl NativeConfig {
    /// The most a call may have delivered and not yet consumed: its credit
    /// plus one maximal message. A peer past it ignored our credit.
    pub(super) fn max_outstanding(&self) -> i64 {
        i64::from(self.initial_credit) + i64::from(self.max_body)
    }

    /// Heartbeats on the keepalive schedule of an HTTP/2 configuration, so
    /// `keepalive(interval, timeout)` means the same on both protocols.
    pub(crate) fn with_keepalive(mut self, keepalive: Option<ferry_wire::conn::Keepalive>) -> Self {
        if let Some(k) = keepalive {
            self.heartbeat = k.interval;
            self.heartbeat_timeout = k.timeout;
        }
        self
    }
}

impl Default for NativeConfig {
    fn default() -> Self {
        NativeConfig {
            max_body: ferry_wire::native::DEFAULT_MAX_BODY,
            initial_credit: 1 << 20,
            max_calls: 1000,
            heartbeat: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(30),
            max_meta: ferry_wire::native::DEFAULT_MAX_META,
            handshake: Duration::from_secs(10),
        }
    }
}
