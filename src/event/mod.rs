//! The parts of an event every stream shares (`CONTRACT.md` § Events): the `event` summary, the
//! diagnostic-export envelope's time format, and helpers to read Graph records defensively.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::record::Record;

pub mod health;
mod native;
pub mod summary;

pub use native::{write_str, Collected, Field, NativeEvent, Summary, View};

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

/// A time literal for a Graph `$filter`: unquoted ISO-8601 UTC, whole seconds.
pub fn graph_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The envelope `time`: always RFC 3339 UTC with seven fractional digits, even when Graph sends
/// whole seconds, so host time parsers see one shape.
pub fn envelope_time(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    // Written digit by digit: chrono's formatter was a few percent of a record's CPU.
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return format!(
            "{}.{:07}Z",
            t.format("%Y-%m-%dT%H:%M:%S"),
            t.timestamp_subsec_nanos() / 100
        );
    }
    let mut out = [0u8; 28];
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, t.month());
    put(8, 2, t.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    // A leap second's nanoseconds run past 10^9: chrono prints it as second 60.
    let nanos = t.nanosecond();
    put(17, 2, t.second() + nanos / 1_000_000_000);
    put(20, 7, (nanos % 1_000_000_000) / 100);
    for (i, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (27, b'Z'),
    ] {
        out[i] = c;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a Graph timestamp (zero to seven fractional digits, `Z` or an offset). `None` for the
/// malformed ones real payloads carry (e.g. a stray `)`), which callers keep verbatim.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Truncates the time to whole seconds (Graph filters are built on whole seconds).
pub fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// An `event.id` for a record that lacks a usable `id`: a stable FNV-1a hash of its compact
/// JSON text (as `serde_json` writes it, so the id does not depend on Graph's spacing).
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

/// [`record_id`] of a record read in place.
pub fn id_of(record: &Record<'_>) -> String {
    match record.get("id") {
        Some(raw) if raw.starts_with('"') => match crate::record::string(raw) {
            Some(s) if !s.is_empty() => s.into_owned(),
            _ => record_id(&record.to_value()),
        },
        _ => record_id(&record.to_value()),
    }
}

/// `id@<updated>` for mutable records: stable per state, new with each change. The timestamp
/// is taken verbatim (even when it does not parse).
pub fn versioned_id(record: &Record<'_>, updated_field: &str) -> String {
    match record.str(updated_field) {
        Some(t) => format!("{}@{t}", id_of(record)),
        None => id_of(record),
    }
}

/// An IP address field's value if it is a valid IPv4 or IPv6 address (Graph samples carry
/// invalid ones such as `123.456.7.89`; those stay in `properties` only).
pub fn ip_of<'a>(record: &Record<'a>, path: &str) -> Option<Cow<'a, str>> {
    let s = record.str(path)?;
    s.parse::<std::net::IpAddr>().ok().map(|_| s)
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
        for t in [
            "0001-01-01T00:00:00.0000001Z",
            "9999-12-31T23:59:59.9999999Z",
        ] {
            assert_eq!(envelope_time(parse_time(t).unwrap()), t);
        }
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
    /// `ingested` as `event.ingested` writes it, made once per page.
    ingested_text: String,
    /// The envelope `resourceId`.
    resource_id: String,
    /// Whether the Log Analytics columns are built (`log_analytics` writes them; every other
    /// format skips them while the event is made, not only when it is written).
    pub columns: bool,
    /// Inventory (delta) rounds: when the previous round began, or `None` for a baseline round
    /// (a first sync or a resync), whose objects are `present` rather than created or changed.
    pub since: Option<DateTime<Utc>>,
}

impl NormalizeContext {
    pub fn new(tenant_id: impl Into<String>, ingested: DateTime<Utc>) -> NormalizeContext {
        NormalizeContext {
            tenant_id: tenant_id.into(),
            ingested,
            ingested_text: ingested.to_rfc3339_opts(SecondsFormat::Secs, true),
            resource_id: String::new(),
            columns: false,
            since: None,
        }
        .with_resource_id()
    }

    /// The same context, building the Log Analytics columns or not.
    pub fn with_columns(mut self, columns: bool) -> Self {
        self.columns = columns;
        self
    }

    fn with_resource_id(mut self) -> Self {
        self.resource_id = format!("/tenants/{}/providers/Microsoft.aadiam", self.tenant_id);
        self
    }

    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }

    pub fn ingested_text(&self) -> &str {
        &self.ingested_text
    }
}
