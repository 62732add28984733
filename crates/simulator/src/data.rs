//! Deterministic synthetic records shaped like Microsoft's documented samples
//! (`testdata/graph-fixtures/`): same keys, same nesting, same quirks (nulls, `N/A` types).

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

pub use crate::rng::Rng;
use crate::rng::PEOPLE;

/// (activityDisplayName, category, loggedByService, operationType)
const AUDIT_ACTIVITIES: &[(&str, &str, &str, &str)] = &[
    ("Add user", "UserManagement", "Core Directory", "Add"),
    ("Update user", "UserManagement", "Core Directory", "Update"),
    ("Delete user", "UserManagement", "Core Directory", "Delete"),
    (
        "Add member to group",
        "GroupManagement",
        "Core Directory",
        "Assign",
    ),
    (
        "Remove member from group",
        "GroupManagement",
        "Core Directory",
        "Unassign",
    ),
    (
        "Add member to role",
        "RoleManagement",
        "Core Directory",
        "Assign",
    ),
    (
        "Add service principal",
        "ApplicationManagement",
        "Core Directory",
        "Add",
    ),
    (
        "Add service principal credentials",
        "ApplicationManagement",
        "Core Directory",
        "Update",
    ),
    (
        "Consent to application",
        "ApplicationManagement",
        "Core Directory",
        "Assign",
    ),
    (
        "Update conditional access policy",
        "Policy",
        "Conditional Access",
        "Update",
    ),
    (
        "Reset user password",
        "UserManagement",
        "Self-service Password Management",
        "Update",
    ),
    (
        "GroupLifecyclePolicies_Get",
        "GroupManagement",
        "Self-service Group Management",
        "Update",
    ),
    (
        "Read BitLocker key",
        "KeyManagement",
        "Core Directory",
        "Read",
    ),
    (
        "Set domain authentication",
        "DirectoryManagement",
        "Core Directory",
        "Update",
    ),
];

/// A Graph timestamp with seven fractional digits, as the documented samples show.
pub fn graph_timestamp(t: DateTime<Utc>) -> String {
    crate::graph::record_time(t)
}

/// One directoryAudit record at `at`, the `n`-th of its generator.
pub fn directory_audit(rng: &mut Rng, n: u64, at: DateTime<Utc>) -> Value {
    let (activity, category, service, op) = *rng.pick(AUDIT_ACTIVITIES);
    let (actor, actor_upn) = *rng.pick(PEOPLE);
    let (target, target_upn) = *rng.pick(PEOPLE);
    let failed = rng.below(10) == 0;
    let correlation = rng.guid();
    let initiated_by = if rng.below(5) == 0 {
        json!({
            "app": {
                "appId": rng.guid(),
                "displayName": "Microsoft Graph PowerShell",
                "servicePrincipalId": rng.guid(),
                "servicePrincipalName": null
            },
            "user": null
        })
    } else {
        json!({
            "app": null,
            "user": {
                "id": rng.guid(),
                "displayName": actor,
                "userPrincipalName": actor_upn,
                "ipAddress": format!("203.0.113.{}", rng.below(254) + 1),
                "userType": null,
                "homeTenantId": null,
                "homeTenantName": null
            }
        })
    };
    json!({
        "id": format!("Directory_{correlation}_{n:08}"),
        "category": category,
        "correlationId": correlation,
        "result": if failed { "failure" } else { "success" },
        "resultReason": if failed { "Microsoft.Online.Workflows.ObjectNotFoundException" } else { "" },
        "activityDisplayName": activity,
        "activityDateTime": graph_timestamp(at),
        "loggedByService": service,
        "operationType": op,
        "initiatedBy": initiated_by,
        "targetResources": audit_targets(rng, activity, category, target, target_upn),
        "additionalDetails": [{"key": "UserType", "value": "Member"}]
    })
}

/// Role and group names the synthetic audits assign.
const ROLES: &[&str] = &[
    "Global Administrator",
    "Privileged Role Administrator",
    "User Administrator",
];
const GROUPS: &[&str] = &["Finance", "SOC Analysts", "All Company"];

/// `targetResources` the way Graph shapes them per activity: a user with the role in its
/// modified properties for role assignments, user plus group for membership changes, the
/// service principal, policy, device or domain for the others.
fn audit_targets(rng: &mut Rng, activity: &str, category: &str, user: &str, upn: &str) -> Value {
    let quoted = |s: &str| format!("\"{s}\"");
    let other = |rng: &mut Rng, ty: &str, name: &str| {
        json!([{
            "id": rng.guid(), "displayName": name, "type": ty, "userPrincipalName": null,
            "groupType": null, "modifiedProperties": []
        }])
    };
    match category {
        "RoleManagement" => {
            let role = *rng.pick(ROLES);
            json!([{
                "id": rng.guid(), "displayName": user, "type": "User", "userPrincipalName": upn,
                "groupType": null,
                "modifiedProperties": [
                    {"displayName": "Role.ObjectID", "oldValue": null, "newValue": quoted(&rng.guid())},
                    {"displayName": "Role.DisplayName", "oldValue": null, "newValue": quoted(role)},
                    {"displayName": "Role.TemplateId", "oldValue": null, "newValue": quoted(&rng.guid())}
                ]
            }])
        }
        "GroupManagement" if activity.contains("member") => {
            let group = *rng.pick(GROUPS);
            let group_id = rng.guid();
            json!([{
                "id": rng.guid(), "displayName": user, "type": "User", "userPrincipalName": upn,
                "groupType": null,
                "modifiedProperties": [
                    {"displayName": "Group.ObjectID", "oldValue": null, "newValue": quoted(&group_id)},
                    {"displayName": "Group.DisplayName", "oldValue": null, "newValue": quoted(group)}
                ]
            }, {
                "id": group_id, "displayName": group, "type": "Group", "userPrincipalName": null,
                "groupType": "unifiedGroups", "modifiedProperties": []
            }])
        }
        "GroupManagement" => {
            let group = *rng.pick(GROUPS);
            other(rng, "Group", group)
        }
        "ApplicationManagement" => other(rng, "ServicePrincipal", "Contoso Payroll"),
        "Policy" => other(rng, "Policy", "Require MFA for admins"),
        "KeyManagement" => other(rng, "Device", "LAPTOP-7F3K2"),
        "DirectoryManagement" => other(rng, "Domain", "contoso.com"),
        _ => json!([{
            "id": rng.guid(), "displayName": user, "type": "User", "userPrincipalName": upn,
            "groupType": null,
            "modifiedProperties": [{"displayName": "AccountEnabled", "oldValue": "[true]", "newValue": "[true]"}]
        }]),
    }
}

/// How a batch of records is spread in time.
#[derive(Debug, Clone, Copy)]
pub enum Spread {
    /// Evenly between the two instants.
    Between(DateTime<Utc>, DateTime<Utc>),
    /// All inside one whole second (Graph's sign-in precision in practice).
    SameSecond(DateTime<Utc>),
}

impl Spread {
    pub fn time_of(&self, i: u64, count: u64) -> DateTime<Utc> {
        match *self {
            Spread::Between(a, b) => {
                let span = (b - a).num_microseconds().unwrap_or(0).max(0);
                let step = if count > 1 {
                    span / (count as i64 - 1).max(1)
                } else {
                    0
                };
                a + Duration::microseconds(step * i as i64)
            }
            Spread::SameSecond(s) => crate::graph::whole_seconds(s),
        }
    }
}

const APPS: &[(&str, &str)] = &[
    (
        "Office 365 Exchange Online",
        "00000002-0000-0ff1-ce00-000000000000",
    ),
    ("Microsoft Teams", "1fec8e78-bce4-4aaf-ab1b-5451cc387264"),
    ("Azure Portal", "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"),
    ("Graph explorer", "de8bc8b5-d9f9-48b1-a8ad-b748da725064"),
];

/// (errorCode, failureReason) of failed sign-ins.
const FAILURES: &[(i64, &str)] = &[
    (50126, "Error validating credentials due to invalid username or password."),
    (50053, "Account is locked because user tried to sign in too many times with an incorrect user ID or password."),
    (50074, "Strong Authentication is required."),
    (53003, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."),
    (50057, "User account is disabled. The account has been disabled by an administrator."),
];

const RISK_LEVELS: &[&str] = &["low", "medium", "high"];

const RISK_EVENT_TYPES: &[&str] = &[
    "unfamiliarFeatures",
    "anonymizedIPAddress",
    "unlikelyTravel",
    "maliciousIPAddress",
    "leakedCredentials",
    "newCountry",
    "anomalousToken",
    "suspiciousBrowser",
];

/// One signIn record at `at` (whole seconds, as Graph sends them in practice), of the given
/// beta `signInEventTypes` value: 1 in 10 failed, 1 in 12 at risk.
pub fn sign_in(rng: &mut Rng, _n: u64, at: DateTime<Utc>, event_type: &str) -> Value {
    let (name, upn) = *rng.pick(PEOPLE);
    let (app, app_id) = *rng.pick(APPS);
    let failure = (rng.below(10) == 0).then(|| *rng.pick(FAILURES));
    let risk = if rng.below(12) == 0 {
        *rng.pick(RISK_LEVELS)
    } else {
        "none"
    };
    let interactive = event_type == "interactiveUser";
    let user = matches!(event_type, "interactiveUser" | "nonInteractiveUser");
    json!({
        "id": rng.guid(),
        "createdDateTime": crate::graph::graph_time(crate::graph::whole_seconds(at)),
        "userDisplayName": if user { Value::from(name) } else { Value::Null },
        "userPrincipalName": if user { Value::from(upn) } else { Value::Null },
        "userId": if user { Value::from(rng.guid()) } else { Value::Null },
        "appId": app_id,
        "appDisplayName": app,
        "ipAddress": format!("198.51.100.{}", rng.below(254) + 1),
        "clientAppUsed": if interactive { "Browser" } else { "Mobile Apps and Desktop clients" },
        "correlationId": rng.guid(),
        "conditionalAccessStatus": if failure.is_some_and(|f| f.0 == 53003) { "failure" } else { "notApplied" },
        "isInteractive": interactive,
        "riskDetail": "none",
        "riskLevelAggregated": risk,
        "riskLevelDuringSignIn": risk,
        "riskState": if risk == "none" { "none" } else { "atRisk" },
        "riskEventTypes": if risk == "none" { json!([]) } else { json!(["unfamiliarFeatures"]) },
        "riskEventTypes_v2": if risk == "none" { json!([]) } else { json!(["unfamiliarFeatures"]) },
        "resourceDisplayName": "Microsoft Graph",
        "resourceId": "00000003-0000-0000-c000-000000000000",
        "servicePrincipalId": if user { Value::Null } else { Value::from(rng.guid()) },
        "servicePrincipalName": if user { Value::Null } else { Value::from("contoso-automation") },
        "agent": crate::agents::sign_in_agent(rng, event_type),
        "status": {
            "errorCode": failure.map_or(0, |f| f.0),
            "failureReason": failure.map(|f| f.1),
            "additionalDetails": null
        },
        "deviceDetail": {
            "deviceId": "",
            "displayName": null,
            "operatingSystem": "Windows 10",
            "browser": "Edge 120.0.0",
            "isCompliant": null,
            "isManaged": null,
            "trustType": null
        },
        "location": {
            "city": "Redmond",
            "state": "Washington",
            "countryOrRegion": "US",
            "geoCoordinates": {"altitude": null, "latitude": 47.68, "longitude": -122.12}
        },
        "appliedConditionalAccessPolicies": [{
            "id": rng.guid(),
            "displayName": "Require MFA for admins",
            "enforcedGrantControls": ["Mfa"],
            "enforcedSessionControls": [],
            "result": "notApplied"
        }],
        // beta only (the v1.0 view drops them):
        "signInEventTypes": [event_type],
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0",
        "authenticationRequirement": if rng.below(3) == 0 { "multiFactorAuthentication" } else { "singleFactorAuthentication" },
        "authenticationProtocol": "none"
    })
}

/// The fields a signIn has only on beta.
pub const BETA_ONLY_SIGN_IN_FIELDS: &[&str] = &[
    "signInEventTypes",
    "userAgent",
    "authenticationRequirement",
    "authenticationProtocol",
    "servicePrincipalId",
    "servicePrincipalName",
    "agent",
];

/// Whether a sign-in is interactive (v1.0 and untyped beta queries return only those).
pub fn is_interactive(record: &Value) -> bool {
    match record.get("signInEventTypes").and_then(Value::as_array) {
        Some(types) => types.iter().any(|t| t == "interactiveUser"),
        None => record
            .get("isInteractive")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    }
}

/// A sign-in as Graph shows it: without the beta fields on v1.0, with the risk fields
/// `hidden` on a tenant without P2.
pub fn sign_in_view(record: &Value, beta: bool, p2: bool, unknown_members: bool) -> Value {
    let mut r = record.clone();
    if let Some(obj) = r.as_object_mut() {
        if !unknown_members {
            crate::agents::mask_evolvable(obj);
        }
        if !beta {
            for f in BETA_ONLY_SIGN_IN_FIELDS {
                obj.remove(*f);
            }
        }
        if !p2 {
            for f in [
                "riskLevelDuringSignIn",
                "riskLevelAggregated",
                "riskState",
                "riskDetail",
            ] {
                if obj.contains_key(f) {
                    obj.insert(f.to_string(), "hidden".into());
                }
            }
            for f in ["riskEventTypes", "riskEventTypes_v2"] {
                if obj.contains_key(f) {
                    obj.insert(f.to_string(), json!([]));
                }
            }
        }
    }
    r
}

/// One riskyUser, last updated at `at`.
pub fn risky_user(rng: &mut Rng, _n: u64, at: DateTime<Utc>) -> Value {
    let (name, upn) = *rng.pick(PEOPLE);
    json!({
        "id": rng.guid(),
        "riskLastUpdatedDateTime": graph_timestamp(at),
        "isProcessing": false,
        "isDeleted": false,
        "riskDetail": "none",
        "riskLevel": *rng.pick(RISK_LEVELS),
        "riskState": "atRisk",
        "userDisplayName": name,
        "userPrincipalName": upn
    })
}

/// One riskDetection, last updated at `at` (its activity somewhat earlier).
pub fn risk_detection(rng: &mut Rng, _n: u64, at: DateTime<Utc>) -> Value {
    let (name, upn) = *rng.pick(PEOPLE);
    let offline = rng.below(4) == 0;
    let activity = at - Duration::minutes(if offline { 600 } else { 5 });
    json!({
        "id": rng.guid(),
        "requestId": rng.guid(),
        "correlationId": rng.guid(),
        "riskEventType": *rng.pick(RISK_EVENT_TYPES),
        "riskState": "atRisk",
        "riskLevel": *rng.pick(RISK_LEVELS),
        "riskDetail": "none",
        "source": "IdentityProtection",
        "detectionTimingType": if offline { "offline" } else { "realtime" },
        "activity": "signin",
        "tokenIssuerType": "AzureAD",
        "ipAddress": format!("192.0.2.{}", rng.below(254) + 1),
        "location": {"city": "Amsterdam", "state": "Noord-Holland", "countryOrRegion": "NL", "geoCoordinates": null},
        "activityDateTime": graph_timestamp(activity),
        "detectedDateTime": graph_timestamp(activity + Duration::minutes(2)),
        "lastUpdatedDateTime": graph_timestamp(at),
        "userId": rng.guid(),
        "userDisplayName": name,
        "userPrincipalName": upn,
        "additionalInfo": "[{\"Key\":\"userAgent\",\"Value\":\"Mozilla/5.0\"}]"
    })
}

/// One riskyServicePrincipal, last updated at `at`.
pub fn risky_service_principal(rng: &mut Rng, n: u64, at: DateTime<Utc>) -> Value {
    json!({
        "id": rng.guid(),
        "isEnabled": true,
        "isProcessing": false,
        "riskLastUpdatedDateTime": graph_timestamp(at),
        "riskLevel": *rng.pick(RISK_LEVELS),
        "riskState": "atRisk",
        "riskDetail": "none",
        "displayName": format!("Contoso App {n}"),
        "appId": rng.guid(),
        "servicePrincipalType": "Application"
    })
}

/// One servicePrincipalRiskDetection, last updated at `at`.
pub fn service_principal_risk_detection(rng: &mut Rng, n: u64, at: DateTime<Utc>) -> Value {
    json!({
        "id": format!("{:052x}", u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())),
        "requestId": null,
        "correlationId": null,
        "riskEventType": "investigationsThreatIntelligence",
        "riskState": "atRisk",
        "riskLevel": *rng.pick(RISK_LEVELS),
        "riskDetail": "none",
        "source": "IdentityProtection",
        "detectionTimingType": "offline",
        "activity": "servicePrincipal",
        "tokenIssuerType": "AzureAD",
        "ipAddress": null,
        "location": null,
        "activityDateTime": graph_timestamp(at - Duration::hours(12)),
        "detectedDateTime": graph_timestamp(at - Duration::hours(12)),
        "lastUpdatedDateTime": graph_timestamp(at),
        "servicePrincipalId": rng.guid(),
        "servicePrincipalDisplayName": format!("Contoso App {n}"),
        "appId": rng.guid(),
        "keyIds": [rng.guid()],
        "additionalInfo": "[{\"Key\":\"alertUrl\",\"Value\":null}]"
    })
}

/// Merges `overlay` into `base` (objects key by key, anything else replaced).
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

use crate::{Resource, SimRecord, SimState};

impl SimState {
    /// Now on the simulated clock.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.clock_offset
    }

    pub(crate) fn generate(
        &mut self,
        resource: Resource,
        count: u64,
        spread: Spread,
        overlay: &Value,
        visible: bool,
    ) -> Vec<String> {
        let mut ids = Vec::with_capacity(count as usize);
        for i in 0..count {
            // Times are given on the real clock; records are stamped on the simulated one.
            let at = spread.time_of(i, count) + self.clock_offset;
            self.generated += 1;
            let n = self.generated;
            let rng = &mut self.rng;
            let mut record = match resource {
                Resource::DirectoryAudits => directory_audit(rng, n, at),
                Resource::SignIns => {
                    let event_type = overlay
                        .pointer("/signInEventTypes/0")
                        .and_then(Value::as_str)
                        .unwrap_or("interactiveUser");
                    sign_in(rng, n, at, event_type)
                }
                Resource::RiskyUsers => risky_user(rng, n, at),
                Resource::RiskDetections => risk_detection(rng, n, at),
                Resource::RiskyServicePrincipals => risky_service_principal(rng, n, at),
                Resource::ServicePrincipalRiskDetections => {
                    service_principal_risk_detection(rng, n, at)
                }
                Resource::Provisioning => {
                    crate::provisioning::provisioning(rng, n, at, &self.tenant_guid)
                }
                Resource::RiskyAgents => crate::agents::risky_agent(rng, n, at),
                Resource::AgentRiskDetections => crate::agents::agent_risk_detection(rng, n, at),
            };
            // By the tenant's own users and devices when it has a directory; the overlay wins.
            if let Some(subjects) = self.directory.subjects(resource, &record, n) {
                merge(&mut record, &subjects);
            }
            if !overlay.is_null() {
                merge(&mut record, overlay);
            }
            ids.push(crate::graph::record_id(&record));
            // A draw only when delays are on, so that the tenant's records stay the same.
            let delay = match self.appearance {
                crate::Appearance::Immediate => std::time::Duration::ZERO,
                a => {
                    let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    a.delay(resource, &record, u)
                }
            };
            let appears = at + chrono::Duration::from_std(delay).unwrap_or_default();
            self.insert_appearing(resource, record, visible, appears);
        }
        ids
    }

    pub(crate) fn insert(&mut self, resource: Resource, json: Value, visible: bool) {
        self.insert_appearing(resource, json, visible, DateTime::<chrono::Utc>::MIN_UTC);
    }

    /// [`Self::insert`], visible from `appears` on (when `visible`).
    pub(crate) fn insert_appearing(
        &mut self,
        resource: Resource,
        json: Value,
        visible: bool,
        appears: DateTime<chrono::Utc>,
    ) {
        let time = json
            .get(resource.time_field())
            .and_then(Value::as_str)
            .and_then(crate::graph::parse_time)
            .unwrap_or(DateTime::UNIX_EPOCH);
        let id = crate::graph::record_id(&json);
        let recs = self.records.entry(resource).or_default();
        let at = recs.partition_point(|r| (r.time, r.id.as_str()) <= (time, id.as_str()));
        recs.insert(
            at,
            SimRecord {
                time,
                id,
                json,
                visible,
                appears,
            },
        );
    }
}
