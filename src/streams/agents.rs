//! Microsoft Entra Agent ID, beta only (global cloud): `risky_agents`
//! (`/beta/identityProtection/riskyAgents`, state records: each change of an agent's risk is one
//! `state` event, `event.id = id@riskLastModifiedDateTime`) and `agent_risk_detections`
//! (`/beta/identityProtection/agentRiskDetections`, each state of a detection one `alert`,
//! `event.id = id@lastModifiedDateTime`). Log Analytics publishes `AADRiskyAgents` for risky
//! agents; agent risk detections have no table yet and become a custom table's row.

use super::{NormalizeContext, Protection, StreamKind, StreamSpec};
use crate::event::{self, EventKind, NativeEvent, Outcome, Severity, Summary};
use crate::record::Record;

/// The spec of `risky_agents` or `agent_risk_detections`.
pub fn spec(kind: StreamKind) -> Protection {
    let agents = kind == StreamKind::RiskyAgents;
    Protection {
        kind,
        path: if agents {
            "/identityProtection/riskyAgents"
        } else {
            "/identityProtection/agentRiskDetections"
        },
        updated: if agents {
            "riskLastModifiedDateTime"
        } else {
            "lastModifiedDateTime"
        },
        fingerprint: agents.then_some(fingerprint as fn(&Record<'_>) -> String),
        beta: true,
        normalize,
    }
}

/// What makes a risky agent a new state.
fn fingerprint(record: &Record<'_>) -> String {
    super::risky::state_fingerprint(record, "riskLastModifiedDateTime")
}

fn normalize<'a>(
    spec: &dyn StreamSpec,
    record: Record<'a>,
    ctx: &'a NormalizeContext,
) -> NativeEvent<'a> {
    let agents = spec.kind() == StreamKind::RiskyAgents;
    let severity = if record.str("riskState").as_deref() == Some("confirmedCompromised") {
        Severity::High
    } else {
        event::risk_severity(record.str("riskLevel").as_deref())
    };
    let action = if agents {
        record.str("riskState")
    } else {
        record.str("riskEventType")
    }
    .map_or_else(|| "unknown".to_string(), |s| s.into_owned());
    let time = spec.record_time(&record).unwrap_or(ctx.ingested);
    let identity = record
        .str("agentDisplayName")
        .or_else(|| record.str(if agents { "id" } else { "agentId" }));
    let summary = Summary {
        id: spec.event_id(&record),
        stream: spec.kind(),
        kind: if agents {
            EventKind::State
        } else {
            EventKind::Alert
        },
        action,
        outcome: Outcome::Unknown,
        severity,
    };
    let (category, operation) = if agents {
        ("RiskyAgents", "Risky agent")
    } else {
        ("AgentRiskEvents", "Agent Risk Detection")
    };
    let mut e = NativeEvent::new(summary, record, ctx, time, category, operation);
    e.stateless_envelope(identity);
    if agents {
        // Log Analytics `AADRiskyAgents` (`testdata/log-analytics/AADRiskyAgents.tsv`): Graph
        // relates a risky agent to no correlation id.
        e.copy_all(&[
            ("AgentDisplayName", "agentDisplayName"),
            ("Id", "id"),
            ("IdentityType", "identityType"),
            ("IsDeleted", "isDeleted"),
            ("IsEnabled", "isEnabled"),
            ("IsProcessing", "isProcessing"),
            ("RiskDetail", "riskDetail"),
            ("RiskLastModifiedDateTime", "riskLastModifiedDateTime"),
            ("RiskLevel", "riskLevel"),
            ("RiskState", "riskState"),
        ])
        .set("CorrelationId", crate::event::Field::Null)
        .set("OperationName", operation)
        .table("AADRiskyAgents", false);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::with;
    use serde_json::json;

    #[test]
    fn each_risk_state_of_an_agent_is_its_own_event() {
        let a = json!({"@odata.type": "#microsoft.graph.riskyAgentUser", "id": "a1",
            "riskLevel": "high", "riskState": "atRisk", "riskDetail": "none",
            "riskLastModifiedDateTime": "2026-01-01T00:00:00Z"});
        let mut b = a.clone();
        b["riskState"] = "dismissed".into();
        let s = spec(StreamKind::RiskyAgents);
        assert_eq!(with(&a, |r| s.event_id(r)), "a1@2026-01-01T00:00:00Z");
        assert_ne!(with(&a, |r| s.dedup_key(r)), with(&b, |r| s.dedup_key(r)));
        assert_eq!(s.api_version(), "beta");
        let d = spec(StreamKind::AgentRiskDetections);
        assert_eq!(d.time_field(), "lastModifiedDateTime");
        assert!(!d.snapshot_fallback());
    }
}
