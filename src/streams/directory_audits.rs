//! `directory_audits`: `/auditLogs/directoryAudits`, cursor `activityDateTime`.

use serde_json::Value;

use super::{NormalizeContext, StreamKind, StreamSpec};
use crate::event::{self, EventBuilder, EventKind, Outcome, Severity, Summary};

pub struct DirectoryAudits;

impl StreamSpec for DirectoryAudits {
    fn kind(&self) -> StreamKind {
        StreamKind::DirectoryAudits
    }
    fn path(&self) -> &'static str {
        "/auditLogs/directoryAudits"
    }
    fn time_field(&self) -> &'static str {
        "activityDateTime"
    }
    /// Undocumented; Graph answers "Invalid page size … between 1 and 1000" above it.
    fn max_top(&self) -> u32 {
        1000
    }
    fn event_id(&self, record: &Value) -> String {
        event::record_id(record)
    }
    fn normalize(&self, record: Value, ctx: &NormalizeContext) -> Value {
        normalize(self, record, ctx)
    }
}

fn normalize(spec: &DirectoryAudits, record: Value, ctx: &NormalizeContext) -> Value {
    let action = event::str_at(&record, "activityDisplayName")
        .unwrap_or("unknown")
        .to_string();
    let result = event::str_at(&record, "result").unwrap_or("");
    let outcome = match result.to_ascii_lowercase().as_str() {
        "success" => Outcome::Success,
        "failure" => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    let severity = severity(&record, &action, outcome);
    let time = spec.record_time(&record).unwrap_or(ctx.ingested);
    let identity = event::str_at(&record, "initiatedBy/user/userPrincipalName")
        .or_else(|| event::str_at(&record, "initiatedBy/user/displayName"))
        .or_else(|| event::str_at(&record, "initiatedBy/app/displayName"))
        .or_else(|| event::str_at(&record, "initiatedBy/app/servicePrincipalName"))
        .map(str::to_string);
    let summary = Summary {
        id: spec.event_id(&record),
        stream: StreamKind::DirectoryAudits,
        kind: EventKind::Event,
        action: action.clone(),
        outcome,
        severity,
        ctx,
    };
    let mut e = EventBuilder::new(summary, time, "AuditLogs", &action);
    // The rest of Microsoft's diagnostic-settings export envelope.
    e.set("resultType", result)
        .copy("resultDescription", &record, "resultReason")
        .set(
            "callerIpAddress",
            event::valid_ip(&record, "initiatedBy/user/ipAddress"),
        )
        .copy("correlationId", &record, "correlationId")
        .set("identity", identity.clone());
    // Log Analytics `AuditLogs` columns.
    e.copy_all(
        &record,
        &[
            ("ActivityDateTime", "activityDateTime"),
            ("ActivityDisplayName", "activityDisplayName"),
            ("AdditionalDetails", "additionalDetails"),
            ("Category", "category"),
            ("CorrelationId", "correlationId"),
            ("Id", "id"),
            ("InitiatedBy", "initiatedBy"),
            ("LoggedByService", "loggedByService"),
            ("OperationType", "operationType"),
            ("Result", "result"),
            ("ResultDescription", "resultReason"),
            ("ResultReason", "resultReason"),
            ("TargetResources", "targetResources"),
        ],
    )
    .set("Identity", identity)
    .set("OperationName", action.clone())
    .set("AADTenantId", ctx.tenant_id.clone());
    // entra-source's own aliases for SigmaHQ rules written against older shapes (README).
    e.set("properties.message", action)
        .set("Status", outcome_status(outcome));
    e.finish(record)
}

/// entra-source's `Status` alias: `Success`, `Failure` or `Unknown`.
pub(crate) fn outcome_status(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "Success",
        Outcome::Failure => "Failure",
        Outcome::Unknown => "Unknown",
    }
}

/// The severity table of `CONTRACT.md` for audits.
fn severity(record: &Value, action: &str, outcome: Outcome) -> Severity {
    let a = action.to_ascii_lowercase();
    if is_high_blast_radius(record, &a) {
        return if outcome == Outcome::Failure {
            Severity::High
        } else {
            Severity::Medium
        };
    }
    if a.contains("bitlocker key") {
        return Severity::Medium;
    }
    if is_read(&a) {
        return Severity::Info;
    }
    if outcome == Outcome::Failure {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// Role assignments, app credentials or secrets added, conditional-access policies disabled or
/// deleted, federation changes.
fn is_high_blast_radius(record: &Value, a: &str) -> bool {
    let role_assignment =
        (a.contains("member to role") || a.contains("role assignment")) && !a.starts_with("remove");
    let credential = a.contains("credentials") && !a.starts_with("remove")
        || a.contains("certificates and secrets");
    let federation = a.contains("federation") || a.contains("domain authentication");
    let ca_policy = a.contains("conditional access policy")
        && (a.starts_with("delete") || (a.starts_with("update") && sets_state_disabled(record)));
    role_assignment || credential || federation || ca_policy
}

/// Whether a modified property's new value sets `"state":"disabled"`.
fn sets_state_disabled(record: &Value) -> bool {
    let Some(targets) = record.get("targetResources").and_then(Value::as_array) else {
        return false;
    };
    targets
        .iter()
        .filter_map(|t| t.get("modifiedProperties").and_then(Value::as_array))
        .flatten()
        .filter_map(|p| p.get("newValue").and_then(Value::as_str))
        .any(|v| {
            v.replace([' ', '\\'], "")
                .contains("\"state\":\"disabled\"")
        })
}

fn is_read(a: &str) -> bool {
    ["get", "list", "read", "search"]
        .iter()
        .any(|verb| a.starts_with(&format!("{verb} ")) || a.contains(&format!("_{verb}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sev(action: &str, result: &str) -> Severity {
        let r = json!({"activityDisplayName": action, "result": result});
        let outcome = if result == "failure" {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        severity(&r, action, outcome)
    }

    #[test]
    fn severity_table() {
        assert_eq!(sev("Add member to role", "failure"), Severity::High);
        assert_eq!(sev("Add member to role", "success"), Severity::Medium);
        assert_eq!(
            sev("Add service principal credentials", "success"),
            Severity::Medium
        );
        assert_eq!(
            sev("Set federation settings on domain", "failure"),
            Severity::High
        );
        assert_eq!(
            sev("Delete conditional access policy", "success"),
            Severity::Medium
        );
        assert_eq!(sev("Update user", "failure"), Severity::Medium);
        assert_eq!(sev("Update user", "success"), Severity::Low);
        assert_eq!(sev("GroupLifecyclePolicies_Get", "success"), Severity::Info);
        assert_eq!(sev("Read BitLocker key", "success"), Severity::Medium);
        assert_eq!(sev("Remove member from role", "success"), Severity::Low);
    }

    #[test]
    fn disabling_a_ca_policy_is_high_blast_radius() {
        let r = json!({"activityDisplayName": "Update conditional access policy", "targetResources": [
            {"modifiedProperties": [{"newValue": "{\"state\":\"disabled\"}"}]}]});
        assert_eq!(
            severity(&r, "Update conditional access policy", Outcome::Success),
            Severity::Medium
        );
        let enabled = json!({"targetResources": [{"modifiedProperties": [{"newValue": "{\"state\":\"enabled\"}"}]}]});
        assert_eq!(
            severity(
                &enabled,
                "Update conditional access policy",
                Outcome::Success
            ),
            Severity::Low
        );
    }
}
