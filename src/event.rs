//! The parts of a native event every stream shares (`CONTRACT.md` § Events): the `event` summary,
//! the diagnostic-export envelope's time format, and helpers to read Graph records defensively.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::kind::StreamKind;

/// `event.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// `event.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }
}

/// `event.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Event,
    Alert,
    State,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Event => "event",
            EventKind::Alert => "alert",
            EventKind::State => "state",
        }
    }
}

/// entra-source's own summary, present in every native event.
pub struct Summary<'a> {
    pub id: String,
    pub stream: StreamKind,
    pub kind: EventKind,
    pub action: String,
    pub outcome: Outcome,
    pub severity: Severity,
    pub ctx: &'a NormalizeContext,
}

impl Summary<'_> {
    pub fn into_value(self) -> Value {
        let type_ = self.stream.event_type();
        let mut m = Map::new();
        m.insert("id".into(), self.id.into());
        m.insert("category".into(), "identity".into());
        m.insert("type".into(), type_.into());
        m.insert("kind".into(), self.kind.as_str().into());
        m.insert("action".into(), self.action.into());
        m.insert("outcome".into(), self.outcome.as_str().into());
        m.insert("severity".into(), self.severity.as_str().into());
        m.insert(
            "dataset".into(),
            format!("entra.{}", self.stream.name()).into(),
        );
        m.insert("tenant_id".into(), self.ctx.tenant_id.clone().into());
        m.insert(
            "ingested".into(),
            self.ctx
                .ingested
                .to_rfc3339_opts(SecondsFormat::Secs, true)
                .into(),
        );
        Value::Object(m)
    }
}

/// A time literal for a Graph `$filter`: unquoted ISO-8601 UTC, whole seconds.
pub fn graph_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The envelope `time`: always RFC 3339 UTC with seven fractional digits, even when Graph sends
/// whole seconds, so host time parsers see one shape.
pub fn envelope_time(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

/// Parses a Graph timestamp (zero to seven fractional digits, `Z` or an offset). `None` for the
/// malformed ones real payloads carry (e.g. a stray `)`), which callers keep verbatim.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A string at a `/`-separated path, if it is a non-empty string there.
pub fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    value_at(v, path)?.as_str().filter(|s| !s.is_empty())
}

/// Truncates the time to whole seconds (Graph filters are built on whole seconds).
pub fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// Top-level keys a host may add to an event (Vector's legacy namespace inserts these when
/// absent): a Graph key with one of these names is left in `properties` only.
pub const RESERVED_TOP_LEVEL: [&str; 6] = [
    "stream",
    "pid",
    "command",
    "host",
    "source_type",
    "timestamp",
];

/// Copies the record's keys to the top level where they collide with nothing already there
/// (and are not OData annotations or host-reserved names), so rules written against Graph's
/// camelCase keys match without glue.
pub fn copy_graph_keys(event: &mut Map<String, Value>, record: &Value) {
    let Some(obj) = record.as_object() else {
        return;
    };
    for (k, v) in obj {
        if k.starts_with('@') || RESERVED_TOP_LEVEL.contains(&k.as_str()) || event.contains_key(k) {
            continue;
        }
        event.insert(k.clone(), v.clone());
    }
}

/// An `event.id` for a record that lacks a usable `id`: a stable FNV-1a hash of its JSON text.
pub fn fallback_id(record: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in record.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("fnv1a-{h:016x}")
}

/// The record's `id`, or [`fallback_id`].
pub fn record_id(record: &Value) -> String {
    match record.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => fallback_id(record),
    }
}

/// Assembles a native event: the summary, Microsoft's diagnostic-export envelope, the Log
/// Analytics column aliases a stream adds, the non-colliding Graph keys and, last, the Graph
/// record verbatim in `properties`.
pub struct EventBuilder {
    m: Map<String, Value>,
}

impl EventBuilder {
    /// Starts with `event` and the envelope's common keys (the constant ones included).
    pub fn new(
        summary: Summary<'_>,
        time: DateTime<Utc>,
        category: &str,
        operation_name: &str,
    ) -> Self {
        let tenant = summary.ctx.tenant_id.clone();
        let mut m = Map::new();
        m.insert("event".into(), summary.into_value());
        m.insert("time".into(), envelope_time(time).into());
        m.insert(
            "resourceId".into(),
            format!("/tenants/{tenant}/providers/Microsoft.aadiam").into(),
        );
        m.insert("tenantId".into(), tenant.into());
        m.insert("category".into(), category.into());
        m.insert("operationName".into(), operation_name.into());
        m.insert("operationVersion".into(), "1.0".into());
        // Constant in every diagnostic-settings export record entra-source mirrors.
        m.insert("resultSignature".into(), "None".into());
        m.insert("durationMs".into(), 0.into());
        m.insert("Level".into(), 4.into());
        EventBuilder { m }
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.m.insert(key.to_string(), value.into());
        self
    }

    /// `key` = the record's value at the `/`-separated `path` (null when absent).
    pub fn copy(&mut self, key: &str, record: &Value, path: &str) -> &mut Self {
        let v = value_at(record, path).cloned().unwrap_or(Value::Null);
        self.m.insert(key.to_string(), v);
        self
    }

    /// Several `(alias, path)` copies.
    pub fn copy_all(&mut self, record: &Value, pairs: &[(&str, &str)]) -> &mut Self {
        for (key, path) in pairs {
            self.copy(key, record, path);
        }
        self
    }

    pub fn finish(mut self, record: Value) -> Value {
        copy_graph_keys(&mut self.m, &record);
        self.m.insert("properties".into(), record);
        Value::Object(self.m)
    }
}

/// The value at a `/`-separated path.
pub fn value_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('/') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// An IP address field's value if it is a valid IPv4 or IPv6 address (Graph samples carry
/// invalid ones such as `123.456.7.89`; those stay in `properties` only).
pub fn valid_ip(record: &Value, path: &str) -> Option<String> {
    let s = str_at(record, path)?;
    s.parse::<std::net::IpAddr>().ok().map(|_| s.to_string())
}

/// Severity from a Graph `riskLevel` value (`none`, `hidden` and unknown values are `info`).
pub fn risk_severity(level: Option<&str>) -> Severity {
    match level.map(str::to_ascii_lowercase).as_deref() {
        Some("high") => Severity::High,
        Some("medium") => Severity::Medium,
        Some("low") => Severity::Low,
        _ => Severity::Info,
    }
}

/// `id@<lastUpdated>` for mutable records: stable per state, new with each change. The
/// timestamp is taken verbatim (even when it does not parse).
pub fn versioned_id(record: &Value, updated_field: &str) -> String {
    match str_at(record, updated_field) {
        Some(t) => format!("{}@{t}", record_id(record)),
        None => record_id(record),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seven_and_zero_fraction_digits() {
        let a = parse_time("2020-03-13T19:15:41.6195833Z").unwrap();
        let b = parse_time("2020-03-13T19:15:41Z").unwrap();
        assert!(a > b);
        assert_eq!(envelope_time(b), "2020-03-13T19:15:41.0000000Z");
        assert_eq!(envelope_time(a), "2020-03-13T19:15:41.6195833Z");
    }

    #[test]
    fn rejects_a_stray_character() {
        assert!(parse_time("2021-10-26T16:28:17.8202975Z)").is_none());
    }

    #[test]
    fn filter_literals_are_whole_seconds() {
        let t = parse_time("2020-03-13T19:15:41.6195833Z").unwrap();
        assert_eq!(graph_time(whole_seconds(t)), "2020-03-13T19:15:41Z");
    }
}

/// What normalization needs besides the record.
#[derive(Debug, Clone)]
pub struct NormalizeContext {
    pub tenant_id: String,
    pub ingested: DateTime<Utc>,
}
