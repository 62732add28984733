//! `[output] otlp_endpoint`: OTLP/HTTP JSON export (`ExportLogsServiceRequest` to `/v1/logs`) for
//! an OpenTelemetry Collector. Delivery is acknowledged here: a page counts as written only when
//! every batch of it was answered 2xx ([`Pusher`]), so the checkpoint never moves past an
//! unacknowledged event; 413 halves the batch.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{json, Map, Value};

use super::push::{Pusher, Receiver};
use super::OutputError;
use crate::event::View;

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
    pusher: Pusher,
    batch_records: usize,
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

impl OtlpSink {
    pub fn new(pusher: Pusher, batch_records: usize) -> OtlpSink {
        OtlpSink {
            pusher,
            batch_records: batch_records.max(1),
        }
    }

    /// How [`Pusher`] names and reaches a Collector.
    pub fn receiver() -> Receiver {
        Receiver {
            what: "OTLP export",
            name: "the Collector",
            content_type: "application/json",
            give_up_key: "[output] otlp_give_up_after",
            not_found_hint: "no OTLP/HTTP logs receiver there; point otlp_endpoint at the receiver's address (usually port 4318) and enable `protocols: http` in its otlp receiver",
            error: OutputError::Otlp,
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
            if self.pusher.deliver(&export_request(&rest[..n]), n).await? {
                rest = &rest[n..];
                batch = self.batch_records;
            } else if n > 1 {
                batch = n / 2;
                tracing::warn!(records = n, next = batch, url = %self.pusher.url, "the Collector refused an export as too large (413); halving the batch");
            } else {
                return Err(OutputError::Otlp(format!(
                    "the Collector at {} refused a single log record as too large (413); raise its receiver's max_request_body_size or lower [output] max_line_bytes",
                    self.pusher.url
                )));
            }
        }
        Ok(())
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
