//! Deterministic synthetic records shaped like Microsoft's documented samples
//! (`../shared/graph/fixtures/`): same keys, same nesting, same quirks (nulls, `N/A` types).

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// A small deterministic generator (SplitMix64), so the same seed gives the same tenant.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn guid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

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

const PEOPLE: &[(&str, &str)] = &[
    ("Alex Wilber", "alexw@contoso.com"),
    ("Megan Bowen", "meganb@contoso.com"),
    ("Adele Vance", "adelev@contoso.com"),
    ("Diego Siciliani", "diegos@contoso.com"),
    ("Lee Gu", "leeg@contoso.com"),
];

/// A Graph timestamp with seven fractional digits, as the documented samples show.
pub fn graph_timestamp(t: DateTime<Utc>) -> String {
    crate::event::envelope_time(t)
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
        "targetResources": [{
            "id": rng.guid(),
            "displayName": target,
            "type": "User",
            "userPrincipalName": target_upn,
            "groupType": null,
            "modifiedProperties": [{
                "displayName": "AccountEnabled",
                "oldValue": "[true]",
                "newValue": "[true]"
            }]
        }],
        "additionalDetails": [{"key": "UserType", "value": "Member"}]
    })
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
            Spread::SameSecond(s) => crate::event::whole_seconds(s),
        }
    }
}
