//! ECS for the directory inventory: users and devices as `event.kind` `asset` (ECS's kind for
//! "user identities or accounts ingested from directory services" and host inventories), in
//! `user.*` and `host.*`; a role membership change as an `iam` `admin` event with the member in
//! `user.target` and the role in `user.target.roles`. Everything else under `azure.inventory`.

use super::{copy, user, Head, Related};
use crate::format::json::Obj;
use crate::format::Native;
use crate::kind::StreamKind;

fn verb(action: &str) -> &'static str {
    match action {
        "created" | "added" => "creation",
        "changed" => "change",
        "deleted" | "removed" => "deletion",
        _ => "info",
    }
}

pub(super) fn head<'a>(n: &Native<'a>) -> Head<'a> {
    let action = n.summary("action");
    let mut h = match n.kind {
        StreamKind::Users => {
            let mut h = Head::new(
                "iam",
                ["user", verb(action)],
                "Microsoft Entra ID directory",
            );
            let who = n.s("userPrincipalName").or(n.s("id")).unwrap_or("a user");
            h.message = format!("User {who}: {action}");
            h
        }
        StreamKind::Devices => {
            let ty = match action {
                "deleted" => "end",
                "changed" => "change",
                _ => "info",
            };
            let mut h = Head::new("host", [ty, ""], "Microsoft Entra ID directory");
            let name = n.s("displayName").or(n.s("id")).unwrap_or("a device");
            h.message = format!("Device {name}: {action}");
            h
        }
        _ => {
            let mut h = Head::new(
                "iam",
                ["admin", verb(action)],
                "Microsoft Entra ID directory",
            );
            let member = n.s("memberId").unwrap_or("a principal");
            let role = n.s("roleDisplayName").unwrap_or("a directory role");
            h.message = match action {
                "added" => format!("{member} was added to {role}"),
                "removed" => format!("{member} was removed from {role}"),
                _ => format!("{member} holds {role}"),
            };
            h
        }
    };
    if n.kind != StreamKind::RoleAssignments {
        h.kind = Some("asset");
    }
    h
}

pub(super) fn fields<'a>(n: &Native<'a>, doc: &mut Obj<'_>, related: &mut Related<'a>) {
    match n.kind {
        StreamKind::Users => {
            let upn = n.s("userPrincipalName");
            doc.obj_if_any("user", |u| {
                user(u, n.s("id"), upn, n.s("displayName"));
                u.opt_str("email", n.s("mail"));
            });
            related.user.extend(upn);
        }
        StreamKind::Devices => {
            let os = n.s("operatingSystem");
            let family = os.and_then(|o| match o.to_ascii_lowercase().as_str() {
                o if o.starts_with("windows") => Some("windows"),
                "macmdm" | "macos" | "mac os x" => Some("macos"),
                "ios" | "ipados" => Some("ios"),
                "android" | "androidenterprise" | "androidforwork" => Some("android"),
                "linux" => Some("linux"),
                _ => None,
            });
            doc.obj_if_any("host", |h| {
                h.opt_str("id", n.s("deviceId").or(n.s("id")))
                    .opt_str("name", n.s("displayName"))
                    .obj_if_any("os", |o| {
                        o.opt_str("name", os)
                            .opt_str("version", n.s("operatingSystemVersion"))
                            .opt_str("type", family);
                    });
            });
        }
        _ => {
            let role = n.s("roleDisplayName");
            doc.obj_if_any("user", |u| {
                u.obj_if_any("target", |t| {
                    t.opt_str("id", n.s("memberId"));
                    if let Some(role) = role {
                        t.strs("roles", &[role]);
                    }
                });
            });
            related.user.extend(n.s("memberId"));
        }
    }
}

pub(super) fn vendor(n: &Native<'_>, v: &mut Obj<'_>) {
    copy(
        n,
        v,
        &[
            ("id", "id"),
            ("display_name", "displayName"),
            ("department", "department"),
            ("job_title", "jobTitle"),
            ("account_enabled", "accountEnabled"),
            ("user_type", "userType"),
            ("on_premises_sync_enabled", "onPremisesSyncEnabled"),
            ("created_date_time", "createdDateTime"),
            ("device_id", "deviceId"),
            ("is_compliant", "isCompliant"),
            ("is_managed", "isManaged"),
            ("trust_type", "trustType"),
            (
                "approximate_last_sign_in_date_time",
                "approximateLastSignInDateTime",
            ),
            ("registration_date_time", "registrationDateTime"),
            ("role_id", "roleId"),
            ("role_display_name", "roleDisplayName"),
            ("role_template_id", "roleTemplateId"),
            ("member_id", "memberId"),
            ("member_type", "memberType"),
            ("change", "change"),
            ("removed", "@removed"),
        ],
    );
}
