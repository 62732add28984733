//! The native event as a list of fields over the record's own text, written straight into the
//! output line: the summary, Microsoft's diagnostic-export envelope, the Log Analytics columns
//! a stream adds, the record's top-level keys where they collide with nothing, and last the
//! record verbatim in `properties`. Nothing is parsed into a tree or re-escaped on the way:
//! a column that copies a record value copies its JSON text.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::keyset::KeySet;
use super::{envelope_time, EventKind, NormalizeContext, Outcome, Severity, RESERVED_TOP_LEVEL};
use crate::kind::StreamKind;
use crate::record::Record;

/// `[output] native_profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// The summary, the envelope, the Log Analytics columns, the record's top-level keys and
    /// the record in `properties`: what SigmaHQ's Azure rules match without glue.
    #[default]
    Full,
    /// The summary, the envelope and the record in `properties`: about the record's own bytes.
    Lean,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Full => "full",
            Profile::Lean => "lean",
        }
    }

    pub fn parse(s: &str) -> Option<Profile> {
        match s {
            "full" => Some(Profile::Full),
            "lean" => Some(Profile::Lean),
            _ => None,
        }
    }
}

/// A field's value.
#[derive(Debug, Clone)]
pub enum Field<'a> {
    Null,
    /// JSON text copied verbatim (a value of the record).
    Raw(&'a str),
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    /// A value computed as a tree (rare: a JSON string parsed into what it holds). Boxed: a
    /// field is moved into the event's list, and an inline tree made every field three times
    /// larger.
    Json(Box<Value>),
    /// A record value as a Log Analytics `string` column shows it: a string as it is, `null`
    /// as null, anything else (an object, an array, a number) as its JSON text.
    Text(&'a str),
}

impl<'a> From<&'a str> for Field<'a> {
    fn from(s: &'a str) -> Self {
        Field::Str(Cow::Borrowed(s))
    }
}

impl<'a> From<bool> for Field<'a> {
    fn from(b: bool) -> Self {
        Field::Bool(b)
    }
}

impl<'a> From<String> for Field<'a> {
    fn from(s: String) -> Self {
        Field::Str(Cow::Owned(s))
    }
}

impl<'a> From<Cow<'a, str>> for Field<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        Field::Str(s)
    }
}

impl<'a, T: Into<Field<'a>>> From<Option<T>> for Field<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Field::Null, Into::into)
    }
}

impl Field<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Field::Null => out.extend_from_slice(b"null"),
            Field::Raw(r) => out.extend_from_slice(r.as_bytes()),
            Field::Str(s) => write_str(out, s),
            Field::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            Field::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            // Writing a Value into a Vec cannot fail.
            Field::Json(v) => {
                let _ = serde_json::to_writer(&mut *out, v);
            }
            Field::Text(r) => match r.as_bytes().first() {
                Some(b'"') | Some(b'n') => out.extend_from_slice(r.as_bytes()),
                _ => write_str(out, r),
            },
        }
    }

    /// `null`, or a record value that is `null`, or an empty string.
    fn is_null(&self) -> bool {
        match self {
            Field::Null => true,
            Field::Raw(r) | Field::Text(r) => matches!(*r, "null" | "\"\""),
            Field::Str(s) => s.is_empty(),
            _ => false,
        }
    }
}

pub use crate::jsontext::write_str;

/// A key known to need no escaping (this crate's own names), quoted, then `:`.
fn write_key(out: &mut Vec<u8>, k: &str) {
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

/// entra-source's own summary, present in every native event.
pub struct Summary {
    pub id: String,
    pub stream: StreamKind,
    pub kind: EventKind,
    pub action: String,
    pub outcome: Outcome,
    pub severity: Severity,
}

/// The summary and envelope strings of a native event, read from a tree (tests, tools) or from
/// an event being written: what the ECS and OCSF mappers and the OTLP record take from it.
#[derive(Debug, Clone, Copy, Default)]
pub struct View<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub action: &'a str,
    pub outcome: &'a str,
    pub severity: &'a str,
    pub dataset: &'a str,
    pub tenant_id: &'a str,
    pub ingested: &'a str,
    /// The envelope `time` and `category`.
    pub time: Option<&'a str>,
    pub category: Option<&'a str>,
}

impl<'a> View<'a> {
    /// From a native event given as a tree (absent strings are empty).
    pub fn of_value(native: &'a Value) -> View<'a> {
        let s = |k: &str| {
            native
                .get("event")
                .and_then(|e| e.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        View {
            id: s("id"),
            kind: s("kind"),
            action: s("action"),
            outcome: s("outcome"),
            severity: s("severity"),
            dataset: s("dataset"),
            tenant_id: s("tenant_id"),
            ingested: s("ingested"),
            time: native.get("time").and_then(Value::as_str),
            category: native.get("category").and_then(Value::as_str),
        }
    }

    /// From an event being written.
    pub fn of_event(e: &'a NativeEvent<'_>) -> View<'a> {
        let s = &e.summary;
        View {
            id: &s.id,
            kind: s.kind.as_str(),
            action: &s.action,
            outcome: s.outcome.as_str(),
            severity: s.severity.as_str(),
            dataset: s.stream.dataset(),
            tenant_id: &e.ctx.tenant_id,
            ingested: e.ctx.ingested_text(),
            time: Some(&e.time),
            category: Some(e.category),
        }
    }
}

/// One record as a native event, ready to be written in any format.
pub struct NativeEvent<'a> {
    pub summary: Summary,
    pub ctx: &'a NormalizeContext,
    /// The envelope `time` (seven fractional digits).
    pub time: String,
    /// The envelope `category` (diagnostic-export category).
    pub category: &'static str,
    pub operation_name: Cow<'a, str>,
    /// After the envelope's constant keys: the stream's envelope fields, then (from
    /// `columns_from`) the Log Analytics columns and aliases.
    fields: Vec<(&'static str, Field<'a>)>,
    columns_from: usize,
    /// The envelope's `durationMs` and `resultSignature`: 0 and `None` in every export category
    /// but provisioning, whose records carry a duration and an error code.
    pub duration_ms: i64,
    pub result_signature: Cow<'a, str>,
    /// `context`: the subjects' directory context (JSON text), when cached.
    pub context: Option<String>,
    pub record: Record<'a>,
}

/// The envelope's keys before the stream's own fields.
const ENVELOPE_KEYS: [&str; 10] = [
    "event",
    "time",
    "resourceId",
    "tenantId",
    "category",
    "operationName",
    "operationVersion",
    "resultSignature",
    "durationMs",
    "Level",
];

impl<'a> NativeEvent<'a> {
    /// Starts an event: the stream then adds its envelope fields, calls [`Self::columns`] and
    /// adds its Log Analytics columns.
    pub fn new(
        summary: Summary,
        record: Record<'a>,
        ctx: &'a NormalizeContext,
        time: DateTime<Utc>,
        category: &'static str,
        operation_name: impl Into<Cow<'a, str>>,
    ) -> Self {
        NativeEvent {
            summary,
            ctx,
            time: envelope_time(time),
            category,
            operation_name: operation_name.into(),
            // A sign-in's full event has some ninety fields; a lean one a handful.
            fields: Vec::with_capacity(match ctx.profile {
                Profile::Full => 96,
                Profile::Lean => 12,
            }),
            columns_from: usize::MAX,
            duration_ms: 0,
            result_signature: Cow::Borrowed("None"),
            context: None,
            record,
        }
    }

    /// Whether what is set now is left out: the columns of a `lean` event.
    fn skipping(&self) -> bool {
        self.ctx.profile == Profile::Lean && self.columns_from != usize::MAX
    }

    /// Adds `key` (each key once: the stream's code never sets one twice).
    pub fn set(&mut self, key: &'static str, value: impl Into<Field<'a>>) -> &mut Self {
        if self.skipping() {
            return self;
        }
        debug_assert!(
            !ENVELOPE_KEYS.contains(&key) && self.fields.iter().all(|(k, _)| *k != key),
            "{key} set twice"
        );
        self.fields.push((key, value.into()));
        self
    }

    /// `key` = the record's value at the `/`-separated `path` (null when absent).
    pub fn copy(&mut self, key: &'static str, path: &str) -> &mut Self {
        if self.skipping() {
            return self;
        }
        let v = self.record.at(path).map_or(Field::Null, Field::Raw);
        self.set(key, v)
    }

    /// Several `(column, path)` copies.
    pub fn copy_all(&mut self, pairs: &[(&'static str, &str)]) -> &mut Self {
        for (key, path) in pairs {
            self.copy(key, path);
        }
        self
    }

    /// `key` = the record's value at `path` as a Log Analytics `string` column shows it (see
    /// [`Field::Text`]; null when absent).
    pub fn copy_text(&mut self, key: &'static str, path: &str) -> &mut Self {
        if self.skipping() {
            return self;
        }
        let v = self.record.at(path).map_or(Field::Null, Field::Text);
        self.set(key, v)
    }

    /// Several `(column, path)` [`Self::copy_text`]s.
    pub fn copy_all_text(&mut self, pairs: &[(&'static str, &str)]) -> &mut Self {
        for (key, path) in pairs {
            self.copy_text(key, path);
        }
        self
    }

    /// The columns every Log Analytics table of Entra logs has beside the record's own:
    /// `Type` (the table), `SourceSystem`, `TimeGenerated` (the event time) and, unless the
    /// stream says otherwise, `DurationMs`, `OperationVersion`, `ResultSignature` and the
    /// resource columns of the diagnostic export.
    pub fn table(&mut self, table: &'static str, resource_columns: bool) -> &mut Self {
        self.table_from(table, resource_columns, "Azure AD".into())
    }

    /// [`Self::table`] with the table's own `SourceSystem` (provisioning: the source system).
    pub fn table_from(
        &mut self,
        table: &'static str,
        resource_columns: bool,
        source_system: Field<'a>,
    ) -> &mut Self {
        if self.skipping() {
            return self;
        }
        let time = self.time.clone();
        self.set("Type", table)
            .set("SourceSystem", source_system)
            .set("TimeGenerated", time);
        if resource_columns {
            self.set("DurationMs", Field::Int(0))
                .set("OperationVersion", "1.0")
                .set("ResultSignature", "None")
                .set("Resource", "Microsoft.aadiam")
                .set("ResourceGroup", "Microsoft.aadiam")
                .set("ResourceProvider", "Microsoft.aadiam");
        }
        self
    }

    /// The envelope of a record no request caused (a state, an inventory object) and that no
    /// Log Analytics table publishes: no result, caller or correlation; only who it is about.
    pub fn stateless_envelope(&mut self, identity: Option<Cow<'a, str>>) -> &mut Self {
        self.set("resultType", "")
            .set("callerIpAddress", Field::Null)
            .set("correlationId", Field::Null)
            .set("identity", identity);
        self.columns()
    }

    /// What follows are Log Analytics columns and aliases (left out of the lean profile).
    pub fn columns(&mut self) -> &mut Self {
        self.columns_from = self.fields.len();
        self
    }

    /// Writes the event as one JSON object (no newline).
    pub fn write(&self, profile: Profile, out: &mut Vec<u8>) {
        let s = &self.summary;
        let tenant = self.ctx.tenant_id.as_str();
        out.extend_from_slice(b"{\"event\":{\"id\":");
        write_str(out, &s.id);
        out.extend_from_slice(b",\"category\":\"identity\",\"type\":\"");
        out.extend_from_slice(s.stream.event_type().as_bytes());
        out.extend_from_slice(b"\",\"kind\":\"");
        out.extend_from_slice(s.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"action\":");
        write_str(out, &s.action);
        out.extend_from_slice(b",\"outcome\":\"");
        out.extend_from_slice(s.outcome.as_str().as_bytes());
        out.extend_from_slice(b"\",\"severity\":\"");
        out.extend_from_slice(s.severity.as_str().as_bytes());
        out.extend_from_slice(b"\",\"dataset\":\"");
        out.extend_from_slice(s.stream.dataset().as_bytes());
        out.extend_from_slice(b"\",\"tenant_id\":");
        write_str(out, tenant);
        out.extend_from_slice(b",\"ingested\":\"");
        out.extend_from_slice(self.ctx.ingested_text().as_bytes());
        out.extend_from_slice(b"\"},\"time\":\"");
        out.extend_from_slice(self.time.as_bytes());
        if profile == Profile::Full {
            out.extend_from_slice(b"\",\"resourceId\":");
            write_str(out, self.ctx.resource_id());
            out.extend_from_slice(b",\"tenantId\":");
            write_str(out, tenant);
            out.extend_from_slice(b",\"category\":\"");
        } else {
            // Lean: no member that is a constant or derived from another (resourceId,
            // operationVersion, resultSignature, durationMs, Level) and no null.
            out.extend_from_slice(b"\",\"tenantId\":");
            write_str(out, tenant);
            out.extend_from_slice(b",\"category\":\"");
        }
        out.extend_from_slice(self.category.as_bytes());
        out.extend_from_slice(b"\",\"operationName\":");
        write_str(out, &self.operation_name);
        let fields = match profile {
            Profile::Full => {
                out.extend_from_slice(b",\"operationVersion\":\"1.0\",\"resultSignature\":");
                write_str(out, &self.result_signature);
                out.extend_from_slice(b",\"durationMs\":");
                out.extend_from_slice(itoa::Buffer::new().format(self.duration_ms).as_bytes());
                out.extend_from_slice(b",\"Level\":4");
                &self.fields[..]
            }
            Profile::Lean => &self.fields[..self.columns_from.min(self.fields.len())],
        };
        for (k, v) in fields {
            if profile == Profile::Lean && v.is_null() {
                continue;
            }
            out.push(b',');
            write_key(out, k);
            v.write(out);
        }
        if profile == Profile::Full {
            self.write_graph_keys(out);
        }
        if let Some(c) = &self.context {
            out.extend_from_slice(b",\"context\":");
            out.extend_from_slice(c.as_bytes());
        }
        out.extend_from_slice(b",\"properties\":");
        out.extend_from_slice(self.record.raw().as_bytes());
        out.push(b'}');
    }

    /// The record's keys at the top level where they collide with nothing already there (and
    /// are not OData annotations or host-reserved names), so rules written against Graph's
    /// camelCase keys match without glue.
    fn write_graph_keys(&self, out: &mut Vec<u8>) {
        let mut seen = KeySet::with_capacity(ENVELOPE_KEYS.len() + 7 + self.fields.len());
        for k in ENVELOPE_KEYS.iter().chain(&RESERVED_TOP_LEVEL) {
            seen.insert(k);
        }
        seen.insert("properties");
        seen.insert("context");
        for (k, _) in &self.fields {
            seen.insert(k);
        }
        for (i, m) in self.record.members().enumerate() {
            if m.key.starts_with('@') || !seen.insert_new(m.key, i, &self.record) {
                continue;
            }
            out.push(b',');
            if m.escaped {
                // Unescaped when read: escaped again.
                write_str(out, m.key);
                out.push(b':');
            } else {
                // The key's text holds no escape and no control character (the parser refuses
                // those), so it is copied as it is.
                write_key(out, m.key);
            }
            out.extend_from_slice(m.value.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn ctx() -> NormalizeContext {
        NormalizeContext::new("t", "2026-01-01T00:00:00Z".parse().unwrap())
    }

    fn event<'a>(raw: &'a RawValue, ctx: &'a NormalizeContext) -> NativeEvent<'a> {
        let summary = Summary {
            id: "e".into(),
            stream: StreamKind::SignIns,
            kind: EventKind::Event,
            action: "a \"quoted\" action".into(),
            outcome: Outcome::Success,
            severity: Severity::Info,
        };
        let mut e = NativeEvent::new(
            summary,
            Record::new(raw.get()),
            ctx,
            ctx.ingested,
            "SignInLogs",
            "Sign-in activity",
        );
        e.set("resultType", "0")
            .copy("correlationId", "correlationId");
        e.columns();
        e.copy_all(&[("Id", "id"), ("Nested", "a/b"), ("Missing", "nope")]);
        e
    }

    #[test]
    fn the_line_is_json_with_copies_and_the_record_last() {
        let raw = RawValue::from_string(
            r#"{"id":"x","correlationId":"c","category":"graph's","a":{"b":[1,"\u00e9"]},"@odata.type":"t","host":"h","id":"dup"}"#.into(),
        )
        .unwrap();
        let ctx = ctx();
        let e = event(&raw, &ctx);
        let mut full = Vec::new();
        e.write(Profile::Full, &mut full);
        let v: Value = serde_json::from_slice(&full).unwrap();
        assert_eq!(v["event"]["action"], "a \"quoted\" action");
        assert_eq!(v["Nested"], serde_json::json!([1, "é"]));
        assert_eq!(v["Missing"], Value::Null);
        assert_eq!(
            v["category"], "SignInLogs",
            "an envelope key is not overwritten"
        );
        assert_eq!(v["a"]["b"][0], 1);
        assert!(v.get("@odata.type").is_none() && v.get("host").is_none());
        assert_eq!(v["id"], "x");
        let text = String::from_utf8(full.clone()).unwrap();
        assert_eq!(
            text.matches("\"id\":\"dup\"").count(),
            1,
            "only in properties"
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.last().unwrap().as_str(), "properties");
        assert!(text.ends_with(&format!("\"properties\":{}}}", raw.get())));

        let mut lean = Vec::new();
        e.write(Profile::Lean, &mut lean);
        let l: Value = serde_json::from_slice(&lean).unwrap();
        assert_eq!(l["resultType"], "0");
        assert_eq!(l["correlationId"], "c");
        assert!(l.get("Id").is_none() && l.get("a").is_none());
        assert_eq!(l["properties"], v["properties"]);
    }

    /// A record read with its page kept a key's escape only as a flag the writer ignored: the
    /// key `k"q` was written unescaped and the line was not JSON.
    #[test]
    fn a_graph_key_with_an_escape_is_written_escaped() {
        let page = crate::graph::parse_page(
            br#"{"value":[{"id":"x","k\"q":1,"\u0041b":2},{"id":"y"}]}"#.to_vec(),
        )
        .unwrap();
        let ctx = ctx();
        let record = page.records.records().next().unwrap();
        let summary = Summary {
            id: "x".into(),
            stream: StreamKind::SignIns,
            kind: EventKind::Event,
            action: "a".into(),
            outcome: Outcome::Success,
            severity: Severity::Info,
        };
        let e = NativeEvent::new(summary, record, &ctx, ctx.ingested, "SignInLogs", "op");
        let mut line = Vec::new();
        e.write(Profile::Full, &mut line);
        let v: Value = serde_json::from_slice(&line).expect("the line is JSON");
        assert_eq!(v["k\"q"], 1);
        assert_eq!(v["Ab"], 2);
    }
}
