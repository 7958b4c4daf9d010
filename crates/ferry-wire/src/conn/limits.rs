//! Token buckets that count what a hostile peer floods us with.

use std::time::Instant;

use super::config::Rate;

/// A token bucket on the caller's clock. Tokens are kept in thousandths so
/// refills of less than one token per millisecond still add up.
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: Rate,
    milli_tokens: u64,
    last: Option<Instant>,
}

impl Bucket {
    pub(crate) fn new(rate: Rate) -> Bucket {
        Bucket {
            rate,
            milli_tokens: u64::from(rate.burst) * 1000,
            last: None,
        }
    }

    /// Takes one token; false when the bucket is empty (the limit is hit).
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }

    /// Fills the bucket to the brim (used when the peer's traffic has been
    /// justified, e.g. pings while we are sending data).
    pub(crate) fn fill(&mut self) {
        self.milli_tokens = u64::from(self.rate.burst) * 1000;
    }

    fn refill(&mut self, now: Instant) {
        let cap = u64::from(self.rate.burst) * 1000;
        if let Some(last) = self.last {
            let ms =
                u64::try_from(now.saturating_duration_since(last).as_millis()).unwrap_or(u64::MAX);
            let add = ms.saturating_mul(u64::from(self.rate.per_second));
            self.milli_tokens = self.milli_tokens.saturating_add(add).min(cap);
        }
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut b = Bucket::new(Rate::new(3, 10));
        assert!(b.take(t0));
        assert!(b.take(t0));
        assert!(b.take(t0));
        assert!(!b.take(t0));
        // 10 per second: one token every 100 ms.
        assert!(!b.take(t0 + Duration::from_millis(99)));
        assert!(b.take(t0 + Duration::from_millis(100)));
        assert!(!b.take(t0 + Duration::from_millis(100)));
        // Never more than the burst.
        let later = t0 + Duration::from_secs(100);
        for _ in 0..3 {
            assert!(b.take(later));
        }
        assert!(!b.take(later));
    }
}
