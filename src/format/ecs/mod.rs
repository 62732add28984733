//! `format = "ecs"`: Elastic Common Schema 9.x documents (nested objects, `@timestamp`), checked
//! field by field against ECS's published definitions by `tests/it/formats.rs`. ECS has no field
//! for most of what Entra records, so vendor fields sit under `azure.*` (the shape Elastic's own
//! Azure integration uses) and the Graph record, verbatim, in `event.original`.

mod agents;
mod exported;
mod inventory;
mod provisioning;
mod risky;
use risky::{risky_entity, risky_entity_head, risky_entity_vendor};

use super::json::Obj;
use super::{number, upn_domain, Native};
use crate::kind::StreamKind;
use crate::record::Record;

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

/// What a stream puts in `event` and `message`: known before anything else is written.
struct Head<'a> {
    category: &'static str,
    /// One or two `event.type` values.
    types: [&'static str; 2],
    provider: &'static str,
    code: Option<&'a str>,
    reason: Option<&'a str>,
    /// `event.duration`, in nanoseconds.
    duration_ns: Option<i64>,
    /// `event.kind` when not the native one (`asset` for the inventory).
    kind: Option<&'static str>,
    message: String,
}

impl Head<'_> {
    fn new(category: &'static str, types: [&'static str; 2], provider: &'static str) -> Self {
        Head {
            category,
            types,
            provider,
            code: None,
            reason: None,
            duration_ns: None,
            kind: None,
            message: String::new(),
        }
    }
}

/// `related.*`, gathered while the event's objects are written.
#[derive(Default)]
struct Related<'a> {
    ip: Vec<&'a str>,
    user: Vec<&'a str>,
}

/// Keeps the first of each value.
fn dedup(v: &mut Vec<&str>) {
    let mut i = 0;
    while i < v.len() {
        if v[..i].contains(&v[i]) {
            v.remove(i);
        } else {
            i += 1;
        }
    }
}

/// Writes the ECS document of one event.
pub fn write(n: &Native<'_>, out: &mut Vec<u8>) {
    let head = match n.kind {
        StreamKind::SignIns => sign_in_head(n),
        StreamKind::DirectoryAudits => audit_head(n),
        StreamKind::RiskDetections | StreamKind::ServicePrincipalRiskDetections => {
            risk_detection_head(n)
        }
        StreamKind::RiskyUsers | StreamKind::RiskyServicePrincipals => risky_entity_head(n),
        StreamKind::Provisioning => provisioning::head(n),
        StreamKind::RiskyAgents | StreamKind::AgentRiskDetections => agents::head(n),
        StreamKind::Users | StreamKind::Devices | StreamKind::RoleAssignments => inventory::head(n),
        StreamKind::Exported(which) => exported::head(n, which),
    };
    // An audit's targets, read once for the user/group fields and for the vendor list.
    let targets = match n.kind {
        StreamKind::DirectoryAudits => n.targets(),
        _ => Vec::new(),
    };
    let mut doc = Obj::start(out);
    doc.str(
        "@timestamp",
        n.envelope("time").unwrap_or(n.summary("ingested")),
    );
    doc.obj("ecs", |o| {
        o.str("version", ECS_VERSION);
    });
    doc.obj("event", |e| {
        e.str("id", n.summary("id"))
            .str("kind", head.kind.unwrap_or(n.summary("kind")))
            .strs("category", &[head.category]);
        let types = if head.types[1].is_empty() {
            &head.types[..1]
        } else {
            &head.types[..]
        };
        e.strs("type", types)
            .str("action", n.summary("action"))
            .str("outcome", n.summary("outcome"))
            .int("severity", severity_score(n.summary("severity")))
            .str("dataset", n.summary("dataset"))
            .str("module", "entra")
            .str("provider", head.provider)
            .str("ingested", n.summary("ingested"))
            .opt_str("code", head.code)
            .opt_str("reason", head.reason)
            .opt_int("duration", head.duration_ns)
            .str("original", n.record.raw());
    });
    if !head.message.is_empty() {
        doc.str("message", &head.message);
    }
    let mut related = Related::default();
    let vendor_key = match n.kind {
        StreamKind::SignIns => {
            sign_in(n, &mut doc, &mut related);
            "signinlogs"
        }
        StreamKind::DirectoryAudits => {
            audit(n, &targets, &mut doc, &mut related);
            "auditlogs"
        }
        StreamKind::RiskDetections | StreamKind::ServicePrincipalRiskDetections => {
            risk_detection(n, &mut doc, &mut related);
            "identity_protection"
        }
        StreamKind::RiskyUsers | StreamKind::RiskyServicePrincipals => {
            risky_entity(n, &mut doc, &mut related);
            "identity_protection"
        }
        StreamKind::Provisioning => {
            provisioning::fields(n, &mut doc, &mut related);
            "provisioning"
        }
        StreamKind::RiskyAgents | StreamKind::AgentRiskDetections => {
            agents::fields(n, &mut doc, &mut related);
            "identity_protection"
        }
        StreamKind::Users | StreamKind::Devices | StreamKind::RoleAssignments => {
            inventory::fields(n, &mut doc, &mut related);
            "inventory"
        }
        StreamKind::Exported(which) => {
            exported::fields(n, which, &mut doc, &mut related);
            exported::vendor_key(which)
        }
    };
    dedup(&mut related.ip);
    dedup(&mut related.user);
    doc.obj_if_any("related", |r| {
        r.strs_if_any("ip", &related.ip)
            .strs_if_any("user", &related.user);
    });
    // A sign-in's device, from the directory cache.
    if let Some(device) = n.context_part("device") {
        doc.obj_if_any("host", |h| {
            h.opt_str("id", n.s_in(&device, "device_id"))
                .opt_str("name", n.s_in(&device, "name"))
                .obj_if_any("os", |o| {
                    o.opt_str("name", n.s_in(&device, "operating_system"))
                        .opt_str("version", n.s_in(&device, "operating_system_version"));
                });
        });
    }
    if let Some(path) = n.collected_from() {
        doc.obj("labels", |l| {
            l.str("collected_from", path);
        });
    }
    doc.obj("cloud", |c| {
        c.str("provider", "azure")
            .obj("account", |a| {
                a.str("id", n.summary("tenant_id"));
            })
            .obj("service", |s| {
                s.str("name", "Entra ID");
            });
    });
    doc.obj("azure", |a| {
        if let Some(c) = n.context {
            // The subjects' directory context, as entra-source's native event has it.
            a.raw("context", c);
        }
        a.str("tenant_id", n.summary("tenant_id"))
            .opt_str("correlation_id", n.s("correlationId"))
            .opt_str("category", n.envelope("category"))
            .obj_if_any(vendor_key, |v| match n.kind {
                StreamKind::SignIns => sign_in_vendor(n, v),
                StreamKind::DirectoryAudits => audit_vendor(n, &targets, v),
                StreamKind::RiskDetections | StreamKind::ServicePrincipalRiskDetections => {
                    copy(n, v, RISK_DETECTION_VENDOR)
                }
                StreamKind::RiskyUsers | StreamKind::RiskyServicePrincipals => {
                    risky_entity_vendor(n, v)
                }
                StreamKind::Provisioning => provisioning::vendor(n, v),
                StreamKind::RiskyAgents | StreamKind::AgentRiskDetections => agents::vendor(n, v),
                StreamKind::Users | StreamKind::Devices | StreamKind::RoleAssignments => {
                    inventory::vendor(n, v)
                }
                StreamKind::Exported(which) => exported::vendor(n, which, v),
            });
    });
    doc.end();
}

/// `user.*` from an id, a user principal name and a display name.
fn user(o: &mut Obj<'_>, id: Option<&str>, upn: Option<&str>, display: Option<&str>) {
    o.opt_str("id", id)
        .opt_str("name", upn.or(display))
        .opt_str("full_name", display)
        .opt_str("domain", upn.and_then(upn_domain));
}

/// `source.*` from an IP address and a Graph `signInLocation`.
fn source<'a>(n: &Native<'a>, o: &mut Obj<'_>, ip: Option<&str>, location: &str) {
    o.opt_str("ip", ip);
    let Some(loc) = n.raw(location).map(Record::nested) else {
        return;
    };
    o.obj_if_any("geo", |g| {
        g.opt_str("city_name", n.s_in(&loc, "city"))
            .opt_str("region_name", n.s_in(&loc, "state"))
            .opt_str("country_iso_code", n.s_in(&loc, "countryOrRegion"));
        let coords = loc.get("geoCoordinates").map(Record::nested);
        let coord = |k: &str| coords.as_ref()?.get(k).and_then(number);
        if let (Some(lat), Some(lon)) = (coord("latitude"), coord("longitude")) {
            g.obj("location", |p| {
                p.float("lat", lat).float("lon", lon);
            });
        }
    });
}

/// Copies `(ecs vendor key, Graph path)` pairs that are present, nested keys in snake_case.
fn copy(n: &Native<'_>, o: &mut Obj<'_>, pairs: &[(&str, &str)]) {
    for (k, path) in pairs {
        o.snake(k, n.raw(path));
    }
}

fn sign_in_head<'a>(n: &Native<'a>) -> Head<'a> {
    let mut h = Head::new("authentication", ["start", ""], "Microsoft Entra ID");
    h.code = n.raw("status/errorCode").map(|c| c.trim_matches('"'));
    h.reason = n.s("status/failureReason");
    let who = n
        .s("userPrincipalName")
        .or(n.s("servicePrincipalName"))
        .unwrap_or("unknown principal");
    let app = n.s("appDisplayName").unwrap_or("an application");
    h.message = match (n.summary("outcome"), h.code) {
        ("failure", Some(code)) => format!("Sign-in by {who} to {app} failed ({code})"),
        ("failure", None) => format!("Sign-in by {who} to {app} failed"),
        _ => format!("Sign-in by {who} to {app}"),
    };
    h
}

fn sign_in<'a>(n: &Native<'a>, doc: &mut Obj<'_>, related: &mut Related<'a>) {
    let sp = n.s("servicePrincipalId").is_some() && n.s("userId").is_none();
    let upn = n.s("userPrincipalName");
    doc.obj_if_any("user", |u| {
        if sp {
            let name = n.s("servicePrincipalName");
            user(u, n.s("servicePrincipalId"), name, name);
        } else {
            user(u, n.s("userId"), upn, n.s("userDisplayName"));
            // The directory roles the user holds (`context.user.admin_roles`).
            let roles: Vec<String> = n
                .context_part("user")
                .and_then(|u| u.get("admin_roles"))
                .map(|a| {
                    crate::record::elements(a)
                        .into_iter()
                        .filter_map(|r| crate::record::string(r).map(|s| s.into_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            u.strs_if_any("roles", &roles);
        }
    });
    let ip = n.ip("ipAddress");
    doc.obj_if_any("source", |s| source(n, s, ip, "location"));
    doc.obj_if_any("user_agent", |u| {
        u.opt_str("original", n.s("userAgent"));
    });
    related.ip.extend(ip);
    related.user.extend(
        [upn, n.s("userDisplayName"), n.s("servicePrincipalName")]
            .into_iter()
            .flatten(),
    );
}

fn sign_in_vendor(n: &Native<'_>, v: &mut Obj<'_>) {
    copy(
        n,
        v,
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
            ("unique_token_identifier", "uniqueTokenIdentifier"),
            ("device_detail", "deviceDetail"),
            ("status", "status"),
            // Beta: the agentic sign-in block (agentType, agentSubjectType, …).
            ("agent", "agent"),
        ],
    );
    if n.raw("riskEventTypes_v2").is_none() {
        if let Some(v1) = n.raw("riskEventTypes") {
            v.raw("risk_event_types", v1);
        }
    }
}

fn audit_head<'a>(n: &Native<'a>) -> Head<'a> {
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
    let types = match (subject, verb) {
        // Adding or removing a member changes the group or the role; it creates nothing.
        ("group" | "admin", "creation" | "deletion") if action.contains("member") => {
            [subject, "change"]
        }
        ("", v) => [v, ""],
        (s, v) => [s, v],
    };
    let mut h = Head::new("iam", types, "Microsoft Entra ID audit");
    h.reason = n.s("resultReason");
    h.message = n.summary("action").to_string();
    h
}

fn audit<'a>(n: &Native<'a>, targets: &[Record<'a>], doc: &mut Obj<'_>, related: &mut Related<'a>) {
    let actor_upn = n.s("initiatedBy/user/userPrincipalName");
    let target = n.audit_target(targets, &["User"]);
    let target_fields = target.map(|t| {
        (
            n.s_in(t, "id"),
            n.s_in(t, "userPrincipalName"),
            n.s_in(t, "displayName"),
        )
    });
    let target_empty = target_fields.is_none_or(|f| f == (None, None, None));
    let group = n.audit_target(targets, &["Group"]);
    let write_group = |o: &mut Obj<'_>, g: &Record<'_>| {
        o.opt_str("id", n.s_in(g, "id"))
            .opt_str("name", n.s_in(g, "displayName"));
    };
    doc.obj_if_any("user", |u| {
        user(
            u,
            n.s("initiatedBy/user/id"),
            actor_upn,
            n.s("initiatedBy/user/displayName"),
        );
        if let (false, Some((id, upn, display))) = (target_empty, target_fields) {
            u.obj("target", |t| {
                user(t, id, upn, display);
                if let Some(g) = group {
                    t.obj_if_any("group", |o| write_group(o, g));
                }
            });
        }
    });
    let ip = n.ip("initiatedBy/user/ipAddress");
    if let Some(ip) = ip {
        doc.obj("source", |s| {
            s.str("ip", ip);
        });
        related.ip.push(ip);
    }
    if let (true, Some(g)) = (target_empty, group) {
        doc.obj_if_any("group", |o| write_group(o, g));
    }
    related.user.extend(actor_upn);
    related.user.extend(n.s("initiatedBy/app/displayName"));
    if let Some((_, upn, display)) = target_fields {
        related.user.extend(upn.or(display));
    }
}

fn audit_vendor<'a>(n: &Native<'a>, targets: &[Record<'a>], v: &mut Obj<'_>) {
    copy(
        n,
        v,
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
    // Every target in brief (a string member as it is, empty included).
    if !targets.is_empty() {
        v.objs("target_resources", targets, |o, t| {
            let string = |k: &str| t.get(k).filter(|r| r.starts_with('"'));
            if let Some(id) = string("id") {
                o.raw("id", id);
            }
            o.opt_str("type", n.target_type(t));
            if let Some(name) = string("displayName") {
                o.raw("display_name", name);
            }
            if let Some(upn) = string("userPrincipalName") {
                o.raw("user_principal_name", upn);
            }
        });
    }
}

fn risk_detection_head<'a>(n: &Native<'a>) -> Head<'a> {
    let signin = n
        .s("activity")
        .is_some_and(|a| a.eq_ignore_ascii_case("signin"));
    let category = if signin { "authentication" } else { "iam" };
    let mut h = Head::new(category, ["info", ""], "Microsoft Entra ID Protection");
    let who = n
        .s("userPrincipalName")
        .or(n.s("servicePrincipalDisplayName"))
        .unwrap_or("unknown principal");
    h.message = format!(
        "Risk detection {} ({} risk) for {who}",
        n.summary("action"),
        n.s("riskLevel").unwrap_or("unknown")
    );
    h
}

fn risk_detection<'a>(n: &Native<'a>, doc: &mut Obj<'_>, related: &mut Related<'a>) {
    let sp = n.kind == StreamKind::ServicePrincipalRiskDetections;
    let upn = n.s("userPrincipalName");
    if !sp {
        doc.obj_if_any("user", |u| {
            user(u, n.s("userId"), upn, n.s("userDisplayName"));
        });
        related.user.extend(upn);
    } else {
        related.user.extend(n.s("servicePrincipalDisplayName"));
    }
    let ip = n.ip("ipAddress");
    doc.obj_if_any("source", |s| source(n, s, ip, "location"));
    related.ip.extend(ip);
    if let Some(t) = n.s("riskEventType") {
        doc.obj("rule", |r| {
            r.str("name", t)
                .str("category", "Identity Protection risk detection");
        });
    }
}

const RISK_DETECTION_VENDOR: &[(&str, &str)] = &[
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
];
