//! `[metrics] listen`: Prometheus text at `/metrics` (through `prometheus-client`) and a JSON
//! `/health` that answers 200 while every enabled stream polled successfully within two
//! intervals (or the run is younger than that), 503 otherwise, naming the failing streams.
//!
//! The counters are process-wide and always kept (they cost an atomic add); the endpoint is
//! served only when configured.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::json;

use crate::state::Health;

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
pub struct EventLabels {
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
pub struct RequestLabels {
    pub resource: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub tenant: String,
    pub outcome: String,
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

pub struct Metrics {
    registry: Registry,
    pub events: Family<EventLabels, Counter>,
    pub pages: Family<StreamLabels, Counter>,
    pub polls_failed: Family<StreamLabels, Counter>,
    pub requests: Family<RequestLabels, Counter>,
    pub throttled: Family<ResourceLabels, Counter>,
    pub throttle_wait: Family<ResourceLabels, FloatCounter>,
    pub retries: Family<ResourceLabels, Counter>,
    pub token_requests: Family<TokenLabels, Counter>,
    pub state_writes: Counter,
    lag: Family<StreamLabels, FloatGauge>,
    last_success: Family<StreamLabels, FloatGauge>,
    healthy: Family<StreamLabels, Gauge>,
    streams: Mutex<BTreeMap<(String, String), StreamStatus>>,
    started: Mutex<(DateTime<Utc>, Duration)>,
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The process's metrics.
pub fn get() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("entra_source");
        let m = Metrics {
            registry: Registry::default(),
            events: Family::default(),
            pages: Family::default(),
            polls_failed: Family::default(),
            requests: Family::default(),
            throttled: Family::default(),
            throttle_wait: Family::default(),
            retries: Family::default(),
            token_requests: Family::default(),
            state_writes: crate::state::STATE_WRITES.clone(),
            lag: Family::default(),
            last_success: Family::default(),
            healthy: Family::default(),
            streams: Mutex::new(BTreeMap::new()),
            started: Mutex::new((Utc::now(), Duration::from_secs(300))),
        };
        registry.register(
            "events",
            "Events written (or acknowledged, with OTLP), per tenant, stream and format",
            m.events.clone(),
        );
        registry.register("pages", "Graph pages read", m.pages.clone());
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
            "Checkpoint file writes",
            m.state_writes.clone(),
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
        Metrics { registry, ..m }
    }

    /// The run's start and poll interval: `/health` allows two intervals before a first success.
    pub fn set_run(&self, interval: Duration) {
        *lock(&self.started) = (Utc::now(), interval);
    }

    /// An enabled stream, known to `/health` before its first poll.
    pub fn register_stream(&self, tenant: &str, stream: &str) {
        lock(&self.streams)
            .entry((tenant.to_string(), stream.to_string()))
            .or_default();
    }

    /// The outcome of one poll.
    pub fn poll_done(
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

    /// `/metrics`: the registry in Prometheus text format, lags as of now.
    pub fn render(&self) -> String {
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

    /// `/health`: (healthy, JSON body).
    pub fn health(&self) -> (bool, serde_json::Value) {
        let now = Utc::now();
        let (started, interval) = *lock(&self.started);
        let allowance = chrono::Duration::from_std(interval * 2).unwrap_or_default();
        let mut failing = Vec::new();
        let mut streams = serde_json::Map::new();
        for ((tenant, stream), s) in lock(&self.streams).iter() {
            let since = s.last_success.unwrap_or(started);
            let ok = now - since <= allowance && s.health != Some(Health::Error);
            let t =
                |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
            let (name, sign_in_type) = split_section(stream);
            let v = json!({
                "tenant": tenant,
                "stream": name,
                "sign_in_type": sign_in_type,
                "healthy": ok,
                "health": s.health.map_or("starting", Health::as_str),
                "last_success": t(s.last_success),
                "cursor": t(s.cursor),
                "lag_seconds": s.cursor.map(|c| (now - c).num_seconds().max(0)),
                "consecutive_failures": s.consecutive_failures,
                "last_error": s.last_error,
            });
            if !ok {
                failing.push(v.clone());
            }
            streams.insert(format!("{tenant}/{stream}"), v);
        }
        let healthy = failing.is_empty();
        (
            healthy,
            json!({
                "status": if healthy { "ok" } else { "failing" },
                "failing": failing,
                "streams": streams,
            }),
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The Graph resource of a request URL (`auditLogs/directoryAudits`), for labels.
pub fn resource_of(url: &url::Url) -> String {
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

/// Serves `/metrics` and `/health` on `listen` until `shutdown`.
pub async fn serve(
    listen: SocketAddr,
    shutdown: crate::shutdown::Shutdown,
) -> Result<(), std::io::Error> {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get as route;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            route(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    get().render(),
                )
            }),
        )
        .route(
            "/health",
            route(|| async {
                let (ok, body) = get().health();
                let code = if ok {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                (code, axum::Json(body)).into_response()
            }),
        );
    tracing::info!(%listen, "serving /metrics and /health");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.wait().await })
            .await;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stream="sign_ins.interactiveUser"` could not be selected by the stream's name.
    #[test]
    fn labels_hold_one_dimension_each() {
        let m = Metrics::new();
        m.poll_done(
            "t",
            "sign_ins.interactiveUser",
            Health::Ok,
            Some(Utc::now()),
            None,
        );
        m.events
            .get_or_create(&EventLabels::new(
                "t",
                "sign_ins.nonInteractiveUser",
                "native",
            ))
            .inc();
        let text = m.render();
        assert!(!text.contains("sign_ins."), "{text}");
        assert!(
            text.contains(r#"stream="sign_ins",sign_in_type="interactiveUser""#),
            "{text}"
        );
        assert!(
            text.contains(r#"stream="sign_ins",sign_in_type="nonInteractiveUser",format="native""#),
            "{text}"
        );
        let (_, body) = m.health();
        let s = &body["streams"]["t/sign_ins.interactiveUser"];
        assert_eq!(s["stream"], "sign_ins");
        assert_eq!(s["sign_in_type"], "interactiveUser");
    }

    #[test]
    fn health_allows_two_intervals_before_a_first_success_then_fails() {
        let m = Metrics::new();
        m.set_run(Duration::from_secs(60));
        m.register_stream("t", "directory_audits");
        // Young run, no poll finished yet: healthy ("starting").
        let (ok, body) = m.health();
        assert!(ok, "{body}");
        assert_eq!(body["streams"]["t/directory_audits"]["health"], "starting");
        // A failed poll inside the allowance is degraded but still healthy.
        m.poll_done(
            "t",
            "directory_audits",
            Health::Degraded,
            None,
            Some("boom".into()),
        );
        assert!(m.health().0);
        // Two intervals after the start without a success: failing, naming the error.
        lock(&m.started).0 = Utc::now() - chrono::Duration::seconds(121);
        let (ok, body) = m.health();
        assert!(!ok);
        assert_eq!(body["failing"][0]["last_error"], "boom");
        // A success heals it; an error stops it at once.
        m.poll_done("t", "directory_audits", Health::Ok, None, None);
        assert!(m.health().0);
        m.poll_done(
            "t",
            "directory_audits",
            Health::Error,
            None,
            Some("403".into()),
        );
        assert!(!m.health().0);
    }
}
