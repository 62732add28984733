//! The Graph resources the simulator serves, with what Graph documents about each: path, time
//! field, page sizes, filterable properties and operators, throttling family, licence and
//! permission (Microsoft Graph's API reference for each resource).

use super::filter::Op;

/// A Graph resource the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    DirectoryAudits,
    SignIns,
    RiskyUsers,
    RiskDetections,
    RiskyServicePrincipals,
    ServicePrincipalRiskDetections,
    /// `/auditLogs/provisioning` (provisioningObjectSummary): the provisioning service's log.
    Provisioning,
    /// Beta only: `/identityProtection/riskyAgents` (state records of agent identities).
    RiskyAgents,
    /// Beta only: `/identityProtection/agentRiskDetections`.
    AgentRiskDetections,
}

/// A tenant licence that gates a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Licence {
    /// Microsoft Entra ID P1 (sign-in logs, risk detections with `generic` for premium types).
    P1,
    /// Microsoft Entra ID P2 (risky users, sign-in risk fields).
    P2,
    /// Microsoft Entra Workload ID Premium (risky service principals and their detections).
    WorkloadIdentitiesPremium,
}

const EQ: &[Op] = &[Op::Eq];
const EQ_SW: &[Op] = &[Op::Eq, Op::StartsWith];
const TIME: &[Op] = &[Op::Eq, Op::Ge, Op::Le];
/// Undocumented time filters on identity protection: accepted (third-party code uses `gt`).
const ANY_TIME: &[Op] = &[Op::Eq, Op::Ge, Op::Le, Op::Gt, Op::Lt];
/// The provisioning list documents `eq`, `contains`, `gt` and `lt`: no `ge`/`le` on its time.
const STRICT_TIME: &[Op] = &[Op::Eq, Op::Gt, Op::Lt];

impl Resource {
    pub fn all() -> &'static [Resource] {
        &[
            Resource::DirectoryAudits,
            Resource::SignIns,
            Resource::RiskyUsers,
            Resource::RiskDetections,
            Resource::RiskyServicePrincipals,
            Resource::ServicePrincipalRiskDetections,
            Resource::Provisioning,
            Resource::RiskyAgents,
            Resource::AgentRiskDetections,
        ]
    }

    pub fn path(self) -> &'static str {
        match self {
            Resource::DirectoryAudits => "/auditLogs/directoryAudits",
            Resource::SignIns => "/auditLogs/signIns",
            Resource::RiskyUsers => "/identityProtection/riskyUsers",
            Resource::RiskDetections => "/identityProtection/riskDetections",
            Resource::RiskyServicePrincipals => "/identityProtection/riskyServicePrincipals",
            Resource::ServicePrincipalRiskDetections => {
                "/identityProtection/servicePrincipalRiskDetections"
            }
            Resource::Provisioning => "/auditLogs/provisioning",
            Resource::RiskyAgents => "/identityProtection/riskyAgents",
            Resource::AgentRiskDetections => "/identityProtection/agentRiskDetections",
        }
    }

    /// The `[streams.NAME]` name of the stream that reads it.
    pub fn name(self) -> &'static str {
        match self {
            Resource::DirectoryAudits => "directory_audits",
            Resource::SignIns => "sign_ins",
            Resource::RiskyUsers => "risky_users",
            Resource::RiskDetections => "risk_detections",
            Resource::RiskyServicePrincipals => "risky_service_principals",
            Resource::ServicePrincipalRiskDetections => "service_principal_risk_detections",
            Resource::Provisioning => "provisioning",
            Resource::RiskyAgents => "risky_agents",
            Resource::AgentRiskDetections => "agent_risk_detections",
        }
    }

    pub(super) fn from_name(s: &str) -> Option<Resource> {
        Resource::all().iter().copied().find(|r| r.name() == s)
    }

    pub fn time_field(self) -> &'static str {
        match self {
            Resource::DirectoryAudits | Resource::Provisioning => "activityDateTime",
            Resource::SignIns => "createdDateTime",
            Resource::RiskyUsers | Resource::RiskyServicePrincipals => "riskLastUpdatedDateTime",
            Resource::RiskyAgents => "riskLastModifiedDateTime",
            Resource::AgentRiskDetections => "lastModifiedDateTime",
            Resource::RiskDetections | Resource::ServicePrincipalRiskDetections => {
                "lastUpdatedDateTime"
            }
        }
    }

    /// `$top` above this gets Graph's 400.
    pub fn max_top(self) -> usize {
        match self {
            // Provisioning: not documented; the reports' 1000 [unverified].
            Resource::DirectoryAudits | Resource::SignIns | Resource::Provisioning => 1000,
            _ => 500,
        }
    }

    /// The page size without `$top`.
    pub fn default_top(self) -> usize {
        match self {
            Resource::DirectoryAudits | Resource::Provisioning => 100,
            Resource::SignIns => 1000,
            _ => 20,
        }
    }

    pub fn is_identity_protection(self) -> bool {
        self.path().starts_with("/identityProtection/")
    }

    /// `$orderby` on the time field is documented for the log resources only.
    pub(super) fn allows_orderby(self) -> bool {
        !self.is_identity_protection()
    }

    /// Only under `/beta` (Microsoft Entra Agent ID): `/v1.0` answers 400.
    pub fn beta_only(self) -> bool {
        matches!(self, Resource::RiskyAgents | Resource::AgentRiskDetections)
    }

    /// Whether string comparisons in `$filter` are case sensitive: "The filters are all case
    /// sensitive" on the provisioning list (docs-contrib `provisioningobjectsummary-list.md`);
    /// the other resources compare strings case-insensitively.
    pub(super) fn case_sensitive_filters(self) -> bool {
        self == Resource::Provisioning
    }

    /// Whether `or`/`not` are accepted (documented for identity protection only).
    pub(super) fn allows_or(self) -> bool {
        self.is_identity_protection()
    }

    pub fn licence(self) -> Option<Licence> {
        match self {
            Resource::DirectoryAudits => None,
            Resource::SignIns | Resource::RiskDetections | Resource::Provisioning => {
                Some(Licence::P1)
            }
            Resource::RiskyUsers | Resource::RiskyAgents | Resource::AgentRiskDetections => {
                Some(Licence::P2)
            }
            Resource::RiskyServicePrincipals | Resource::ServicePrincipalRiskDetections => {
                Some(Licence::WorkloadIdentitiesPremium)
            }
        }
    }

    /// The application permission (token role) that reads it.
    pub fn role(self) -> &'static str {
        match self {
            Resource::DirectoryAudits | Resource::SignIns | Resource::Provisioning => {
                "AuditLog.Read.All"
            }
            Resource::RiskyUsers => "IdentityRiskyUser.Read.All",
            Resource::RiskDetections
            | Resource::ServicePrincipalRiskDetections
            | Resource::AgentRiskDetections => "IdentityRiskEvent.Read.All",
            Resource::RiskyServicePrincipals => "IdentityRiskyServicePrincipal.Read.All",
            Resource::RiskyAgents => "IdentityRiskyAgent.Read.All",
        }
    }

    /// The (property, operators) `$filter` accepts, per the resource's documentation.
    pub(super) fn filterable(self) -> &'static [(&'static str, &'static [Op])] {
        match self {
            Resource::DirectoryAudits => &[
                ("activityDateTime", TIME),
                ("activityDisplayName", EQ_SW),
                ("category", EQ),
                ("correlationId", EQ),
                ("id", EQ),
                ("loggedByService", EQ),
                ("initiatedBy/user/id", EQ),
                ("initiatedBy/user/displayName", EQ),
                ("initiatedBy/user/userPrincipalName", EQ_SW),
                ("initiatedBy/app/appId", EQ),
                ("initiatedBy/app/displayName", EQ),
                ("targetResources/any", EQ_SW),
            ],
            Resource::SignIns => &[
                ("createdDateTime", TIME),
                ("appDisplayName", EQ_SW),
                ("ipAddress", EQ_SW),
                ("userDisplayName", EQ_SW),
                ("userPrincipalName", EQ_SW),
                ("riskEventTypes_v2", EQ_SW),
                ("appId", EQ),
                ("correlationId", EQ),
                ("id", EQ),
                ("resourceId", EQ),
                ("resourceDisplayName", EQ),
                ("userId", EQ),
                ("clientAppUsed", EQ),
                ("conditionalAccessStatus", EQ),
                ("riskLevelDuringSignIn", EQ),
                ("riskLevelAggregated", EQ),
                ("riskState", EQ),
                ("riskDetail", EQ),
                ("riskEventTypes", EQ),
                ("status/errorCode", EQ),
                ("deviceDetail/browser", EQ_SW),
                ("deviceDetail/operatingSystem", EQ_SW),
                ("location/city", EQ_SW),
                ("location/state", EQ_SW),
                ("location/countryOrRegion", EQ_SW),
                ("signInEventTypes/any", EQ),
            ],
            Resource::RiskyUsers => &[
                ("riskLastUpdatedDateTime", ANY_TIME),
                ("riskLevel", EQ),
                ("riskState", EQ),
                ("riskDetail", EQ),
                ("id", EQ),
                ("isDeleted", EQ),
                ("userDisplayName", EQ),
                ("userPrincipalName", EQ_SW),
            ],
            Resource::RiskDetections => &[
                ("lastUpdatedDateTime", ANY_TIME),
                ("detectedDateTime", ANY_TIME),
                ("activityDateTime", ANY_TIME),
                ("riskEventType", EQ),
                ("riskLevel", EQ),
                ("riskState", EQ),
                ("riskDetail", EQ),
                ("userId", EQ),
                ("userPrincipalName", EQ),
                ("ipAddress", EQ),
                ("detectionTimingType", EQ),
                ("source", EQ),
                ("activity", EQ),
                ("id", EQ),
                ("requestId", EQ),
                ("correlationId", EQ),
            ],
            Resource::RiskyServicePrincipals => &[
                ("riskLastUpdatedDateTime", ANY_TIME),
                ("riskLevel", EQ),
                ("riskState", EQ),
                ("riskDetail", EQ),
                ("appId", EQ),
                ("displayName", EQ),
                ("id", EQ),
                ("servicePrincipalType", EQ),
            ],
            Resource::ServicePrincipalRiskDetections => &[
                ("lastUpdatedDateTime", ANY_TIME),
                ("detectedDateTime", ANY_TIME),
                ("activityDateTime", ANY_TIME),
                ("riskEventType", EQ),
                ("riskLevel", EQ),
                ("riskState", EQ),
                ("riskDetail", EQ),
                ("servicePrincipalId", EQ),
                ("appId", EQ),
                ("id", EQ),
            ],
            Resource::Provisioning => &[
                ("activityDateTime", STRICT_TIME),
                ("id", EQ),
                ("jobId", EQ),
                ("cycleId", EQ),
                ("changeId", EQ),
                ("provisioningAction", EQ),
                ("provisioningStatusInfo/status", EQ),
                ("initiatedBy/displayName", EQ),
                ("servicePrincipal/id", EQ),
                ("servicePrincipal/displayName", EQ),
                ("sourceIdentity/id", EQ),
                ("sourceIdentity/displayName", EQ),
                ("sourceIdentity/identityType", EQ),
                ("targetIdentity/id", EQ),
                ("targetIdentity/displayName", EQ),
                ("targetIdentity/identityType", EQ),
                ("sourceSystem/displayName", EQ),
                ("targetSystem/displayName", EQ),
            ],
            // riskyAgent's derived types document eq/le/ge on the time, eq/startsWith on names.
            Resource::RiskyAgents => &[
                ("riskLastModifiedDateTime", TIME),
                ("agentDisplayName", EQ_SW),
                ("id", EQ_SW),
                ("riskDetail", EQ),
                ("riskLevel", EQ),
                ("riskState", EQ),
            ],
            // "Supports some of the OData query parameters": the identity-protection set.
            Resource::AgentRiskDetections => &[
                ("lastModifiedDateTime", ANY_TIME),
                ("detectedDateTime", ANY_TIME),
                ("activityDateTime", ANY_TIME),
                ("agentId", EQ),
                ("id", EQ),
                ("riskEventType", EQ),
                ("riskLevel", EQ),
                ("riskState", EQ),
                ("riskDetail", EQ),
            ],
        }
    }
}
