//! Agent identities (Microsoft Entra Agent ID), beta only: the `agent` block of a sign-in
//! (`microsoft.graph.agentic.agentSignIn`), risky agents (`/identityProtection/riskyAgents`,
//! state records of three derived types) and agent risk detections
//! (`/identityProtection/agentRiskDetections`), shaped like Microsoft's beta reference pages.
//! `agentType` and `agentSubjectType` are evolvable enums: their members after
//! `unknownFutureValue` come back only to a request that sends
//! `Prefer: include-unknown-enum-members`, else as `unknownFutureValue`.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::graph::record_time;
use crate::rng::Rng;

/// `microsoft.graph.agentic.agentType`, in schema order; the last two follow
/// `unknownFutureValue` (evolvable).
pub const AGENT_TYPES: &[&str] = &[
    "notAgentic",
    "agenticApp",
    "agenticAppInstance",
    "unknownFutureValue",
    "agentIdentityBlueprintPrincipal",
    "agentIDuser",
];

/// The members a client sees only with `Prefer: include-unknown-enum-members`.
const EVOLVABLE: &[&str] = &["agentIdentityBlueprintPrincipal", "agentIDuser"];

const AGENTS: &[&str] = &[
    "Contoso Procurement Agent",
    "HR Onboarding Copilot",
    "Expense Triage Agent",
];

/// The `agent` block of a beta sign-in: non-agentic for people's interactive sign-ins, one of
/// the agentic types for a service principal's or non-interactive one about a third of the time.
pub fn sign_in_agent(rng: &mut Rng, event_type: &str) -> Value {
    let agentic =
        matches!(event_type, "servicePrincipal" | "nonInteractiveUser") && rng.below(3) == 0;
    if !agentic {
        return json!({
            "agentType": "notAgentic",
            "agentSubjectType": "notAgentic",
            "agentSubjectParentId": null,
            "parentAppId": null
        });
    }
    let agent_type = *rng.pick(&AGENT_TYPES[1..]);
    let agent_type = if agent_type == "unknownFutureValue" {
        "agenticAppInstance"
    } else {
        agent_type
    };
    let subject = *rng.pick(&[
        "agenticAppInstance",
        "agentIDuser",
        "agentIdentityBlueprintPrincipal",
    ]);
    json!({
        "agentType": agent_type,
        "agentSubjectType": subject,
        "agentSubjectParentId": rng.guid(),
        "parentAppId": rng.guid()
    })
}

/// Without `Prefer: include-unknown-enum-members`, evolvable members read `unknownFutureValue`.
pub fn mask_evolvable(record: &mut Map<String, Value>) {
    let Some(Value::Object(agent)) = record.get_mut("agent") else {
        return;
    };
    for k in ["agentType", "agentSubjectType"] {
        if let Some(v) = agent.get_mut(k) {
            if v.as_str().is_some_and(|s| EVOLVABLE.contains(&s)) {
                *v = "unknownFutureValue".into();
            }
        }
    }
}

/// One risky agent, of one of the three derived types.
pub fn risky_agent(rng: &mut Rng, n: u64, at: DateTime<Utc>) -> Value {
    let ty = *rng.pick(&[
        "riskyAgentIdentity",
        "riskyAgentUser",
        "riskyAgentIdentityBlueprintPrincipal",
    ]);
    let level = *rng.pick(&["low", "medium", "high"]);
    json!({
        "@odata.type": format!("#microsoft.graph.{ty}"),
        "id": rng.guid(),
        "agentDisplayName": format!("{} {n}", rng.pick(AGENTS)),
        "isDeleted": false,
        "isEnabled": true,
        "isProcessing": false,
        "riskLastModifiedDateTime": record_time(at),
        "riskState": "atRisk",
        "riskLevel": level,
        "riskDetail": "none"
    })
}

/// One agent risk detection.
pub fn agent_risk_detection(rng: &mut Rng, n: u64, at: DateTime<Utc>) -> Value {
    let level = *rng.pick(&["low", "medium", "high"]);
    let kind = *rng.pick(&[
        "unusualAgentActivity",
        "agentCredentialLeaked",
        "suspiciousAgentTokenRequest",
    ]);
    json!({
        "@odata.type": "#microsoft.graph.agentRiskDetection",
        "id": rng.guid(),
        "agentId": rng.guid(),
        "agentDisplayName": format!("{} {n}", rng.pick(AGENTS)),
        "activityDateTime": record_time(at - chrono::Duration::minutes(3)),
        "detectedDateTime": record_time(at - chrono::Duration::minutes(1)),
        "detectionTimingType": "offline",
        "lastModifiedDateTime": record_time(at),
        "riskDetail": "none",
        "riskLevel": level,
        "riskState": "atRisk",
        "riskEventType": kind,
        "riskEvidence": "[{\"evidenceType\":\"tokenRequest\",\"count\":12}]",
        "additionalInfo": "[{\"Key\":\"resource\",\"Value\":\"Microsoft Graph\"}]"
    })
}
