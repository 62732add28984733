//! `risky_users` (`/identityProtection/riskyUsers`) and `risky_service_principals`
//! (`/identityProtection/riskyServicePrincipals`): state records. The same id comes back with a
//! new `riskLastUpdatedDateTime` when its risk changes; each state is emitted once, as
//! `event.id = id@riskLastUpdatedDateTime`, `event.kind = "state"`.
//!
//! The cursor filters `riskLastUpdatedDateTime` where Graph accepts it (undocumented); if Graph
//! refuses the filter the poll loop falls back to a full listing compared against the state
//! file. Either way an unchanged record is never emitted again.

use super::{NormalizeContext, Protection, StreamKind, StreamSpec};
use crate::event::{self, EventKind, Field, NativeEvent, Outcome, Severity, Summary};
use crate::record::Record;

const UPDATED: &str = "riskLastUpdatedDateTime";

/// The spec of `risky_users` or `risky_service_principals`.
pub fn spec(kind: StreamKind) -> Protection {
    Protection {
        kind,
        path: if kind == StreamKind::RiskyUsers {
            "/identityProtection/riskyUsers"
        } else {
            "/identityProtection/riskyServicePrincipals"
        },
        updated: UPDATED,
        fingerprint: Some(fingerprint),
        beta: false,
        normalize,
    }
}

/// What makes a risky user or service principal a new state.
fn fingerprint(record: &Record<'_>) -> String {
    state_fingerprint(record, UPDATED)
}

/// What makes a risky entity (user, service principal, agent) a new state: its risk and the
/// time Graph last changed it (`updated`).
pub(super) fn state_fingerprint(record: &Record<'_>, updated: &str) -> String {
    let f = |k| record.str(k).unwrap_or_default();
    format!(
        "{}|{}|{}|{}|{}",
        event::id_of(record),
        f("riskLevel"),
        f("riskState"),
        f("riskDetail"),
        f(updated)
    )
}

fn severity(record: &Record<'_>) -> Severity {
    if record.str("riskState").as_deref() == Some("confirmedCompromised") {
        Severity::High
    } else {
        event::risk_severity(record.str("riskLevel").as_deref())
    }
}

fn normalize<'a>(
    spec: &dyn StreamSpec,
    record: Record<'a>,
    ctx: &'a NormalizeContext,
) -> NativeEvent<'a> {
    let users = spec.kind() == StreamKind::RiskyUsers;
    let state = record
        .str("riskState")
        .map_or_else(|| "unknown".to_string(), |s| s.into_owned());
    let time = spec.record_time(&record).unwrap_or(ctx.ingested);
    // The export's `identity` is the display name in lower case, its `correlationId` the id.
    let identity = record
        .str(if users {
            "userDisplayName"
        } else {
            "displayName"
        })
        .map(|n| n.to_lowercase());
    let summary = Summary {
        id: spec.event_id(&record),
        stream: spec.kind(),
        kind: EventKind::State,
        action: state,
        outcome: Outcome::Unknown,
        severity: severity(&record),
    };
    let (category, operation) = if users {
        ("RiskyUsers", "Risky user")
    } else {
        ("RiskyServicePrincipals", "Risky service principal")
    };
    let mut e = NativeEvent::new(summary, record, ctx, time, category, operation);
    e.copy("correlationId", "id").set("identity", identity);
    // Log Analytics `AADRiskyUsers` / `AADRiskyServicePrincipals` columns.
    e.columns()
        .copy_all(&[
            ("Id", "id"),
            ("IsProcessing", "isProcessing"),
            ("RiskDetail", "riskDetail"),
            ("RiskLastUpdatedDateTime", UPDATED),
            ("RiskLevel", "riskLevel"),
            ("RiskState", "riskState"),
        ])
        .set("OperationName", operation);
    if users {
        e.copy_all(&[
            ("IsDeleted", "isDeleted"),
            ("UserDisplayName", "userDisplayName"),
            ("UserPrincipalName", "userPrincipalName"),
        ]);
    } else {
        e.copy_all(&[
            ("AppId", "appId"),
            ("DisplayName", "displayName"),
            ("IsEnabled", "isEnabled"),
            ("ServicePrincipalType", "servicePrincipalType"),
        ]);
        // Graph documents `accountEnabled`; Microsoft's own example payload says `isEnabled`.
        let enabled = if e.record.get("accountEnabled").is_some() {
            "accountEnabled"
        } else {
            "isEnabled"
        };
        e.copy("AccountEnabled", enabled);
    }
    // The rest of `AADRiskyUsers` / `AADRiskyServicePrincipals` (`testdata/log-analytics/`):
    // Graph relates a risky user or service principal to no correlation id.
    let table = if users {
        "AADRiskyUsers"
    } else {
        "AADRiskyServicePrincipals"
    };
    e.table(table, false).set("CorrelationId", Field::Null);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_state_has_its_own_id_and_fingerprint() {
        let a = json!({"id": "u1", "riskLevel": "high", "riskState": "atRisk", "riskDetail": "none", UPDATED: "2026-01-01T00:00:00Z"});
        let mut b = a.clone();
        b["riskState"] = "remediated".into();
        let users = spec(StreamKind::RiskyUsers);
        use crate::record::with;
        assert_eq!(with(&a, |r| users.event_id(r)), "u1@2026-01-01T00:00:00Z");
        assert_ne!(
            with(&a, |r| users.dedup_key(r)),
            with(&b, |r| users.dedup_key(r))
        );
        assert!(users.snapshot_fallback());
        assert_eq!(with(&a, severity), Severity::High);
        b["riskState"] = "confirmedCompromised".into();
        b["riskLevel"] = "low".into();
        assert_eq!(with(&b, severity), Severity::High);
    }
}
