//! `directory_audits`: `/auditLogs/directoryAudits`, cursor `activityDateTime`.

use std::borrow::Cow;

use serde_json::Value;

use super::{NormalizeContext, StreamKind, StreamSpec};
use crate::event::{self, EventKind, Field, NativeEvent, Outcome, Severity, Summary};
use crate::record::Record;

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
    fn event_id(&self, record: &Record<'_>) -> String {
        event::id_of(record)
    }
    fn event<'a>(&self, record: Record<'a>, ctx: &'a NormalizeContext) -> NativeEvent<'a> {
        normalize(self, record, ctx)
    }
}

fn normalize<'a>(
    spec: &DirectoryAudits,
    record: Record<'a>,
    ctx: &'a NormalizeContext,
) -> NativeEvent<'a> {
    let action = record
        .str("activityDisplayName")
        .map_or_else(|| "unknown".to_string(), |a| a.into_owned());
    let result = record.str("result");
    let outcome = match result.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("success") => Outcome::Success,
        Some("failure") => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    let severity = severity(&record, &action, outcome);
    let time = spec.record_time(&record).unwrap_or(ctx.ingested);
    let identity = record
        .str("initiatedBy/user/userPrincipalName")
        .or_else(|| record.str("initiatedBy/user/displayName"))
        .or_else(|| record.str("initiatedBy/app/displayName"))
        .or_else(|| record.str("initiatedBy/app/servicePrincipalName"));
    let caller_ip = event::ip_of(&record, "initiatedBy/user/ipAddress");
    let summary = Summary {
        id: spec.event_id(&record),
        stream: StreamKind::DirectoryAudits,
        kind: EventKind::Event,
        action: action.clone(),
        outcome,
        severity,
    };
    let mut e = NativeEvent::new(summary, record, ctx, time, "AuditLogs", action.clone());
    // The rest of Microsoft's diagnostic-settings export envelope.
    let result_type = result.unwrap_or_default();
    // Microsoft's export writes `<null>` for an audit no user's address is known for.
    e.copy("resultDescription", "resultReason")
        .set(
            "callerIpAddress",
            caller_ip.unwrap_or(Cow::Borrowed("<null>")),
        )
        .copy("correlationId", "correlationId")
        .set("identity", identity.clone());
    // Log Analytics `AuditLogs` columns.
    e.columns()
        .copy_all(&[
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
        ])
        .set("Identity", identity)
        .set("OperationName", action.clone())
        .set("AADTenantId", ctx.tenant_id.as_str());
    // The rest of the `AuditLogs` columns (`testdata/log-analytics/AuditLogs.tsv`). Graph has no
    // datacenter location for an audit: `Location` is null.
    e.table("AuditLogs", true)
        .copy("AADOperationType", "operationType")
        .set("Location", Field::Null)
        .set("ResourceId", ctx.resource_id())
        .set("ResultType", result_type);
    e
}

/// The severity table of `CONTRACT.md` for audits.
fn severity(record: &Record<'_>, action: &str, outcome: Outcome) -> Severity {
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
fn is_high_blast_radius(record: &Record<'_>, a: &str) -> bool {
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
fn sets_state_disabled(record: &Record<'_>) -> bool {
    let Some(targets) = record.value("targetResources") else {
        return false;
    };
    let Some(targets) = targets.as_array() else {
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
    [
        ("get ", "_get"),
        ("list ", "_list"),
        ("read ", "_read"),
        ("search ", "_search"),
    ]
    .iter()
    .any(|(word, suffix)| a.starts_with(word) || a.contains(suffix))
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
        crate::record::with(&r, |r| severity(r, action, outcome))
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
            crate::record::with(&r, |r| severity(
                r,
                "Update conditional access policy",
                Outcome::Success
            )),
            Severity::Medium
        );
        let enabled = json!({"targetResources": [{"modifiedProperties": [{"newValue": "{\"state\":\"enabled\"}"}]}]});
        assert_eq!(
            crate::record::with(&enabled, |r| severity(
                r,
                "Update conditional access policy",
                Outcome::Success
            )),
            Severity::Low
        );
    }
}
