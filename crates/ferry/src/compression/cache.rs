//! One codec context per thread, reused across messages.
//!
//! Setting up a compressor is most of the cost of a small message (a zstd
//! context, deflate's hash tables): see the numbers in `gzip.rs` and
//! `zstd.rs`. A thread-local cache gives the reuse without a pool, a lock or a
//! handle in the API; the runtime's worker threads each keep one context per
//! codec.

use std::cell::Cell;
use std::thread::LocalKey;

/// Runs `f` with this thread's context from `cache`, creating it on first use
/// (or for every call while the thread is being torn down).
///
/// The context is taken out of the cell for the call, so nothing can reach it
/// twice, and a panic inside `f` merely drops it. `f` must leave the context
/// ready for the next message, or the next user must reset it first.
pub(super) fn with_cached<T, R>(
    cache: &'static LocalKey<Cell<Option<T>>>,
    create: fn() -> T,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let mut context = cache
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(create);
    let result = f(&mut context);
    // Fails only during thread teardown; the context is then dropped.
    let _ = cache.try_with(|cell| cell.set(Some(context)));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static COUNTER: Cell<Option<Vec<u32>>> = const { Cell::new(None) };
    }

    #[test]
    fn one_context_per_thread() {
        let create = || vec![0];
        let push = |v: &mut Vec<u32>| {
            v.push(v.len() as u32);
            v.len()
        };
        assert_eq!(with_cached(&COUNTER, create, push), 2);
        assert_eq!(with_cached(&COUNTER, create, push), 3);
        // Nested use while the context is out gets a fresh one.
        assert_eq!(
            with_cached(&COUNTER, create, |outer| {
                outer.push(9);
                with_cached(&COUNTER, create, push)
            }),
            2
        );
        // The outer context was put back last.
        assert_eq!(with_cached(&COUNTER, create, push), 5);
        std::thread::spawn(move || assert_eq!(with_cached(&COUNTER, create, push), 2))
            .join()
            .unwrap();
    }
}
