//! The directory inventory, read by delta query (docs-contrib `concepts/delta-query-overview.md`):
//! `users` (`/users/delta`), `devices` (`/devices/delta`) and `role_assignments`
//! (`/directoryRoles/delta` with `members`). Each object a round returns is one `state` event:
//! `present` in a baseline round (the first sync, or a resync after Graph dropped the delta
//! state), else `created` (its creation time is after the previous round began), `changed`, or
//! `deleted` (`@removed`). A role's `members@delta` becomes one event per member: `added`,
//! `removed` or `present`, so "a user became Global Administrator" is one event.
//!
//! `event.id` is the object's id and a hash of what Graph sent, so a round read again after a
//! crash (the delta link is saved when a round ends) repeats the same ids and dedups downstream.

use std::borrow::Cow;

use super::{NormalizeContext, StreamKind, StreamSpec};
use crate::event::{EventKind, NativeEvent, Outcome, Severity, Summary};
use crate::record::Record;

/// The properties asked of each collection (`$select`).
pub fn select(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Users => "id,displayName,userPrincipalName,mail,department,jobTitle,accountEnabled,userType,onPremisesSyncEnabled,createdDateTime",
        StreamKind::Devices => "id,deviceId,displayName,operatingSystem,operatingSystemVersion,isCompliant,isManaged,trustType,accountEnabled,approximateLastSignInDateTime,registrationDateTime",
        _ => "id,displayName,description,roleTemplateId,members",
    }
}

/// Roles whose new member is a high-severity event (tenant takeover roles).
const PRIVILEGED: &[&str] = &[
    "62e90394-69f5-4237-9190-012177145e10", // Global Administrator
    "e8611ab8-c189-46e8-94e1-60213ab1f814", // Privileged Role Administrator
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13", // Privileged Authentication Administrator
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", // Application Administrator
    "158c047a-c907-4556-b7ef-446551a6b5f7", // Cloud Application Administrator
];

pub struct Inventory {
    pub kind: StreamKind,
}

impl StreamSpec for Inventory {
    fn kind(&self) -> StreamKind {
        self.kind
    }
    fn path(&self) -> &'static str {
        match self.kind {
            StreamKind::Users => "/users/delta",
            StreamKind::Devices => "/devices/delta",
            _ => "/directoryRoles/delta",
        }
    }
    /// Not a time cursor: rounds follow Graph's delta links.
    fn time_field(&self) -> &'static str {
        ""
    }
    /// Graph's largest delta page (`Prefer: odata.maxpagesize=999`).
    fn max_top(&self) -> u32 {
        999
    }
    fn event_id(&self, record: &Record<'_>) -> String {
        let id = match self.kind {
            StreamKind::RoleAssignments => format!(
                "{}:{}",
                record.str("roleId").unwrap_or_default(),
                record.str("memberId").unwrap_or_default()
            ),
            _ => record.str("id").map(Cow::into_owned).unwrap_or_default(),
        };
        format!("{id}@{:016x}", fnv(record.raw().as_bytes()))
    }
    fn delta_records(&self, object: &Record<'_>, baseline: bool) -> Option<Vec<String>> {
        (self.kind == StreamKind::RoleAssignments).then(|| memberships(object, baseline))
    }

    fn event<'a>(&self, record: Record<'a>, ctx: &'a NormalizeContext) -> NativeEvent<'a> {
        normalize(self, record, ctx)
    }
}

/// FNV-1a: a stable hash of a record's text (the `@` part of `event.id`).
/// A directory role's `members@delta` as one record per member: the role, the member and the
/// change (`added`, `removed`, or `present` in a baseline round).
fn memberships(role: &Record<'_>, baseline: bool) -> Vec<String> {
    let s = |k: &str| role.str(k).map(|v| v.into_owned());
    role_members(role)
        .into_iter()
        .map(|m| {
            serde_json::json!({
                "roleId": s("id"),
                "roleDisplayName": s("displayName"),
                "roleTemplateId": s("roleTemplateId"),
                "memberId": m.id,
                "memberType": m.member_type,
                "change": if m.removed { "removed" } else if baseline { "present" } else { "added" },
            })
            .to_string()
        })
        .collect()
}

/// One member of a directory role's `members@delta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMember {
    pub id: Option<String>,
    /// `user`, `servicePrincipal`, `group` (without `#microsoft.graph.`).
    pub member_type: Option<String>,
    /// `@removed`: it left the role.
    pub removed: bool,
}

/// The members a directory role's delta record lists (the role stream's events, and the
/// directory context's admin roles).
pub fn role_members(role: &Record<'_>) -> Vec<RoleMember> {
    let Some(members) = role.get("members@delta") else {
        return Vec::new();
    };
    crate::record::elements(members)
        .into_iter()
        .map(|m| {
            let m = Record::nested(m);
            RoleMember {
                id: m.str("id").map(|v| v.into_owned()),
                member_type: m
                    .str("@odata.type")
                    .map(|t| t.trim_start_matches("#microsoft.graph.").to_string()),
                removed: m.get("@removed").is_some(),
            }
        })
        .collect()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn normalize<'a>(
    spec: &Inventory,
    record: Record<'a>,
    ctx: &'a NormalizeContext,
) -> NativeEvent<'a> {
    let roles = spec.kind == StreamKind::RoleAssignments;
    let removed = record.get("@removed").is_some();
    let created_field = if spec.kind == StreamKind::Devices {
        "registrationDateTime"
    } else {
        "createdDateTime"
    };
    let created = record
        .str(created_field)
        .and_then(|t| crate::event::parse_time(&t));
    let action = if roles {
        record
            .str("change")
            .map_or_else(|| "present".to_string(), Cow::into_owned)
    } else if removed {
        "deleted".into()
    } else {
        match (ctx.since, created) {
            (None, _) => "present".into(),
            (Some(since), Some(c)) if c >= since => "created".into(),
            _ => "changed".into(),
        }
    };
    let privileged = record
        .str("roleTemplateId")
        .is_some_and(|t| PRIVILEGED.contains(&t.as_ref()));
    let severity = match (roles, action.as_str()) {
        (true, "added") if privileged => Severity::High,
        (true, "added") => Severity::Medium,
        (true, "removed") | (false, "deleted") => Severity::Low,
        _ => Severity::Info,
    };
    let identity = match spec.kind {
        StreamKind::Users => record
            .str("userPrincipalName")
            .or_else(|| record.str("displayName")),
        StreamKind::Devices => record.str("displayName"),
        _ => record.str("memberId"),
    };
    let (category, operation) = match spec.kind {
        StreamKind::Users => ("UserInventory", "User inventory"),
        StreamKind::Devices => ("DeviceInventory", "Device inventory"),
        _ => ("RoleAssignments", "Directory role membership"),
    };
    let summary = Summary {
        id: spec.event_id(&record),
        stream: spec.kind,
        kind: EventKind::State,
        action,
        outcome: Outcome::Unknown,
        severity,
    };
    let mut e = NativeEvent::new(summary, record, ctx, ctx.ingested, category, operation);
    e.stateless_envelope(identity);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::with;
    use serde_json::json;

    #[test]
    fn an_object_is_present_created_changed_or_deleted() {
        let users = Inventory {
            kind: StreamKind::Users,
        };
        let u = json!({"id": "u1", "userPrincipalName": "a@contoso.com", "createdDateTime": "2026-01-02T00:00:00Z"});
        let at = |since: Option<&str>, v: &serde_json::Value| {
            let mut ctx = NormalizeContext::new("t", chrono::Utc::now());
            ctx.since = since.map(|s| s.parse().unwrap());
            users.normalize(v.clone(), &ctx)["event"]["action"].clone()
        };
        assert_eq!(at(None, &u), "present");
        assert_eq!(at(Some("2026-01-01T00:00:00Z"), &u), "created");
        assert_eq!(at(Some("2026-02-01T00:00:00Z"), &u), "changed");
        assert_eq!(
            at(
                Some("2026-02-01T00:00:00Z"),
                &json!({"id": "u1", "@removed": {"reason": "changed"}})
            ),
            "deleted"
        );
        // The same content, the same id; another content, another id.
        let a = with(&u, |r| users.event_id(r));
        let mut v = u.clone();
        v["department"] = "Finance".into();
        assert!(a.starts_with("u1@"));
        assert_ne!(a, with(&v, |r| users.event_id(r)));
        assert_eq!(a, with(&u, |r| users.event_id(r)));
    }

    #[test]
    fn a_new_global_administrator_is_high() {
        let roles = Inventory {
            kind: StreamKind::RoleAssignments,
        };
        let ctx = NormalizeContext::new("t", chrono::Utc::now());
        let e = roles.normalize(
            json!({"roleId": "r", "roleDisplayName": "Global Administrator", "roleTemplateId": PRIVILEGED[0], "memberId": "u", "memberType": "user", "change": "added"}),
            &ctx,
        );
        assert_eq!(e["event"]["severity"], "high");
        assert_eq!(e["event"]["action"], "added");
        assert!(e["event"]["id"].as_str().unwrap().starts_with("r:u@"));
    }
}
