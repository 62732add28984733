//! `directory_audits`: `/auditLogs/directoryAudits`, cursor `activityDateTime`.

use serde_json::{Map, Value};

use super::{Family, NormalizeContext, StreamKind, StreamSpec};
use crate::event::{self, EventKind, Outcome, Severity, Summary};

pub struct DirectoryAudits;

impl StreamSpec for DirectoryAudits {
    fn kind(&self) -> StreamKind {
        StreamKind::DirectoryAudits
    }
    fn family(&self) -> Family {
        Family::Reports
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
    let caller_ip = event::str_at(&record, "initiatedBy/user/ipAddress");
    let identity = event::str_at(&record, "initiatedBy/user/userPrincipalName")
        .or_else(|| event::str_at(&record, "initiatedBy/user/displayName"))
        .or_else(|| event::str_at(&record, "initiatedBy/app/displayName"))
        .or_else(|| event::str_at(&record, "initiatedBy/app/servicePrincipalName"));

    let mut e = Map::new();
    let summary = Summary {
        id: spec.event_id(&record),
        stream: StreamKind::DirectoryAudits,
        kind: EventKind::Event,
        action: action.clone(),
        outcome,
        severity,
        ctx,
    };
    e.insert("event".into(), summary.into_value());
    // Microsoft's diagnostic-settings export envelope (category AuditLogs).
    e.insert("time".into(), event::envelope_time(time).into());
    e.insert(
        "resourceId".into(),
        format!("/tenants/{}/providers/Microsoft.aadiam", ctx.tenant_id).into(),
    );
    e.insert("tenantId".into(), ctx.tenant_id.clone().into());
    e.insert("category".into(), "AuditLogs".into());
    e.insert("operationName".into(), action.clone().into());
    e.insert("operationVersion".into(), "1.0".into());
    e.insert("resultType".into(), result.into());
    e.insert("resultSignature".into(), "None".into());
    let reason = record.get("resultReason").cloned().unwrap_or(Value::Null);
    e.insert("resultDescription".into(), reason.clone());
    e.insert("durationMs".into(), 0.into());
    e.insert("callerIpAddress".into(), caller_ip.into());
    e.insert(
        "correlationId".into(),
        record.get("correlationId").cloned().unwrap_or(Value::Null),
    );
    e.insert("identity".into(), identity.into());
    e.insert("Level".into(), 4.into());
    e.insert("properties".into(), record.clone());
    // Log Analytics `AuditLogs` column names.
    let col = |k: &str| record.get(k).cloned().unwrap_or(Value::Null);
    e.insert("ActivityDateTime".into(), col("activityDateTime"));
    e.insert("ActivityDisplayName".into(), col("activityDisplayName"));
    e.insert("AdditionalDetails".into(), col("additionalDetails"));
    e.insert("Category".into(), col("category"));
    e.insert("CorrelationId".into(), col("correlationId"));
    e.insert("Id".into(), col("id"));
    e.insert("Identity".into(), identity.into());
    e.insert("InitiatedBy".into(), col("initiatedBy"));
    e.insert("LoggedByService".into(), col("loggedByService"));
    e.insert("OperationName".into(), action.into());
    e.insert("OperationType".into(), col("operationType"));
    e.insert("Result".into(), col("result"));
    e.insert("ResultDescription".into(), reason.clone());
    e.insert("ResultReason".into(), reason);
    e.insert("TargetResources".into(), col("targetResources"));
    e.insert("AADTenantId".into(), ctx.tenant_id.clone().into());
    event::copy_graph_keys(&mut e, &record);
    Value::Object(e)
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
