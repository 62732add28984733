//! `format = "ocsf"`: OCSF 1.5.0 events, validated in CI by `pydantic-ocsf` (`tests/ocsf/`).
//! Sign-ins are Authentication (3002); directory audits are Account Change (3001), User Access
//! Management (3005), Group Management (3006) or, for everything else, Entity Management (3004);
//! risk detections, risky users and risky service principals are Detection Findings (2004).
//! The Graph record, verbatim, is in `unmapped`.

use serde_json::{json, Map, Value};

use super::{
    audit_target, modified_property, non_empty, object, sv, target_type, upn_domain, Native,
};
use crate::event::parse_time;
use crate::kind::StreamKind;

mod finding;
use finding::finding;

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

/// One OCSF class.
struct Class {
    uid: i64,
    name: &'static str,
    category_uid: i64,
    category_name: &'static str,
}

const AUTHENTICATION: Class = Class {
    uid: 3002,
    name: "Authentication",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
const ACCOUNT_CHANGE: Class = Class {
    uid: 3001,
    name: "Account Change",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
const ENTITY_MANAGEMENT: Class = Class {
    uid: 3004,
    name: "Entity Management",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
const USER_ACCESS: Class = Class {
    uid: 3005,
    name: "User Access Management",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
const GROUP_MANAGEMENT: Class = Class {
    uid: 3006,
    name: "Group Management",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
const DETECTION_FINDING: Class = Class {
    uid: 2004,
    name: "Detection Finding",
    category_uid: 2,
    category_name: "Findings",
};

/// An activity: its id and caption (`Other` carries the source's own name).
struct Activity {
    id: i64,
    name: String,
}

fn activity(id: i64, name: &str) -> Activity {
    Activity {
        id,
        name: name.to_string(),
    }
}

pub fn render(n: &Native<'_>) -> Value {
    let (class, act, mut fields) = match n.kind {
        StreamKind::SignIns => sign_in(n),
        StreamKind::DirectoryAudits => audit(n),
        StreamKind::RiskyUsers
        | StreamKind::RiskDetections
        | StreamKind::RiskyServicePrincipals
        | StreamKind::ServicePrincipalRiskDetections => finding(n),
    };
    let mut m = Map::new();
    m.insert("activity_id".into(), act.id.into());
    m.insert("activity_name".into(), act.name.clone().into());
    m.insert("category_uid".into(), class.category_uid.into());
    m.insert("category_name".into(), class.category_name.into());
    m.insert("class_uid".into(), class.uid.into());
    m.insert("class_name".into(), class.name.into());
    m.insert("type_uid".into(), (class.uid * 100 + act.id).into());
    // `Other` keeps the source's own name in activity_name; type_name says Other.
    let caption = if act.id == 99 { "Other" } else { &act.name };
    m.insert(
        "type_name".into(),
        format!("{}: {caption}", class.name).into(),
    );
    m.insert("time".into(), n.time_ms().into());
    let (severity_id, severity) = match n.summary("severity") {
        "low" => (2, "Low"),
        "medium" => (3, "Medium"),
        "high" => (4, "High"),
        _ => (1, "Informational"),
    };
    m.insert("severity_id".into(), severity_id.into());
    m.insert("severity".into(), severity.into());
    if class.uid != DETECTION_FINDING.uid {
        // Authentication and the IAM classes: 1 Success, 2 Failure; an unknown result is left
        // out rather than sent as 0.
        match n.summary("outcome") {
            "success" => {
                m.insert("status_id".into(), 1.into());
                m.insert("status".into(), "Success".into());
            }
            "failure" => {
                m.insert("status_id".into(), 2.into());
                m.insert("status".into(), "Failure".into());
            }
            _ => {}
        }
    }
    m.insert("metadata".into(), metadata(n));
    m.append(&mut fields);
    m.insert("unmapped".into(), n.original(false));
    Value::Object(m)
}

fn metadata(n: &Native<'_>) -> Value {
    let original_time = n
        .s("createdDateTime")
        .or(n.s("activityDateTime"))
        .or(n.s("lastUpdatedDateTime"))
        .or(n.s("riskLastUpdatedDateTime"))
        .or(n.envelope("time"));
    object([
        ("version", Some(OCSF_VERSION.into())),
        (
            "product",
            Some(json!({
                "name": "Microsoft Entra ID",
                "vendor_name": "Microsoft",
                "feature": { "name": n.summary("dataset") },
            })),
        ),
        ("uid", Some(n.summary("id").into())),
        ("original_time", sv(original_time)),
        (
            "processed_time",
            parse_time(n.summary("ingested")).map(|t| t.timestamp_millis().into()),
        ),
        ("log_name", sv(n.envelope("category"))),
        ("log_provider", Some("Microsoft Graph".into())),
        ("tenant_uid", Some(n.summary("tenant_id").into())),
        ("correlation_uid", sv(n.s("correlationId"))),
    ])
}

/// An OCSF `user`: an Entra user (`type_id` 1) with its Entra account.
fn user(id: Option<&str>, upn: Option<&str>, display: Option<&str>) -> Value {
    let account = object([
        ("uid", sv(id)),
        ("name", sv(upn)),
        ("type_id", Some(6.into())),
        ("type", Some("Azure AD Account".into())),
    ]);
    object([
        ("uid", sv(id)),
        ("name", sv(upn.or(display))),
        ("full_name", sv(display)),
        ("domain", sv(upn.and_then(upn_domain))),
        ("type_id", Some(1.into())),
        ("type", Some("User".into())),
        ("account", Some(account)),
    ])
}

/// A service principal as an OCSF `user` (`type_id` 99 Other).
fn service_principal(id: Option<&str>, name: Option<&str>) -> Value {
    object([
        ("uid", sv(id)),
        ("name", sv(name)),
        ("type_id", Some(99.into())),
        ("type", Some("Service Principal".into())),
    ])
}

/// A `network_endpoint` from an IP address and a Graph `signInLocation`.
fn endpoint(n: &Native<'_>, ip_path: &str, location: &str) -> Option<Value> {
    let loc = |k: &str| n.s(&format!("{location}/{k}"));
    let coord = |k: &str| {
        n.v(&format!("{location}/geoCoordinates/{k}"))
            .and_then(Value::as_f64)
            .map(Value::from)
    };
    let location = object([
        ("city", sv(loc("city"))),
        ("region", sv(loc("state"))),
        ("country", sv(loc("countryOrRegion"))),
        ("lat", coord("latitude")),
        ("long", coord("longitude")),
    ]);
    non_empty(object([
        ("ip", n.ip(ip_path).map(Value::String)),
        ("location", non_empty(location)),
    ]))
}

/// The ms-since-epoch value of a Graph time field.
fn ms(n: &Native<'_>, path: &str) -> Option<Value> {
    n.s(path)
        .and_then(parse_time)
        .map(|t| t.timestamp_millis().into())
}

type Mapped = (Class, Activity, Map<String, Value>);

fn insert(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v.and_then(non_empty) {
        m.insert(key.into(), v);
    }
}

fn sign_in(n: &Native<'_>) -> Mapped {
    let mut m = Map::new();
    let sp = n.s("servicePrincipalId").is_some() && n.s("userId").is_none();
    let principal = if sp {
        service_principal(n.s("servicePrincipalId"), n.s("servicePrincipalName"))
    } else {
        user(
            n.s("userId"),
            n.s("userPrincipalName"),
            n.s("userDisplayName"),
        )
    };
    m.insert("user".into(), principal);
    insert(&mut m, "src_endpoint", endpoint(n, "ipAddress", "location"));
    insert(
        &mut m,
        "service",
        Some(object([
            ("name", sv(n.s("resourceDisplayName"))),
            ("uid", sv(n.s("resourceId"))),
        ])),
    );
    insert(
        &mut m,
        "http_request",
        Some(object([("user_agent", sv(n.s("userAgent")))])),
    );
    insert(
        &mut m,
        "actor",
        Some(object([
            ("app_name", sv(n.s("appDisplayName"))),
            ("app_uid", sv(n.s("appId"))),
        ])),
    );
    insert(
        &mut m,
        "session",
        Some(object([("uid", sv(n.s("sessionId")))])),
    );
    if let Some(p) = n.s("authenticationProtocol") {
        let id = match p.to_ascii_lowercase().as_str() {
            "oauth2" | "ropc" | "devicecode" => 6,
            "saml20" => 5,
            "none" => 0,
            _ => 99,
        };
        m.insert("auth_protocol_id".into(), id.into());
        let caption = match id {
            6 => "OAUTH 2.0",
            5 => "SAML",
            0 => "Unknown",
            _ => p,
        };
        m.insert("auth_protocol".into(), caption.into());
    }
    if let Some(r) = n.s("authenticationRequirement") {
        m.insert(
            "is_mfa".into(),
            r.eq_ignore_ascii_case("multiFactorAuthentication").into(),
        );
    }
    if let Some(code) = n.v("status/errorCode") {
        let code = code.to_string().trim_matches('"').to_string();
        m.insert("status_code".into(), code.into());
    }
    insert(&mut m, "status_detail", sv(n.s("status/failureReason")));
    let who = n
        .s("userPrincipalName")
        .or(n.s("servicePrincipalName"))
        .unwrap_or("unknown principal");
    let app = n.s("appDisplayName").unwrap_or("an application");
    m.insert(
        "message".into(),
        format!("Sign-in by {who} to {app}").into(),
    );
    (AUTHENTICATION, activity(1, "Logon"), m)
}

/// The user an audit record acts on, as an OCSF `user`.
fn target_user(t: &Value) -> Value {
    let s = |k: &str| t.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    if target_type(t).is_some_and(|ty| ty.eq_ignore_ascii_case("ServicePrincipal")) {
        service_principal(s("id"), s("displayName"))
    } else {
        user(s("id"), s("userPrincipalName"), s("displayName"))
    }
}

fn audit(n: &Native<'_>) -> Mapped {
    let action = n.summary("action");
    let a = action.to_ascii_lowercase();
    let category = n.s("category").unwrap_or("").to_ascii_lowercase();
    let mut m = Map::new();
    // Who did it.
    let actor_user = n
        .s("initiatedBy/user/id")
        .or(n.s("initiatedBy/user/userPrincipalName"));
    let actor = object([
        (
            "user",
            actor_user.map(|_| {
                user(
                    n.s("initiatedBy/user/id"),
                    n.s("initiatedBy/user/userPrincipalName"),
                    n.s("initiatedBy/user/displayName"),
                )
            }),
        ),
        ("app_name", sv(n.s("initiatedBy/app/displayName"))),
        ("app_uid", sv(n.s("initiatedBy/app/appId"))),
    ]);
    insert(
        &mut m,
        "src_endpoint",
        Some(object([(
            "ip",
            n.ip("initiatedBy/user/ipAddress").map(Value::String),
        )])),
    );
    insert(&mut m, "status_detail", sv(n.s("resultReason")));
    m.insert("message".into(), action.into());
    let other = || activity(99, action);
    let user_target = audit_target(n, &["User", "ServicePrincipal"]);
    let role = user_target
        .and_then(|t| modified_property(t, "Role.DisplayName"))
        .or_else(|| {
            audit_target(n, &["Role", "DirectoryRole"])
                .and_then(|r| r.get("displayName"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let group = audit_target(n, &["Group"]);

    if let (true, Some(t), Some(role)) = (category == "rolemanagement", user_target, &role) {
        let act = if a.starts_with("add") {
            activity(1, "Assign Privileges")
        } else if a.starts_with("remove") {
            activity(2, "Revoke Privileges")
        } else {
            other()
        };
        m.insert("user".into(), target_user(t));
        m.insert("privileges".into(), json!([role]));
        insert(&mut m, "actor", Some(actor));
        return (USER_ACCESS, act, m);
    }
    let membership = a.contains("member") && a.contains("group");
    if let (true, Some(g)) = (category == "groupmanagement" || membership, group) {
        let s = |k: &str| g.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let act = match a.as_str() {
            _ if a.starts_with("add member") => activity(3, "Add User"),
            _ if a.starts_with("remove member") => activity(4, "Remove User"),
            _ if a.starts_with("delete group") || a.starts_with("hard delete group") => {
                activity(5, "Delete")
            }
            _ if a.starts_with("add group") => activity(6, "Create"),
            _ => other(),
        };
        let gv = object([("uid", sv(s("id"))), ("name", sv(s("displayName")))]);
        m.insert("group".into(), gv);
        if let Some(t) = user_target {
            m.insert("user".into(), target_user(t));
        }
        insert(&mut m, "actor", Some(actor));
        return (GROUP_MANAGEMENT, act, m);
    }
    let account_change = [
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
    let user_category = matches!(
        category.as_str(),
        "usermanagement" | "authentication methods" | "authenticationmethods"
    );
    if let (true, Some(t)) = (user_category, user_target) {
        let act = account_change
            .iter()
            .find(|(prefix, _, _)| a.starts_with(prefix))
            .map_or_else(other, |(_, id, name)| activity(*id, name));
        m.insert("user".into(), target_user(t));
        insert(&mut m, "actor", Some(actor));
        return (ACCOUNT_CHANGE, act, m);
    }
    // Everything else: an entity created, updated or deleted.
    let act = match n.s("operationType").map(str::to_ascii_lowercase).as_deref() {
        Some("add") => activity(1, "Create"),
        Some("update") => activity(3, "Update"),
        Some("delete") => activity(4, "Delete"),
        _ => other(),
    };
    let first = n
        .v("targetResources")
        .and_then(Value::as_array)
        .and_then(|ts| ts.first());
    let entity = match first {
        Some(t) => {
            let s = |k: &str| t.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
            let ty = target_type(t).unwrap_or("Other");
            let type_id = match ty.to_ascii_lowercase().as_str() {
                "device" => 1,
                "user" => 2,
                "group" => 3,
                "policy" => 5,
                _ => 99,
            };
            object([
                ("uid", sv(s("id"))),
                ("name", sv(s("displayName").or(s("userPrincipalName")))),
                ("type_id", Some(type_id.into())),
                ("type", Some(ty.into())),
            ])
        }
        None => object([
            ("name", Some(action.into())),
            ("type_id", Some(99.into())),
            ("type", sv(n.s("category"))),
        ]),
    };
    m.insert("entity".into(), entity);
    insert(&mut m, "actor", Some(actor));
    (ENTITY_MANAGEMENT, act, m)
}
