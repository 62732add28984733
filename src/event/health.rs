//! `event.dataset = "entra.connector_health"`: a stream's collection health changing (ok, degraded,
//! error and back) or a range it could never read, as an event in the pipeline itself, so that
//! the SIEM sees a collection gap when it opens. Rare (one per change), so built as a tree.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{envelope_time, graph_time};

/// The prefix of a health event's id, its `event.dataset`, and its category in ECS and OCSF.
pub const EVENT_TYPE: &str = "connector_health";
pub const DATASET: &str = "entra.connector_health";
pub const CATEGORY: &str = "ConnectorHealth";

/// One change of a stream's collection health.
#[derive(Debug, Clone)]
pub struct HealthChange<'a> {
    pub tenant: &'a str,
    /// The stream (`sign_ins`) and, for sign-ins, the event type its cursor reads.
    pub stream: &'a str,
    pub sign_in_type: Option<&'a str>,
    /// `ok`, `degraded`, `error`; `None` before the stream's first poll.
    pub previous: Option<&'a str>,
    /// `ok`, `degraded`, `error`, or `gap` (a range that can no longer be read).
    pub state: &'a str,
    /// What happened.
    pub reason: String,
    /// What to do about it (empty when nothing is needed).
    pub fix: String,
    /// The range never read, for a gap; the range checked, for late records.
    pub gap: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Late records: (found and emitted, counted but not singled out).
    pub late: Option<(u64, u64)>,
    /// A shaped window's accounting (state `shaped`; the window in `gap`).
    pub account: Option<crate::state::shaping::Account>,
    /// An audited hour (state `audited`): what the hub delivered, what Graph listed, and
    /// what the auditor emitted because the hub had lost it.
    pub audit: Option<crate::state::hub::AuditedSlice>,
    pub at: DateTime<Utc>,
}

impl HealthChange<'_> {
    /// `event.severity`: a stream stopped or a gap is high, a degraded stream medium.
    pub fn severity(&self) -> &'static str {
        match self.state {
            "error" | "gap" => "high",
            // Records neither emitted nor counted: never expected, always worth a look.
            "shaped" if self.account.is_some_and(|a| !a.reconciles()) => "high",
            // The export stream lost records (repaired from Graph): worth knowing, not urgent.
            "audited" if self.audit.is_some_and(|a| a.repaired > 0) => "medium",
            "degraded" | "late_records" => "medium",
            _ => "info",
        }
    }

    fn action(&self) -> String {
        let stream = match self.sign_in_type {
            Some(t) => format!("{} ({t})", self.stream),
            None => self.stream.to_string(),
        };
        match (self.state, self.previous) {
            ("gap", _) => format!("collection gap in {stream}"),
            ("late_records", _) => format!("records past the last sweep in {stream}"),
            ("shaped", _) => format!("sign-ins shaped in {stream}"),
            ("audited", _) => format!("Event Hubs delivery of {stream} audited against Graph"),
            (state, Some(previous)) => format!("{stream}: {previous} → {state}"),
            (state, None) => format!("{stream}: {state}"),
        }
    }
}

/// The native event: the summary, the time, and entra-source's own record in `properties`
/// (`reported_at`: when it was written).
pub fn event(c: &HealthChange<'_>, ingested: DateTime<Utc>) -> Value {
    let section = match c.sign_in_type {
        Some(t) => format!("{}.{t}", c.stream),
        None => c.stream.to_string(),
    };
    let id = format!(
        "{EVENT_TYPE}:{}:{section}:{}:{}",
        c.tenant,
        c.state,
        c.at.timestamp_nanos_opt().unwrap_or_default()
    );
    let mut record = json!({
        "tenant_id": c.tenant,
        "stream": c.stream,
        "sign_in_type": c.sign_in_type,
        "previous_state": c.previous,
        "state": c.state,
        "reason": c.reason,
        "fix": c.fix,
        "detected_at": graph_time(c.at),
        "connector": "entra-source",
        "connector_version": env!("CARGO_PKG_VERSION"),
        "reported_at": graph_time(ingested),
    });
    if let (Some((from, to)), Some(a)) = (c.gap, c.account) {
        record["window_from"] = graph_time(from).into();
        record["window_to"] = graph_time(to).into();
        record["fetched"] = a.fetched.into();
        record["full"] = a.full.into();
        record["summarized"] = a.summarized.into();
        record["summaries"] = a.summaries.into();
        record["reconciled"] = a.reconciles().into();
    }
    if let Some(a) = c.audit {
        record["slice_from"] = graph_time(a.from).into();
        record["slice_to"] = graph_time(a.from + chrono::Duration::hours(1)).into();
        record["hub_delivered"] = a.hub.into();
        record["graph_listed"] = a.graph.into();
        record["repaired"] = a.repaired.into();
    }
    match (c.gap.filter(|_| c.account.is_none()), c.late) {
        (Some((from, to)), Some((found, unmatched))) => {
            record["checked_from"] = graph_time(from).into();
            record["checked_to"] = graph_time(to).into();
            record["late_found"] = found.into();
            record["late_unmatched"] = unmatched.into();
        }
        (Some((from, to)), None) => {
            record["gap_from"] = graph_time(from).into();
            record["gap_to"] = graph_time(to).into();
        }
        _ => {}
    }
    json!({
        "event": {
            "id": id,
            "dataset": DATASET,
            "kind": "state",
            "action": c.action(),
            "outcome": match (c.state, c.account) {
                ("ok", _) => "success",
                ("shaped", Some(a)) if a.reconciles() => "success",
                ("audited", _) => "success",
                _ => "failure",
            },
            "severity": c.severity(),
            "tenant_id": c.tenant,
        },
        "time": envelope_time(c.at),
        "properties": record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permission_lost_is_a_high_failure_naming_the_fix() {
        let at: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let c = HealthChange {
            tenant: "t",
            stream: "sign_ins",
            sign_in_type: Some("interactiveUser"),
            previous: Some("ok"),
            state: "error",
            reason: "the app lacks AuditLog.Read.All".into(),
            fix: "grant it".into(),
            gap: None,
            late: None,
            account: None,
            audit: None,
            at,
        };
        let e = event(&c, at);
        assert_eq!(e["event"]["dataset"], "entra.connector_health");
        assert_eq!(e["event"]["severity"], "high");
        assert_eq!(e["event"]["outcome"], "failure");
        assert_eq!(
            e["event"]["action"],
            "sign_ins (interactiveUser): ok → error"
        );
        assert_eq!(e["properties"]["fix"], "grant it");
        assert!(e["properties"].get("gap_from").is_none());
    }
}
