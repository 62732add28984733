//! ECS for agent identities (Microsoft Entra Agent ID): risky agents (`event.kind` `state`) and
//! agent risk detections (`alert`, `rule.name` = the risk event type), `event.category` `iam`,
//! the agent in `related.user` and, for an agent's user account (`riskyAgentUser`), in `user.*`;
//! the rest under `azure.identity_protection`.

use super::{copy, Head, Related};
use crate::format::json::Obj;
use crate::format::Native;
use crate::kind::StreamKind;

fn detection(n: &Native<'_>) -> bool {
    n.kind == StreamKind::AgentRiskDetections
}

/// `riskyAgentIdentity`, `riskyAgentUser`, `riskyAgentIdentityBlueprintPrincipal`.
fn agent_type<'a>(n: &Native<'a>) -> Option<&'a str> {
    n.s("@odata.type")
        .map(|t| t.rsplit('.').next().unwrap_or(t))
        .filter(|t| *t != "agentRiskDetection")
}

pub(super) fn head<'a>(n: &Native<'a>) -> Head<'a> {
    let types = if agent_type(n) == Some("riskyAgentUser") {
        ["user", "info"]
    } else {
        ["info", ""]
    };
    let mut h = Head::new("iam", types, "Microsoft Entra ID Protection");
    let who = n
        .s("agentDisplayName")
        .or(n.s(if detection(n) { "agentId" } else { "id" }))
        .unwrap_or("unknown agent");
    let level = n.s("riskLevel").unwrap_or("unknown");
    h.message = if detection(n) {
        format!(
            "Risk detection {} ({level} risk) for agent {who}",
            n.summary("action")
        )
    } else {
        format!(
            "Agent {who} is {} ({level} risk)",
            n.s("riskState").unwrap_or("unknown")
        )
    };
    h
}

pub(super) fn fields<'a>(n: &Native<'a>, doc: &mut Obj<'_>, related: &mut Related<'a>) {
    let name = n.s("agentDisplayName");
    if agent_type(n) == Some("riskyAgentUser") {
        doc.obj_if_any("user", |u| {
            u.opt_str("id", n.s("id")).opt_str("name", name);
        });
    }
    related.user.extend(name);
    if detection(n) {
        if let Some(t) = n.s("riskEventType") {
            doc.obj("rule", |r| {
                r.str("name", t)
                    .str("category", "Identity Protection agent risk detection");
            });
        }
    }
}

pub(super) fn vendor(n: &Native<'_>, v: &mut Obj<'_>) {
    v.opt_str("agent_type", agent_type(n));
    copy(
        n,
        v,
        &[
            ("agent_display_name", "agentDisplayName"),
            ("agent_id", "agentId"),
            ("risk_event_type", "riskEventType"),
            ("risk_level", "riskLevel"),
            ("risk_state", "riskState"),
            ("risk_detail", "riskDetail"),
            ("risk_evidence", "riskEvidence"),
            ("additional_info", "additionalInfo"),
            ("detection_timing_type", "detectionTimingType"),
            ("activity_date_time", "activityDateTime"),
            ("detected_date_time", "detectedDateTime"),
            ("last_modified_date_time", "lastModifiedDateTime"),
            ("risk_last_modified_date_time", "riskLastModifiedDateTime"),
            ("is_deleted", "isDeleted"),
            ("is_enabled", "isEnabled"),
            ("is_processing", "isProcessing"),
        ],
    );
    if !detection(n) {
        v.opt_str("agent_id", n.s("id"));
    }
}
