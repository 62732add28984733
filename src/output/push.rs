//! An acknowledged POST, shared by the two push sinks (`otlp_endpoint`, `http_endpoint`): a
//! body counts as delivered only when the receiver answered 2xx. 429, 502, 503 and 504 (and a
//! receiver that is down) are retried, obeying `Retry-After`, until they succeed, the run is
//! stopped, or `give_up_after` passes; 413 tells the caller to halve its batch; other answers
//! stop the run with the receiver's words.

use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::OutputError;
use crate::http::{parse_retry_after, Retrier, RetryPolicy, Stop};
use crate::shutdown::Shutdown;

/// Who receives the pushes, for the requests and for the messages that name the fix.
pub struct Receiver {
    /// "the Collector", "the HTTP receiver".
    pub name: &'static str,
    /// "OTLP export", "HTTP push".
    pub what: &'static str,
    /// The body's `Content-Type`.
    pub content_type: &'static str,
    /// The config key that bounds the retries, e.g. `[output] otlp_give_up_after`.
    pub give_up_key: &'static str,
    /// What to do when it answers 404.
    pub not_found_hint: &'static str,
    /// The error a failure becomes.
    pub error: fn(String) -> OutputError,
}

/// What one POST came to.
enum Posted {
    Acknowledged,
    TooLarge,
    Retry(Option<Duration>, String),
}

/// Seconds left before a push that keeps failing is given up.
fn give_up_in(policy: &RetryPolicy, elapsed: Duration) -> u64 {
    policy
        .give_up_after
        .map_or(u64::MAX, |g| g.saturating_sub(elapsed).as_secs())
}

/// While a receiver stays down, a warning at least this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

pub struct Pusher {
    client: reqwest::Client,
    pub url: Url,
    timeout: Duration,
    retry: RetryPolicy,
    shutdown: Shutdown,
    pub receiver: Receiver,
    /// Requests answered 2xx.
    pub requests_ok: u64,
    /// Requests retried (429/5xx/unreachable).
    pub retries: u64,
    /// Records the receiver reported rejecting in an OTLP partial success.
    pub rejected: u64,
}

impl Pusher {
    pub fn new(
        client: reqwest::Client,
        url: Url,
        timeout: Duration,
        give_up_after: Duration,
        shutdown: Shutdown,
        receiver: Receiver,
    ) -> Pusher {
        Pusher {
            client,
            url,
            timeout,
            // An unacknowledged body is retried this long, then the run stops (exit 1).
            retry: RetryPolicy {
                max_attempts: u32::MAX,
                base: Duration::from_millis(500),
                cap: Duration::from_secs(30),
                give_up_after: Some(give_up_after),
            },
            shutdown,
            receiver,
            requests_ok: 0,
            retries: 0,
            rejected: 0,
        }
    }

    fn fail(&self, msg: String) -> OutputError {
        (self.receiver.error)(msg)
    }

    /// One body until acknowledged. `false` when it was refused as too large. A receiver that
    /// stays down is logged when it first fails and at least every [`PROGRESS_EVERY`], and
    /// given up on after `give_up_after` (nothing of the body is checkpointed).
    pub async fn deliver(&mut self, body: &[u8], records: usize) -> Result<bool, OutputError> {
        let (policy, shutdown) = (self.retry.clone(), self.shutdown.clone());
        let mut retrier = Retrier::new(&policy, &shutdown, 0);
        let mut last_warn: Option<std::time::Instant> = None;
        loop {
            if shutdown.is_set() {
                return Err(OutputError::Shutdown);
            }
            let (after, reason) = match self.post(body, records).await? {
                Posted::Retry(after, why) => (after, why),
                done => {
                    let acknowledged = matches!(done, Posted::Acknowledged);
                    self.requests_ok += u64::from(acknowledged);
                    if retrier.has_failed() && acknowledged {
                        tracing::info!(
                            url = %self.url,
                            attempts = retrier.failures + 1,
                            "{} acknowledged the push again",
                            self.receiver.name
                        );
                    }
                    return Ok(acknowledged);
                }
            };
            self.retries += 1;
            let (url, name, what) = (&self.url, self.receiver.name, self.receiver.what);
            let waited = retrier
                .failed(after, reason, |r| {
                    // The first failure and then at least every PROGRESS_EVERY: a receiver
                    // that stays down neither floods the log nor goes unmentioned.
                    if last_warn.is_none_or(|w| w.elapsed() >= PROGRESS_EVERY) {
                        last_warn = Some(std::time::Instant::now());
                        tracing::warn!(
                            url = %url,
                            attempt = r.attempt,
                            down_seconds = r.elapsed.as_secs(),
                            give_up_in_seconds = give_up_in(&policy, r.elapsed),
                            "{what} not acknowledged by {name} ({}); retrying, the checkpoint waits",
                            r.reason
                        );
                    } else {
                        tracing::debug!(
                            url = %url,
                            attempt = r.attempt,
                            "{what} not acknowledged by {name} ({}); retrying",
                            r.reason
                        );
                    }
                })
                .await;
            match waited {
                Ok(()) => {}
                Err(Stop::Shutdown) => return Err(OutputError::Shutdown),
                Err(Stop::TimedOut {
                    attempts,
                    elapsed,
                    last,
                }) => {
                    return Err(self.fail(format!(
                        "{} at {} has not acknowledged a push for {} ({attempts} attempts, last: {last}); giving up ({}). Nothing past the last acknowledged page was checkpointed: the next run sends it again. Check that it runs and listens there (firewall, proxy, DNS)",
                        self.receiver.name,
                        self.url,
                        crate::duration::format_duration(Duration::from_secs(elapsed.as_secs().max(1))),
                        self.receiver.give_up_key,
                    )))
                }
                Err(Stop::Exhausted { attempts, last }) => {
                    return Err(self.fail(format!(
                        "{} at {} did not acknowledge a push in {attempts} attempts (last: {last})",
                        self.receiver.name, self.url
                    )))
                }
            }
        }
    }

    /// One POST and what it came to; `Err` when the receiver refused it for good.
    async fn post(&mut self, body: &[u8], records: usize) -> Result<Posted, OutputError> {
        let send = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, self.receiver.content_type)
            .timeout(self.timeout)
            .body(body.to_vec())
            .send();
        let resp = tokio::select! {
            r = send => r,
            _ = self.shutdown.wait() => return Err(OutputError::Shutdown),
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                if let Some(tls) = crate::http::tls_problem(&self.url, &e) {
                    return Err(self.fail(tls));
                }
                return Ok(Posted::Retry(None, format!("{e}")));
            }
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = tokio::select! {
            t = resp.text() => t.unwrap_or_default(),
            _ = self.shutdown.wait() => return Err(OutputError::Shutdown),
        };
        if status.is_success() {
            self.note_partial_success(&text, records);
            return Ok(Posted::Acknowledged);
        }
        match status.as_u16() {
            429 | 502 | 503 | 504 => Ok(Posted::Retry(retry_after, format!("HTTP {status}"))),
            413 => Ok(Posted::TooLarge),
            404 => Err(self.fail(format!(
                "{} at {} answered 404: {}",
                self.receiver.name, self.url, self.receiver.not_found_hint
            ))),
            code => Err(self.fail(format!(
                "{} at {} refused the push with HTTP {code}: {}; check the receiver's configuration and its logs",
                self.receiver.name,
                self.url,
                text.chars().take(300).collect::<String>()
            ))),
        }
    }

    /// A 2xx may still carry OTLP's `partialSuccess`: those records are rejected for good
    /// (OTLP says not to retry them), so they are counted and logged.
    fn note_partial_success(&mut self, text: &str, records: usize) {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let rejected = match v.pointer("/partialSuccess/rejectedLogRecords") {
            Some(Value::String(s)) => s.parse::<u64>().unwrap_or(0),
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            _ => 0,
        };
        if rejected > 0 {
            self.rejected += rejected;
            let msg = v
                .pointer("/partialSuccess/errorMessage")
                .and_then(Value::as_str)
                .unwrap_or("");
            tracing::warn!(
                rejected,
                sent = records,
                rejected_total = self.rejected,
                "{} accepted the push but rejected some records: {msg}",
                self.receiver.name
            );
        }
    }
}
