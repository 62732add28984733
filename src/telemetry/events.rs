//! Internal events: what happened, emitted where it happened (Vector's `internal_events`): each
//! updates the metrics and the `/health` status, and the per-stream counters a poller holds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;

use super::{
    get, lock, resource_of, EventLabels, Health, RequestLabels, ResourceLabels, StreamLabels,
    TokenLabels,
};
/// The run started, polling every `interval`: `/health` allows two intervals before a first
/// success.
pub struct RunStarted {
    pub interval: Duration,
}

impl RunStarted {
    pub fn emit(self) {
        get().set_run(self.interval);
    }
}

/// An enabled stream (its tenant's GUID and state section), known to `/health` before its
/// first poll.
pub struct StreamRegistered<'a> {
    pub tenant: &'a str,
    pub section: &'a str,
}

impl StreamRegistered<'_> {
    pub fn emit(self) {
        get().register_stream(self.tenant, self.section);
    }
}

/// Checkpoint writes and bytes written to the state store by this process so far.
pub fn state_totals() -> (u64, u64) {
    let m = get();
    (m.state_writes.get(), m.state_bytes.get())
}

/// A poll measured the stream's arrival rate against its budget.
pub struct BudgetAssessed<'a> {
    pub tenant: &'a str,
    pub section: &'a str,
    pub arriving: f64,
    pub sustainable: f64,
    pub behind: bool,
}

impl BudgetAssessed<'_> {
    pub fn emit(self) {
        get().budget(
            self.tenant,
            self.section,
            self.arriving,
            self.sustainable,
            self.behind,
        );
    }
}

/// One poll ended with this health (a failure with its one-line explanation).
pub struct PollDone<'a> {
    pub tenant: &'a str,
    pub section: &'a str,
    pub health: Health,
    pub cursor: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

impl PollDone<'_> {
    pub fn emit(self) {
        get().poll_done(
            self.tenant,
            self.section,
            self.health,
            self.cursor,
            self.error,
        );
    }
}

/// A page was checkpointed and moved the stream's cursor: the lag falls during a catch-up, not
/// only when the whole poll ends.
pub struct CursorMoved<'a> {
    pub tenant: &'a str,
    pub section: &'a str,
    pub cursor: DateTime<Utc>,
}

impl CursorMoved<'_> {
    pub fn emit(self) {
        let m = get();
        let mut streams = lock(&m.streams);
        let s = streams
            .entry((self.tenant.to_string(), self.section.to_string()))
            .or_default();
        if s.cursor.is_none_or(|c| c < self.cursor) {
            s.cursor = Some(self.cursor);
        }
    }
}

/// A Graph request got an answer (`status`) or none (`None`: connection failure, timeout).
pub struct GraphResponse<'a> {
    pub url: &'a url::Url,
    pub status: Option<u16>,
}

impl GraphResponse<'_> {
    pub fn emit(self) {
        get()
            .requests
            .get_or_create(&RequestLabels {
                resource: resource_of(self.url),
                status: self
                    .status
                    .map_or_else(|| "error".to_string(), |s| s.to_string()),
            })
            .inc();
    }
}

/// A Graph request is retried after `wait` (after a 429 when `status` says so). Logged at
/// debug: a stream stuck failing logs one line per poll (the poll's own failure line, which
/// carries the attempts), not one per retry.
pub struct GraphRetry<'a> {
    pub url: &'a url::Url,
    pub status: Option<u16>,
    pub attempt: u32,
    pub wait: Duration,
    pub why: &'a str,
}

impl GraphRetry<'_> {
    pub fn emit(self) {
        let m = get();
        let resource = ResourceLabels {
            resource: resource_of(self.url),
        };
        m.retries.get_or_create(&resource).inc();
        if self.status == Some(429) {
            m.throttled.get_or_create(&resource).inc();
            m.throttle_wait
                .get_or_create(&resource)
                .inc_by(self.wait.as_secs_f64());
        }
        tracing::debug!(
            url = %self.url,
            attempt = self.attempt,
            wait_ms = self.wait.as_millis() as u64,
            "{}; retrying the same URL",
            self.why
        );
    }
}

/// A token request of a tenant (as configured) succeeded or failed.
pub struct TokenRequested<'a> {
    pub tenant: &'a str,
    pub ok: bool,
}

impl TokenRequested<'_> {
    pub fn emit(self) {
        get()
            .token_requests
            .get_or_create(&TokenLabels {
                tenant: self.tenant.to_string(),
                outcome: if self.ok { "ok" } else { "error" }.into(),
            })
            .inc();
    }
}

/// The checkpoint file was written.
pub struct StateWritten {
    pub bytes: u64,
}

impl StateWritten {
    pub fn emit(self) {
        let m = get();
        m.state_writes.inc();
        m.state_bytes.inc_by(self.bytes);
    }
}

/// One poller's own counters, made once (after its tenant's GUID is known), not per page.
#[derive(Clone)]
pub struct StreamCounters {
    pages: Counter,
    events: Counter,
    summarized: Counter,
}

impl StreamCounters {
    /// A Graph page read.
    pub fn page_read(&self) {
        self.pages.inc();
    }

    /// `n` events written (acknowledged, with OTLP).
    pub fn events_written(&self, n: u64) {
        self.events.inc_by(n);
    }

    /// `n` sign-ins counted into summaries.
    pub fn summarized(&self, n: u64) {
        self.summarized.inc_by(n);
    }
}

/// The counters of one stream section of one tenant, for events in `format`.
pub fn stream_counters(tenant: &str, section: &str, format: &str) -> StreamCounters {
    let m = get();
    StreamCounters {
        pages: m
            .pages
            .get_or_create(&StreamLabels::new(tenant, section))
            .clone(),
        events: m
            .events
            .get_or_create(&EventLabels::new(tenant, section, format))
            .clone(),
        summarized: m
            .summarized
            .get_or_create(&StreamLabels::new(tenant, section))
            .clone(),
    }
}
