//! ECS for `provisioning` records: `event.category` `iam`, `event.type` from the provisioned
//! identity's type and the provisioning action, the identity in `user.target` (users) or `group`
//! (groups), the duration in `event.duration`, and the rest under `azure.provisioning`.

use super::{copy, user, Head, Related};
use crate::format::json::Obj;
use crate::format::{provisioned_identity, Native};

pub(super) fn head<'a>(n: &Native<'a>) -> Head<'a> {
    let action = n.summary("action");
    let verb = match action {
        "create" => "creation",
        "delete" | "stagedDelete" => "deletion",
        "update" | "disable" => "change",
        _ => "info",
    };
    let path = provisioned_identity(n);
    let ty = n.s(&format!("{path}/identityType")).unwrap_or("");
    let types = if ty.eq_ignore_ascii_case("user") {
        ["user", verb]
    } else if ty.eq_ignore_ascii_case("group") {
        ["group", verb]
    } else {
        [verb, ""]
    };
    let mut h = Head::new("iam", types, "Microsoft Entra provisioning");
    h.code = n.s("provisioningStatusInfo/errorInformation/errorCode");
    h.reason = n.s("provisioningStatusInfo/errorInformation/reason");
    h.duration_ns = n
        .raw("durationInMilliseconds")
        .and_then(|d| d.parse::<i64>().ok())
        .map(|ms| ms.saturating_mul(1_000_000));
    let name = n
        .s(&format!("{path}/displayName"))
        .or(n.s(&format!("{path}/id")))
        .unwrap_or("an object");
    let kind = if ty.is_empty() { "object" } else { ty };
    let from = n.s("sourceSystem/displayName").unwrap_or("a source system");
    let to = n.s("targetSystem/displayName").unwrap_or("a target system");
    let status = n.s("provisioningStatusInfo/status").unwrap_or("unknown");
    h.message = format!("Provisioning {action} of {kind} '{name}' from {from} to {to}: {status}");
    h
}

pub(super) fn fields<'a>(n: &Native<'a>, doc: &mut Obj<'_>, related: &mut Related<'a>) {
    let path = provisioned_identity(n);
    let s = |k: &str| n.s(&format!("{path}/{k}"));
    let ty = s("identityType").unwrap_or("");
    if ty.eq_ignore_ascii_case("group") {
        doc.obj_if_any("group", |g| {
            g.opt_str("id", s("id")).opt_str("name", s("displayName"));
        });
    } else if ty.eq_ignore_ascii_case("user") {
        doc.obj_if_any("user", |u| {
            u.obj_if_any("target", |t| user(t, s("id"), None, s("displayName")));
        });
        related.user.extend(s("displayName"));
    }
    doc.obj_if_any("service", |o| {
        o.opt_str("name", n.s("servicePrincipal/displayName"))
            .opt_str("id", n.s("servicePrincipal/id"));
    });
}

pub(super) fn vendor(n: &Native<'_>, v: &mut Obj<'_>) {
    copy(
        n,
        v,
        &[
            ("job_id", "jobId"),
            ("cycle_id", "cycleId"),
            ("change_id", "changeId"),
            ("provisioning_action", "provisioningAction"),
            ("status", "provisioningStatusInfo/status"),
            (
                "error_category",
                "provisioningStatusInfo/errorInformation/errorCategory",
            ),
            (
                "recommended_action",
                "provisioningStatusInfo/errorInformation/recommendedAction",
            ),
            (
                "additional_details",
                "provisioningStatusInfo/errorInformation/additionalDetails",
            ),
            ("duration_ms", "durationInMilliseconds"),
            ("initiated_by", "initiatedBy"),
            ("service_principal", "servicePrincipal"),
            ("source_system", "sourceSystem"),
            ("target_system", "targetSystem"),
            ("source_identity", "sourceIdentity"),
            ("target_identity", "targetIdentity"),
            ("modified_properties", "modifiedProperties"),
            ("provisioning_steps", "provisioningSteps"),
        ],
    );
}
