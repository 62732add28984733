//! ECS for the risky users and service principals: `event.category` `iam`, the entity in `user`
//! (or the service principal), its risk under `azure.identity_protection`.

use super::{copy, user, Head, Native, Obj, Related};
use crate::kind::StreamKind;

pub(super) fn risky_entity_head<'a>(n: &Native<'a>) -> Head<'a> {
    let sp = n.kind == StreamKind::RiskyServicePrincipals;
    let types = if sp { ["info", ""] } else { ["user", "info"] };
    let mut h = Head::new("iam", types, "Microsoft Entra ID Protection");
    let who = n
        .s("userPrincipalName")
        .or(n.s("displayName"))
        .unwrap_or("unknown principal");
    h.message = format!(
        "{} {who} is {} ({} risk)",
        if sp { "Service principal" } else { "User" },
        n.s("riskState").unwrap_or("unknown"),
        n.s("riskLevel").unwrap_or("unknown")
    );
    h
}

pub(super) fn risky_entity<'a>(n: &Native<'a>, doc: &mut Obj<'_>, related: &mut Related<'a>) {
    if n.kind == StreamKind::RiskyServicePrincipals {
        related.user.extend(n.s("displayName"));
    } else {
        let upn = n.s("userPrincipalName");
        doc.obj_if_any("user", |u| {
            user(u, n.s("id"), upn, n.s("userDisplayName"));
        });
        related.user.extend(upn);
    }
}

pub(super) fn risky_entity_vendor(n: &Native<'_>, v: &mut Obj<'_>) {
    copy(
        n,
        v,
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
    if n.kind == StreamKind::RiskyServicePrincipals {
        v.opt_str("service_principal_id", n.s("id"));
    }
}
