//! `connector_health` events in ECS and OCSF (the native event is [`crate::event::health`]).
//! ECS: `event.kind` `state`, category `configuration` (the collection's own condition), type
//! `change` (`info` for a gap), the stream under `azure.connector_health`. OCSF: a state change
//! is Application Lifecycle (6002: Enable when a stream is ok again, Disable when it stops,
//! Other for degraded) about `app` entra-source; a gap is Application Error (6008), its range
//! in `start_time`/`end_time`. The health record is in `event.original` / `unmapped`.

use serde_json::{json, Value};

use super::ecs::ECS_VERSION;
use super::ocsf::OCSF_VERSION;
use crate::event::parse_time;

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn ms(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(parse_time)
        .map(|t| t.timestamp_millis())
}

/// The sentence both formats carry in `message`.
fn message(native: &Value) -> String {
    let reason = s(native, "/properties/reason");
    let action = s(native, "/event/action");
    if reason.is_empty() {
        format!("entra-source {action}")
    } else {
        format!("entra-source {action}: {reason}")
    }
}

/// ECS `cloud` of a tree-made event: Azure, the tenant, Entra ID.
pub(super) fn ecs_cloud(native: &Value) -> Value {
    json!({
        "provider": "azure",
        "account": {"id": native["event"]["tenant_id"]},
        "service": {"name": "Entra ID"},
    })
}

pub fn ecs(native: &Value) -> Value {
    let p = &native["properties"];
    // A gap and late records are news about the data, not a change of the connector.
    let gap = matches!(
        s(native, "/properties/state"),
        "gap" | "late_records" | "shaped"
    );
    let severity = match s(native, "/event/severity") {
        "low" => 21,
        "medium" => 47,
        "high" => 73,
        _ => 0,
    };
    let mut vendor = json!({
        "stream": p["stream"],
        "state": p["state"],
        "previous_state": p["previous_state"],
        "fix": p["fix"],
    });
    if let Some(t) = p["sign_in_type"].as_str() {
        vendor["sign_in_type"] = t.into();
    }
    for k in [
        "gap_from",
        "gap_to",
        "checked_from",
        "checked_to",
        "window_from",
        "window_to",
    ] {
        if let Some(t) = p[k].as_str() {
            vendor[k] = t.into();
        }
    }
    for k in [
        "late_found",
        "late_unmatched",
        "fetched",
        "full",
        "summarized",
        "summaries",
    ] {
        if let Some(n) = p[k].as_u64() {
            vendor[k] = n.into();
        }
    }
    if let Some(b) = p["reconciled"].as_bool() {
        vendor["reconciled"] = b.into();
    }
    if let Some(m) = vendor.as_object_mut() {
        m.retain(|_, v| !v.is_null() && v.as_str() != Some(""));
    }
    json!({
        "@timestamp": native["time"],
        "ecs": {"version": ECS_VERSION},
        "event": {
            "id": native["event"]["id"],
            "kind": "state",
            "category": ["configuration"],
            "type": [if gap { "info" } else { "change" }],
            "action": native["event"]["action"],
            "outcome": native["event"]["outcome"],
            "severity": severity,
            "dataset": native["event"]["dataset"],
            "module": "entra",
            "provider": "entra-source",
            "ingested": native["properties"]["reported_at"],
            "reason": p["reason"],
            "original": p.to_string(),
        },
        "message": message(native),
        "observer": {
            "product": "entra-source",
            "vendor": "entra-source",
            "type": "collector",
            "version": p["connector_version"],
        },
        "cloud": ecs_cloud(native),
        "azure": {
            "tenant_id": native["event"]["tenant_id"],
            "category": crate::event::health::CATEGORY,
            "connector_health": vendor,
        },
    })
}

pub fn ocsf(native: &Value) -> Value {
    let p = &native["properties"];
    let state = s(native, "/properties/state");
    let (class_uid, class_name, activity_id, activity_name) = match state {
        "gap" => (6008, "Application Error", 1, "General Error"),
        "late_records" => (6008, "Application Error", 99, "Late Records"),
        "shaped" => (6002, "Application Lifecycle", 99, "Shaped"),
        "ok" => (6002, "Application Lifecycle", 6, "Enable"),
        "error" => (6002, "Application Lifecycle", 7, "Disable"),
        _ => (6002, "Application Lifecycle", 99, "Degraded"),
    };
    let caption = if activity_id == 99 {
        "Other"
    } else {
        activity_name
    };
    let (severity_id, severity) = match s(native, "/event/severity") {
        "low" => (2, "Low"),
        "medium" => (3, "Medium"),
        "high" => (4, "High"),
        _ => (1, "Informational"),
    };
    let ok = state == "ok" || s(native, "/event/outcome") == "success";
    let mut e = json!({
        "activity_id": activity_id,
        "activity_name": activity_name,
        "category_uid": 6,
        "category_name": "Application Activity",
        "class_uid": class_uid,
        "class_name": class_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": format!("{class_name}: {caption}"),
        "time": ms(native, "/time").unwrap_or_default(),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": if ok { 1 } else { 2 },
        "status": if ok { "Success" } else { "Failure" },
        "message": message(native),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "entra-source",
                "vendor_name": "entra-source",
                "version": p["connector_version"],
                "feature": {"name": native["event"]["dataset"]},
            },
            "uid": native["event"]["id"],
            "processed_time": ms(native, "/properties/reported_at"),
            "log_name": crate::event::health::CATEGORY,
            "log_provider": "entra-source",
            "tenant_uid": native["event"]["tenant_id"],
        },
        "unmapped": p,
    });
    if let Some(fix) = p["fix"].as_str().filter(|f| !f.is_empty()) {
        e["status_detail"] = fix.into();
    }
    if state == "shaped" {
        e["start_time"] = ms(native, "/properties/window_from").into();
        e["end_time"] = ms(native, "/properties/window_to").into();
        e["count"] = p["fetched"].clone();
    }
    if class_uid == 6002 {
        e["app"] = json!({
            "name": "entra-source",
            "vendor_name": "entra-source",
            "version": p["connector_version"],
            "feature": {"name": p["stream"]},
        });
    } else {
        let range = |a: &str, b: &str| ms(native, a).or_else(|| ms(native, b));
        e["start_time"] = range("/properties/gap_from", "/properties/checked_from").into();
        e["end_time"] = range("/properties/gap_to", "/properties/checked_to").into();
    }
    e
}
