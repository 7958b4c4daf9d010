//! Bandwidth-delay product estimation with PINGs (the idea of grpc-go's
//! `bdp_estimator.go`, written for a caller-supplied clock).
//!
//! When DATA arrives and no probe is out, the connection sends a PING and
//! counts the bytes that arrive until its ACK. Those bytes are what the pipe
//! held in one round trip. When a sample fills most of the current window and
//! the measured bandwidth is the best seen, the window is too small to keep
//! the pipe full: the estimate doubles the sample, up to the configured
//! ceiling, and the connection grows its receive windows to it.
//!
//! A probe whose sample stays under the growth threshold found the window
//! idle, not full; the next probe then waits [`QUIET_GAP`]. Without the
//! wait, a connection with one small call at a time sends a PING (and the
//! peer an ACK, each a separate write and wake-up on both sides) for every
//! call; a busy connection keeps probing back to back, as before.

use std::time::{Duration, Instant};

/// The PING payload of a BDP probe, so its ACK is told apart from user and
/// keepalive pings.
pub(crate) const BDP_PING: [u8; 8] = *b"ferrybdp";

/// Share of the current estimate a sample must reach before the window grows
/// (grpc-go uses the same 2/3: below it the window is not the bottleneck).
const GROW_FRACTION_NUM: u64 = 2;
const GROW_FRACTION_DEN: u64 = 3;

/// How long after a probe that found the window idle the next one waits:
/// short next to the time a window takes to matter (a transfer that starts
/// meanwhile is probed at most this much later), long next to the tens of
/// microseconds a small call takes on a local network.
pub(crate) const QUIET_GAP: Duration = Duration::from_millis(1);

#[derive(Debug)]
pub(crate) struct Bdp {
    estimate: u32,
    ceiling: u32,
    sample: u64,
    sent_at: Option<Instant>,
    /// Smoothed round-trip time in nanoseconds (zero until measured).
    rtt_ns: f64,
    /// Best bandwidth seen, bytes per nanosecond.
    best_bandwidth: f64,
    /// No probe starts before this instant (the last one found the window
    /// idle).
    quiet_until: Option<Instant>,
}

impl Bdp {
    pub(crate) fn new(initial: u32, ceiling: u32) -> Bdp {
        Bdp {
            estimate: initial,
            ceiling,
            sample: 0,
            sent_at: None,
            rtt_ns: 0.0,
            best_bandwidth: 0.0,
            quiet_until: None,
        }
    }

    /// `n` bytes of DATA arrived. True when a probe PING should go out now.
    pub(crate) fn on_data(&mut self, n: u32, now: Instant) -> bool {
        if self.estimate >= self.ceiling {
            return false;
        }
        match self.sent_at {
            Some(_) => {
                self.sample += u64::from(n);
                false
            }
            None if self.quiet_until.is_some_and(|until| now < until) => false,
            None => {
                self.sent_at = Some(now);
                self.sample = u64::from(n);
                true
            }
        }
    }

    /// The probe's ACK arrived. Returns the new window size when it grew.
    pub(crate) fn on_ack(&mut self, now: Instant) -> Option<u32> {
        let sent_at = self.sent_at.take()?;
        let rtt = now.saturating_duration_since(sent_at).as_nanos() as f64;
        let rtt = rtt.max(1_000.0); // a virtual clock may say zero
        // Exponentially weighted, as grpc-go: new samples count 10 %.
        self.rtt_ns = if self.rtt_ns == 0.0 {
            rtt
        } else {
            self.rtt_ns + (rtt - self.rtt_ns) * 0.1
        };
        let sample = self.sample;
        if sample * GROW_FRACTION_DEN < u64::from(self.estimate) * GROW_FRACTION_NUM {
            self.quiet_until = Some(now + QUIET_GAP);
            return None;
        }
        self.quiet_until = None;
        // The 1.5 factor keeps a sample taken over a slightly long RTT from
        // looking like more bandwidth than it is.
        let bandwidth = sample as f64 / (self.rtt_ns * 1.5);
        if bandwidth < self.best_bandwidth {
            return None;
        }
        self.best_bandwidth = bandwidth;
        let grown = u32::try_from(sample.saturating_mul(2))
            .unwrap_or(u32::MAX)
            .min(self.ceiling);
        if grown <= self.estimate {
            return None;
        }
        self.estimate = grown;
        Some(grown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn grows_when_the_window_is_full_and_stops_at_the_ceiling() {
        let t0 = Instant::now();
        let mut b = Bdp::new(65_535, 200_000);
        assert!(b.on_data(16_384, t0));
        assert!(!b.on_data(16_384, t0));
        b.on_data(16_384, t0);
        b.on_data(16_383, t0);
        let t1 = t0 + Duration::from_millis(1);
        assert_eq!(b.on_ack(t1), Some(131_070));
        assert!(b.on_data(100_000, t1));
        b.on_data(100_000, t1);
        assert_eq!(b.on_ack(t1 + Duration::from_millis(1)), Some(200_000));
        // At the ceiling no more probes are sent.
        assert!(!b.on_data(100, t1));
    }

    #[test]
    fn a_probe_that_found_the_window_idle_holds_the_next_one_off() {
        let t0 = Instant::now();
        let mut b = Bdp::new(65_535, 1 << 24);
        assert!(b.on_data(100, t0));
        let t1 = t0 + Duration::from_micros(50);
        assert_eq!(b.on_ack(t1), None);
        // One small call after another: no probe for QUIET_GAP.
        assert!(!b.on_data(100, t1 + Duration::from_micros(50)));
        assert!(!b.on_data(100, t1 + QUIET_GAP - Duration::from_micros(1)));
        assert!(b.on_data(100, t1 + QUIET_GAP));
        // A full window is probed again at once, and grows.
        let t2 = t1 + QUIET_GAP;
        b.on_data(65_535, t2);
        let t3 = t2 + Duration::from_micros(50);
        assert_eq!(b.on_ack(t3), Some(131_270));
        assert!(b.on_data(100, t3));
    }

    #[test]
    fn small_samples_do_not_grow() {
        let t0 = Instant::now();
        let mut b = Bdp::new(65_535, 1 << 24);
        assert!(b.on_data(100, t0));
        assert_eq!(b.on_ack(t0 + Duration::from_millis(1)), None);
        assert_eq!(
            b.on_ack(t0 + Duration::from_millis(2)),
            None,
            "no probe outstanding"
        );
    }
}
