//! Stream states (RFC 9113 §5.1).
//!
//! ```text
//!                              +--------+
//!                      send PP |        | recv PP
//!                     ,--------+  idle  +--------.
//!                    /         |        |         \
//!                   v          +--------+          v
//!            +----------+          |           +----------+
//!            |          |          | send H /  |          |
//!     ,------+ reserved |          | recv H    | reserved +------.
//!     |      | (local)  |          |           | (remote) |      |
//!     |      +---+------+          v           +------+---+      |
//!     |          |             +--------+             |          |
//!     |          |     recv ES |        | send ES     |          |
//!     |   send H |     ,-------+  open  +-------.     | recv H   |
//!     |          |    /        |        |        \    |          |
//!     |          v   v         +---+----+         v   v          |
//!     |      +----------+          |           +----------+      |
//!     |      |   half-  |          |           |   half-  |      |
//!     |      |  closed  |          | send R /  |  closed  |      |
//!     |      | (remote) |          | recv R    | (local)  |      |
//!     |      +----+-----+          |           +-----+----+      |
//!     |           |                |                 |           |
//!     |           | send ES /      |       recv ES / |           |
//!     |           |  send R /      v        send R / |           |
//!     |           |  recv R    +--------+   recv R   |           |
//!     | send R /  `----------->|        |<-----------'  send R / |
//!     | recv R                 | closed |               recv R   |
//!     `----------------------->|        |<-----------------------'
//!                              +--------+
//!
//!   H:  HEADERS frame (with implied CONTINUATION frames)
//!   ES: END_STREAM flag          R: RST_STREAM frame
//!   PP: PUSH_PROMISE frame (with implied CONTINUATION frames)
//! ```
//!
//! Ferry never enables server push (both roles send SETTINGS_ENABLE_PUSH 0 and
//! a PUSH_PROMISE is a connection error), so the two *reserved* states do not
//! occur. *Idle* streams are not stored: a stream exists from the moment its
//! first HEADERS is sent or received, and is removed once it is *closed*,
//! after which the connection remembers only the highest id each side used.

/// Where a stored stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Both sides may send.
    Open,
    /// We sent END_STREAM; the peer may still send.
    HalfClosedLocal,
    /// The peer sent END_STREAM; we may still send.
    HalfClosedRemote,
    /// Both sides are done (or the stream was reset): about to be removed.
    Closed,
}

impl State {
    /// The state right after the stream's first HEADERS, given which side's
    /// END_STREAM it carried.
    pub(crate) fn opened(local_end: bool, remote_end: bool) -> State {
        State::Open.with(local_end, remote_end)
    }

    fn with(self, local_end: bool, remote_end: bool) -> State {
        let mut s = self;
        if local_end {
            s = s.send_end();
        }
        if remote_end {
            s = s.recv_end();
        }
        s
    }

    /// We sent a frame with END_STREAM.
    pub(crate) fn send_end(self) -> State {
        match self {
            State::Open => State::HalfClosedLocal,
            State::HalfClosedRemote | State::Closed => State::Closed,
            State::HalfClosedLocal => State::HalfClosedLocal,
        }
    }

    /// The peer sent a frame with END_STREAM.
    pub(crate) fn recv_end(self) -> State {
        match self {
            State::Open => State::HalfClosedRemote,
            State::HalfClosedLocal | State::Closed => State::Closed,
            State::HalfClosedRemote => State::HalfClosedRemote,
        }
    }

    /// The peer may still send frames other than WINDOW_UPDATE, PRIORITY and
    /// RST_STREAM.
    pub(crate) fn can_recv(self) -> bool {
        matches!(self, State::Open | State::HalfClosedLocal)
    }

    /// We may still send HEADERS or DATA.
    pub(crate) fn can_send(self) -> bool {
        matches!(self, State::Open | State::HalfClosedRemote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_diagram() {
        assert_eq!(State::opened(false, false), State::Open);
        assert_eq!(State::opened(true, false), State::HalfClosedLocal);
        assert_eq!(State::opened(false, true), State::HalfClosedRemote);
        assert_eq!(State::opened(true, true), State::Closed);
        assert_eq!(State::Open.send_end().recv_end(), State::Closed);
        assert_eq!(State::Open.recv_end().send_end(), State::Closed);
        assert!(State::HalfClosedLocal.can_recv());
        assert!(!State::HalfClosedLocal.can_send());
        assert!(State::HalfClosedRemote.can_send());
        assert!(!State::HalfClosedRemote.can_recv());
    }
}
