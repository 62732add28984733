//! OCSF for `provisioning` records: a user provisioned is an Account Change (3001), a group a
//! Group Management (3006), anything else an Entity Management (3004), the activity from
//! `provisioningAction`; the provisioning app as the actor, the duration in `duration`.

use std::borrow::Cow;

use super::{activity, Activity, Class, ACCOUNT_CHANGE, ENTITY_MANAGEMENT, GROUP_MANAGEMENT};
use crate::format::json::Obj;
use crate::format::{provisioned_identity, Native};

pub(super) fn classify<'a>(n: &Native<'a>) -> (Class, Activity<'a>) {
    let action = n.summary("action");
    let other = || Activity {
        id: 99,
        name: Cow::Borrowed(action),
    };
    let ty = n
        .s(&format!("{}/identityType", provisioned_identity(n)))
        .unwrap_or("")
        .to_ascii_lowercase();
    match ty.as_str() {
        "user" => {
            let act = match action {
                "create" => activity(1, "Create"),
                "disable" => activity(5, "Disable"),
                "delete" | "stagedDelete" => activity(6, "Delete"),
                _ => other(),
            };
            (ACCOUNT_CHANGE, act)
        }
        "group" => {
            let act = match action {
                "create" => activity(6, "Create"),
                "delete" | "stagedDelete" => activity(5, "Delete"),
                _ => other(),
            };
            (GROUP_MANAGEMENT, act)
        }
        _ => {
            let act = match action {
                "create" => activity(1, "Create"),
                "update" => activity(3, "Update"),
                "delete" | "stagedDelete" => activity(4, "Delete"),
                _ => other(),
            };
            (ENTITY_MANAGEMENT, act)
        }
    }
}

pub(super) fn fields(n: &Native<'_>, m: &mut Obj<'_>, class: &Class) {
    let path = provisioned_identity(n);
    let s = |k: &str| n.s(&format!("{path}/{k}"));
    let ty = s("identityType").unwrap_or("Other");
    let action = n.summary("action");
    let name = s("displayName").or(s("id")).unwrap_or("an object");
    let from = n.s("sourceSystem/displayName").unwrap_or("a source system");
    let to = n.s("targetSystem/displayName").unwrap_or("a target system");
    m.opt_str(
        "status_code",
        n.s("provisioningStatusInfo/errorInformation/errorCode"),
    )
    .opt_str(
        "status_detail",
        n.s("provisioningStatusInfo/errorInformation/reason"),
    )
    .str(
        "message",
        &format!("Provisioning {action} of {ty} '{name}' from {from} to {to}"),
    );
    if let Some(ms) = n
        .raw("durationInMilliseconds")
        .and_then(|d| d.parse::<i64>().ok())
    {
        m.int("duration", ms);
    }
    if class.uid == ACCOUNT_CHANGE.uid {
        m.obj("user", |u| {
            u.opt_str("uid", s("id"))
                .opt_str("name", s("displayName"))
                .int("type_id", 1)
                .str("type", "User");
        });
    } else if class.uid == GROUP_MANAGEMENT.uid {
        m.obj("group", |g| {
            g.opt_str("uid", s("id")).opt_str("name", s("displayName"));
        });
    } else {
        m.obj("entity", |e| {
            e.opt_str("uid", s("id"))
                .str("name", name)
                .int("type_id", 99)
                .str("type", ty);
        });
    }
    m.obj_if_any("actor", |a| {
        a.opt_str("app_name", n.s("servicePrincipal/displayName"))
            .opt_str("app_uid", n.s("servicePrincipal/id"));
    });
}
