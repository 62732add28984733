//! Which directory objects a record is about, per stream: the one place that knows where a
//! sign-in keeps its user and device, an audit its actor and target, a risk record its user or
//! service principal. The directory cache ([`crate::context`]) only looks them up.

use crate::kind::StreamKind;
use crate::record::Record;

/// A service principal as a record names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServicePrincipalRef {
    /// Its object id.
    Id(String),
    /// Its application (client) id, when the record carries no object id.
    App(String),
}

/// The subjects of one record (ids as Graph writes them).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Subjects {
    pub user: Option<String>,
    pub device: Option<String>,
    pub service_principal: Option<ServicePrincipalRef>,
    /// An audit's first `User` target.
    pub target_user: Option<String>,
}

/// What `r`, a record of `kind`, is about.
pub fn subjects(kind: StreamKind, r: &Record<'_>) -> Subjects {
    let id = |path: &str| {
        r.str(path)
            .filter(|v| !v.is_empty())
            .map(|v| v.into_owned())
    };
    match kind {
        StreamKind::SignIns => {
            let user = id("userId");
            // A service principal's or managed identity's own sign-in.
            let service_principal = match user {
                Some(_) => None,
                None => id("servicePrincipalId")
                    .map(ServicePrincipalRef::Id)
                    .or_else(|| id("appId").map(ServicePrincipalRef::App)),
            };
            Subjects {
                user,
                device: id("deviceDetail/deviceId"),
                service_principal,
                target_user: None,
            }
        }
        StreamKind::DirectoryAudits => Subjects {
            user: id("initiatedBy/user/id"),
            device: None,
            service_principal: id("initiatedBy/app/servicePrincipalId")
                .map(ServicePrincipalRef::Id),
            target_user: r.get("targetResources").and_then(|t| {
                crate::record::elements(t).into_iter().find_map(|t| {
                    let t = Record::nested(t);
                    let user = t
                        .str("type")
                        .is_some_and(|ty| ty.eq_ignore_ascii_case("user"));
                    user.then(|| t.str("id").map(|v| v.into_owned())).flatten()
                })
            }),
        },
        StreamKind::RiskyUsers => Subjects {
            user: id("id"),
            ..Subjects::default()
        },
        StreamKind::RiskDetections => Subjects {
            user: id("userId"),
            ..Subjects::default()
        },
        StreamKind::RiskyServicePrincipals | StreamKind::ServicePrincipalRiskDetections => {
            Subjects {
                service_principal: id("servicePrincipalId")
                    .or_else(|| id("id"))
                    .map(ServicePrincipalRef::Id),
                ..Subjects::default()
            }
        }
        // Provisioning is about identities in other systems; agents are not in the directory
        // cache; the inventory streams are the directory itself.
        StreamKind::Provisioning
        | StreamKind::RiskyAgents
        | StreamKind::AgentRiskDetections
        | StreamKind::Users
        | StreamKind::Devices
        | StreamKind::RoleAssignments => Subjects::default(),
        // A Graph request's caller: the user, else the calling service principal.
        StreamKind::Exported(crate::kind::Exported::GraphActivity) => {
            let user = id("userId");
            Subjects {
                service_principal: match user {
                    Some(_) => None,
                    None => id("servicePrincipalId").map(ServicePrincipalRef::Id),
                },
                user,
                device: id("deviceId"),
                target_user: None,
            }
        }
        StreamKind::Exported(_) => Subjects {
            user: id("userId"),
            ..Subjects::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(kind: StreamKind, json: &str) -> Subjects {
        subjects(kind, &Record::new(json))
    }

    #[test]
    fn each_stream_names_its_subjects() {
        let s = of(
            StreamKind::SignIns,
            r#"{"userId":"u1","deviceDetail":{"deviceId":"d1"},"appId":"a1"}"#,
        );
        assert_eq!(
            (s.user.as_deref(), s.device.as_deref(), s.service_principal),
            (Some("u1"), Some("d1"), None)
        );
        // A service principal's own sign-in: its object id, else its app id.
        let s = of(StreamKind::SignIns, r#"{"userId":"","appId":"a1"}"#);
        assert_eq!(s.user, None);
        assert_eq!(
            s.service_principal,
            Some(ServicePrincipalRef::App("a1".into()))
        );
        let s = of(
            StreamKind::DirectoryAudits,
            r#"{"initiatedBy":{"app":{"servicePrincipalId":"sp"}},"targetResources":[{"type":"Group","id":"g"},{"type":"User","id":"t"}]}"#,
        );
        assert_eq!(
            s.service_principal,
            Some(ServicePrincipalRef::Id("sp".into()))
        );
        assert_eq!(s.target_user.as_deref(), Some("t"));
        assert_eq!(
            of(StreamKind::RiskyUsers, r#"{"id":"u"}"#).user.as_deref(),
            Some("u")
        );
        assert_eq!(
            of(StreamKind::RiskyServicePrincipals, r#"{"id":"sp"}"#).service_principal,
            Some(ServicePrincipalRef::Id("sp".into()))
        );
        assert_eq!(
            of(StreamKind::Provisioning, r#"{"id":"p"}"#),
            Subjects::default()
        );
    }
}
