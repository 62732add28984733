//! Client-side pacing under Graph's per-tenant limits (`graph/README.md` §4): at most `max`
//! requests in any `per` window, so a backlog drains without learning the limit from 429s.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Added to the window: the server counts arrivals, this counts departures.
const MARGIN: Duration = Duration::from_millis(100);

pub struct Pacer {
    max: usize,
    per: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl Pacer {
    pub fn new(max: u32, per: Duration) -> Pacer {
        Pacer {
            max: max.max(1) as usize,
            per: per + MARGIN,
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// How long to wait before the next request may go; zero when it may go now, in which case
    /// the request is counted.
    pub fn try_acquire(&self, now: Instant) -> Duration {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.per)
        {
            sent.pop_front();
        }
        if sent.len() < self.max {
            sent.push_back(now);
            return Duration::ZERO;
        }
        let oldest = *sent.front().expect("a full window has an oldest request");
        (oldest + self.per)
            .saturating_duration_since(now)
            .max(Duration::from_millis(1))
    }

    /// Waits for a slot.
    pub async fn acquire(&self) {
        loop {
            let wait = self.try_acquire(Instant::now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_per_window() {
        let p = Pacer::new(5, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(p.try_acquire(t0).is_zero());
        }
        let wait = p.try_acquire(t0);
        assert_eq!(wait, Duration::from_secs(10) + MARGIN);
        for _ in 0..5 {
            assert!(p.try_acquire(t0 + wait).is_zero());
        }
        assert!(!p.try_acquire(t0 + wait).is_zero());
    }
}
