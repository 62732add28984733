//! Client-side pacing under Graph's per-tenant limits (`graph/README.md` §4): at most `max`
//! requests in any `per` window, so a backlog drains without learning the limit from 429s.
//!
//! Graph counts a request when it arrives, which is some time after this side let it go (a busy
//! runtime, a slow connection). So a request's slot is stamped again when its response is
//! complete: the next window is measured from a moment after the arrival.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Added to the window: the server counts arrivals, this counts departures.
const MARGIN: Duration = Duration::from_millis(100);

pub struct Pacer {
    max: usize,
    per: Duration,
    /// (slot number, when it was taken or completed), oldest first.
    sent: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    next: u64,
    q: VecDeque<(u64, Instant)>,
}

/// A taken slot; [`Pacer::complete`] restamps it.
#[derive(Debug, Clone, Copy)]
pub struct Slot(u64);

impl Pacer {
    pub fn new(max: u32, per: Duration) -> Pacer {
        Pacer {
            max: max.max(1) as usize,
            per: per + MARGIN,
            sent: Mutex::new(Slots::default()),
        }
    }

    /// Requests a second this pacer allows.
    pub fn rate(&self) -> f64 {
        self.max as f64 / (self.per - MARGIN).as_secs_f64().max(0.001)
    }

    /// A slot if one is free now, else how long until one is.
    pub fn try_acquire(&self, now: Instant) -> Result<Slot, Duration> {
        let mut s = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let per = self.per;
        s.q.retain(|(_, t)| now.saturating_duration_since(*t) < per);
        if s.q.len() < self.max {
            let id = s.next;
            s.next += 1;
            s.q.push_back((id, now));
            return Ok(Slot(id));
        }
        let oldest =
            s.q.iter()
                .map(|(_, t)| *t)
                .min()
                .expect("a full window has entries");
        Err((oldest + per)
            .saturating_duration_since(now)
            .max(Duration::from_millis(1)))
    }

    /// How long until a slot is free (zero: now), without taking it.
    pub fn free_in(&self, now: Instant) -> Duration {
        let s = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let live: Vec<Instant> =
            s.q.iter()
                .map(|(_, t)| *t)
                .filter(|t| now.saturating_duration_since(*t) < self.per)
                .collect();
        if live.len() < self.max {
            return Duration::ZERO;
        }
        live.iter().min().map_or(Duration::ZERO, |oldest| {
            (*oldest + self.per).saturating_duration_since(now)
        })
    }

    /// Waits for a slot.
    pub async fn acquire(&self) -> Slot {
        loop {
            match self.try_acquire(Instant::now()) {
                Ok(slot) => return slot,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// The request of `slot` is complete: its window starts now.
    pub fn complete(&self, slot: Slot, now: Instant) {
        let mut s = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = s.q.iter_mut().find(|(id, _)| *id == slot.0) {
            entry.1 = now;
        }
    }
}

/// Per-tenant request budgets.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    pub reports_per_10s: u32,
    /// Across every tenant of the app (`[throttle] app_reports_requests_per_10s`).
    pub app_reports_per_10s: u32,
    pub identity_protection_per_second: u32,
    /// Directory delta queries per second per tenant (`[throttle] directory_requests_per_second`).
    pub directory_per_second: u32,
}

impl Throttle {
    /// One tenant's reports budget when `tenants` tenants share the app's: its own limit, or
    /// an equal share of the app-wide one when that is smaller (at least 1), so that together
    /// they never exceed Graph's application-wide limit and none starves another.
    pub fn reports_share(&self, tenants: usize) -> u32 {
        let n = u32::try_from(tenants.max(1)).unwrap_or(u32::MAX);
        self.reports_per_10s
            .min((self.app_reports_per_10s / n).max(1))
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
            assert!(p.try_acquire(t0).is_ok());
        }
        let wait = p.try_acquire(t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(10) + MARGIN);
        for _ in 0..5 {
            assert!(p.try_acquire(t0 + wait).is_ok());
        }
        assert!(p.try_acquire(t0 + wait).is_err());
    }

    #[test]
    fn a_slow_request_holds_its_slot_from_its_completion() {
        let p = Pacer::new(1, Duration::from_secs(1));
        let t0 = Instant::now();
        let slot = p.try_acquire(t0).unwrap();
        p.complete(slot, t0 + Duration::from_millis(700));
        let wait = p.try_acquire(t0 + Duration::from_millis(800)).unwrap_err();
        assert_eq!(wait, Duration::from_millis(1000));
    }
}
