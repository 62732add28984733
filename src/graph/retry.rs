//! `Retry-After` parsing and capped exponential backoff with jitter.

use std::time::Duration;

use rand::Rng;

/// How hard one request is retried before the poll gives up (the cursor stays put, the next
/// poll resumes from it).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The first backoff when Graph gives no `Retry-After`.
    pub base: Duration,
    /// The longest backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Full-jitter exponential backoff for retry number `attempt` (1-based): a random delay in
    /// `[d/2, d]` where `d = min(cap, base * 2^(attempt-1))`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let d = exp.min(self.cap);
        let lo = d / 2;
        let jitter =
            rand::thread_rng().gen_range(0..=d.as_millis().saturating_sub(lo.as_millis()) as u64);
        lo + Duration::from_millis(jitter)
    }
}

/// Parses `Retry-After`: decimal seconds (Graph sends fractional ones such as `2.128`) or an
/// HTTP-date. `None` when absent or unreadable.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(3600.0)));
        }
        return None;
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(
        delta
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(3600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractional_seconds() {
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn http_date_in_the_past_is_zero() {
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for attempt in 1..20 {
            let d = p.backoff(attempt);
            assert!(d <= p.cap, "{d:?}");
        }
        let first = p.backoff(1);
        assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
        assert!(p.backoff(6) >= Duration::from_secs(8));
    }
}
