//! The process's telemetry, Vector's `internal_events` way: one small struct per thing that
//! happens, whose `emit()` counts it (and logs it where a log line is due). Only this module
//! touches the registry; `metrics` serves it. Per-stream counters are made once per poller
//! ([`stream_counters`]), not looked up per page.
//!
//! The counters are process-wide and always kept (they cost an atomic add); the endpoint is
//! served only when `[metrics] listen` is configured.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

/// One label per dimension: `stream="sign_ins"` and `sign_in_type="interactiveUser"` (empty,
/// and so absent to Prometheus, for the other streams), never a composite value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    pub tenant: String,
    pub stream: String,
    pub sign_in_type: String,
}

impl StreamLabels {
    /// From a state-file section (`sign_ins.interactiveUser`, `directory_audits`).
    pub fn new(tenant: &str, section: &str) -> StreamLabels {
        let (stream, sign_in_type) = split_section(section);
        StreamLabels {
            tenant: tenant.to_string(),
            stream: stream.to_string(),
            sign_in_type: sign_in_type.unwrap_or_default().to_string(),
        }
    }
}

/// `sign_ins.interactiveUser` → (`sign_ins`, `Some("interactiveUser")`).
pub fn split_section(section: &str) -> (&str, Option<&str>) {
    match section.split_once('.') {
        Some((stream, sub)) => (stream, Some(sub)),
        None => (section, None),
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    pub tenant: String,
    pub stream: String,
    pub sign_in_type: String,
    pub format: String,
}

impl EventLabels {
    pub fn new(tenant: &str, section: &str, format: &str) -> EventLabels {
        let StreamLabels {
            tenant,
            stream,
            sign_in_type,
        } = StreamLabels::new(tenant, section);
        EventLabels {
            tenant,
            stream,
            sign_in_type,
            format: format.to_string(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    pub resource: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    pub resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    pub tenant: String,
    pub outcome: String,
}

/// A stream's condition after its last poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// The last poll drained its window.
    Ok,
    /// The last poll failed in a way the next one may not (throttling or outage beyond the
    /// retries, a licence that flickers); the stream keeps polling.
    Degraded,
    /// The stream stopped: credentials, permission, licence or a refused query; it needs a fix.
    Error,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Degraded => "degraded",
            Health::Error => "error",
        }
    }
}

type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// What `/health` knows of one stream.
#[derive(Debug, Clone, Default)]
struct StreamStatus {
    cursor: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    health: Option<Health>,
    last_error: Option<String>,
    consecutive_failures: u32,
}

struct Metrics {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    pages: Family<StreamLabels, Counter>,
    summarized: Family<StreamLabels, Counter>,
    polls_failed: Family<StreamLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    throttled: Family<ResourceLabels, Counter>,
    throttle_wait: Family<ResourceLabels, FloatCounter>,
    retries: Family<ResourceLabels, Counter>,
    token_requests: Family<TokenLabels, Counter>,
    state_writes: Counter,
    state_bytes: Counter,
    lag: Family<StreamLabels, FloatGauge>,
    last_success: Family<StreamLabels, FloatGauge>,
    healthy: Family<StreamLabels, Gauge>,
    sustainable: Family<StreamLabels, FloatGauge>,
    arriving: Family<StreamLabels, FloatGauge>,
    behind_budget: Family<StreamLabels, Gauge>,
    delays: delays::DelayMetrics,
    hub: hub::HubMetrics,
    streams: Mutex<BTreeMap<(String, String), StreamStatus>>,
    started: Mutex<(DateTime<Utc>, Duration)>,
    /// Why this process cannot do its job at all (a shard mismatch): `/health/ready` says it.
    misconfigured: Mutex<Option<String>>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The process's metrics.
fn get() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("entra_source");
        let m = Metrics {
            registry: Registry::default(),
            events: Family::default(),
            pages: Family::default(),
            summarized: Family::default(),
            polls_failed: Family::default(),
            requests: Family::default(),
            throttled: Family::default(),
            throttle_wait: Family::default(),
            retries: Family::default(),
            token_requests: Family::default(),
            state_writes: Counter::default(),
            state_bytes: Counter::default(),
            lag: Family::default(),
            last_success: Family::default(),
            healthy: Family::default(),
            sustainable: Family::default(),
            arriving: Family::default(),
            behind_budget: Family::default(),
            delays: Default::default(),
            hub: Default::default(),
            streams: Mutex::new(BTreeMap::new()),
            started: Mutex::new((Utc::now(), Duration::from_secs(300))),
            misconfigured: Mutex::new(None),
        };
        registry.register(
            "events",
            "Events written (or acknowledged, with OTLP), per tenant, stream and format",
            m.events.clone(),
        );
        registry.register("pages", "Graph pages read", m.pages.clone());
        registry.register(
            "sign_ins_summarized",
            "Sign-ins counted into summaries instead of emitted ([streams.sign_ins.shaping])",
            m.summarized.clone(),
        );
        registry.register(
            "polls_failed",
            "Polls that ended in an error",
            m.polls_failed.clone(),
        );
        registry.register(
            "graph_requests",
            "Graph requests by resource and HTTP status (`error` when no answer came)",
            m.requests.clone(),
        );
        registry.register("graph_throttled", "Graph 429 answers", m.throttled.clone());
        registry.register(
            "graph_throttle_wait_seconds",
            "Time spent waiting after 429 answers",
            m.throttle_wait.clone(),
        );
        registry.register(
            "graph_retries",
            "Graph requests retried (429, 5xx, timeouts)",
            m.retries.clone(),
        );
        registry.register(
            "token_requests",
            "Token requests by outcome",
            m.token_requests.clone(),
        );
        registry.register(
            "state_writes",
            "Checkpoint writes (journal appends and compactions), each fsynced",
            m.state_writes.clone(),
        );
        registry.register(
            "state_written_bytes",
            "Bytes written to the state store",
            m.state_bytes.clone(),
        );
        registry.register(
            "budget_sustainable_records_per_second",
            "Records a second the stream's share of its tenant's Graph budget sustains, with its reads per record",
            m.sustainable.clone(),
        );
        registry.register(
            "arriving_records_per_second",
            "New records a second of stream time, as the last poll saw them",
            m.arriving.clone(),
        );
        registry.register(
            "behind_budget",
            "1 when records arrive faster than the stream's budget sustains (it falls behind)",
            m.behind_budget.clone(),
        );
        registry.register(
            "stream_lag_seconds",
            "Now minus the stream's cursor",
            m.lag.clone(),
        );
        registry.register(
            "stream_last_success_timestamp_seconds",
            "When the stream last drained its window (Unix time)",
            m.last_success.clone(),
        );
        registry.register(
            "stream_healthy",
            "1 when the stream's last poll succeeded, else 0",
            m.healthy.clone(),
        );
        m.delays.register(&mut registry);
        m.hub.register(&mut registry);
        Metrics { registry, ..m }
    }

    /// The run's start and poll interval: `/health` allows two intervals before a first success.
    fn set_run(&self, interval: Duration) {
        *lock(&self.started) = (Utc::now(), interval);
    }

    /// An enabled stream, known to `/health` before its first poll.
    fn register_stream(&self, tenant: &str, stream: &str) {
        lock(&self.streams)
            .entry((tenant.to_string(), stream.to_string()))
            .or_default();
    }

    /// The outcome of one poll.
    fn poll_done(
        &self,
        tenant: &str,
        stream: &str,
        health: Health,
        cursor: Option<DateTime<Utc>>,
        error: Option<String>,
    ) {
        let labels = StreamLabels::new(tenant, stream);
        let mut streams = lock(&self.streams);
        let s = streams
            .entry((tenant.to_string(), stream.to_string()))
            .or_default();
        s.health = Some(health);
        if cursor.is_some() {
            s.cursor = cursor;
        }
        if health == Health::Ok {
            let now = Utc::now();
            s.last_success = Some(now);
            s.consecutive_failures = 0;
            self.last_success
                .get_or_create(&labels)
                .set(now.timestamp_millis() as f64 / 1000.0);
        } else {
            s.consecutive_failures += 1;
            s.last_error = error;
            self.polls_failed.get_or_create(&labels).inc();
        }
        self.healthy
            .get_or_create(&labels)
            .set(i64::from(health == Health::Ok));
    }

    fn budget(&self, tenant: &str, section: &str, arriving: f64, sustainable: f64, behind: bool) {
        let labels = StreamLabels::new(tenant, section);
        self.sustainable.get_or_create(&labels).set(sustainable);
        self.arriving.get_or_create(&labels).set(arriving);
        self.behind_budget
            .get_or_create(&labels)
            .set(i64::from(behind));
    }

    /// `/metrics`: the registry in Prometheus text format, lags as of now.
    fn render(&self) -> String {
        let now = Utc::now();
        for ((tenant, stream), s) in lock(&self.streams).iter() {
            if let Some(c) = s.cursor {
                let lag = (now - c).num_milliseconds().max(0) as f64 / 1000.0;
                self.lag
                    .get_or_create(&StreamLabels::new(tenant, stream))
                    .set(lag);
            }
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!("cannot encode metrics: {e}");
        }
        out
    }
}

/// `/metrics`: the registry in Prometheus text format, lags as of now.
pub fn render() -> String {
    get().render()
}

/// `/health`: (healthy, JSON body).
pub fn health() -> (bool, serde_json::Value) {
    get().health()
}

/// `/health/ready`: (ready, JSON body).
pub fn readiness() -> (bool, serde_json::Value) {
    get().readiness()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The Graph resource of a request URL (`auditLogs/directoryAudits`), for labels.
fn resource_of(url: &url::Url) -> String {
    let mut parts = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect::<Vec<_>>())
        .unwrap_or_default();
    if parts.first().is_some_and(|p| *p == "v1.0" || *p == "beta") {
        parts.remove(0);
    }
    parts.truncate(2);
    parts.join("/")
}

mod delays;
mod events;
mod health;
mod hub;

pub use delays::{SweepsLearned, SweepsRead, TailChecked};
pub use events::*;
pub use health::Misconfigured;
pub use hub::{HubAudited, HubBatch};

#[cfg(test)]
mod tests;
