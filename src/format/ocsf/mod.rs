//! `format = "ocsf"`: OCSF 1.5.0 events, validated in CI by `pydantic-ocsf` (`tests/ocsf/`).
//! Sign-ins are Authentication (3002); directory audits are Account Change (3001), User Access
//! Management (3005), Group Management (3006) or, for everything else, Entity Management (3004);
//! risk detections, risky users and risky service principals are Detection Findings (2004).
//! The Graph record, verbatim, is in `unmapped`.

use std::borrow::Cow;

use super::json::Obj;
use super::{number, upn_domain, Native};
use crate::event::parse_time;
use crate::kind::StreamKind;
use crate::record::Record;

mod exported;
mod finding;
mod inventory;
mod provisioning;

/// The schema version the events follow (`metadata.version`).
pub const OCSF_VERSION: &str = "1.5.0";

/// The top-level keys an over-long event keeps when even without its raw record it is too long:
/// the classification, the time, and each class's required objects.
pub const ESSENTIAL_KEYS: [&str; 20] = [
    "activity_id",
    "activity_name",
    "category_uid",
    "category_name",
    "class_uid",
    "class_name",
    "type_uid",
    "type_name",
    "time",
    "severity_id",
    "severity",
    "status_id",
    "status",
    "metadata",
    "user",
    "group",
    "privileges",
    "entity",
    "finding_info",
    "message",
];

mod classes;
use classes::*;

/// An activity: its id and caption (`Other` carries the source's own name).
struct Activity<'a> {
    id: i64,
    name: Cow<'a, str>,
}

fn activity(id: i64, name: &'static str) -> Activity<'static> {
    Activity {
        id,
        name: Cow::Borrowed(name),
    }
}

/// What an audit record becomes, decided before anything is written.
enum Audit<'t, 'a> {
    /// A role assigned to or removed from a user (User Access Management).
    Privileges(&'t Record<'a>, &'a str),
    /// A group and, if any, the user added or removed (Group Management).
    Group(&'t Record<'a>, Option<&'t Record<'a>>),
    /// A user account changed (Account Change).
    Account(&'t Record<'a>),
    /// Anything else (Entity Management), about the first target if there is one.
    Entity(Option<&'t Record<'a>>),
}

/// Writes the OCSF event of one record.
pub fn write(n: &Native<'_>, out: &mut Vec<u8>) {
    let targets = match n.kind {
        StreamKind::DirectoryAudits => n.targets(),
        _ => Vec::new(),
    };
    let (class, act, audit) = match n.kind {
        StreamKind::SignIns => (AUTHENTICATION, activity(1, "Logon"), None),
        StreamKind::DirectoryAudits => {
            let (class, act, audit) = classify_audit(n, &targets);
            (class, act, Some(audit))
        }
        StreamKind::RiskyUsers
        | StreamKind::RiskDetections
        | StreamKind::RiskyServicePrincipals
        | StreamKind::ServicePrincipalRiskDetections
        | StreamKind::RiskyAgents
        | StreamKind::AgentRiskDetections => (DETECTION_FINDING, finding::activity_of(n), None),
        StreamKind::Provisioning => {
            let (class, act) = provisioning::classify(n);
            (class, act, None)
        }
        StreamKind::Users | StreamKind::Devices | StreamKind::RoleAssignments => {
            let (class, act) = inventory::classify(n);
            (class, act, None)
        }
        StreamKind::Exported(which) => {
            let (class, act) = exported::classify(n, which);
            (class, act, None)
        }
    };
    let mut m = Obj::start(out);
    m.int("activity_id", act.id)
        .str("activity_name", &act.name)
        .int("category_uid", class.category_uid)
        .str("category_name", class.category_name)
        .int("class_uid", class.uid)
        .str("class_name", class.name)
        .int("type_uid", class.uid * 100 + act.id);
    // `Other` keeps the source's own name in activity_name; type_name says Other.
    let caption = if act.id == 99 { "Other" } else { &act.name };
    m.str("type_name", &format!("{}: {caption}", class.name))
        .int("time", n.time_ms());
    let (severity_id, severity) = match n.summary("severity") {
        "low" => (2, "Low"),
        "medium" => (3, "Medium"),
        "high" => (4, "High"),
        _ => (1, "Informational"),
    };
    m.int("severity_id", severity_id).str("severity", severity);
    if class.uid != DETECTION_FINDING.uid {
        // Authentication and the IAM classes: 1 Success, 2 Failure; an unknown result is left
        // out rather than sent as 0.
        match n.summary("outcome") {
            "success" => {
                m.int("status_id", 1).str("status", "Success");
            }
            "failure" => {
                m.int("status_id", 2).str("status", "Failure");
            }
            _ => {}
        }
    }
    m.obj("metadata", |o| metadata(n, o));
    match audit {
        Some(audit) => audit_fields(n, &mut m, audit),
        None if class.uid == AUTHENTICATION.uid => sign_in(n, &mut m),
        None if matches!(n.kind, StreamKind::Exported(_)) => exported::fields(n, &mut m, &class),
        None if n.kind == StreamKind::Provisioning => provisioning::fields(n, &mut m, &class),
        None if n.kind.is_inventory() => inventory::fields(n, &mut m),
        None => finding::fields(n, &mut m),
    }
    m.raw("unmapped", n.record.raw());
    m.end();
}

fn metadata(n: &Native<'_>, o: &mut Obj<'_>) {
    let original_time = n
        .s("createdDateTime")
        .or(n.s("activityDateTime"))
        .or(n.s("lastUpdatedDateTime"))
        .or(n.s("riskLastUpdatedDateTime"))
        .or(n.s("lastModifiedDateTime"))
        .or(n.s("riskLastModifiedDateTime"))
        .or(n.envelope("time"));
    o.str("version", OCSF_VERSION)
        .obj("product", |p| {
            p.str("name", "Microsoft Entra ID")
                .str("vendor_name", "Microsoft")
                .obj("feature", |f| {
                    f.str("name", n.summary("dataset"));
                });
        })
        .str("uid", n.summary("id"))
        .opt_str("original_time", original_time)
        .opt_int(
            "processed_time",
            parse_time(n.summary("ingested")).map(|t| t.timestamp_millis()),
        )
        .opt_str("log_name", n.envelope("category"))
        .str(
            "log_provider",
            if matches!(n.kind, StreamKind::Exported(_)) || n.collected_from() == Some("event_hubs")
            {
                "Microsoft Entra diagnostic settings"
            } else {
                "Microsoft Graph"
            },
        )
        .str("tenant_uid", n.summary("tenant_id"))
        .opt_str("correlation_uid", n.s("correlationId"));
    // An agentic sign-in (beta `agent` block): OCSF has no agent-identity object, so its
    // identity types and parents travel as labels.
    let agentic = n.s("agent/agentType").filter(|t| *t != "notAgentic");
    if agentic.is_some() {
        let labels: Vec<String> = [
            ("agent_type", "agent/agentType"),
            ("agent_subject_type", "agent/agentSubjectType"),
            ("agent_subject_parent_id", "agent/agentSubjectParentId"),
            ("agent_parent_app_id", "agent/parentAppId"),
        ]
        .iter()
        .filter_map(|(k, path)| n.s(path).map(|v| format!("{k}:{v}")))
        .collect();
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        o.strs("labels", &labels);
    }
}

/// An OCSF `user`: an Entra user (`type_id` 1) with its Entra account.
fn user(o: &mut Obj<'_>, id: Option<&str>, upn: Option<&str>, display: Option<&str>) {
    user_in(o, (id, upn, display), None);
}

/// [`user`], with what the directory cache knows of it (`context.user`): an Admin (`type_id`
/// 2) when it holds a directory role, its department as `org.ou_name`.
fn user_in(
    o: &mut Obj<'_>,
    (id, upn, display): (Option<&str>, Option<&str>, Option<&str>),
    context: Option<&Record<'_>>,
) {
    let admin = context
        .and_then(|c| c.get("admin_roles"))
        .is_some_and(|r| !crate::record::elements(r).is_empty());
    let department = context
        .and_then(|c| c.get("department"))
        .and_then(crate::record::string)
        .filter(|d| !d.is_empty());
    o.opt_str("uid", id)
        .opt_str("name", upn.or(display))
        .opt_str("full_name", display)
        .opt_str("domain", upn.and_then(upn_domain))
        .int("type_id", if admin { 2 } else { 1 })
        .str("type", if admin { "Admin" } else { "User" });
    if let Some(d) = department {
        o.obj("org", |g| {
            g.str("ou_name", &d);
        });
    }
    o.obj("account", |a| {
        a.opt_str("uid", id)
            .opt_str("name", upn)
            .int("type_id", 6)
            .str("type", "Azure AD Account");
    });
}

/// A service principal as an OCSF `user` (`type_id` 99 Other).
fn service_principal(o: &mut Obj<'_>, id: Option<&str>, name: Option<&str>) {
    o.opt_str("uid", id)
        .opt_str("name", name)
        .int("type_id", 99)
        .str("type", "Service Principal");
}

/// A `network_endpoint` from an IP address and a Graph `signInLocation`, left out when empty.
fn endpoint(n: &Native<'_>, o: &mut Obj<'_>, key: &str, ip_path: &str, location: &str) {
    endpoint_with(n, o, key, (ip_path, location), None);
}

/// [`endpoint`], with the device the directory cache knows (`context.device`).
fn endpoint_with(
    n: &Native<'_>,
    o: &mut Obj<'_>,
    key: &str,
    (ip_path, location): (&str, &str),
    device: Option<&Record<'_>>,
) {
    o.obj_if_any(key, |e| {
        e.opt_str("ip", n.ip(ip_path));
        if let Some(d) = device {
            e.opt_str("uid", n.s_in(d, "device_id"))
                .opt_str("name", n.s_in(d, "name"))
                .opt_str("hostname", n.s_in(d, "name"));
            if let Some(os) = n.s_in(d, "operating_system") {
                e.obj("os", |s| {
                    s.str("name", os)
                        .int("type_id", 99)
                        .str("type", "Other")
                        .opt_str("version", n.s_in(d, "operating_system_version"));
                });
            }
        }
        let Some(loc) = n.raw(location).map(Record::nested) else {
            return;
        };
        let coords = loc.get("geoCoordinates").map(Record::nested);
        let coord = |k: &str| coords.as_ref()?.get(k).and_then(number);
        e.obj_if_any("location", |l| {
            l.opt_str("city", n.s_in(&loc, "city"))
                .opt_str("region", n.s_in(&loc, "state"))
                .opt_str("country", n.s_in(&loc, "countryOrRegion"));
            if let Some(lat) = coord("latitude") {
                l.float("lat", lat);
            }
            if let Some(long) = coord("longitude") {
                l.float("long", long);
            }
        });
    });
}

/// The ms-since-epoch value of a Graph time field.
fn ms(n: &Native<'_>, path: &str) -> Option<i64> {
    n.s(path).and_then(parse_time).map(|t| t.timestamp_millis())
}

fn sign_in(n: &Native<'_>, m: &mut Obj<'_>) {
    let sp = n.s("servicePrincipalId").is_some() && n.s("userId").is_none();
    m.obj("user", |u| {
        if sp {
            service_principal(u, n.s("servicePrincipalId"), n.s("servicePrincipalName"));
        } else {
            let ctx = n.context_part("user");
            user_in(
                u,
                (
                    n.s("userId"),
                    n.s("userPrincipalName"),
                    n.s("userDisplayName"),
                ),
                ctx.as_ref(),
            );
        }
    });
    // The client is the signing-in device: its directory context (`context.device`).
    let device = n.context_part("device");
    endpoint_with(
        n,
        m,
        "src_endpoint",
        ("ipAddress", "location"),
        device.as_ref(),
    );
    m.obj_if_any("service", |s| {
        s.opt_str("name", n.s("resourceDisplayName"))
            .opt_str("uid", n.s("resourceId"));
    })
    .obj_if_any("http_request", |h| {
        h.opt_str("user_agent", n.s("userAgent"));
    })
    .obj_if_any("actor", |a| {
        a.opt_str("app_name", n.s("appDisplayName"))
            .opt_str("app_uid", n.s("appId"));
    })
    .obj_if_any("session", |s| {
        // The token's id: a Graph activity record's `signInActivityId` (its session's
        // `uid_alt`) joins it.
        s.opt_str("uid", n.s("sessionId"))
            .opt_str("uid_alt", n.s("uniqueTokenIdentifier"));
    });
    if let Some(p) = n.s("authenticationProtocol") {
        let id = match p.to_ascii_lowercase().as_str() {
            "oauth2" | "ropc" | "devicecode" => 6,
            "saml20" => 5,
            "none" => 0,
            _ => 99,
        };
        let caption = match id {
            6 => "OAUTH 2.0",
            5 => "SAML",
            0 => "Unknown",
            _ => p,
        };
        m.int("auth_protocol_id", id).str("auth_protocol", caption);
    }
    if let Some(r) = n.s("authenticationRequirement") {
        m.bool(
            "is_mfa",
            r.eq_ignore_ascii_case("multiFactorAuthentication"),
        );
    }
    if let Some(code) = n.raw("status/errorCode") {
        m.str("status_code", code.trim_matches('"'));
    }
    m.opt_str("status_detail", n.s("status/failureReason"));
    let who = n
        .s("userPrincipalName")
        .or(n.s("servicePrincipalName"))
        .unwrap_or("unknown principal");
    let app = n.s("appDisplayName").unwrap_or("an application");
    m.str("message", &format!("Sign-in by {who} to {app}"));
}

/// The user an audit record acts on, as an OCSF `user`.
fn target_user(n: &Native<'_>, o: &mut Obj<'_>, t: &Record<'_>) {
    let s = |k: &str| n.s_in(t, k);
    if n.target_type(t)
        .is_some_and(|ty| ty.eq_ignore_ascii_case("ServicePrincipal"))
    {
        service_principal(o, s("id"), s("displayName"));
    } else {
        user(o, s("id"), s("userPrincipalName"), s("displayName"));
    }
}

const ACCOUNT_CHANGE_ACTIVITIES: [(&str, i64, &str); 14] = [
    ("add user", 1, "Create"),
    ("enable account", 2, "Enable"),
    ("change user password", 3, "Password Change"),
    ("change password", 3, "Password Change"),
    ("reset user password", 4, "Password Reset"),
    ("reset password", 4, "Password Reset"),
    ("disable account", 5, "Disable"),
    ("delete user", 6, "Delete"),
    ("hard delete user", 6, "Delete"),
    ("user registered security info", 10, "MFA Factor Enable"),
    (
        "user registered all required security info",
        10,
        "MFA Factor Enable",
    ),
    ("admin registered security info", 10, "MFA Factor Enable"),
    ("user deleted security info", 11, "MFA Factor Disable"),
    ("admin deleted security info", 11, "MFA Factor Disable"),
];

fn classify_audit<'t, 'a>(
    n: &Native<'a>,
    targets: &'t [Record<'a>],
) -> (Class, Activity<'a>, Audit<'t, 'a>) {
    let action = n.summary("action");
    let a = action.to_ascii_lowercase();
    let category = n.s("category").unwrap_or("").to_ascii_lowercase();
    let other = || Activity {
        id: 99,
        name: Cow::Borrowed(action),
    };
    let user_target = n.audit_target(targets, &["User", "ServicePrincipal"]);
    let role = user_target
        .and_then(|t| n.modified_property(t, "Role.DisplayName"))
        .or_else(|| {
            n.audit_target(targets, &["Role", "DirectoryRole"])
                .and_then(|r| n.text(r.get("displayName")?))
        });
    let group = n.audit_target(targets, &["Group"]);

    if let (true, Some(t), Some(role)) = (category == "rolemanagement", user_target, role) {
        let act = if a.starts_with("add") {
            activity(1, "Assign Privileges")
        } else if a.starts_with("remove") {
            activity(2, "Revoke Privileges")
        } else {
            other()
        };
        return (USER_ACCESS, act, Audit::Privileges(t, role));
    }
    let membership = a.contains("member") && a.contains("group");
    if let (true, Some(g)) = (category == "groupmanagement" || membership, group) {
        let act = match a.as_str() {
            _ if a.starts_with("add member") => activity(3, "Add User"),
            _ if a.starts_with("remove member") => activity(4, "Remove User"),
            _ if a.starts_with("delete group") || a.starts_with("hard delete group") => {
                activity(5, "Delete")
            }
            _ if a.starts_with("add group") => activity(6, "Create"),
            _ => other(),
        };
        return (GROUP_MANAGEMENT, act, Audit::Group(g, user_target));
    }
    let user_category = matches!(
        category.as_str(),
        "usermanagement" | "authentication methods" | "authenticationmethods"
    );
    if let (true, Some(t)) = (user_category, user_target) {
        let act = ACCOUNT_CHANGE_ACTIVITIES
            .iter()
            .find(|(prefix, _, _)| a.starts_with(prefix))
            .map_or_else(other, |(_, id, name)| activity(*id, name));
        return (ACCOUNT_CHANGE, act, Audit::Account(t));
    }
    // Everything else: an entity created, updated or deleted.
    let act = match n.s("operationType").map(str::to_ascii_lowercase).as_deref() {
        Some("add") => activity(1, "Create"),
        Some("update") => activity(3, "Update"),
        Some("delete") => activity(4, "Delete"),
        _ => other(),
    };
    (ENTITY_MANAGEMENT, act, Audit::Entity(targets.first()))
}

fn audit_fields(n: &Native<'_>, m: &mut Obj<'_>, audit: Audit<'_, '_>) {
    let action = n.summary("action");
    m.obj_if_any("src_endpoint", |e| {
        e.opt_str("ip", n.ip("initiatedBy/user/ipAddress"));
    })
    .opt_str("status_detail", n.s("resultReason"))
    .str("message", action);
    match audit {
        Audit::Privileges(t, role) => {
            m.obj("user", |u| target_user(n, u, t))
                .strs("privileges", &[role]);
        }
        Audit::Group(g, user_target) => {
            m.obj("group", |o| {
                o.opt_str("uid", n.s_in(g, "id"))
                    .opt_str("name", n.s_in(g, "displayName"));
            });
            if let Some(t) = user_target {
                m.obj("user", |u| target_user(n, u, t));
            }
        }
        Audit::Account(t) => {
            m.obj("user", |u| target_user(n, u, t));
        }
        Audit::Entity(Some(t)) => {
            let ty = n.target_type(t).unwrap_or("Other");
            let type_id = match ty.to_ascii_lowercase().as_str() {
                "device" => 1,
                "user" => 2,
                "group" => 3,
                "policy" => 5,
                _ => 99,
            };
            m.obj("entity", |e| {
                e.opt_str("uid", n.s_in(t, "id"))
                    .opt_str(
                        "name",
                        n.s_in(t, "displayName").or(n.s_in(t, "userPrincipalName")),
                    )
                    .int("type_id", type_id)
                    .str("type", ty);
            });
        }
        Audit::Entity(None) => {
            m.obj("entity", |e| {
                e.str("name", action)
                    .int("type_id", 99)
                    .opt_str("type", n.s("category"));
            });
        }
    }
    // Who did it.
    m.obj_if_any("actor", |a| {
        if n.s("initiatedBy/user/id")
            .or(n.s("initiatedBy/user/userPrincipalName"))
            .is_some()
        {
            a.obj("user", |u| {
                let ctx = n.context_part("user");
                user_in(
                    u,
                    (
                        n.s("initiatedBy/user/id"),
                        n.s("initiatedBy/user/userPrincipalName"),
                        n.s("initiatedBy/user/displayName"),
                    ),
                    ctx.as_ref(),
                );
            });
        }
        a.opt_str("app_name", n.s("initiatedBy/app/displayName"))
            .opt_str("app_uid", n.s("initiatedBy/app/appId"));
    });
}
