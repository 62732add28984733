//! `sign_in_summary` events ([`crate::event::summary`]) in every format, each saying "N sign-ins
//! like this" its own way:
//! - `azure_monitor`: the export envelope with its own category, `EntraSignInSummaries`
//!   (Microsoft exports no summaries), the summary and grouping in `properties`.
//! - `log_analytics`: a row of the custom table `EntraSignInSummaries_CL`, columns
//!   [`LA_COLUMNS`].
//! - `ecs`: `event.kind` `event`, category `authentication`, type `info`, `event.start` and
//!   `event.end` the first and last sign-in, the count and window under
//!   `azure.signinlogs.summary`, the user or service principal, `source.ip`.
//! - `ocsf`: Authentication (3002) Logon with the base event's `count`, `start_time` and
//!   `end_time`, the summary's own record in `unmapped`.

use serde_json::{json, Map, Value};

use super::ecs::ECS_VERSION;
use super::ocsf::OCSF_VERSION;
use crate::event::parse_time;
use crate::event::summary::{CATEGORY, TABLE};

/// The columns of `EntraSignInSummaries_CL`, in order.
pub const LA_COLUMNS: [&str; 19] = [
    "Type",
    "TimeGenerated",
    "TenantId",
    "Id",
    "SignInEventType",
    "WindowStart",
    "FirstSignIn",
    "LastSignIn",
    "SignInCount",
    "SampleId",
    "MembersDigest",
    "IdentityId",
    "Identity",
    "AppId",
    "AppDisplayName",
    "ResourceId",
    "ResourceDisplayName",
    "IPAddress",
    "ResultType",
];

fn ms(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(parse_time)
        .map(|t| t.timestamp_millis())
}

fn identity(p: &Value) -> &Value {
    match p["identityName"].as_str() {
        Some(n) if !n.is_empty() => &p["identityName"],
        _ => &p["identityId"],
    }
}

/// Whether the identity is a user (interactive or non-interactive sign-ins).
fn is_user(p: &Value) -> bool {
    matches!(
        p["signInEventType"].as_str(),
        Some("interactiveUser" | "nonInteractiveUser")
    )
}

pub fn azure_monitor(native: &Value) -> Value {
    let p = &native["properties"];
    let mut props = Map::new();
    for (k, v) in p.as_object().into_iter().flatten() {
        props.insert(k.clone(), v.clone());
    }
    for (k, v) in native["summary"].as_object().into_iter().flatten() {
        props.insert(k.clone(), v.clone());
    }
    props.insert("id".into(), native["event"]["id"].clone());
    json!({
        "time": native["time"],
        "resourceId": format!("/tenants/{}/providers/Microsoft.aadiam", native["event"]["tenant_id"].as_str().unwrap_or_default()),
        "operationName": "Sign-in activity summary",
        "operationVersion": "1.0",
        "category": CATEGORY,
        "tenantId": native["event"]["tenant_id"],
        "resultType": p["resultType"].to_string(),
        "callerIpAddress": p["ipAddress"],
        "identity": identity(p),
        "Level": 4,
        "properties": props,
    })
}

pub fn log_analytics(native: &Value) -> Value {
    let p = &native["properties"];
    let s = &native["summary"];
    let values = [
        json!(TABLE),
        native["time"].clone(),
        native["event"]["tenant_id"].clone(),
        native["event"]["id"].clone(),
        p["signInEventType"].clone(),
        s["window_start"].clone(),
        s["first"].clone(),
        s["last"].clone(),
        s["count"].clone(),
        s["sample_id"].clone(),
        s["digest"].clone(),
        p["identityId"].clone(),
        identity(p).clone(),
        p["appId"].clone(),
        p["appDisplayName"].clone(),
        p["resourceId"].clone(),
        p["resourceDisplayName"].clone(),
        p["ipAddress"].clone(),
        json!(p["resultType"].to_string()),
    ];
    let mut row = Map::new();
    for (k, v) in LA_COLUMNS.iter().zip(values) {
        if !v.is_null() && v.as_str() != Some("") {
            row.insert((*k).into(), v);
        }
    }
    Value::Object(row)
}

pub fn ecs(native: &Value) -> Value {
    let p = &native["properties"];
    let s = &native["summary"];
    let start = ms(native, "/summary/first").unwrap_or_default();
    let end = ms(native, "/summary/last").unwrap_or_default();
    let mut doc = json!({
        "@timestamp": native["time"],
        "ecs": {"version": ECS_VERSION},
        "event": {
            "id": native["event"]["id"],
            "kind": "event",
            "category": ["authentication"],
            "type": ["info"],
            "action": native["event"]["action"],
            "outcome": native["event"]["outcome"],
            "severity": 0,
            "dataset": native["event"]["dataset"],
            "module": "entra",
            "provider": "entra-source",
            "start": s["first"],
            "end": s["last"],
            "duration": (end - start) * 1_000_000,
        },
        "message": native["event"]["action"],
        "source": {"ip": p["ipAddress"]},
        "cloud": super::health::ecs_cloud(native),
        "azure": {
            "tenant_id": native["event"]["tenant_id"],
            "signinlogs": {
                "category": CATEGORY,
                "summary": s,
                "properties": {
                    "sign_in_event_type": p["signInEventType"],
                    "app_id": p["appId"],
                    "app_display_name": p["appDisplayName"],
                    "resource_id": p["resourceId"],
                    "resource_display_name": p["resourceDisplayName"],
                    "status": {"error_code": p["resultType"]},
                },
            },
        },
        "related": {"ip": [p["ipAddress"]]},
    });
    if is_user(p) {
        doc["user"] = json!({"id": p["identityId"], "name": identity(p)});
    } else {
        doc["azure"]["signinlogs"]["properties"]["service_principal_id"] = p["identityId"].clone();
        doc["azure"]["signinlogs"]["properties"]["service_principal_name"] = identity(p).clone();
    }
    doc
}

pub fn ocsf(native: &Value) -> Value {
    let p = &native["properties"];
    let ok = native["event"]["outcome"] == "success";
    let mut unmapped = p.clone();
    unmapped["summary"] = native["summary"].clone();
    let mut e = json!({
        "activity_id": 1,
        "activity_name": "Logon",
        "category_uid": 3,
        "category_name": "Identity & Access Management",
        "class_uid": 3002,
        "class_name": "Authentication",
        "type_uid": 300201,
        "type_name": "Authentication: Logon",
        "time": ms(native, "/time").unwrap_or_default(),
        "start_time": ms(native, "/summary/first"),
        "end_time": ms(native, "/summary/last"),
        "count": native["summary"]["count"],
        "severity_id": 1,
        "severity": "Informational",
        "status_id": if ok { 1 } else { 2 },
        "status": if ok { "Success" } else { "Failure" },
        "status_code": p["resultType"].to_string(),
        "message": native["event"]["action"],
        "src_endpoint": {"ip": p["ipAddress"]},
        "service": {"uid": p["resourceId"], "name": p["resourceDisplayName"]},
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "Microsoft Entra ID",
                "vendor_name": "Microsoft",
                "feature": {"name": native["event"]["dataset"]},
            },
            "uid": native["event"]["id"],
            "log_name": CATEGORY,
            "log_provider": "entra-source",
            "tenant_uid": native["event"]["tenant_id"],
        },
        "unmapped": unmapped,
    });
    let user = json!({"uid": p["identityId"], "name": identity(p),
        "type_id": if is_user(p) { 1 } else { 99 },
        "type": if is_user(p) { "User" } else { "Service" }});
    e["user"] = user;
    e
}
