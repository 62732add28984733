//! `risky_users` (`/identityProtection/riskyUsers`) and `risky_service_principals`
//! (`/identityProtection/riskyServicePrincipals`): state records. The same id comes back with a
//! new `riskLastUpdatedDateTime` when its risk changes; each state is emitted once, as
//! `event.id = id@riskLastUpdatedDateTime`, `event.kind = "state"`.
//!
//! The cursor filters `riskLastUpdatedDateTime` where Graph accepts it (undocumented); if Graph
//! refuses the filter the poll loop falls back to a full listing compared against the state
//! file. Either way an unchanged record is never emitted again.

use serde_json::Value;

use super::{NormalizeContext, Protection, StreamKind, StreamSpec};
use crate::event::{self, EventBuilder, EventKind, Outcome, Severity, Summary};

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
        normalize,
    }
}

/// What makes a risky user or service principal a new state.
fn fingerprint(record: &Value) -> String {
    let f = |k| event::str_at(record, k).unwrap_or("");
    format!(
        "{}|{}|{}|{}|{}",
        event::record_id(record),
        f("riskLevel"),
        f("riskState"),
        f("riskDetail"),
        f(UPDATED)
    )
}

fn severity(record: &Value) -> Severity {
    if event::str_at(record, "riskState") == Some("confirmedCompromised") {
        Severity::High
    } else {
        event::risk_severity(event::str_at(record, "riskLevel"))
    }
}

fn normalize(spec: &dyn StreamSpec, record: Value, ctx: &NormalizeContext) -> Value {
    let users = spec.kind() == StreamKind::RiskyUsers;
    let state = event::str_at(&record, "riskState")
        .unwrap_or("unknown")
        .to_string();
    let time = spec.record_time(&record).unwrap_or(ctx.ingested);
    let identity = if users {
        event::str_at(&record, "userPrincipalName")
            .or_else(|| event::str_at(&record, "userDisplayName"))
    } else {
        event::str_at(&record, "displayName").or_else(|| event::str_at(&record, "appId"))
    }
    .map(str::to_string);
    let summary = Summary {
        id: spec.event_id(&record),
        stream: spec.kind(),
        kind: EventKind::State,
        action: state,
        outcome: Outcome::Unknown,
        severity: severity(&record),
        ctx,
    };
    let (category, operation) = if users {
        ("RiskyUsers", "Risky user")
    } else {
        ("RiskyServicePrincipals", "Risky service principal")
    };
    let mut e = EventBuilder::new(summary, time, category, operation);
    e.set("resultType", "")
        .set("callerIpAddress", Value::Null)
        .set("correlationId", Value::Null)
        .set("identity", identity);
    // Log Analytics `AADRiskyUsers` / `AADRiskyServicePrincipals` columns.
    e.copy_all(
        &record,
        &[
            ("Id", "id"),
            ("IsProcessing", "isProcessing"),
            ("RiskDetail", "riskDetail"),
            ("RiskLastUpdatedDateTime", UPDATED),
            ("RiskLevel", "riskLevel"),
            ("RiskState", "riskState"),
        ],
    )
    .set("OperationName", operation);
    if users {
        e.copy_all(
            &record,
            &[
                ("IsDeleted", "isDeleted"),
                ("UserDisplayName", "userDisplayName"),
                ("UserPrincipalName", "userPrincipalName"),
            ],
        );
    } else {
        e.copy_all(
            &record,
            &[
                ("AppId", "appId"),
                ("DisplayName", "displayName"),
                ("IsEnabled", "isEnabled"),
                ("ServicePrincipalType", "servicePrincipalType"),
            ],
        );
    }
    e.finish(record)
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
        assert_eq!(users.event_id(&a), "u1@2026-01-01T00:00:00Z");
        assert_ne!(users.dedup_key(&a), users.dedup_key(&b));
        assert!(users.snapshot_fallback());
        assert_eq!(severity(&a), Severity::High);
        b["riskState"] = "confirmedCompromised".into();
        b["riskLevel"] = "low".into();
        assert_eq!(severity(&b), Severity::High);
    }
}
