//! One module per Graph resource. A stream module holds only what differs between resources:
//! its endpoint, its time (cursor) field and filter, its page size, its dedup key and how its
//! records become native events. The shared poll loop in [`crate::poll`] does the rest.

pub mod agents;
pub mod directory_audits;
pub mod exported;
pub mod inventory;
pub mod provisioning;
pub mod risk_detections;
pub mod risky;
pub mod settings;
pub mod shaping;
pub mod sign_ins;
pub mod subjects;

use std::time::Duration;

pub use crate::event::NormalizeContext;
pub use crate::kind::{Family, StreamKind};
pub use settings::{SignInFilter, SignInOptions, StreamSettings};

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::event::NativeEvent;
use crate::format::Format;
use crate::record::Record;

/// The resource-specific parts of an enabled stream: one per cursor (sign-ins have one
/// per event type).
pub fn specs(settings: &settings::StreamSettings) -> Vec<Box<dyn StreamSpec>> {
    match settings.kind {
        StreamKind::DirectoryAudits => vec![Box::new(directory_audits::DirectoryAudits)],
        StreamKind::Provisioning => vec![Box::new(provisioning::Provisioning)],
        kind @ (StreamKind::RiskyAgents | StreamKind::AgentRiskDetections) => {
            vec![Box::new(agents::spec(kind))]
        }
        kind @ (StreamKind::Users | StreamKind::Devices | StreamKind::RoleAssignments) => {
            vec![Box::new(inventory::Inventory { kind })]
        }
        StreamKind::SignIns => sign_ins::specs(&settings.sign_ins),
        StreamKind::Exported(which) => vec![Box::new(exported::ExportOnly(which))],
        StreamKind::RiskyUsers => vec![Box::new(risky::spec(StreamKind::RiskyUsers))],
        StreamKind::RiskyServicePrincipals => {
            vec![Box::new(risky::spec(StreamKind::RiskyServicePrincipals))]
        }
        kind @ (StreamKind::RiskDetections | StreamKind::ServicePrincipalRiskDetections) => {
            vec![Box::new(risk_detections::spec(kind))]
        }
    }
}

/// The spec that normalizes this kind's records with its defaults (golden tests, benches).
pub fn spec(kind: StreamKind) -> Box<dyn StreamSpec> {
    spec_for(kind, None)
}

/// The same for one sign-in event type (`interactiveUser` when `None`): how an Event Hub's
/// records of a category no configured stream reads are normalized.
pub fn spec_for(kind: StreamKind, sign_in_type: Option<&str>) -> Box<dyn StreamSpec> {
    let mut settings = settings::StreamSettings {
        kind,
        sweeps: kind.default_sweeps(),
        settle_only: false,
        learn_step: None,
        tail_check: None,
        initial_lookback: Duration::from_secs(3600),
        audit: false,
        sign_ins: Default::default(),
    };
    if let Some(t) = sign_in_type {
        settings.sign_ins.event_types = vec![t.to_string()];
    }
    specs(&settings).remove(0)
}

/// What the poll loop needs to know about one Graph resource.
pub trait StreamSpec: Send + Sync {
    fn kind(&self) -> StreamKind;
    fn family(&self) -> Family {
        self.kind().family()
    }
    /// `v1.0` or `beta`.
    fn api_version(&self) -> &str {
        "v1.0"
    }
    /// The path below `{graph_url}/{api_version}`, e.g. `/auditLogs/directoryAudits`.
    fn path(&self) -> &'static str;
    /// The time field that both the `$filter` and the cursor use.
    fn time_field(&self) -> &'static str;
    /// The documented maximum `$top`.
    fn max_top(&self) -> u32;
    /// Whether Graph documents `$orderby` on the time field: then it is sent ascending and the
    /// cursor may advance page by page. Otherwise the cursor stays at the window start until the
    /// window is drained, and only the emitted ids are checkpointed page by page.
    fn ordered(&self) -> bool {
        true
    }
    /// The stream's section in the state file (each sign-in event type has its own cursor).
    fn state_key(&self) -> String {
        self.kind().name().to_string()
    }
    /// The sign-in event type this cursor reads (`interactiveUser`, …); `None` for every other
    /// stream. Logs and metrics carry it as its own dimension beside the stream's name.
    fn sign_in_type(&self) -> Option<&str> {
        None
    }
    /// The `summarize` policy of a sign-in cursor (`[streams.sign_ins.shaping]`).
    fn shaping(&self) -> Option<shaping::Policy> {
        None
    }
    /// Extra `$filter` clauses, one sub-query each, all sharing one window that advances only
    /// once every sub-query is drained. Default: one query with no extra clause.
    fn sub_filters(&self) -> Vec<Option<String>> {
        vec![None]
    }
    /// Client-side filtering of what Graph cannot filter.
    fn keep(&self, _record: &Record<'_>) -> bool {
        true
    }
    /// `event.id`.
    fn event_id(&self, record: &Record<'_>) -> String;
    /// What a delta round's object becomes before it is an event: itself (`None`), or, for a
    /// directory role, one record per member (`baseline`: a round listing everything).
    fn delta_records(&self, _object: &Record<'_>, _baseline: bool) -> Option<Vec<String>> {
        None
    }
    /// What tells whether a record was already emitted. Default: `event.id`.
    fn dedup_key(&self, record: &Record<'_>) -> String {
        self.event_id(record)
    }
    /// State records whose time filter Graph may refuse: fall back to a full listing compared
    /// against the state file.
    fn snapshot_fallback(&self) -> bool {
        false
    }
    /// Turns one Graph record into a native event.
    fn event<'a>(&self, record: Record<'a>, ctx: &'a NormalizeContext) -> NativeEvent<'a>;

    /// The native event of a record given as a tree: for tests and tools, not the poll loop.
    fn normalize(&self, record: Value, ctx: &NormalizeContext) -> Value {
        self.render(record, ctx, Format::Native)
    }

    /// The event of a record given as a tree, in `format` (null and empty Log Analytics
    /// columns left out): for tests and tools.
    fn render(&self, record: Value, ctx: &NormalizeContext, format: Format) -> Value {
        self.render_with(record, ctx, format, false)
    }

    /// [`Self::render`], keeping a Log Analytics row's null and empty columns or not.
    fn render_with(
        &self,
        record: Value,
        ctx: &NormalizeContext,
        format: Format,
        keep_null: bool,
    ) -> Value {
        // A Value always serializes, and the line written from it always parses.
        let text = RawValue::from_string(record.to_string())
            .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON"));
        let mut line = Vec::new();
        let ctx = ctx.clone().with_columns(format.needs_columns());
        format.write(
            &self.event(Record::new(text.get()), &ctx),
            keep_null,
            &mut line,
        );
        serde_json::from_slice(&line).unwrap_or(Value::Null)
    }

    /// The `$filter` for the window `[from, to]`, plus an extra clause.
    fn filter(&self, from: DateTime<Utc>, to: DateTime<Utc>, extra: Option<&str>) -> String {
        let f = self.time_field();
        let mut s = format!(
            "{f} ge {} and {f} le {}",
            crate::event::graph_time(from),
            crate::event::graph_time(to)
        );
        if let Some(extra) = extra {
            s.push_str(" and ");
            s.push_str(extra);
        }
        s
    }

    /// The query string of the first request of a window (the nextLinks carry it on).
    fn query(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        extra: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut q = vec![("$filter".to_string(), self.filter(from, to, extra))];
        if self.ordered() {
            q.push(("$orderby".into(), format!("{} asc", self.time_field())));
        }
        q.push(("$top".into(), self.max_top().to_string()));
        q
    }

    /// The query of a full listing (snapshot mode).
    fn snapshot_query(&self) -> Vec<(String, String)> {
        vec![("$top".into(), self.max_top().to_string())]
    }

    /// The record's time (cursor) field, when present and parseable.
    fn record_time(&self, record: &Record<'_>) -> Option<DateTime<Utc>> {
        crate::event::parse_time(&crate::record::string(record.get(self.time_field())?)?)
    }
}

/// The four identity-protection resources differ only in path, cursor field, shape, and whether
/// they are state records; they share one spec.
pub struct Protection {
    pub kind: StreamKind,
    pub path: &'static str,
    /// The last-update time: cursor and the `@…` of `event.id`.
    pub updated: &'static str,
    /// State records: what makes a new state (dedup key), with the full-listing fallback.
    pub fingerprint: Option<fn(&Record<'_>) -> String>,
    /// Served under `/beta` only (agent identities).
    pub beta: bool,
    pub normalize: for<'a> fn(&dyn StreamSpec, Record<'a>, &'a NormalizeContext) -> NativeEvent<'a>,
}

impl StreamSpec for Protection {
    fn kind(&self) -> StreamKind {
        self.kind
    }
    fn path(&self) -> &'static str {
        self.path
    }
    fn api_version(&self) -> &str {
        if self.beta {
            "beta"
        } else {
            "v1.0"
        }
    }
    fn time_field(&self) -> &'static str {
        self.updated
    }
    /// Always sent: the default page is 20.
    fn max_top(&self) -> u32 {
        500
    }
    /// Identity protection documents no order.
    fn ordered(&self) -> bool {
        false
    }
    fn event_id(&self, record: &Record<'_>) -> String {
        crate::event::versioned_id(record, self.updated)
    }
    fn dedup_key(&self, record: &Record<'_>) -> String {
        match self.fingerprint {
            Some(f) => f(record),
            None => self.event_id(record),
        }
    }
    fn snapshot_fallback(&self) -> bool {
        self.fingerprint.is_some()
    }
    fn event<'a>(&self, record: Record<'a>, ctx: &'a NormalizeContext) -> NativeEvent<'a> {
        (self.normalize)(self, record, ctx)
    }
}
