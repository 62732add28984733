//! `format = "ecs"`: Elastic Common Schema 9.x documents (nested objects, `@timestamp`), checked
//! field by field against ECS's published definitions by `tests/it/formats.rs`. ECS has no field
//! for most of what Entra records, so vendor fields sit under `azure.*` (the shape Elastic's own
//! Azure integration uses) and the Graph record, verbatim, in `event.original`.

use serde_json::{json, Map, Value};

use super::{audit_target, non_empty, object, sv, target_type, upn_domain, Native};
use crate::kind::StreamKind;

/// The ECS version the documents follow (`ecs.version`).
pub const ECS_VERSION: &str = "9.2.0";

/// The top-level keys an over-long event keeps when even without its raw record it is too long.
pub const ESSENTIAL_KEYS: [&str; 7] = [
    "@timestamp",
    "ecs",
    "event",
    "cloud",
    "user",
    "source",
    "azure",
];

/// `event.severity`: Elastic's detection-rule severity scores.
fn severity_score(s: &str) -> i64 {
    match s {
        "low" => 21,
        "medium" => 47,
        "high" => 73,
        _ => 0,
    }
}

pub fn render(n: &Native<'_>) -> Value {
    let mut doc = Map::new();
    let timestamp = n
        .envelope("time")
        .map(str::to_string)
        .unwrap_or_else(|| n.summary("ingested").to_string());
    doc.insert("@timestamp".into(), timestamp.into());
    doc.insert("ecs".into(), json!({ "version": ECS_VERSION }));

    let mut fields = Fields::default();
    match n.kind {
        StreamKind::SignIns => sign_in(n, &mut fields),
        StreamKind::DirectoryAudits => audit(n, &mut fields),
        StreamKind::RiskDetections | StreamKind::ServicePrincipalRiskDetections => {
            risk_detection(n, &mut fields)
        }
        StreamKind::RiskyUsers | StreamKind::RiskyServicePrincipals => risky_entity(n, &mut fields),
    }

    let mut event = Map::new();
    event.insert("id".into(), n.summary("id").into());
    event.insert("kind".into(), n.summary("kind").into());
    event.insert("category".into(), json!(fields.category));
    event.insert("type".into(), json!(fields.types));
    event.insert("action".into(), n.summary("action").into());
    event.insert("outcome".into(), n.summary("outcome").into());
    event.insert(
        "severity".into(),
        severity_score(n.summary("severity")).into(),
    );
    event.insert("dataset".into(), n.summary("dataset").into());
    event.insert("module".into(), "entra".into());
    event.insert(
        "provider".into(),
        fields.provider.unwrap_or("Microsoft Entra ID").into(),
    );
    event.insert("ingested".into(), n.summary("ingested").into());
    if let Some(code) = fields.code {
        event.insert("code".into(), code.into());
    }
    if let Some(reason) = fields.reason {
        event.insert("reason".into(), reason.into());
    }
    event.insert("original".into(), n.original(true));
    doc.insert("event".into(), Value::Object(event));

    if let Some(m) = fields.message {
        doc.insert("message".into(), m.into());
    }
    for (key, v) in [
        ("user", fields.user),
        ("source", fields.source),
        ("user_agent", fields.user_agent),
        ("group", fields.group),
        ("rule", fields.rule),
    ] {
        if let Some(v) = non_empty(v) {
            doc.insert(key.into(), v);
        }
    }
    let mut related = Map::new();
    dedup(&mut fields.related_ip);
    dedup(&mut fields.related_user);
    if !fields.related_ip.is_empty() {
        related.insert("ip".into(), json!(fields.related_ip));
    }
    if !fields.related_user.is_empty() {
        related.insert("user".into(), json!(fields.related_user));
    }
    if !related.is_empty() {
        doc.insert("related".into(), Value::Object(related));
    }
    doc.insert(
        "cloud".into(),
        json!({ "provider": "azure", "account": { "id": n.summary("tenant_id") },
                "service": { "name": "Entra ID" } }),
    );
    let mut azure = Map::new();
    azure.insert("tenant_id".into(), n.summary("tenant_id").into());
    if let Some(c) = n.s("correlationId") {
        azure.insert("correlation_id".into(), c.into());
    }
    if let Some(cat) = n.envelope("category") {
        azure.insert("category".into(), cat.into());
    }
    if let Some(v) = non_empty(fields.vendor) {
        azure.insert(fields.vendor_key.into(), v);
    }
    doc.insert("azure".into(), Value::Object(azure));
    Value::Object(doc)
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
}

/// What a stream contributes beyond the common fields.
struct Fields {
    category: Vec<&'static str>,
    types: Vec<&'static str>,
    provider: Option<&'static str>,
    code: Option<String>,
    reason: Option<String>,
    message: Option<String>,
    user: Value,
    source: Value,
    user_agent: Value,
    group: Value,
    rule: Value,
    related_ip: Vec<String>,
    related_user: Vec<String>,
    vendor_key: &'static str,
    vendor: Value,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            category: vec!["iam"],
            types: vec!["info"],
            provider: None,
            code: None,
            reason: None,
            message: None,
            user: Value::Null,
            source: Value::Null,
            user_agent: Value::Null,
            group: Value::Null,
            rule: Value::Null,
            related_ip: Vec::new(),
            related_user: Vec::new(),
            vendor_key: "entra",
            vendor: Value::Null,
        }
    }
}

/// `user.*` from an id, a user principal name and a display name.
fn user(id: Option<&str>, upn: Option<&str>, display: Option<&str>) -> Value {
    object([
        ("id", sv(id)),
        ("name", sv(upn.or(display))),
        ("full_name", sv(display)),
        ("domain", sv(upn.and_then(upn_domain))),
    ])
}

/// `source.*` from an IP address and a Graph `signInLocation`.
fn source(n: &Native<'_>, ip_path: &str, location: &str) -> Value {
    let loc = |k: &str| n.s(&format!("{location}/{k}"));
    let coord = |k: &str| {
        n.v(&format!("{location}/geoCoordinates/{k}"))
            .and_then(Value::as_f64)
    };
    let point = match (coord("latitude"), coord("longitude")) {
        (Some(lat), Some(lon)) => Some(json!({ "lat": lat, "lon": lon })),
        _ => None,
    };
    let geo = object([
        ("city_name", sv(loc("city"))),
        ("region_name", sv(loc("state"))),
        ("country_iso_code", sv(loc("countryOrRegion"))),
        ("location", point),
    ]);
    object([
        ("ip", n.ip(ip_path).map(Value::String)),
        ("geo", non_empty(geo)),
    ])
}

/// Copies `(ecs vendor key, Graph path)` pairs that are present, nested keys in snake_case.
fn vendor(n: &Native<'_>, pairs: &[(&'static str, &str)]) -> Value {
    object(pairs.iter().map(|(k, p)| (*k, n.v(p).map(snake_keys))))
}

/// `deviceDetail.operatingSystem` → `device_detail.operating_system`, recursively.
fn snake_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (snake_case(k), snake_keys(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(snake_keys).collect()),
        v => v.clone(),
    }
}

fn snake_case(k: &str) -> String {
    let mut out = String::with_capacity(k.len() + 4);
    for (i, c) in k.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn sign_in(n: &Native<'_>, f: &mut Fields) {
    f.category = vec!["authentication"];
    f.types = vec!["start"];
    let sp = n.s("servicePrincipalId").is_some() && n.s("userId").is_none();
    let upn = n.s("userPrincipalName");
    if sp {
        f.user = user(
            n.s("servicePrincipalId"),
            n.s("servicePrincipalName"),
            n.s("servicePrincipalName"),
        );
    } else {
        f.user = user(n.s("userId"), upn, n.s("userDisplayName"));
    }
    f.source = source(n, "ipAddress", "location");
    if let Some(ua) = n.s("userAgent") {
        f.user_agent = json!({ "original": ua });
    }
    f.code = n
        .v("status/errorCode")
        .map(|c| c.to_string().trim_matches('"').to_string());
    f.reason = n.s("status/failureReason").map(str::to_string);
    f.related_ip.extend(n.ip("ipAddress"));
    for u in [upn, n.s("userDisplayName"), n.s("servicePrincipalName")]
        .into_iter()
        .flatten()
    {
        f.related_user.push(u.to_string());
    }
    let who = upn
        .or(n.s("servicePrincipalName"))
        .unwrap_or("unknown principal");
    let app = n.s("appDisplayName").unwrap_or("an application");
    f.message = Some(match (n.summary("outcome"), &f.code) {
        ("failure", Some(code)) => format!("Sign-in by {who} to {app} failed ({code})"),
        ("failure", None) => format!("Sign-in by {who} to {app} failed"),
        _ => format!("Sign-in by {who} to {app}"),
    });
    f.vendor_key = "signinlogs";
    f.vendor = vendor(
        n,
        &[
            ("app_id", "appId"),
            ("app_display_name", "appDisplayName"),
            ("resource_id", "resourceId"),
            ("resource_display_name", "resourceDisplayName"),
            ("client_app_used", "clientAppUsed"),
            ("conditional_access_status", "conditionalAccessStatus"),
            ("authentication_requirement", "authenticationRequirement"),
            ("authentication_protocol", "authenticationProtocol"),
            ("is_interactive", "isInteractive"),
            ("sign_in_event_types", "signInEventTypes"),
            ("user_type", "userType"),
            ("risk_detail", "riskDetail"),
            ("risk_level_aggregated", "riskLevelAggregated"),
            ("risk_level_during_signin", "riskLevelDuringSignIn"),
            ("risk_state", "riskState"),
            ("risk_event_types", "riskEventTypes_v2"),
            ("service_principal_id", "servicePrincipalId"),
            ("service_principal_name", "servicePrincipalName"),
            ("session_id", "sessionId"),
            ("device_detail", "deviceDetail"),
            ("status", "status"),
        ],
    );
    if let (Value::Object(m), None) = (&mut f.vendor, n.v("riskEventTypes_v2")) {
        if let Some(v) = n.v("riskEventTypes") {
            m.insert("risk_event_types".into(), v.clone());
        }
    }
}

fn audit(n: &Native<'_>, f: &mut Fields) {
    f.category = vec!["iam"];
    let action = n.summary("action").to_ascii_lowercase();
    let category = n.s("category").unwrap_or("");
    let operation = n
        .s("operationType")
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let subject = if category.eq_ignore_ascii_case("GroupManagement") || action.contains(" group") {
        "group"
    } else if category.eq_ignore_ascii_case("RoleManagement") || action.contains(" role") {
        "admin"
    } else if category.eq_ignore_ascii_case("UserManagement") {
        "user"
    } else {
        ""
    };
    let verb = match operation.as_str() {
        "add" => "creation",
        "delete" => "deletion",
        "update" | "assign" | "unassign" => "change",
        _ if action.starts_with("add ") => "creation",
        _ if action.starts_with("delete ") || action.starts_with("remove ") => "deletion",
        _ if action.starts_with("update ") || action.starts_with("reset ") => "change",
        _ => "info",
    };
    f.types = match (subject, verb) {
        // Adding or removing a member changes the group or the role; it creates nothing.
        ("group" | "admin", "creation" | "deletion") if action.contains("member") => {
            vec![subject, "change"]
        }
        ("", v) => vec![v],
        (s, v) => vec![s, v],
    };
    f.provider = Some("Microsoft Entra ID audit");
    f.reason = n.s("resultReason").map(str::to_string);
    f.message = Some(n.summary("action").to_string());
    // The actor.
    let actor_upn = n.s("initiatedBy/user/userPrincipalName");
    f.user = user(
        n.s("initiatedBy/user/id"),
        actor_upn,
        n.s("initiatedBy/user/displayName"),
    );
    if let Some(ip) = n.ip("initiatedBy/user/ipAddress") {
        f.source = json!({ "ip": ip });
        f.related_ip.push(ip);
    }
    f.related_user.extend(actor_upn.map(str::to_string));
    f.related_user
        .extend(n.s("initiatedBy/app/displayName").map(str::to_string));
    // The targets.
    let mut target = Map::new();
    if let Some(t) = audit_target(n, &["User"]) {
        let s = |k: &str| t.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        if let Value::Object(u) = user(s("id"), s("userPrincipalName"), s("displayName")) {
            target.extend(u);
        }
        f.related_user.extend(
            s("userPrincipalName")
                .or(s("displayName"))
                .map(str::to_string),
        );
    }
    if let Some(g) = audit_target(n, &["Group"]) {
        let s = |k: &str| g.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let group = object([("id", sv(s("id"))), ("name", sv(s("displayName")))]);
        if target.is_empty() {
            f.group = group;
        } else if let Some(group) = non_empty(group) {
            target.insert("group".into(), group);
        }
    }
    if let (false, Value::Object(u)) = (target.is_empty(), &mut f.user) {
        u.insert("target".into(), Value::Object(target));
    }
    // An app actor, and every target in brief.
    let targets: Vec<Value> = n
        .v("targetResources")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    let s = |k: &str| t.get(k).and_then(Value::as_str).map(|s| s.into());
                    object([
                        ("id", s("id")),
                        ("type", sv(target_type(t))),
                        ("display_name", s("displayName")),
                        ("user_principal_name", s("userPrincipalName")),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    f.vendor_key = "auditlogs";
    f.vendor = vendor(
        n,
        &[
            ("category", "category"),
            ("operation_type", "operationType"),
            ("logged_by_service", "loggedByService"),
            ("result", "result"),
            ("result_reason", "resultReason"),
            ("initiated_by_app_id", "initiatedBy/app/appId"),
            (
                "initiated_by_app_display_name",
                "initiatedBy/app/displayName",
            ),
            (
                "initiated_by_service_principal_id",
                "initiatedBy/app/servicePrincipalId",
            ),
            (
                "initiated_by_service_principal_name",
                "initiatedBy/app/servicePrincipalName",
            ),
        ],
    );
    if let (Value::Object(m), false) = (&mut f.vendor, targets.is_empty()) {
        m.insert("target_resources".into(), Value::Array(targets));
    }
}

fn risk_detection(n: &Native<'_>, f: &mut Fields) {
    let signin = n
        .s("activity")
        .is_some_and(|a| a.eq_ignore_ascii_case("signin"));
    f.category = vec![if signin { "authentication" } else { "iam" }];
    f.types = vec!["info"];
    f.provider = Some("Microsoft Entra ID Protection");
    let sp = n.kind == StreamKind::ServicePrincipalRiskDetections;
    let upn = n.s("userPrincipalName");
    if !sp {
        f.user = user(n.s("userId"), upn, n.s("userDisplayName"));
        f.related_user.extend(upn.map(str::to_string));
    } else {
        f.related_user
            .extend(n.s("servicePrincipalDisplayName").map(str::to_string));
    }
    f.source = source(n, "ipAddress", "location");
    f.related_ip.extend(n.ip("ipAddress"));
    if let Some(t) = n.s("riskEventType") {
        f.rule = json!({ "name": t, "category": "Identity Protection risk detection" });
    }
    let who = upn
        .or(n.s("servicePrincipalDisplayName"))
        .unwrap_or("unknown principal");
    f.message = Some(format!(
        "Risk detection {} ({} risk) for {who}",
        n.summary("action"),
        n.s("riskLevel").unwrap_or("unknown")
    ));
    f.vendor_key = "identity_protection";
    f.vendor = vendor(
        n,
        &[
            ("risk_event_type", "riskEventType"),
            ("risk_level", "riskLevel"),
            ("risk_state", "riskState"),
            ("risk_detail", "riskDetail"),
            ("detection_timing_type", "detectionTimingType"),
            ("source", "source"),
            ("activity", "activity"),
            ("activity_date_time", "activityDateTime"),
            ("detected_date_time", "detectedDateTime"),
            ("last_updated_date_time", "lastUpdatedDateTime"),
            ("token_issuer_type", "tokenIssuerType"),
            ("request_id", "requestId"),
            ("service_principal_id", "servicePrincipalId"),
            (
                "service_principal_display_name",
                "servicePrincipalDisplayName",
            ),
            ("app_id", "appId"),
            ("key_ids", "keyIds"),
        ],
    );
}

fn risky_entity(n: &Native<'_>, f: &mut Fields) {
    f.category = vec!["iam"];
    f.provider = Some("Microsoft Entra ID Protection");
    let sp = n.kind == StreamKind::RiskyServicePrincipals;
    if sp {
        f.types = vec!["info"];
        f.related_user
            .extend(n.s("displayName").map(str::to_string));
    } else {
        f.types = vec!["user", "info"];
        let upn = n.s("userPrincipalName");
        f.user = user(n.s("id"), upn, n.s("userDisplayName"));
        f.related_user.extend(upn.map(str::to_string));
    }
    let who = n
        .s("userPrincipalName")
        .or(n.s("displayName"))
        .unwrap_or("unknown principal");
    f.message = Some(format!(
        "{} {who} is {} ({} risk)",
        if sp { "Service principal" } else { "User" },
        n.s("riskState").unwrap_or("unknown"),
        n.s("riskLevel").unwrap_or("unknown")
    ));
    f.vendor_key = "identity_protection";
    f.vendor = vendor(
        n,
        &[
            ("risk_level", "riskLevel"),
            ("risk_state", "riskState"),
            ("risk_detail", "riskDetail"),
            ("risk_last_updated_date_time", "riskLastUpdatedDateTime"),
            ("is_deleted", "isDeleted"),
            ("is_processing", "isProcessing"),
            ("is_enabled", "isEnabled"),
            ("app_id", "appId"),
            ("display_name", "displayName"),
            ("service_principal_type", "servicePrincipalType"),
        ],
    );
    if let (true, Value::Object(m), Some(id)) = (sp, &mut f.vendor, n.s("id")) {
        m.insert("service_principal_id".into(), id.into());
    }
}
