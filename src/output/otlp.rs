//! `[output] otlp_endpoint`: OTLP/HTTP JSON export (`ExportLogsServiceRequest` to `/v1/logs`) for
//! an OpenTelemetry Collector. Delivery is acknowledged here: a page counts as written only when
//! every batch of it was answered 2xx, so the checkpoint never moves past an unacknowledged event.
//! 429, 502, 503 and 504 (and a Collector that is down) are retried, obeying `Retry-After`,
//! until they succeed or the run is stopped; 413 halves the batch; other answers stop the run.

use std::time::Duration;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};
use url::Url;

use super::OutputError;
use crate::event::View;
use crate::http::{parse_retry_after, Retrier, RetryPolicy, Stop};
use crate::shutdown::Shutdown;

/// The largest export request body built (well under the Collector's 20 MiB default limit).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// One log record, encoded, and the tenant whose resource it belongs to.
pub struct Record {
    pub tenant_id: String,
    /// The `LogRecord` as OTLP/JSON bytes.
    pub json: Vec<u8>,
}

impl Record {
    pub fn bytes(&self) -> usize {
        self.json.len()
    }
}

pub struct OtlpSink {
    client: reqwest::Client,
    url: Url,
    batch_records: usize,
    timeout: Duration,
    retry: RetryPolicy,
    shutdown: Shutdown,
    /// Export requests answered 2xx.
    pub requests_ok: u64,
    /// Export requests retried (429/5xx/unreachable).
    pub retries: u64,
    /// Log records the Collector reported rejecting in a partial success.
    pub rejected: u64,
}

/// `severityNumber` from `event.severity`: info 9 (INFO), low 10 (INFO2), medium 13 (WARN),
/// high 17 (ERROR), the numbers the shipped `filelog` example's severity mapping yields too, so
/// a backend sees one scale whichever way the events reach the Collector.
pub fn severity_number(severity: &str) -> i64 {
    match severity {
        "low" => 10,
        "medium" => 13,
        "high" => 17,
        _ => 9,
    }
}

/// A JSON value serialized as an OTLP `AnyValue`, streamed (no intermediate tree).
pub struct AnyValue<'a>(pub &'a Value);

impl Serialize for AnyValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self.0 {
            Value::Null => {}
            Value::Bool(b) => m.serialize_entry("boolValue", b)?,
            Value::Number(n) => match n.as_i64() {
                // int64 travels as a decimal string in OTLP/JSON.
                Some(i) => m.serialize_entry("intValue", &i.to_string())?,
                None => m.serialize_entry("doubleValue", &n.as_f64().unwrap_or(0.0))?,
            },
            Value::String(v) => m.serialize_entry("stringValue", v)?,
            Value::Array(a) => m.serialize_entry("arrayValue", &Values(a))?,
            Value::Object(o) => m.serialize_entry("kvlistValue", &KvList(o))?,
        }
        m.end()
    }
}

/// `{"values": [AnyValue, …]}`.
struct Values<'a>(&'a [Value]);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("values", &Items(self.0))?;
        m.end()
    }
}

struct Items<'a>(&'a [Value]);

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(AnyValue))
    }
}

/// `{"values": [{"key": …, "value": AnyValue}, …]}`.
struct KvList<'a>(&'a Map<String, Value>);

impl Serialize for KvList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("values", &Pairs(self.0))?;
        m.end()
    }
}

struct Pairs<'a>(&'a Map<String, Value>);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(k, v)| KeyValue(k, AnyValue(v))))
    }
}

struct KeyValue<'a>(&'a str, AnyValue<'a>);

impl Serialize for KeyValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("key", self.0)?;
        m.serialize_entry("value", &self.1)?;
        m.end()
    }
}

/// A string attribute.
fn attribute(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

fn nanos(t: &str) -> Option<String> {
    let t = crate::event::parse_time(t)?;
    t.timestamp_nanos_opt().map(|n| n.to_string())
}

/// An OTLP `LogRecord` for a native event and its rendering in the configured format.
pub fn log_record(meta: &View<'_>, rendered: &Value) -> Record {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct LogRecord<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        time_unix_nano: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        observed_time_unix_nano: Option<String>,
        severity_number: i64,
        severity_text: &'a str,
        body: AnyValue<'a>,
        attributes: [Value; 3],
    }
    let record = LogRecord {
        time_unix_nano: meta.time.and_then(nanos),
        observed_time_unix_nano: nanos(meta.ingested),
        severity_number: severity_number(meta.severity),
        severity_text: meta.severity,
        body: AnyValue(rendered),
        attributes: [
            attribute("event.id", meta.id),
            attribute("event.dataset", meta.dataset),
            attribute("event.kind", meta.kind),
        ],
    };
    Record {
        tenant_id: meta.tenant_id.to_string(),
        // Serializing Values and strings cannot fail.
        json: serde_json::to_vec(&record).unwrap_or_default(),
    }
}

/// An `ExportLogsServiceRequest` body: one `resourceLogs` per tenant, in first-seen order, the
/// encoded records spliced in as they are.
pub fn export_request(records: &[Record]) -> Vec<u8> {
    let mut tenants: Vec<(&str, Vec<&[u8]>)> = Vec::new();
    for r in records {
        match tenants.iter_mut().find(|(t, _)| *t == r.tenant_id) {
            Some((_, v)) => v.push(&r.json),
            None => tenants.push((&r.tenant_id, vec![&r.json])),
        }
    }
    let size: usize = records.iter().map(|r| r.json.len() + 1).sum();
    let mut out = Vec::with_capacity(size + 512 * tenants.len() + 32);
    out.extend_from_slice(b"{\"resourceLogs\":[");
    for (i, (tenant, logs)) in tenants.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let resource = json!({ "attributes": [
            attribute("service.name", "entra-source"),
            attribute("service.version", env!("CARGO_PKG_VERSION")),
            attribute("cloud.provider", "azure"),
            attribute("azure.tenant.id", tenant),
        ] });
        let scope = json!({ "name": "entra-source", "version": env!("CARGO_PKG_VERSION") });
        out.extend_from_slice(b"{\"resource\":");
        out.extend_from_slice(resource.to_string().as_bytes());
        out.extend_from_slice(b",\"scopeLogs\":[{\"scope\":");
        out.extend_from_slice(scope.to_string().as_bytes());
        out.extend_from_slice(b",\"logRecords\":[");
        for (j, log) in logs.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(log);
        }
        out.extend_from_slice(b"]}]}");
    }
    out.extend_from_slice(b"]}");
    out
}

/// What one POST came to.
enum Posted {
    Acknowledged,
    TooLarge,
    Retry(Option<Duration>, String),
}

/// Seconds left before an export that keeps failing is given up.
fn give_up_in(policy: &RetryPolicy, elapsed: Duration) -> u64 {
    policy
        .give_up_after
        .map_or(u64::MAX, |g| g.saturating_sub(elapsed).as_secs())
}

/// While a Collector stays down, a warning at least this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

impl OtlpSink {
    pub fn new(
        client: reqwest::Client,
        url: Url,
        batch_records: usize,
        timeout: Duration,
        give_up_after: Duration,
        shutdown: Shutdown,
    ) -> OtlpSink {
        OtlpSink {
            client,
            url,
            batch_records: batch_records.max(1),
            timeout,
            // An unacknowledged batch is retried this long, then the run stops (exit 1).
            retry: RetryPolicy {
                max_attempts: u32::MAX,
                base: Duration::from_millis(500),
                cap: Duration::from_secs(30),
                give_up_after: Some(give_up_after),
            },
            shutdown,
            requests_ok: 0,
            retries: 0,
            rejected: 0,
        }
    }

    /// Sends every record, in batches, each until it is acknowledged. Returns only when all
    /// are, or with an error (the caller then does not checkpoint the page).
    pub async fn export(&mut self, records: &[Record]) -> Result<(), OutputError> {
        let mut rest = records;
        let mut batch = self.batch_records;
        while !rest.is_empty() {
            // At most `batch` records and MAX_REQUEST_BYTES (but always one record).
            let mut n = 0;
            let mut bytes = 0;
            while n < batch.min(rest.len())
                && (n == 0 || bytes + rest[n].bytes() <= MAX_REQUEST_BYTES)
            {
                bytes += rest[n].bytes();
                n += 1;
            }
            if self.export_batch(&rest[..n]).await? {
                rest = &rest[n..];
                batch = self.batch_records;
            } else if n > 1 {
                batch = n / 2;
                tracing::warn!(records = n, next = batch, url = %self.url, "the Collector refused an export as too large (413); halving the batch");
            } else {
                return Err(OutputError::Otlp(format!(
                    "the Collector at {} refused a single log record as too large (413); raise its receiver's max_request_body_size or lower [output] max_line_bytes",
                    self.url
                )));
            }
        }
        Ok(())
    }

    /// One batch until acknowledged. `false` when it was refused as too large. A Collector
    /// that stays down is logged when it first fails and at least every [`PROGRESS_EVERY`],
    /// and given up on after `give_up_after` (nothing of the batch is checkpointed).
    async fn export_batch(&mut self, records: &[Record]) -> Result<bool, OutputError> {
        let body = export_request(records);
        let (policy, shutdown) = (self.retry.clone(), self.shutdown.clone());
        let mut retrier = Retrier::new(&policy, &shutdown, 0);
        let mut last_warn: Option<std::time::Instant> = None;
        loop {
            if shutdown.is_set() {
                return Err(OutputError::Shutdown);
            }
            let (after, reason) = match self.post(&body, records.len()).await? {
                Posted::Retry(after, why) => (after, why),
                done => {
                    let acknowledged = matches!(done, Posted::Acknowledged);
                    self.requests_ok += u64::from(acknowledged);
                    if retrier.has_failed() && acknowledged {
                        tracing::info!(
                            url = %self.url,
                            attempts = retrier.failures + 1,
                            "the Collector acknowledged the export again"
                        );
                    }
                    return Ok(acknowledged);
                }
            };
            self.retries += 1;
            let url = &self.url;
            let waited = retrier
                .failed(after, reason, |r| {
                    // The first failure and then at least every PROGRESS_EVERY: a Collector
                    // that stays down neither floods the log nor goes unmentioned.
                    if last_warn.is_none_or(|w| w.elapsed() >= PROGRESS_EVERY) {
                        last_warn = Some(std::time::Instant::now());
                        tracing::warn!(
                            url = %url,
                            attempt = r.attempt,
                            down_seconds = r.elapsed.as_secs(),
                            give_up_in_seconds = give_up_in(&policy, r.elapsed),
                            "OTLP export not acknowledged ({}); retrying, the checkpoint waits",
                            r.reason
                        );
                    } else {
                        tracing::debug!(
                            url = %url,
                            attempt = r.attempt,
                            "OTLP export not acknowledged ({}); retrying",
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
                    return Err(OutputError::Otlp(format!(
                        "the Collector at {} has not acknowledged an export for {} ({attempts} attempts, last: {last}); giving up ([output] otlp_give_up_after). Nothing past the last acknowledged page was checkpointed: the next run sends it again. Check that the Collector runs and that its OTLP/HTTP receiver listens there (firewall, proxy, DNS)",
                        self.url,
                        crate::duration::format_duration(Duration::from_secs(elapsed.as_secs().max(1))),
                    )))
                }
                Err(Stop::Exhausted { attempts, last }) => {
                    return Err(OutputError::Otlp(format!(
                        "the Collector at {} did not acknowledge an export in {attempts} attempts (last: {last})",
                        self.url
                    )))
                }
            }
        }
    }

    /// One POST and what it came to; `Err` when the Collector refused it for good.
    async fn post(&mut self, body: &[u8], records: usize) -> Result<Posted, OutputError> {
        let send = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
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
                    return Err(OutputError::Otlp(tls));
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
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            self.note_partial_success(&text, records);
            return Ok(Posted::Acknowledged);
        }
        match status.as_u16() {
            429 | 502 | 503 | 504 => Ok(Posted::Retry(retry_after, format!("HTTP {status}"))),
            413 => Ok(Posted::TooLarge),
            404 => Err(OutputError::Otlp(format!(
                "the Collector at {} answered 404: no OTLP/HTTP logs receiver there; point otlp_endpoint at the receiver's address (usually port 4318) and enable `protocols: http` in its otlp receiver",
                self.url
            ))),
            code => Err(OutputError::Otlp(format!(
                "the Collector at {} refused the export with HTTP {code}: {}; check the receiver's configuration and its logs",
                self.url,
                text.chars().take(300).collect::<String>()
            ))),
        }
    }

    /// A 2xx may still carry `partialSuccess`: those records are rejected for good (OTLP says
    /// not to retry them), so they are counted and logged.
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
                "the Collector accepted the export but rejected some log records: {msg}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_value_follows_otlp_json() {
        let v =
            serde_json::to_value(AnyValue(&json!({"a": 1, "b": [true, 1.5, "s", null]}))).unwrap();
        assert_eq!(
            v,
            json!({"kvlistValue": {"values": [
                {"key": "a", "value": {"intValue": "1"}},
                {"key": "b", "value": {"arrayValue": {"values": [
                    {"boolValue": true}, {"doubleValue": 1.5}, {"stringValue": "s"}, {}
                ]}}}
            ]}})
        );
    }

    #[test]
    fn one_resource_per_tenant() {
        let e = |t: &str| {
            json!({"event": {"id": "x", "tenant_id": t, "severity": "high",
            "ingested": "2026-01-01T00:00:00Z"}, "time": "2026-01-01T00:00:00.5000000Z"})
        };
        let recs: Vec<Record> = ["a", "b", "a"]
            .iter()
            .map(|t| log_record(&View::of_value(&e(t)), &e(t)))
            .collect();
        let req: Value = serde_json::from_slice(&export_request(&recs)).unwrap();
        let rl = req["resourceLogs"].as_array().unwrap();
        assert_eq!(rl.len(), 2);
        assert_eq!(
            rl[0]["scopeLogs"][0]["logRecords"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let rec = &rl[0]["scopeLogs"][0]["logRecords"][0];
        assert_eq!(rec["severityNumber"], 17);
        assert_eq!(rec["timeUnixNano"], "1767225600500000000");
    }
}
