//! `[output] format`: the shape of each event on the wire. Every stream normalizes a Graph record
//! into the native event (`CONTRACT.md` § Events); `ecs` and `ocsf` are mapped from it here, so a
//! stream module knows nothing about output schemas and every format carries the same records.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::event::{parse_time, str_at, write_str, NativeEvent, Profile, View};
use crate::kind::StreamKind;
use crate::record::Record;

pub mod ecs;
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
    /// [`Format::write`]).
    pub fn render(self, native: &Value) -> Value {
        match self {
            Format::Native => native.clone(),
            // An event of no stream this build knows passes through unmapped rather than
            // under another stream's mapping.
            Format::Ecs => Native::new(native).map_or_else(|| native.clone(), |n| ecs::render(&n)),
            Format::Ocsf => {
                Native::new(native).map_or_else(|| native.clone(), |n| ocsf::render(&n))
            }
        }
    }

    /// Appends the event in this format as one JSON object (no newline). The record's text is
    /// copied, never re-serialized: verbatim in native `properties` and OCSF `unmapped`, as one
    /// escaped string in ECS `event.original`.
    pub fn write(self, e: &NativeEvent<'_>, profile: Profile, out: &mut Vec<u8>) {
        match self {
            Format::Native => e.write(profile, out),
            Format::Ecs => {
                let parsed = Parsed::default();
                let tree = ecs::render(&Native::of(e, &parsed));
                let original = Splice::Text(e.record.raw());
                write_spliced(&tree, &["event", "original"], original, out);
            }
            Format::Ocsf => {
                let parsed = Parsed::default();
                let tree = ocsf::render(&Native::of(e, &parsed));
                write_spliced(&tree, &["unmapped"], Splice::Json(e.record.raw()), out);
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

/// Record values parsed on demand while one event is mapped, and the unescaped strings: the
/// mapper borrows them for as long as the event is being written.
#[derive(Default)]
pub struct Parsed {
    values: typed_arena::Arena<Value>,
    strings: typed_arena::Arena<String>,
}

/// Where the mappers read the Graph record.
enum Source<'a> {
    /// A parsed record (tests and tools).
    Tree(&'a Value),
    /// The record read in place: only the values a mapper asks for are parsed.
    Lazy(&'a Record<'a>, &'a Parsed),
}

/// Read access to a native event for the mappers.
pub struct Native<'a> {
    view: View<'a>,
    /// The Graph record.
    source: Source<'a>,
    /// The stream it came from (its `event.type`): the mappers match on it exhaustively.
    pub kind: StreamKind,
    /// The writer splices the record's text in (ECS `event.original`, OCSF `unmapped`): the
    /// mapper leaves a `null` there instead of a copy.
    spliced: bool,
    /// Values already parsed by path: a mapper asks for `targetResources` several times.
    cache: std::cell::RefCell<Vec<(Box<str>, Option<&'a Value>)>>,
}

impl<'a> Native<'a> {
    /// `None` for an event whose `event.type` names no stream this build knows.
    pub fn new(event: &'a Value) -> Option<Native<'a>> {
        let kind = event
            .pointer("/event/type")
            .and_then(Value::as_str)
            .and_then(StreamKind::from_event_type)?;
        Some(Native {
            view: View::of_value(event),
            source: Source::Tree(event.get("properties").unwrap_or(&Value::Null)),
            kind,
            spliced: false,
            cache: Default::default(),
        })
    }

    /// The view of an event being written; what the mapper reads of its record is parsed into
    /// `parsed`.
    pub fn of(e: &'a NativeEvent<'a>, parsed: &'a Parsed) -> Native<'a> {
        Native {
            view: View::of_event(e),
            source: Source::Lazy(&e.record, parsed),
            kind: e.summary.stream,
            spliced: true,
            cache: Default::default(),
        }
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

    /// What the mapper puts where the writer splices the record in: the record itself when
    /// rendering a tree, else a placeholder.
    pub fn original(&self, as_text: bool) -> Value {
        match (&self.source, as_text) {
            (Source::Tree(raw), true) if !self.spliced => raw.to_string().into(),
            (Source::Tree(raw), false) if !self.spliced => (*raw).clone(),
            _ => Value::Null,
        }
    }

    /// The record's `id` (or the fallback id of a record without one).
    pub fn record_id(&self) -> String {
        match self.source {
            Source::Tree(raw) => crate::event::record_id(raw),
            Source::Lazy(record, _) => crate::event::id_of(record),
        }
    }

    /// A non-empty string in the Graph record at a `/`-separated path.
    pub fn s(&self, path: &str) -> Option<&'a str> {
        match self.source {
            Source::Tree(raw) => str_at(raw, path),
            Source::Lazy(record, parsed) => match record.str(path)? {
                Cow::Borrowed(s) => Some(s),
                Cow::Owned(s) => Some(parsed.strings.alloc(s).as_str()),
            },
        }
    }

    /// Any value in the Graph record at a `/`-separated path, `null` excluded.
    pub fn v(&self, path: &str) -> Option<&'a Value> {
        match self.source {
            Source::Tree(raw) => crate::event::value_at(raw, path).filter(|v| !v.is_null()),
            Source::Lazy(record, parsed) => {
                if let Some((_, v)) = self.cache.borrow().iter().find(|(p, _)| &**p == path) {
                    return *v;
                }
                let v = record
                    .at(path)
                    .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
                    .filter(|v| !v.is_null())
                    .map(|v| &*parsed.values.alloc(v));
                self.cache.borrow_mut().push((path.into(), v));
                v
            }
        }
    }

    /// A valid IP address in the Graph record.
    pub fn ip(&self, path: &str) -> Option<String> {
        let s = self.s(path)?;
        s.parse::<std::net::IpAddr>().ok().map(|_| s.to_string())
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
}

/// What [`write_spliced`] puts at its path.
pub enum Splice<'a> {
    /// JSON text, verbatim.
    Json(&'a str),
    /// A string holding this text.
    Text(&'a str),
}

/// Writes `tree` as compact JSON with the member at `path` (objects all the way) replaced by
/// `with`, in the member's place. A missing path leaves the tree as it is.
pub fn write_spliced(tree: &Value, path: &[&str], with: Splice<'_>, out: &mut Vec<u8>) {
    let (Some((first, rest)), Value::Object(m)) = (path.split_first(), tree) else {
        match with {
            Splice::Json(j) => out.extend_from_slice(j.as_bytes()),
            Splice::Text(t) => write_str(out, t),
        }
        return;
    };
    out.push(b'{');
    let mut with = Some(with);
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        match with.take_if(|_| k == first) {
            Some(w) => write_spliced(v, rest, w, out),
            // Writing a Value into a Vec cannot fail.
            None => {
                let _ = serde_json::to_writer(&mut *out, v);
            }
        }
    }
    out.push(b'}');
}

/// The part of a user principal name after `@`.
pub fn upn_domain(upn: &str) -> Option<&str> {
    upn.split_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
}

/// An object from the pairs whose value is present.
pub fn object<I>(pairs: I) -> Value
where
    I: IntoIterator<Item = (&'static str, Option<Value>)>,
{
    Value::Object(
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect(),
    )
}

/// `Some(v)` unless `v` is null or an empty object or array.
pub fn non_empty(v: Value) -> Option<Value> {
    match &v {
        Value::Null => None,
        Value::Object(m) if m.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        _ => Some(v),
    }
}

/// A string value, if present.
pub fn sv(s: Option<&str>) -> Option<Value> {
    s.map(|s| Value::String(s.to_string()))
}

/// An audit target's `type` (some records spell the key `Type`).
pub fn target_type(t: &Value) -> Option<&str> {
    t.get("type")
        .or_else(|| t.get("Type"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The first audit target of one of these `type`s (case-insensitive).
pub fn audit_target<'a>(n: &Native<'a>, types: &[&str]) -> Option<&'a Value> {
    n.v("targetResources")?
        .as_array()?
        .iter()
        .find(|t| target_type(t).is_some_and(|ty| types.iter().any(|w| ty.eq_ignore_ascii_case(w))))
}

/// The new value of a target's modified property (Graph quotes it as a JSON string).
pub fn modified_property(target: &Value, name: &str) -> Option<String> {
    let props = target.get("modifiedProperties")?.as_array()?;
    let p = props
        .iter()
        .find(|p| p.get("displayName").and_then(Value::as_str) == Some(name))?;
    let raw = p.get("newValue")?.as_str()?;
    let v = raw.trim().trim_matches('"').trim();
    (!v.is_empty()).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ECS and OCSF chose their mapping by the text of `event.type` with a catch-all branch,
    /// so an event of a stream they did not know got another stream's mapping.
    #[test]
    fn an_event_of_no_known_stream_is_not_mapped_as_another() {
        let foreign = json!({"event": {"id": "x", "type": "provisioning", "severity": "low"},
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
        let t = json!({"modifiedProperties": [
            {"displayName": "Role.DisplayName", "oldValue": null, "newValue": "\"Global Administrator\""}
        ]});
        assert_eq!(
            modified_property(&t, "Role.DisplayName").as_deref(),
            Some("Global Administrator")
        );
        assert!(modified_property(&t, "Other").is_none());
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
