//! Synthetic `provisioningObjectSummary` records (`/auditLogs/provisioning`), shaped like
//! Microsoft's two documented examples (`testdata/graph-fixtures/provisioningObjectSummary.json`):
//! inbound HR-to-Entra and outbound Entra-to-app jobs, every `provisioningAction`, successes,
//! skips, warnings and failures with their `errorInformation`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::graph::record_time;
use crate::rng::{Rng, PEOPLE};

/// `provisioningAction` values (Graph's enum, `unknownFutureValue` aside), weighted toward updates.
const ACTIONS: &[&str] = &[
    "create",
    "update",
    "update",
    "update",
    "delete",
    "disable",
    "stagedDelete",
    "other",
];

/// (target application, identity type in the target).
const APPS: &[(&str, &str)] = &[
    ("Contoso HR", "User"),
    ("ServiceNow", "User"),
    ("Salesforce", "User"),
    ("AWS Single-Account Access", "Group"),
    ("Slack", "Group"),
];

/// (errorCode, errorCategory, reason) of failed actions.
const ERRORS: &[(&str, &str, &str)] = &[
    (
        "SalesforceEntryConflict",
        "nonServiceFailure",
        "Salesforce returned an error response with the HTTP status code 409: a user with the same name already exists.",
    ),
    (
        "AzureActiveDirectoryInsufficientRights",
        "failure",
        "Insufficient privileges to complete the operation.",
    ),
    (
        "SystemForCrossDomainIdentityManagementServiceIncompatible",
        "nonServiceFailure",
        "The SCIM endpoint is not fully compatible with the Microsoft Entra provisioning service.",
    ),
];

fn step(name: &str, ty: &str, status: &str, description: String) -> Value {
    json!({
        "name": name,
        "provisioningStepType": ty,
        "status": status,
        "description": description,
        "details": {}
    })
}

/// One provisioning event at `at`, the `n`-th of its generator, in tenant `tenant`.
pub fn provisioning(rng: &mut Rng, n: u64, at: DateTime<Utc>, tenant: &str) -> Value {
    let action = *rng.pick(ACTIONS);
    let (app, identity_type) = *rng.pick(APPS);
    let (person, upn) = *rng.pick(PEOPLE);
    let inbound = app == "Contoso HR";
    let roll = rng.below(20);
    let status = match roll {
        0 | 1 => "failure",
        2 => "skipped",
        3 => "warning",
        _ => "success",
    };
    let error = (status == "failure").then(|| *rng.pick(ERRORS));
    let sp_id = rng.guid();
    let entra = json!({"id": rng.guid(), "displayName": "Azure Active Directory", "details": {}});
    let app_system = json!({
        "id": rng.guid(),
        "displayName": app,
        "details": {
            "ApplicationId": rng.guid(),
            "ServicePrincipalId": sp_id,
            "ServicePrincipalDisplayName": app
        }
    });
    let (source_system, target_system) = if inbound {
        (app_system, entra)
    } else {
        (entra, app_system)
    };
    let name = if identity_type == "Group" {
        "SOC Analysts"
    } else {
        person
    };
    let source_id = rng.guid();
    let target_id = if action == "create" && status != "success" {
        String::new()
    } else {
        rng.guid()
    };
    let export_status = if status == "failure" {
        "failure"
    } else {
        "success"
    };
    let mut steps = vec![
        step(
            "EntryImport",
            "import",
            "success",
            format!("Received {identity_type} '{name}' change of type ({action})"),
        ),
        step(
            "EntrySynchronizationScoping",
            "scoping",
            if status == "skipped" {
                "skipped"
            } else {
                "success"
            },
            format!("Determine if {identity_type} '{name}' is in scope"),
        ),
    ];
    if status != "skipped" {
        steps.push(step(
            "EntrySynchronizationMatching",
            "matching",
            "success",
            format!("{identity_type} '{name}' matched by its object id"),
        ));
        steps.push(step(
            "EntryExportUpdate",
            "export",
            export_status,
            format!("{action} of {identity_type} '{name}' in {app}"),
        ));
    }
    let identity = |id: &str, display: &str| {
        json!({
            "id": id,
            "displayName": display,
            "identityType": identity_type,
            "details": {}
        })
    };
    json!({
        "id": rng.guid(),
        "activityDateTime": record_time(at),
        "tenantId": tenant,
        "jobId": format!("{}.{}.{}", app.split_whitespace().next().unwrap_or("scim").to_ascii_lowercase(), tenant.replace('-', ""), sp_id),
        "cycleId": rng.guid(),
        "changeId": format!("{}-{n:08}", rng.guid()),
        "provisioningAction": action,
        "durationInMilliseconds": 200 + rng.below(5000),
        "provisioningStatusInfo": {
            "status": status,
            "errorInformation": error.map(|(code, category, reason)| json!({
                "errorCode": code,
                "errorCategory": category,
                "reason": reason,
                "additionalDetails": null,
                "recommendedAction": null
            }))
        },
        "provisioningSteps": steps,
        "modifiedProperties": [
            {"displayName": "accountEnabled", "oldValue": null, "newValue": if action == "disable" { "False" } else { "True" }},
            {"displayName": "userPrincipalName", "oldValue": null, "newValue": upn},
            {"displayName": "objectId", "oldValue": null, "newValue": source_id}
        ],
        "servicePrincipal": {"id": sp_id, "displayName": app},
        "sourceSystem": source_system,
        "targetSystem": target_system,
        "initiatedBy": {"id": "", "displayName": "Azure AD Provisioning Service", "initiatorType": "system"},
        "sourceIdentity": identity(&source_id, name),
        "targetIdentity": identity(&target_id, if target_id.is_empty() { "" } else { name })
    })
}
