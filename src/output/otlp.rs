//! `[output] otlp_endpoint`: OTLP/HTTP JSON export (`ExportLogsServiceRequest` to `/v1/logs`) for
//! an OpenTelemetry Collector. Delivery is acknowledged here: a page counts as written only when
//! every batch of it was answered 2xx, so the checkpoint never moves past an unacknowledged event.
//! 429, 502, 503 and 504 (and a Collector that is down) are retried, obeying `Retry-After`,
//! until they succeed or the run is stopped; 413 halves the batch; other answers stop the run.

use std::time::Duration;

use serde_json::{json, Map, Value};
use url::Url;

use super::OutputError;
use crate::graph::retry::{parse_retry_after, RetryPolicy};
use crate::shutdown::Shutdown;

/// One log record, ready to send, and its size in bytes (for the request-size bound).
pub struct Record {
    pub tenant_id: String,
    pub json: Value,
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

/// `severityNumber` from `event.severity` (OTel's INFO, WARN, ERROR and FATAL bands).
pub fn severity_number(severity: &str) -> i64 {
    match severity {
        "low" => 13,
        "medium" => 17,
        "high" => 21,
        _ => 9,
    }
}

/// A JSON value as an OTLP `AnyValue`.
pub fn any_value(v: &Value) -> Value {
    match v {
        Value::Null => json!({}),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) => match n.as_i64() {
            // int64 travels as a decimal string in OTLP/JSON.
            Some(i) => json!({ "intValue": i.to_string() }),
            None => json!({ "doubleValue": n.as_f64().unwrap_or(0.0) }),
        },
        Value::String(s) => json!({ "stringValue": s }),
        Value::Array(a) => {
            json!({ "arrayValue": { "values": a.iter().map(any_value).collect::<Vec<_>>() } })
        }
        Value::Object(m) => json!({ "kvlistValue": { "values": key_values(m) } }),
    }
}

fn key_values(m: &Map<String, Value>) -> Vec<Value> {
    m.iter()
        .map(|(k, v)| json!({ "key": k, "value": any_value(v) }))
        .collect()
}

fn nanos(t: &str) -> Option<String> {
    let t = crate::event::parse_time(t)?;
    t.timestamp_nanos_opt().map(|n| n.to_string())
}

/// An OTLP `LogRecord` for a native event and its rendering in the configured format.
pub fn log_record(native: &Value, rendered: &Value) -> Record {
    let summary = |k: &str| {
        native
            .pointer(&format!("/event/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let severity = summary("severity");
    let mut r = Map::new();
    if let Some(t) = native.get("time").and_then(Value::as_str).and_then(nanos) {
        r.insert("timeUnixNano".into(), t.into());
    }
    if let Some(t) = nanos(summary("ingested")) {
        r.insert("observedTimeUnixNano".into(), t.into());
    }
    r.insert("severityNumber".into(), severity_number(severity).into());
    r.insert("severityText".into(), severity.into());
    r.insert("body".into(), any_value(rendered));
    r.insert(
        "attributes".into(),
        json!([
            { "key": "event.id", "value": { "stringValue": summary("id") } },
            { "key": "event.dataset", "value": { "stringValue": summary("dataset") } },
            { "key": "event.kind", "value": { "stringValue": summary("kind") } },
        ]),
    );
    Record {
        tenant_id: summary("tenant_id").to_string(),
        json: Value::Object(r),
    }
}

/// An `ExportLogsServiceRequest`: one `resourceLogs` per tenant, in first-seen order.
pub fn export_request(records: &[Record]) -> Value {
    let mut tenants: Vec<(&str, Vec<&Value>)> = Vec::new();
    for r in records {
        match tenants.iter_mut().find(|(t, _)| *t == r.tenant_id) {
            Some((_, v)) => v.push(&r.json),
            None => tenants.push((&r.tenant_id, vec![&r.json])),
        }
    }
    let resource_logs: Vec<Value> = tenants
        .into_iter()
        .map(|(tenant, logs)| {
            json!({
                "resource": { "attributes": [
                    { "key": "service.name", "value": { "stringValue": "entra-source" } },
                    { "key": "service.version", "value": { "stringValue": env!("CARGO_PKG_VERSION") } },
                    { "key": "cloud.provider", "value": { "stringValue": "azure" } },
                    { "key": "azure.tenant.id", "value": { "stringValue": tenant } },
                ] },
                "scopeLogs": [{
                    "scope": { "name": "entra-source", "version": env!("CARGO_PKG_VERSION") },
                    "logRecords": logs,
                }],
            })
        })
        .collect();
    json!({ "resourceLogs": resource_logs })
}

/// What one export attempt came to.
enum Attempt {
    Done,
    Retry(Option<Duration>, String),
    TooLarge,
}

impl OtlpSink {
    pub fn new(
        client: reqwest::Client,
        url: Url,
        batch_records: usize,
        timeout: Duration,
        shutdown: Shutdown,
    ) -> OtlpSink {
        OtlpSink {
            client,
            url,
            batch_records: batch_records.max(1),
            timeout,
            retry: RetryPolicy {
                max_attempts: u32::MAX,
                base: Duration::from_millis(500),
                cap: Duration::from_secs(30),
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
            let n = batch.min(rest.len());
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

    /// One batch until acknowledged. `false` when it was refused as too large.
    async fn export_batch(&mut self, records: &[Record]) -> Result<bool, OutputError> {
        let body = serde_json::to_vec(&export_request(records))
            .map_err(|e| OutputError::Otlp(format!("cannot encode an export request: {e}")))?;
        let mut attempt = 0u32;
        loop {
            if self.shutdown.is_set() {
                return Err(OutputError::Shutdown);
            }
            attempt += 1;
            match self.attempt(&body, records.len()).await? {
                Attempt::Done => {
                    self.requests_ok += 1;
                    return Ok(true);
                }
                Attempt::TooLarge => return Ok(false),
                Attempt::Retry(after, why) => {
                    self.retries += 1;
                    let wait = after.unwrap_or_else(|| self.retry.backoff(attempt));
                    tracing::warn!(
                        url = %self.url,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "OTLP export not acknowledged ({why}); retrying, the checkpoint waits"
                    );
                    if !self.shutdown.sleep(wait).await {
                        return Err(OutputError::Shutdown);
                    }
                }
            }
        }
    }

    async fn attempt(&mut self, body: &[u8], records: usize) -> Result<Attempt, OutputError> {
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
                if let Some(tls) = crate::graph::tls_problem(&self.url, &e) {
                    return Err(OutputError::Otlp(tls));
                }
                return Ok(Attempt::Retry(None, format!("{e}")));
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
            return Ok(Attempt::Done);
        }
        match status.as_u16() {
            429 | 502 | 503 | 504 => Ok(Attempt::Retry(retry_after, format!("HTTP {status}"))),
            413 => Ok(Attempt::TooLarge),
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
        let v = any_value(&json!({"a": 1, "b": [true, 1.5, "s", null]}));
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
            .map(|t| log_record(&e(t), &e(t)))
            .collect();
        let req = export_request(&recs);
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
        assert_eq!(rec["severityNumber"], 21);
        assert_eq!(rec["timeUnixNano"], "1767225600500000000");
    }
}
