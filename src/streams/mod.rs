//! One module per Graph resource. A stream module holds only what differs between resources:
//! its endpoint, its time (cursor) field and filter, its page size, its dedup key and how its
//! records become native events. The shared poll loop in [`crate::poll`] does the rest.

pub mod directory_audits;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Every stream entra-source knows, by its `[streams.NAME]` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamKind {
    DirectoryAudits,
    SignIns,
    RiskyUsers,
    RiskDetections,
    RiskyServicePrincipals,
    ServicePrincipalRiskDetections,
}

impl StreamKind {
    /// The name used in `[streams.NAME]`, the state file and `event.dataset`.
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::DirectoryAudits => "directory_audits",
            StreamKind::SignIns => "sign_ins",
            StreamKind::RiskyUsers => "risky_users",
            StreamKind::RiskDetections => "risk_detections",
            StreamKind::RiskyServicePrincipals => "risky_service_principals",
            StreamKind::ServicePrincipalRiskDetections => "service_principal_risk_detections",
        }
    }

    /// Whether this build can read the stream.
    pub fn is_available(self) -> bool {
        matches!(self, StreamKind::DirectoryAudits)
    }

    /// `late_arrival` when neither the stream nor `[poll]` sets one: 20 minutes, 48 hours for
    /// the risk detections (offline detections surface up to 48 h late).
    pub fn default_late_arrival(self) -> Duration {
        match self {
            StreamKind::RiskDetections | StreamKind::ServicePrincipalRiskDetections => {
                Duration::from_secs(48 * 3600)
            }
            _ => Duration::from_secs(20 * 60),
        }
    }

    /// The resource-specific part of the stream.
    pub fn spec(self) -> Box<dyn StreamSpec> {
        match self {
            StreamKind::DirectoryAudits => Box::new(directory_audits::DirectoryAudits),
            other => unreachable!("{} is rejected by config validation", other.name()),
        }
    }
}

/// Graph's throttling families: each has its own client-side budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Identity and access reports: directory audits, sign-ins.
    Reports,
    /// Identity protection: risky users and service principals, risk detections.
    IdentityProtection,
}

/// What the poll loop needs to know about one Graph resource.
pub trait StreamSpec: Send + Sync {
    fn kind(&self) -> StreamKind;
    fn family(&self) -> Family;
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
    /// The key that identifies one emitted record: `event.id`.
    fn event_id(&self, record: &Value) -> String;
    /// Turns one Graph record into a native event.
    fn normalize(&self, record: Value, ctx: &NormalizeContext) -> Value;

    /// The `$filter` for the window `[from, to]`.
    fn filter(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
        let f = self.time_field();
        format!(
            "{f} ge {} and {f} le {}",
            crate::event::graph_time(from),
            crate::event::graph_time(to)
        )
    }

    /// The query string of the first request of a window (the nextLinks carry it on).
    fn query(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(String, String)> {
        vec![
            ("$filter".into(), self.filter(from, to)),
            ("$orderby".into(), format!("{} asc", self.time_field())),
            ("$top".into(), self.max_top().to_string()),
        ]
    }

    /// The record's time (cursor) field, when present and parseable.
    fn record_time(&self, record: &Value) -> Option<DateTime<Utc>> {
        record
            .get(self.time_field())
            .and_then(Value::as_str)
            .and_then(crate::event::parse_time)
    }
}

/// What normalization needs besides the record.
#[derive(Debug, Clone)]
pub struct NormalizeContext {
    pub tenant_id: String,
    pub ingested: DateTime<Utc>,
}
