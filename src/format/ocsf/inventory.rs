//! OCSF for the directory inventory: a user is User Inventory Info (5003), a device Device
//! Inventory Info (5001), both Collect (Other `Deleted` for a deleted object); a role
//! membership change is User Access Management (3005): Assign / Revoke Privileges (Other
//! `Present` for the baseline), `privileges` = the role.

use std::borrow::Cow;

use super::{activity, ms, user, Activity, Class, USER_ACCESS};
use crate::format::json::Obj;
use crate::format::Native;
use crate::kind::StreamKind;

const USER_INVENTORY: Class = Class {
    uid: 5003,
    name: "User Inventory Info",
    category_uid: 5,
    category_name: "Discovery",
};
const DEVICE_INVENTORY: Class = Class {
    uid: 5001,
    name: "Device Inventory Info",
    category_uid: 5,
    category_name: "Discovery",
};

pub(super) fn classify<'a>(n: &Native<'a>) -> (Class, Activity<'a>) {
    let action = n.summary("action");
    let other = |name: &'static str| Activity {
        id: 99,
        name: Cow::Borrowed(name),
    };
    match n.kind {
        StreamKind::RoleAssignments => {
            let act = match action {
                "added" => activity(1, "Assign Privileges"),
                "removed" => activity(2, "Revoke Privileges"),
                _ => other("Present"),
            };
            (USER_ACCESS, act)
        }
        kind => {
            let class = if kind == StreamKind::Users {
                USER_INVENTORY
            } else {
                DEVICE_INVENTORY
            };
            let act = if action == "deleted" {
                other("Deleted")
            } else {
                activity(2, "Collect")
            };
            (class, act)
        }
    }
}

pub(super) fn fields(n: &Native<'_>, m: &mut Obj<'_>) {
    let action = n.summary("action");
    match n.kind {
        StreamKind::Users => {
            let who = n.s("userPrincipalName").or(n.s("id")).unwrap_or("a user");
            m.obj("user", |u| {
                user(u, n.s("id"), n.s("userPrincipalName"), n.s("displayName"));
            })
            .str("message", &format!("User {who}: {action}"));
        }
        StreamKind::Devices => {
            let os = n.s("operatingSystem");
            let (os_id, os_type) = match os.map(str::to_ascii_lowercase).as_deref() {
                Some(o) if o.starts_with("windows") => (100, "Windows"),
                Some("macmdm" | "macos" | "mac os x") => (300, "macOS"),
                Some("ios") => (301, "iOS"),
                Some("ipados") => (302, "iPadOS"),
                Some("android" | "androidenterprise" | "androidforwork") => (201, "Android"),
                Some("linux") => (200, "Linux"),
                _ => (99, "Other"),
            };
            let name = n.s("displayName").or(n.s("id")).unwrap_or("a device");
            m.obj("device", |d| {
                // OCSF 1.5 defines no device types beyond Unknown and Other: Graph's device
                // records say nothing of the form factor either.
                d.int("type_id", 0)
                    .str("type", "Unknown")
                    .opt_str("uid", n.s("deviceId"))
                    .opt_str("uid_alt", n.s("id"))
                    .opt_str("name", n.s("displayName"))
                    .opt_str("hostname", n.s("displayName"))
                    .opt_int("created_time", ms(n, "registrationDateTime"))
                    .opt_int("last_seen_time", ms(n, "approximateLastSignInDateTime"));
                for (k, path) in [("is_compliant", "isCompliant"), ("is_managed", "isManaged")] {
                    if let Some(b) = n.raw(path).and_then(|r| r.parse::<bool>().ok()) {
                        d.bool(k, b);
                    }
                }
                if let Some(os) = os {
                    d.obj("os", |o| {
                        o.str("name", os)
                            .int("type_id", os_id)
                            .str("type", os_type)
                            .opt_str("version", n.s("operatingSystemVersion"));
                    });
                }
            })
            .str("message", &format!("Device {name}: {action}"));
        }
        _ => {
            let role = n.s("roleDisplayName").unwrap_or("a directory role");
            let member = n.s("memberId").unwrap_or("a principal");
            m.obj("user", |u| {
                u.opt_str("uid", n.s("memberId"))
                    .int("type_id", 1)
                    .str("type", "User");
            })
            .strs("privileges", &[role])
            .str("message", &format!("{member} {action}: {role}"));
        }
    }
}
