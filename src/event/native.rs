//! A record as an event: entra-source's summary, Microsoft's export envelope members and the Log
//! Analytics columns a stream sets, over the record's own text. Each output format writes the
//! part it carries (`src/format/`): the native event is the summary, `context` and the record
//! verbatim in `properties`. Nothing is parsed into a tree or re-escaped on the way: a member
//! that copies a record value copies its JSON text.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{envelope_time, EventKind, NormalizeContext, Outcome, Severity};
use crate::kind::StreamKind;
use crate::record::Record;

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
    /// Appends the value as JSON.
    pub fn write(&self, out: &mut Vec<u8>) {
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

    /// Appends the value as a JSON string: a string as it is, anything else (an object, an
    /// array, a number) as its JSON text. What a Log Analytics `string` column holds.
    pub fn write_as_text(&self, out: &mut Vec<u8>) {
        match self {
            Field::Raw(r) | Field::Text(r) => match r.as_bytes().first() {
                Some(b'"') | Some(b'n') => out.extend_from_slice(r.as_bytes()),
                _ => write_str(out, r),
            },
            Field::Int(i) => {
                out.push(b'"');
                out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes());
                out.push(b'"');
            }
            Field::Bool(b) => out.extend_from_slice(if *b { b"\"true\"" } else { b"\"false\"" }),
            Field::Json(v) => match v.as_ref() {
                Value::String(s) => write_str(out, s),
                Value::Null => out.extend_from_slice(b"null"),
                other => write_str(out, &other.to_string()),
            },
            Field::Null | Field::Str(_) => self.write(out),
        }
    }

    /// Appends the value as a JSON value: a record value as it is, even where a stream keeps
    /// it as text. What a Log Analytics `dynamic` column holds.
    pub fn write_as_value(&self, out: &mut Vec<u8>) {
        match self {
            Field::Text(r) => out.extend_from_slice(r.as_bytes()),
            _ => self.write(out),
        }
    }

    /// `null`, or a record value that is `null`, or an empty string.
    pub fn is_null(&self) -> bool {
        match self {
            Field::Null => true,
            Field::Raw(r) | Field::Text(r) => matches!(*r, "null" | "\"\""),
            Field::Str(s) => s.is_empty(),
            Field::Json(v) => v.is_null() || v.as_str() == Some(""),
            _ => false,
        }
    }
}

pub use crate::jsontext::write_str;

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
    /// `event.collected_from`: which path brought a record when more than one may
    /// ([`Collected`]); absent for a Graph stream's own records.
    pub collected_from: Option<&'a str>,
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
            // A health event says when it was written in its own record.
            ingested: native
                .pointer("/properties/reported_at")
                .and_then(Value::as_str)
                .unwrap_or_else(|| s("ingested")),
            time: native.get("time").and_then(Value::as_str),
            category: native.get("category").and_then(Value::as_str),
            collected_from: native
                .pointer("/event/collected_from")
                .and_then(Value::as_str),
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
            collected_from: e.collected_from.map(Collected::as_str),
        }
    }
}

/// One record as an event, ready to be written in any format.
pub struct NativeEvent<'a> {
    pub summary: Summary,
    pub ctx: &'a NormalizeContext,
    /// The event time: the export envelope's `time` (seven fractional digits).
    pub time: String,
    /// The export envelope's `category` (the diagnostic-settings category).
    pub category: &'static str,
    pub operation_name: Cow<'a, str>,
    /// The export envelope members the stream sets (`resultType`, `resultDescription`,
    /// `callerIpAddress`, `correlationId`, `identity`, `location`), then (from `columns_from`)
    /// the Log Analytics columns, built only for `log_analytics`.
    fields: Vec<(&'static str, Field<'a>)>,
    columns_from: usize,
    /// The envelope's `durationMs` and `resultSignature`: 0 and `None` in every export category
    /// but provisioning, whose records carry a duration and whose envelope has no signature.
    pub duration_ms: i64,
    pub result_signature: Option<Cow<'a, str>>,
    /// `context`: the subjects' directory context (JSON text), when cached.
    pub context: Option<String>,
    pub record: Record<'a>,
    /// Microsoft's export record around `record`, when the record came from an Event Hub:
    /// the `azure_monitor` line is this, verbatim.
    pub export: Option<&'a str>,
    /// Which path brought the record, when a tenant has more than one (issue 31).
    pub collected_from: Option<Collected>,
}

/// Which path brought a record (`event.collected_from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collected {
    /// Microsoft's export stream: the tenant's Event Hub (`[[tenants.hubs]]`).
    EventHubs,
    /// A Graph stream auditing a hub: a record Graph lists that the hub never delivered.
    GraphAudit,
}

impl Collected {
    pub fn as_str(self) -> &'static str {
        match self {
            Collected::EventHubs => "event_hubs",
            Collected::GraphAudit => "graph_audit",
        }
    }
}

impl<'a> NativeEvent<'a> {
    /// Starts an event: the stream then sets its envelope members, calls [`Self::columns`] and
    /// sets its Log Analytics columns.
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
            // A sign-in's row has some ninety columns; its envelope a handful.
            fields: Vec::with_capacity(if ctx.columns { 96 } else { 8 }),
            columns_from: usize::MAX,
            duration_ms: 0,
            result_signature: Some(Cow::Borrowed("None")),
            context: None,
            record,
            export: None,
            collected_from: None,
        }
    }

    /// Whether what is set now is left out: the Log Analytics columns, unless the event is
    /// written as a Log Analytics row.
    fn skipping(&self) -> bool {
        !self.ctx.columns && self.columns_from != usize::MAX
    }

    /// Sets `key` (each key once: the stream's code never sets one twice).
    pub fn set(&mut self, key: &'static str, value: impl Into<Field<'a>>) -> &mut Self {
        if self.skipping() {
            return self;
        }
        debug_assert!(
            self.fields[self.columns_from.min(self.fields.len())..]
                .iter()
                .all(|(k, _)| *k != key),
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
    /// stream says otherwise, `DurationMs`, `Level`, `OperationVersion`, `ResultSignature` and
    /// the resource columns of the diagnostic export.
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
                .set("Level", "4")
                .set("OperationVersion", "1.0")
                .set("ResultSignature", "None")
                .set("Resource", "Microsoft.aadiam")
                .set("ResourceGroup", "Microsoft.aadiam")
                .set("ResourceProvider", "Microsoft.aadiam");
        }
        self
    }

    /// The envelope of a record no request caused (a state, an inventory object): no result,
    /// caller or correlation; only who it is about.
    pub fn stateless_envelope(&mut self, identity: Option<Cow<'a, str>>) -> &mut Self {
        self.set("identity", identity);
        self.columns()
    }

    /// What follows are Log Analytics columns (built for `log_analytics` only).
    pub fn columns(&mut self) -> &mut Self {
        self.columns_from = self.fields.len();
        self
    }

    /// The export envelope members the stream set, in the order it set them.
    pub fn envelope_fields(&self) -> &[(&'static str, Field<'a>)] {
        &self.fields[..self.columns_from.min(self.fields.len())]
    }

    /// The export envelope member `key`, when set and neither null nor empty.
    pub fn envelope_field(&self, key: &str) -> Option<&Field<'a>> {
        self.envelope_fields()
            .iter()
            .find(|(k, v)| *k == key && !v.is_null())
            .map(|(_, v)| v)
    }

    /// The Log Analytics columns the stream set (empty unless the context builds them).
    pub fn column_fields(&self) -> &[(&'static str, Field<'a>)] {
        &self.fields[self.columns_from.min(self.fields.len())..]
    }

    /// Writes the native event as one JSON object (no newline): the summary, the event time,
    /// `context` when cached, and the record verbatim in `properties`.
    pub fn write_native(&self, out: &mut Vec<u8>) {
        let s = &self.summary;
        out.extend_from_slice(b"{\"event\":{\"id\":");
        write_str(out, &s.id);
        out.extend_from_slice(b",\"dataset\":\"");
        out.extend_from_slice(s.stream.dataset().as_bytes());
        out.extend_from_slice(b"\",\"kind\":\"");
        out.extend_from_slice(s.kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"action\":");
        write_str(out, &s.action);
        if s.outcome != Outcome::Unknown {
            out.extend_from_slice(b",\"outcome\":\"");
            out.extend_from_slice(s.outcome.as_str().as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b",\"severity\":\"");
        out.extend_from_slice(s.severity.as_str().as_bytes());
        out.extend_from_slice(b"\",\"tenant_id\":");
        write_str(out, &self.ctx.tenant_id);
        if let Some(c) = self.collected_from {
            out.extend_from_slice(b",\"collected_from\":\"");
            out.extend_from_slice(c.as_str().as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b"},\"time\":\"");
        out.extend_from_slice(self.time.as_bytes());
        out.push(b'"');
        if let Some(c) = &self.context {
            out.extend_from_slice(b",\"context\":");
            out.extend_from_slice(c.as_bytes());
        }
        out.extend_from_slice(b",\"properties\":");
        out.extend_from_slice(self.record.raw().as_bytes());
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn ctx() -> NormalizeContext {
        NormalizeContext::new("t", "2026-01-01T00:00:00Z".parse().unwrap())
    }

    fn summary(outcome: Outcome) -> Summary {
        Summary {
            id: "e".into(),
            stream: StreamKind::SignIns,
            kind: EventKind::Event,
            action: "a \"quoted\" action".into(),
            outcome,
            severity: Severity::Info,
        }
    }

    #[test]
    fn the_native_line_is_the_summary_the_time_and_the_record() {
        let raw = RawValue::from_string(
            r#"{"id":"x","correlationId":"c","a":{"b":[1,"\u00e9"]},"@odata.type":"t"}"#.into(),
        )
        .unwrap();
        let ctx = ctx();
        let mut e = NativeEvent::new(
            summary(Outcome::Success),
            Record::new(raw.get()),
            &ctx,
            ctx.ingested,
            "SignInLogs",
            "Sign-in activity",
        );
        e.copy("correlationId", "correlationId");
        e.columns().copy("Id", "id");
        let mut line = Vec::new();
        e.write_native(&mut line);
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["event"]["action"], "a \"quoted\" action");
        assert_eq!(v["event"]["dataset"], "entra.sign_ins");
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["time"], "2026-01-01T00:00:00.0000000Z");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["event", "time", "properties"]);
        let text = String::from_utf8(line).unwrap();
        assert!(text.ends_with(&format!("\"properties\":{}}}", raw.get())));
        assert!(
            e.column_fields().is_empty(),
            "columns are not built for native"
        );
        assert_eq!(e.envelope_fields().len(), 1);
    }

    /// `event.outcome` says something only where a request succeeded or failed.
    #[test]
    fn an_unknown_outcome_is_left_out() {
        let ctx = ctx();
        let e = NativeEvent::new(
            summary(Outcome::Unknown),
            Record::new("{}"),
            &ctx,
            ctx.ingested,
            "RiskyUsers",
            "Risky user",
        );
        let mut line = Vec::new();
        e.write_native(&mut line);
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert!(v["event"].get("outcome").is_none(), "{v}");
    }

    #[test]
    fn a_field_is_written_as_its_column_type_asks() {
        let text = |f: Field<'_>| {
            let mut out = Vec::new();
            f.write_as_text(&mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(Field::Raw(r#"{"a":1}"#)), r#""{\"a\":1}""#);
        assert_eq!(text(Field::Raw(r#""s""#)), r#""s""#);
        assert_eq!(text(Field::Raw("12")), r#""12""#);
        assert_eq!(text(Field::Int(7)), r#""7""#);
        assert_eq!(text(Field::Null), "null");
        let mut out = Vec::new();
        Field::Text("[1,2]").write_as_value(&mut out);
        assert_eq!(out, b"[1,2]");
        assert!(Field::Raw("\"\"").is_null() && Field::Str("".into()).is_null());
    }
}
