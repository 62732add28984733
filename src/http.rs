//! Everything HTTP that is not Graph's: the shared client (rustls with the web roots plus
//! `[tls] ca_file`, gzip, timeouts, `HTTPS_PROXY`/`NO_PROXY`), the description of a failure
//! that names its cause and fix (TLS, an unreachable host), `Retry-After`, the backoff policy,
//! and the one retry driver that Graph paging, token requests and OTLP export all use.

use std::time::{Duration, Instant};

use rand::Rng;
use url::Url;

use crate::shutdown::Shutdown;

/// Builds the shared HTTP client: rustls with the web roots plus `[tls] ca_file`, gzip,
/// connection reuse, timeouts, and the proxy of `HTTPS_PROXY` / `NO_PROXY`.
pub fn http_client(extra_ca_pem: Option<&[u8]>) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("entra-source/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(120))
        .pool_idle_timeout(Duration::from_secs(90))
        .gzip(true);
    if let Some(pem) = extra_ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build()
}

/// A TLS failure (an untrusted or invalid certificate), said so that it names the host, the
/// certificate problem and the fix. `None` for other failures.
pub fn tls_problem(url: &Url, e: &reqwest::Error) -> Option<String> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = src {
        let text = cause.to_string();
        if cause
            .downcast_ref::<tokio_rustls::rustls::Error>()
            .is_some()
            || text.contains("invalid peer certificate")
        {
            return Some(format!(
                "TLS to {} failed: {text}. If a TLS-inspecting proxy re-signs HTTPS on this network, add its CA certificate (PEM) with [tls] ca_file; otherwise check the host's clock and the server's certificate",
                url.host_str().unwrap_or("the server")
            ));
        }
        src = cause.source();
    }
    None
}

/// When a request got no answer at all (no connection, DNS failure, timeout): the likely causes
/// and the keys that choose the host (`keys`, e.g. "`graph_url` and `cloud`").
pub fn unreachable_hint(url: &Url, e: &reqwest::Error, keys: &str) -> Option<String> {
    (e.is_connect() || e.is_timeout()).then(|| {
        format!(
            "{} did not answer: check DNS, firewalls and any proxy on the way (HTTPS_PROXY / NO_PROXY in entra-source's environment), and {keys}",
            url.host_str().map_or_else(|| url.to_string(), |h| match url.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        )
    })
}

/// What a failure of one error-free reqwest call was, with its cause chain (TLS problems
/// hide there).
pub fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

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
    /// Give up once tries have kept failing this long (none: only `max_attempts` bounds it).
    pub give_up_after: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
            give_up_after: None,
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

/// Why a request stopped being retried.
#[derive(Debug)]
pub enum Stop<R> {
    /// `attempts` tries failed; the last said `last`.
    Exhausted { attempts: u32, last: R },
    /// Tries kept failing for longer than the policy's `give_up_after`.
    TimedOut {
        attempts: u32,
        elapsed: Duration,
        last: R,
    },
    /// A stop (SIGTERM) came while waiting.
    Shutdown,
}

/// A retry about to happen, for the caller's log line or counters.
pub struct Retrying<'a, R> {
    /// Failed tries so far (this one included).
    pub attempt: u32,
    pub wait: Duration,
    /// Since the first failure.
    pub elapsed: Duration,
    pub reason: &'a R,
}

/// The one retry driver of the program (Graph pages, tokens, OTLP exports): each caller tries,
/// and on a retryable answer hands the reason to [`Retrier::failed`], which counts it, decides
/// whether the budget of attempts or time allows another try, waits `Retry-After` or the
/// backoff (capped by what is left of `give_up_after`, cut short by a stop), and says why not
/// otherwise. `failures` may start above zero, so two phases of one request (its token, then
/// the page) share one budget.
pub struct Retrier<'a> {
    policy: &'a RetryPolicy,
    shutdown: &'a Shutdown,
    /// Failed tries so far.
    pub failures: u32,
    first_failure: Option<Instant>,
}

impl<'a> Retrier<'a> {
    pub fn new(policy: &'a RetryPolicy, shutdown: &'a Shutdown, failures: u32) -> Retrier<'a> {
        Retrier {
            policy,
            shutdown,
            failures,
            first_failure: None,
        }
    }

    /// A try failed with `reason` (after `after`, a `Retry-After`, when the answer gave one):
    /// `Ok` once it is time for the next try, after `on_retry` saw it.
    pub async fn failed<R>(
        &mut self,
        after: Option<Duration>,
        reason: R,
        on_retry: impl FnOnce(&Retrying<'_, R>),
    ) -> Result<(), Stop<R>> {
        self.failures += 1;
        let since = *self.first_failure.get_or_insert_with(Instant::now);
        let elapsed = since.elapsed();
        if self.failures >= self.policy.max_attempts {
            return Err(Stop::Exhausted {
                attempts: self.failures,
                last: reason,
            });
        }
        let mut wait = after.unwrap_or_else(|| self.policy.backoff(self.failures));
        if let Some(limit) = self.policy.give_up_after {
            if elapsed >= limit {
                return Err(Stop::TimedOut {
                    attempts: self.failures,
                    elapsed,
                    last: reason,
                });
            }
            wait = wait.min(limit - elapsed);
        }
        on_retry(&Retrying {
            attempt: self.failures,
            wait,
            elapsed,
            reason: &reason,
        });
        if self.shutdown.sleep(wait).await {
            Ok(())
        } else {
            Err(Stop::Shutdown)
        }
    }

    /// Whether a try has failed yet.
    pub fn has_failed(&self) -> bool {
        self.first_failure.is_some()
    }
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

    #[tokio::test]
    async fn the_retrier_counts_failures_and_stops_at_the_budget_or_the_time_limit() {
        let (_t, shutdown) = crate::shutdown::channel();
        let policy = RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
            give_up_after: None,
        };
        let mut r = Retrier::new(&policy, &shutdown, 0);
        let mut seen = Vec::new();
        for _ in 0..2 {
            r.failed(None, "503", |x| seen.push(x.attempt))
                .await
                .unwrap();
        }
        assert_eq!(seen, vec![1, 2]);
        assert!(matches!(
            r.failed(None, "503", |_| {}).await,
            Err(Stop::Exhausted {
                attempts: 3,
                last: "503"
            })
        ));
        // A time limit ends it whatever the count; a Retry-After is capped by what is left.
        let policy = RetryPolicy {
            max_attempts: u32::MAX,
            give_up_after: Some(Duration::from_millis(30)),
            ..policy
        };
        let mut r = Retrier::new(&policy, &shutdown, 0);
        let mut waits = Vec::new();
        let stop = loop {
            match r
                .failed(Some(Duration::from_secs(60)), "down", |x| {
                    waits.push(x.wait)
                })
                .await
            {
                Ok(()) => continue,
                Err(s) => break s,
            }
        };
        assert!(matches!(stop, Stop::TimedOut { .. }), "{stop:?}");
        assert!(
            waits.iter().all(|w| *w <= Duration::from_millis(30)),
            "{waits:?}"
        );
    }
}
