//! Flow-control accounting (RFC 9113 §5.2, §6.9), one tiny type per
//! direction. Both are used twice: once per stream and once for the
//! connection, which is the two-level scheme the transport seed describes.
//!
//! Methods that may let the peer send more return the WINDOW_UPDATE
//! increment to send *now*, if any; the connection turns it into a frame.

/// The largest a window may ever be (RFC 9113 §6.9.1).
pub(crate) const MAX_WINDOW: i64 = (1 << 31) - 1;

/// What the peer allows us to send. It is signed because a smaller
/// SETTINGS_INITIAL_WINDOW_SIZE can push a stream's window below zero
/// (RFC 9113 §6.9.2); we then send nothing until WINDOW_UPDATEs lift it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendWindow(i64);

/// A window would pass 2^31-1: a FLOW_CONTROL_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow;

impl SendWindow {
    pub(crate) fn new(initial: u32) -> SendWindow {
        SendWindow(i64::from(initial))
    }

    /// Bytes we may send now (zero when the window is zero or negative).
    pub(crate) fn available(self) -> u32 {
        u32::try_from(self.0.max(0)).unwrap_or(u32::MAX)
    }

    #[cfg(test)]
    pub(crate) fn value(self) -> i64 {
        self.0
    }

    /// Accounts for `n` bytes sent; the caller never sends more than
    /// `available()`.
    pub(crate) fn consume(&mut self, n: u32) {
        self.0 -= i64::from(n);
    }

    /// A WINDOW_UPDATE from the peer.
    pub(crate) fn increase(&mut self, increment: u32) -> Result<(), Overflow> {
        self.apply_delta(i64::from(increment))
    }

    /// A change of the peer's SETTINGS_INITIAL_WINDOW_SIZE applies the
    /// difference to every open stream; the result may be negative.
    pub(crate) fn apply_delta(&mut self, delta: i64) -> Result<(), Overflow> {
        let next = self.0 + delta;
        if next > MAX_WINDOW {
            return Err(Overflow);
        }
        self.0 = next;
        Ok(())
    }
}

/// What we allow the peer to send, and how much of what it sent the
/// application still holds.
///
/// The peer's credit (`advertised`) plus what the application has not
/// consumed yet (`unreleased`) never exceeds the target window, so a slow
/// reader stops the sender instead of growing our buffers: a stream's
/// receive window is released by the application's consumption, not by frame
/// arrival. The connection's window is released on arrival (see
/// `Connection::recv_data`): the stream windows already bound what the
/// application holds, and a connection window waiting for the application
/// deadlocks when many streams hold partial messages.
///
/// **Batching threshold.** A WINDOW_UPDATE goes out once at least a quarter
/// of the target window is owed (grpc-go's threshold). A reader of small
/// messages then costs one update per quarter window rather than one per
/// message, and a sender that keeps three quarters of a window in flight
/// never stalls waiting for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecvWindow {
    target: u32,
    advertised: i64,
    unreleased: u64,
    boost: u32,
    /// The size of the messages expected (see `expect_message`), 0 for
    /// none.
    unit: u32,
}

impl RecvWindow {
    pub(crate) fn new(initial: u32) -> RecvWindow {
        RecvWindow {
            target: initial,
            advertised: i64::from(initial),
            unreleased: 0,
            boost: 0,
            unit: 0,
        }
    }

    /// The window the peer believes it has.
    pub(crate) fn advertised(&self) -> i64 {
        self.advertised
    }

    /// Received bytes the application has not released yet.
    pub(crate) fn unreleased(&self) -> u64 {
        self.unreleased
    }

    pub(crate) fn target(&self) -> u32 {
        self.target
    }

    /// `n` flow-controlled bytes arrived. An error means the peer sent more
    /// than it was allowed: FLOW_CONTROL_ERROR.
    pub(crate) fn recv(&mut self, n: u32) -> Result<(), Overflow> {
        if i64::from(n) > self.advertised {
            return Err(Overflow);
        }
        self.advertised -= i64::from(n);
        self.unreleased += u64::from(n);
        Ok(())
    }

    /// The application consumed `n` bytes (padding is released by the
    /// connection itself). Releasing more than is held releases what is held.
    pub(crate) fn release(&mut self, n: u64) -> Option<u32> {
        self.unreleased -= n.min(self.unreleased);
        self.poll_update(false)
    }

    /// Opens the window to `room` bytes at once, ahead of a large message
    /// of `len` bytes the application is about to read, so that message
    /// does not crawl one WINDOW_UPDATE at a time (the connection picks
    /// `room`, see `Connection::expect_message`). A later call with less
    /// room (the next message is smaller) takes the boost back.
    ///
    /// While messages of `len` bytes are expected, a target window larger
    /// than the boost (grown from the bandwidth estimate) is granted as a
    /// whole number of them: the peer's credit then ends where a message
    /// ends, so a sender limited by the window cuts its frames at message
    /// boundaries, and each message arrives in one frame that the runtime
    /// hands up without reassembling it. With a target of 6.5 messages the
    /// sender's credit ended mid-message after every release, and every
    /// message of a 1 MiB client stream was reassembled from two frames.
    pub(crate) fn expect_message(&mut self, room: u32, len: u32) -> Option<u32> {
        self.unit = len;
        self.set_boost(room, true)
    }

    /// Sets the boost (a window larger than the target, for as long as a
    /// large message is expected). With `force` the credit goes out now,
    /// without waiting for the batching threshold.
    pub(crate) fn set_boost(&mut self, boost: u32, force: bool) -> Option<u32> {
        self.boost = boost;
        self.poll_update(force)
    }

    /// Sets a new target window (the bandwidth-delay estimate grew).
    pub(crate) fn set_target(&mut self, target: u32) -> Option<u32> {
        self.target = target;
        self.poll_update(true)
    }

    /// Credits the peer by `delta` without a WINDOW_UPDATE: our new
    /// SETTINGS_INITIAL_WINDOW_SIZE does that for every open stream.
    pub(crate) fn grow_by_settings(&mut self, target: u32) {
        let delta = i64::from(target) - i64::from(self.target);
        self.target = target;
        self.advertised += delta;
    }

    /// The window granted: the target or the boost, whichever is larger,
    /// a larger target cut to whole messages (see `expect_message`).
    fn window(&self) -> u32 {
        let window = self.target.max(self.boost);
        if self.unit == 0 || window <= self.boost {
            return window;
        }
        (window / self.unit * self.unit).max(self.boost)
    }

    fn poll_update(&mut self, force: bool) -> Option<u32> {
        let target = i64::from(self.window());
        let owed = target - self.advertised - i64::try_from(self.unreleased).unwrap_or(i64::MAX);
        let owed = owed.min(MAX_WINDOW - self.advertised);
        if owed <= 0 || (!force && owed < target / 4) {
            return None;
        }
        self.advertised += owed;
        u32::try_from(owed).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_window_goes_negative_and_overflows() {
        let mut w = SendWindow::new(65_535);
        w.consume(60_000);
        assert_eq!(w.apply_delta(-10_000), Ok(()));
        assert_eq!(w.value(), -4_465);
        assert_eq!(w.available(), 0);
        assert_eq!(w.increase(5_000), Ok(()));
        assert_eq!(w.available(), 535);
        assert_eq!(w.increase(u32::MAX >> 1), Err(Overflow));
        assert_eq!(w.available(), 535, "a failed increase changes nothing");
    }

    #[test]
    fn recv_rejects_more_than_advertised() {
        let mut w = RecvWindow::new(100);
        assert_eq!(w.recv(60), Ok(()));
        assert_eq!(w.recv(41), Err(Overflow));
        assert_eq!(w.recv(40), Ok(()));
        assert_eq!(w.advertised(), 0);
    }

    #[test]
    fn updates_are_batched_at_a_quarter() {
        let mut w = RecvWindow::new(65_536);
        w.recv(65_536).unwrap();
        // 16,383 owed: under a quarter, nothing yet.
        assert_eq!(w.release(16_383), None);
        // One more byte makes a quarter: all that is owed goes out at once.
        assert_eq!(w.release(1), Some(16_384));
        assert_eq!(w.advertised(), 16_384);
        assert_eq!(w.unreleased(), 65_536 - 16_384);
    }

    #[test]
    fn slow_reader_gets_no_credit() {
        let mut w = RecvWindow::new(1_000);
        w.recv(1_000).unwrap();
        // Nothing released: nothing granted, whatever else happens.
        assert_eq!(w.release(0), None);
        assert_eq!(w.advertised(), 0);
    }

    #[test]
    fn expect_opens_the_window_for_a_large_message() {
        let mut w = RecvWindow::new(65_535);
        assert_eq!(w.expect_message(1 << 20, 1 << 19), Some((1 << 20) - 65_535));
        assert_eq!(w.advertised(), 1 << 20);
        w.recv(1 << 20).unwrap();
        // The next message is small: the boost is gone and the full megabyte
        // consumed gives back only the normal window.
        assert_eq!(w.expect_message(10, 10), None);
        // (in whole messages of 10 bytes: 65,530)
        assert_eq!(w.release(1 << 20), Some(65_530));
    }

    /// A window grown past the boost is granted in whole messages, so the
    /// peer's credit ends at a message boundary; never below the boost.
    #[test]
    fn a_grown_window_is_granted_in_whole_messages() {
        const LEN: u32 = 65_541;
        let mut w = RecvWindow::new(65_535);
        assert_eq!(w.expect_message(2 * LEN, LEN), Some(2 * LEN - 65_535));
        // The bandwidth estimate grows the target to 300,000: four
        // messages (262,164), not 300,000.
        assert_eq!(w.set_target(300_000), Some(2 * LEN));
        assert_eq!(w.advertised(), i64::from(4 * LEN));
        w.recv(3 * LEN).unwrap();
        assert_eq!(w.release(u64::from(3 * LEN)), Some(3 * LEN));
        assert_eq!(w.advertised(), i64::from(4 * LEN));
        // A target under the boost leaves the boost as it is.
        let mut w = RecvWindow::new(65_535);
        w.expect_message(2 * LEN, LEN);
        assert_eq!(w.set_target(130_000), None);
        assert_eq!(w.advertised(), i64::from(2 * LEN));
    }

    #[test]
    fn settings_growth_credits_without_update() {
        let mut w = RecvWindow::new(65_535);
        w.recv(35).unwrap();
        w.grow_by_settings(1 << 20);
        assert_eq!(w.advertised(), (1 << 20) - 35);
        assert_eq!(w.target(), 1 << 20);
    }
}
