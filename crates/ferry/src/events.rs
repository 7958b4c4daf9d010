//! The channel that carries one call's [`StreamEvent`]s from its
//! connection's driver to the call.
//!
//! Every call has exactly one producer (the driver task, which owns the
//! sending half in its table of calls) and one consumer (the call's
//! `RecvStream`), and a unary call hears two or three events in its whole
//! life. A general-purpose unbounded channel allocates a block of 32 event
//! slots per channel; this one is a queue behind an uncontended lock and a
//! waker, with room for one event inline, so opening a call costs one small
//! allocation.
//!
//! Ends: when the sender is dropped the receiver drains what is queued and
//! then sees `None` (the driver is gone); when the receiver is dropped,
//! `send` fails and hands the event back, and what was queued is dropped.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use ferry_wire::StreamId;

use crate::driver::StreamEvent;

/// A new call's channel.
pub(crate) fn channel() -> (EventSender, EventReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            first: None,
            events: VecDeque::new(),
            sender_gone: false,
            receiver_gone: false,
        }),
        waker: AtomicWaker::new(),
        id: AtomicU32::new(UNOPENED),
    });
    (
        EventSender {
            shared: shared.clone(),
        },
        EventReceiver { shared },
    )
}

struct Shared {
    queue: Mutex<Queue>,
    waker: AtomicWaker,
    /// The call's stream id once the driver opened it, for a call that
    /// does not wait to be told (see [`OpenId`]).
    id: AtomicU32,
}

/// `Shared::id` before the driver opened the stream.
const UNOPENED: u32 = 0;
/// `Shared::id` of a call that gave up before its stream was opened: the
/// driver must not open it (or resets it at once).
const ABANDONED: u32 = u32::MAX;

struct Queue {
    /// The oldest event, kept inline: most calls hear one to three events
    /// in their life, and a native unary call exactly one, so the common
    /// case allocates no queue at all.
    first: Option<StreamEvent>,
    /// Events after `first`, in order.
    events: VecDeque<StreamEvent>,
    sender_gone: bool,
    receiver_gone: bool,
}

impl Shared {
    /// The queue. No code panics while holding the lock, but a poisoned
    /// lock would still hold a consistent queue, so it is taken anyway.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The driver's half.
pub(crate) struct EventSender {
    shared: Arc<Shared>,
}

impl EventSender {
    /// The driver opened the call's stream as `id`. False when the call
    /// gave up first: the stream must be reset.
    pub(crate) fn opened(&self, id: StreamId) -> bool {
        self.shared
            .id
            .compare_exchange(UNOPENED, id.as_u32(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The call gave up before its stream was opened.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.shared.id.load(Ordering::Acquire) == ABANDONED
    }

    /// Queues `event` for the call; `Err` with the event when the call is
    /// gone.
    pub(crate) fn send(&self, event: StreamEvent) -> Result<(), StreamEvent> {
        {
            let mut queue = self.shared.lock();
            if queue.receiver_gone {
                return Err(event);
            }
            if queue.first.is_none() && queue.events.is_empty() {
                queue.first = Some(event);
            } else {
                queue.events.push_back(event);
            }
        }
        self.shared.waker.wake();
        Ok(())
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        self.shared.lock().sender_gone = true;
        self.shared.waker.wake();
    }
}

impl fmt::Debug for EventSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSender").finish_non_exhaustive()
    }
}

/// The call's half.
pub(crate) struct EventReceiver {
    shared: Arc<Shared>,
}

impl EventReceiver {
    /// The stream's id, once the driver set it (see
    /// [`EventSender::opened`]).
    pub(crate) fn opened_id(&self) -> Option<StreamId> {
        id_of(self.shared.id.load(Ordering::Acquire))
    }

    /// The stream's id as the driver sets it (see [`EventSender::opened`]).
    pub(crate) fn open_id(&self) -> OpenId {
        OpenId {
            shared: self.shared.clone(),
        }
    }

    /// The next event; `None` once the sender is gone and every event was
    /// taken.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<StreamEvent>> {
        if let Poll::Ready(next) = self.try_next() {
            return Poll::Ready(next);
        }
        self.shared.waker.register(cx.waker());
        // An event sent between the first look and the registration woke
        // nobody: look again.
        self.try_next()
    }

    fn try_next(&self) -> Poll<Option<StreamEvent>> {
        let mut queue = self.shared.lock();
        match queue.first.take().or_else(|| queue.events.pop_front()) {
            Some(event) => Poll::Ready(Some(event)),
            None if queue.sender_gone => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        let dropped = {
            let mut queue = self.shared.lock();
            queue.receiver_gone = true;
            (queue.first.take(), std::mem::take(&mut queue.events))
        };
        // Events (and the buffers they hold) are dropped outside the lock.
        drop(dropped);
    }
}

/// A call's view of the id its driver gives the stream, for calls that
/// send their whole request with the open and do not wait to hear the id.
#[derive(Clone)]
pub(crate) struct OpenId {
    shared: Arc<Shared>,
}

impl OpenId {
    /// The id, once the driver opened the stream.
    pub(crate) fn get(&self) -> Option<StreamId> {
        id_of(self.shared.id.load(Ordering::Acquire))
    }

    /// The call gives up. `Some(id)` when the stream is already open (the
    /// caller resets it); `None` when it was not, and now never will be.
    pub(crate) fn abandon(&self) -> Option<StreamId> {
        match self.shared.id.compare_exchange(
            UNOPENED,
            ABANDONED,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => None,
            Err(ABANDONED) => None,
            Err(id) => Some(StreamId::new(id)),
        }
    }
}

/// The stream id a `Shared::id` value stands for, if any.
fn id_of(raw: u32) -> Option<StreamId> {
    match raw {
        UNOPENED | ABANDONED => None,
        id => Some(StreamId::new(id)),
    }
}

impl fmt::Debug for OpenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OpenId").field(&self.get()).finish()
    }
}

impl fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventReceiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use bytes::Bytes;

    use super::*;

    /// Counts its wake-ups.
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn data(byte: u8) -> StreamEvent {
        StreamEvent::Data {
            data: Bytes::from(vec![byte]),
            end_stream: false,
        }
    }

    fn byte_of(event: Option<StreamEvent>) -> Option<u8> {
        match event {
            Some(StreamEvent::Data { data, .. }) => data.first().copied(),
            _ => None,
        }
    }

    #[test]
    fn events_arrive_in_order_and_a_waiting_receiver_is_woken() {
        let (tx, mut rx) = channel();
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(rx.poll_recv(&mut cx).is_pending());
        assert!(tx.send(data(1)).is_ok());
        assert!(tx.send(data(2)).is_ok());
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        let Poll::Ready(first) = rx.poll_recv(&mut cx) else {
            panic!("the first event is queued");
        };
        assert_eq!(byte_of(first), Some(1));
        let Poll::Ready(second) = rx.poll_recv(&mut cx) else {
            panic!("the second event is queued");
        };
        assert_eq!(byte_of(second), Some(2));
        assert!(rx.poll_recv(&mut cx).is_pending());
    }

    #[test]
    fn a_dropped_sender_wakes_the_receiver_and_ends_the_stream_after_what_it_queued() {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);

        let (tx, mut rx) = channel();
        assert!(rx.poll_recv(&mut cx).is_pending());
        drop(tx);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(None)));

        let (tx, mut rx) = channel();
        assert!(tx.send(data(7)).is_ok());
        drop(tx);
        match rx.poll_recv(&mut cx) {
            Poll::Ready(event) => assert_eq!(byte_of(event), Some(7)),
            Poll::Pending => panic!("the queued event comes first"),
        }
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(None)));
    }

    #[test]
    fn sending_to_a_dropped_receiver_hands_the_event_back() {
        let (tx, rx) = channel();
        assert!(tx.send(data(1)).is_ok());
        drop(rx);
        match tx.send(data(3)) {
            Err(event) => assert_eq!(byte_of(Some(event)), Some(3)),
            Ok(()) => panic!("nobody receives"),
        }
    }

    #[test]
    fn a_call_learns_its_id_or_gives_up_first_never_both() {
        // Opened, then the call gives up: it must reset the open stream.
        let (tx, rx) = channel();
        let open = rx.open_id();
        assert_eq!(rx.opened_id(), None);
        assert!(tx.opened(StreamId::new(5)));
        assert_eq!(rx.opened_id(), Some(StreamId::new(5)));
        assert_eq!(open.abandon(), Some(StreamId::new(5)));

        // Given up first: the driver must not open it, and is told so.
        let (tx, rx) = channel();
        let open = rx.open_id();
        assert_eq!(open.abandon(), None);
        assert!(tx.is_abandoned());
        assert!(!tx.opened(StreamId::new(7)));
        assert_eq!(rx.opened_id(), None);
        assert_eq!(open.abandon(), None, "giving up twice changes nothing");
    }
}
