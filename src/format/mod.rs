//! `[output] format`: the shape of each event on the wire, one schema per format. Every stream
//! turns a Graph record into a [`NativeEvent`] (its summary, the export envelope members and Log
//! Analytics columns it knows, over the record's text); each format writes its own shape from it
//! here, so a stream module knows nothing about output schemas and every format carries the same
//! records.

use std::borrow::Cow;

use serde_json::{Map, Value};

#[cfg(test)]
use crate::event::Field;
use crate::event::{parse_time, NativeEvent, View};
use crate::kind::StreamKind;
use crate::record::{elements, string, Record};

pub mod azure_monitor;
pub mod ecs;
mod health;
pub mod json;
pub mod log_analytics;
pub mod ocsf;
mod summary;

/// `[output] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// entra-source's summary, `context` and the Graph record verbatim in `properties`.
    #[default]
    Native,
    /// The record as Entra's diagnostic settings export it (Azure Monitor resource-log schema).
    AzureMonitor,
    /// The row of the stream's Log Analytics (Sentinel) table.
    LogAnalytics,
    /// Elastic Common Schema 9.x; the raw record in `event.original`.
    Ecs,
    /// OCSF 1.5.0 classes; the raw record in `unmapped`.
    Ocsf,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::AzureMonitor => "azure_monitor",
            Format::LogAnalytics => "log_analytics",
            Format::Ecs => "ecs",
            Format::Ocsf => "ocsf",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::all().into_iter().find(|f| f.name() == s)
    }

    pub fn all() -> [Format; 5] {
        [
            Format::Native,
            Format::AzureMonitor,
            Format::LogAnalytics,
            Format::Ecs,
            Format::Ocsf,
        ]
    }

    /// Whether the format has a place for directory context (`context`): Microsoft's own two
    /// shapes have none.
    pub fn carries_context(self) -> bool {
        !matches!(self, Format::AzureMonitor | Format::LogAnalytics)
    }

    /// Whether events are made with their Log Analytics columns (only this format writes
    /// them).
    pub fn needs_columns(self) -> bool {
        self == Format::LogAnalytics
    }

    /// An event given as a tree in this format: entra-source's own health events, which are
    /// made as native trees; any other tree passes through unchanged (stream events are written
    /// with [`Format::write`]).
    pub fn render(self, native: &Value) -> Value {
        if crate::event::summary::is_summary(native) {
            return match self {
                Format::Native => native.clone(),
                Format::AzureMonitor => summary::azure_monitor(native),
                Format::LogAnalytics => summary::log_analytics(native),
                Format::Ecs => summary::ecs(native),
                Format::Ocsf => summary::ocsf(native),
            };
        }
        if native.pointer("/event/dataset").and_then(Value::as_str)
            != Some(crate::event::health::DATASET)
        {
            return native.clone();
        }
        match self {
            // No Microsoft shape has entra-source's health: it stays native.
            Format::Native | Format::AzureMonitor | Format::LogAnalytics => native.clone(),
            Format::Ecs => health::ecs(native),
            Format::Ocsf => health::ocsf(native),
        }
    }

    /// Appends the event in this format as one JSON object (no newline). The record's text is
    /// copied, never re-serialized: verbatim in native and Azure Monitor `properties` and OCSF
    /// `unmapped`, as one escaped string in ECS `event.original`, column by column in a Log
    /// Analytics row. `keep_null` keeps a row's null and empty columns.
    pub fn write(self, e: &NativeEvent<'_>, keep_null: bool, out: &mut Vec<u8>) {
        match self {
            Format::Native => e.write_native(out),
            Format::AzureMonitor => azure_monitor::write(e, out),
            Format::LogAnalytics => log_analytics::write(e, keep_null, out),
            Format::Ecs => {
                let strings = Strings::new();
                ecs::write(&Native::of(e, &strings), out);
            }
            Format::Ocsf => {
                let strings = Strings::new();
                ocsf::write(&Native::of(e, &strings), out);
            }
        }
    }

    /// The rendered event without its raw Graph record, with `marker` saying so: what
    /// `max_line_bytes` falls back to. `minimal` also drops everything but the keys that
    /// identify and classify the event.
    pub fn slim(self, rendered: &Value, marker: Value, minimal: bool) -> Value {
        let Some(obj) = rendered.as_object() else {
            return rendered.clone();
        };
        let mut m = obj.clone();
        match self {
            Format::Native | Format::AzureMonitor => {
                if minimal {
                    m.retain(|k, _| ESSENTIAL_KEYS.contains(&k.as_str()));
                } else {
                    m.insert("properties".into(), Value::Null);
                }
                m.insert("entra_source".into(), marker);
            }
            Format::LogAnalytics => {
                // A row holds the record column by column: its structured columns go, then
                // (minimal) everything but the columns that identify the row.
                m.retain(|k, v| {
                    if minimal {
                        log_analytics::ESSENTIAL_COLUMNS.contains(&k.as_str())
                    } else {
                        !(v.is_object() || v.is_array())
                    }
                });
                m.insert("EntraSource".into(), marker);
            }
            Format::Ecs => {
                if let Some(Value::Object(e)) = m.get_mut("event") {
                    e.remove("original");
                }
                if minimal {
                    m.retain(|k, _| ecs::ESSENTIAL_KEYS.contains(&k.as_str()));
                }
                let azure = m
                    .entry("azure")
                    .or_insert_with(|| Value::Object(Map::new()));
                if minimal || !azure.is_object() {
                    *azure = Value::Object(Map::new());
                }
                if let Value::Object(a) = azure {
                    a.insert("entra_source".into(), marker);
                }
            }
            Format::Ocsf => {
                if minimal {
                    m.retain(|k, _| ocsf::ESSENTIAL_KEYS.contains(&k.as_str()));
                }
                let mut unmapped = Map::new();
                unmapped.insert("entra_source".into(), marker);
                m.insert("unmapped".into(), Value::Object(unmapped));
            }
        }
        Value::Object(m)
    }
}

/// The keys an over-long native or Azure Monitor event keeps when even without its raw record
/// it is too long.
const ESSENTIAL_KEYS: [&str; 10] = [
    "event",
    "time",
    "tenantId",
    "category",
    "operationName",
    "resultType",
    "correlationId",
    "identity",
    "callerIpAddress",
    "Level",
];

/// The unescaped strings of the record being mapped (most are borrowed from its text; one that
/// holds an escape is unescaped here), kept for as long as its event is being written.
pub type Strings = typed_arena::Arena<String>;

/// Read access to a native event for the mappers.
pub struct Native<'a> {
    view: View<'a>,
    /// The Graph record.
    pub record: &'a Record<'a>,
    strings: &'a Strings,
    /// The stream it came from (its `event.type`): the mappers match on it exhaustively.
    pub kind: StreamKind,
    /// The event's `context` (JSON text), when the directory cache knew its subjects.
    pub context: Option<&'a str>,
}

impl<'a> Native<'a> {
    /// The view of an event being written.
    pub fn of(e: &'a NativeEvent<'a>, strings: &'a Strings) -> Native<'a> {
        Native {
            view: View::of_event(e),
            record: &e.record,
            strings,
            kind: e.summary.stream,
            context: e.context.as_deref(),
        }
    }

    /// A member of the event's `context` (`user`, `device`, …), when the cache knew it.
    pub fn context_part(&self, key: &str) -> Option<Record<'a>> {
        self.context
            .map(Record::new)
            .and_then(|c| c.get(key).map(Record::nested))
    }

    /// `event.<key>` of the summary.
    pub fn summary(&self, key: &str) -> &'a str {
        let v = &self.view;
        match key {
            "id" => v.id,
            "kind" => v.kind,
            "action" => v.action,
            "outcome" => v.outcome,
            "severity" => v.severity,
            "dataset" => v.dataset,
            "tenant_id" => v.tenant_id,
            "ingested" => v.ingested,
            _ => "",
        }
    }

    /// A top-level envelope string: `time` or `category`.
    pub fn envelope(&self, key: &str) -> Option<&'a str> {
        match key {
            "time" => self.view.time,
            "category" => self.view.category,
            _ => None,
        }
    }

    /// The record's `id` (or the fallback id of a record without one).
    pub fn record_id(&self) -> String {
        crate::event::id_of(self.record)
    }

    /// The string a JSON string literal holds (`None` for any other value).
    pub fn text(&self, raw: &'a str) -> Option<&'a str> {
        match string(raw)? {
            Cow::Borrowed(s) => Some(s),
            Cow::Owned(s) => Some(self.strings.alloc(s).as_str()),
        }
    }

    /// `event.collected_from` (`event_hubs`, `graph_audit`), when a tenant has more than one path.
    pub fn collected_from(&self) -> Option<&'a str> {
        self.view.collected_from
    }

    /// Keeps a string computed from the event for as long as the event is written.
    pub fn keep(&self, s: String) -> &'a str {
        self.strings.alloc(s).as_str()
    }

    /// A non-empty string in the Graph record at a `/`-separated path.
    pub fn s(&self, path: &str) -> Option<&'a str> {
        self.text(self.record.at(path)?).filter(|s| !s.is_empty())
    }

    /// A non-empty string member of a nested object (an audit target).
    pub fn s_in(&self, obj: &Record<'a>, key: &str) -> Option<&'a str> {
        self.text(obj.get(key)?).filter(|s| !s.is_empty())
    }

    /// Any value in the Graph record at a `/`-separated path, as its JSON text, `null` excluded.
    pub fn raw(&self, path: &str) -> Option<&'a str> {
        self.record.at(path).filter(|r| *r != "null")
    }

    /// A valid IP address in the Graph record.
    pub fn ip(&self, path: &str) -> Option<&'a str> {
        let s = self.s(path)?;
        s.parse::<std::net::IpAddr>().ok().map(|_| s)
    }

    /// The event's time in milliseconds since the epoch (the envelope `time`, which every
    /// stream fills from the record's own time field).
    pub fn time_ms(&self) -> i64 {
        self.envelope("time")
            .and_then(parse_time)
            .or_else(|| parse_time(self.summary("ingested")))
            .map(|t| t.timestamp_millis())
            .unwrap_or(0)
    }

    /// An audit record's targets (`targetResources`), each read in place.
    pub fn targets(&self) -> Vec<Record<'a>> {
        self.raw("targetResources")
            .map(|raw| elements(raw).into_iter().map(Record::nested).collect())
            .unwrap_or_default()
    }

    /// An audit target's `type` (some records spell the key `Type`).
    pub fn target_type(&self, t: &Record<'a>) -> Option<&'a str> {
        self.text(t.get("type").or_else(|| t.get("Type"))?)
            .filter(|s| !s.is_empty())
    }

    /// The first audit target of one of these `type`s (case-insensitive).
    pub fn audit_target<'t>(
        &self,
        targets: &'t [Record<'a>],
        types: &[&str],
    ) -> Option<&'t Record<'a>> {
        targets.iter().find(|t| {
            self.target_type(t)
                .is_some_and(|ty| types.iter().any(|w| ty.eq_ignore_ascii_case(w)))
        })
    }

    /// The new value of a target's modified property (Graph quotes it as a JSON string).
    pub fn modified_property(&self, target: &Record<'a>, name: &str) -> Option<&'a str> {
        let props = elements(target.get("modifiedProperties")?);
        let p = props
            .into_iter()
            .map(Record::nested)
            .find(|p| p.get("displayName").and_then(|d| self.text(d)) == Some(name))?;
        let raw = self.text(p.get("newValue")?)?;
        let v = raw.trim().trim_matches('"').trim();
        (!v.is_empty()).then_some(v)
    }
}

/// The value of JSON text that is a number.
pub fn number(raw: &str) -> Option<f64> {
    matches!(raw.as_bytes().first(), Some(b'-' | b'0'..=b'9'))
        .then(|| raw.parse().ok())
        .flatten()
}

/// The identity a provisioning record is about: its target once it exists, else its source
/// (a create that failed has an empty target).
pub(crate) fn provisioned_identity(n: &Native<'_>) -> &'static str {
    if n.s("targetIdentity/id").is_some() {
        "targetIdentity"
    } else {
        "sourceIdentity"
    }
}

/// The part of a user principal name after `@`.
pub fn upn_domain(upn: &str) -> Option<&str> {
    upn.split_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree that is no health event passes through every format unchanged: stream events
    /// are written from their records, never re-mapped from a tree.
    #[test]
    fn a_tree_of_no_health_event_is_not_mapped() {
        let foreign = json!({"event": {"id": "x", "dataset": "not_a_stream", "severity": "low"},
            "properties": {"id": "x"}});
        for f in Format::all() {
            assert_eq!(f.render(&foreign), foreign, "{f:?}");
            assert_eq!(Format::parse(f.name()), Some(f));
        }
    }
    use serde_json::json;

    #[test]
    fn modified_property_unquotes_graph_strings() {
        let t = r#"{"modifiedProperties": [
            {"displayName": "Role.DisplayName", "oldValue": null, "newValue": "\"Global Administrator\""}
        ]}"#;
        let (target, strings) = (Record::new(t), Strings::new());
        let e = json!({"event": {"type": "directory_audit"}});
        let record = Record::new("{}");
        let n = Native {
            view: View::of_value(&e),
            record: &record,
            strings: &strings,
            kind: StreamKind::DirectoryAudits,
            context: None,
        };
        assert_eq!(
            n.modified_property(&target, "Role.DisplayName"),
            Some("Global Administrator")
        );
        assert!(n.modified_property(&target, "Other").is_none());
    }

    #[test]
    fn slim_drops_the_raw_record_in_every_format() {
        use crate::event::{EventKind, NormalizeContext, Outcome, Severity, Summary};
        let ctx =
            NormalizeContext::new("t", "2026-01-01T00:00:00Z".parse().unwrap()).with_columns(true);
        let text = format!(r#"{{"id":"e","blob":"{}"}}"#, "x".repeat(100));
        let summary = Summary {
            id: "e".into(),
            stream: StreamKind::SignIns,
            kind: EventKind::Event,
            action: "a".into(),
            outcome: Outcome::Success,
            severity: Severity::Low,
        };
        let mut e = NativeEvent::new(
            summary,
            Record::new(&text),
            &ctx,
            ctx.ingested,
            "SignInLogs",
            "Sign-in activity",
        );
        e.columns()
            .table("SigninLogs", true)
            .copy("Id", "id")
            .set(
                "DeviceDetail",
                Field::Json(Box::new(json!({"blob": "x".repeat(100)}))),
            )
            .copy("UserAgent", "blob");
        for f in Format::all() {
            let mut line = Vec::new();
            f.write(&e, false, &mut line);
            let rendered: Value = serde_json::from_slice(&line).unwrap();
            assert!(rendered.to_string().contains("xxxxx"), "{f:?}: {rendered}");
            let slim = f.slim(&rendered, json!({"truncated": true}), true);
            assert!(!slim.to_string().contains("xxxxx"), "{f:?}: {slim}");
            assert!(slim.to_string().contains("\"truncated\":true"), "{f:?}");
        }
    }
}
