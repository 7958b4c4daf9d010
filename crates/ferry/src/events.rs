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
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

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
}

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
}
