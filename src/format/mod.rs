//! `[output] format`: the shape of each event on the wire. Every stream normalizes a Graph record
//! into the native event (`CONTRACT.md` § Events); `ecs` and `ocsf` are mapped from it here, so a
//! stream module knows nothing about output schemas and every format carries the same records.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::event::{parse_time, NativeEvent, Profile, View};
use crate::kind::StreamKind;
use crate::record::{elements, string, Record};

pub mod ecs;
mod health;
pub mod json;
pub mod ocsf;

/// `[output] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The native event: summary, diagnostic-export envelope, Log Analytics columns, raw record.
    #[default]
    Native,
    /// Elastic Common Schema 9.x; the raw record in `event.original`.
    Ecs,
    /// OCSF 1.5.0 classes; the raw record in `unmapped`.
    Ocsf,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Ecs => "ecs",
            Format::Ocsf => "ocsf",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "native" => Some(Format::Native),
            "ecs" => Some(Format::Ecs),
            "ocsf" => Some(Format::Ocsf),
            _ => None,
        }
    }

    /// The event in this format, as a tree (tests and tools; the poll loop writes lines with
    /// [`Format::write`]). The mappers write the same line either way.
    pub fn render(self, native: &Value) -> Value {
        if native.pointer("/event/type").and_then(Value::as_str)
            == Some(crate::event::health::EVENT_TYPE)
        {
            return match self {
                Format::Native => native.clone(),
                Format::Ecs => health::ecs(native),
                Format::Ocsf => health::ocsf(native),
            };
        }
        let kind = native
            .pointer("/event/type")
            .and_then(Value::as_str)
            .and_then(StreamKind::from_event_type);
        let (Format::Ecs | Format::Ocsf, Some(kind)) = (self, kind) else {
            // Native, or an event of no stream this build knows: it passes through unmapped
            // rather than under another stream's mapping.
            return native.clone();
        };
        let text = native.get("properties").unwrap_or(&Value::Null).to_string();
        let record = Record::new(&text);
        let strings = Strings::new();
        let context = native.get("context").map(Value::to_string);
        let n = Native {
            view: View::of_value(native),
            record: &record,
            strings: &strings,
            kind,
            context: context.as_deref(),
        };
        let mut out = Vec::new();
        self.write_mapped(&n, &mut out);
        serde_json::from_slice(&out).unwrap_or(Value::Null)
    }

    /// Appends the event in this format as one JSON object (no newline). The record's text is
    /// copied, never re-serialized: verbatim in native `properties` and OCSF `unmapped`, as one
    /// escaped string in ECS `event.original`.
    pub fn write(self, e: &NativeEvent<'_>, profile: Profile, out: &mut Vec<u8>) {
        match self {
            Format::Native => e.write(profile, out),
            Format::Ecs | Format::Ocsf => {
                let strings = Strings::new();
                self.write_mapped(&Native::of(e, &strings), out);
            }
        }
    }

    fn write_mapped(self, n: &Native<'_>, out: &mut Vec<u8>) {
        match self {
            Format::Ecs => ecs::write(n, out),
            Format::Ocsf => ocsf::write(n, out),
            Format::Native => {}
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
            Format::Native => {
                if minimal {
                    m.retain(|k, _| NATIVE_ESSENTIAL_KEYS.contains(&k.as_str()));
                } else {
                    m.insert("properties".into(), Value::Null);
                }
                m.insert("entra_source".into(), marker);
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

/// The native keys an over-long event keeps when even without its raw record it is too long.
const NATIVE_ESSENTIAL_KEYS: [&str; 16] = [
    "event",
    "time",
    "resourceId",
    "tenantId",
    "category",
    "operationName",
    "operationVersion",
    "resultType",
    "resultSignature",
    "resultDescription",
    "durationMs",
    "callerIpAddress",
    "correlationId",
    "identity",
    "Level",
    "location",
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

    /// ECS and OCSF chose their mapping by the text of `event.type` with a catch-all branch,
    /// so an event of a stream they did not know got another stream's mapping.
    #[test]
    fn an_event_of_no_known_stream_is_not_mapped_as_another() {
        let foreign = json!({"event": {"id": "x", "type": "not_a_stream", "severity": "low"},
            "properties": {"id": "x"}});
        assert_eq!(Format::Ecs.render(&foreign), foreign);
        assert_eq!(Format::Ocsf.render(&foreign), foreign);
        for kind in StreamKind::all() {
            assert_eq!(StreamKind::from_event_type(kind.event_type()), Some(kind));
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
        let native = json!({"event": {"id": "e", "type": "sign_in", "severity": "low",
            "outcome": "success", "kind": "event", "tenant_id": "t", "dataset": "entra.sign_ins",
            "ingested": "2026-01-01T00:00:00Z"},
            "time": "2026-01-01T00:00:00.0000000Z", "category": "SignInLogs",
            "properties": {"id": "e", "blob": "x".repeat(100)}});
        for f in [Format::Native, Format::Ecs, Format::Ocsf] {
            let slim = f.slim(&f.render(&native), json!({"truncated": true}), false);
            assert!(!slim.to_string().contains("xxxxx"), "{f:?}: {slim}");
            assert!(slim.to_string().contains("\"truncated\":true"), "{f:?}");
        }
    }
}
