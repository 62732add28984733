//! Microsoft's clock, as its answers give it: poll windows end at "now" on the clock that
//! stamps the records, not this host's, so a host clock that runs ahead never moves a cursor
//! past records Graph has not stamped yet (and the simulator can move time for tests).
//!
//! Each answer's `Date` header (one-second resolution) anchors the clock; between answers it
//! runs on this host's monotonic clock. Before the first answer, or when an answer's `Date` is
//! missing, unreadable or more than [`MAX_DATE_SKEW`] from this host's clock (a proxy that
//! rewrites it, say), this host's clock is used.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

/// How far an answer's `Date` may differ from this host's clock and still be believed.
pub const MAX_DATE_SKEW: Duration = Duration::days(3);

/// One tenant's view of Microsoft's clock.
#[derive(Debug, Default)]
pub struct GraphClock {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    anchor: Option<(DateTime<Utc>, Instant)>,
    /// The latest time handed out: the clock never runs backwards.
    last: Option<DateTime<Utc>>,
    warned: bool,
}

impl GraphClock {
    /// Takes the `Date` header of an answer (absent or unreadable: ignored).
    pub fn observe(&self, date: Option<&str>) {
        let Some(at) = date.and_then(|d| DateTime::parse_from_rfc2822(d.trim()).ok()) else {
            return;
        };
        self.observe_time(at.with_timezone(&Utc), Instant::now());
    }

    fn observe_time(&self, at: DateTime<Utc>, when: Instant) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if (at - Utc::now()).abs() > MAX_DATE_SKEW {
            if !inner.warned {
                inner.warned = true;
                tracing::warn!(
                    date = %at,
                    "an answer's Date header is more than 3 days from this host's clock; planning windows on this host's clock instead (check NTP, and any proxy between here and Microsoft)"
                );
            }
            return;
        }
        // A `Date` is truncated to the second: keep the anchor that puts the clock later.
        let later = inner
            .anchor
            .is_none_or(|(a, i)| at > a + Duration::from_std(when - i).unwrap_or_default());
        if later {
            inner.anchor = Some((at, when));
        }
    }

    /// Whether an answer has set the clock.
    pub fn is_set(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .anchor
            .is_some()
    }

    /// Now, on Microsoft's clock when an answer gave it.
    pub fn now(&self) -> DateTime<Utc> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = match inner.anchor {
            Some((at, i)) => at + Duration::from_std(i.elapsed()).unwrap_or_default(),
            None => Utc::now(),
        };
        let now = inner.last.map_or(now, |l| l.max(now));
        inner.last = Some(now);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_sets_the_clock_and_it_never_runs_backwards() {
        let c = GraphClock::default();
        assert!(!c.is_set());
        let ahead = Utc::now() + Duration::minutes(25);
        c.observe(Some(&ahead.to_rfc2822()));
        assert!(c.is_set());
        let t1 = c.now();
        assert!((t1 - ahead).num_seconds().abs() <= 1, "{t1} vs {ahead}");
        // An older Date (another front end a second behind) does not move it back.
        c.observe(Some(&(ahead - Duration::seconds(5)).to_rfc2822()));
        assert!(c.now() >= t1);
        // Garbage and absurd dates are ignored.
        c.observe(Some("yesterday"));
        c.observe(None);
        c.observe(Some(&(Utc::now() + Duration::days(400)).to_rfc2822()));
        assert!((c.now() - ahead).num_seconds().abs() <= 2);
    }

    #[test]
    fn an_http_date_in_gmt_is_read() {
        let c = GraphClock::default();
        let now = Utc::now();
        c.observe(Some(&now.format("%a, %d %b %Y %H:%M:%S GMT").to_string()));
        assert!((c.now() - now).num_seconds().abs() <= 1);
    }
}
