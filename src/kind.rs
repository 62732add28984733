//! Every stream entra-source knows and the facts about each that do not depend on how it is
//! read: its names, Graph's throttling family, the permission and licence it needs, how long
//! Graph keeps its records and its default late-arrival re-read. A leaf: it imports nothing of
//! the crate, so every floor above can use it.

use std::time::Duration;

/// Every stream entra-source knows, by its `[streams.NAME]` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamKind {
    DirectoryAudits,
    SignIns,
    RiskyUsers,
    RiskDetections,
    RiskyServicePrincipals,
    ServicePrincipalRiskDetections,
    /// `/auditLogs/provisioning`: the provisioning service's log (AADProvisioningLogs).
    Provisioning,
    /// Beta `/identityProtection/riskyAgents`: agent identities at risk (state records).
    RiskyAgents,
    /// Beta `/identityProtection/agentRiskDetections`.
    AgentRiskDetections,
    /// `/users/delta`: the user inventory, a state event per created, changed or deleted user.
    Users,
    /// `/devices/delta`: the device inventory.
    Devices,
    /// `/directoryRoles/delta`: members added to and removed from activated directory roles.
    RoleAssignments,
    /// A diagnostic-settings category that only Microsoft's export stream carries (Event Hubs,
    /// `[[tenants.hubs]]`): no Graph resource lists it, so it has no `[streams.NAME]`.
    Exported(Exported),
}

/// The export-only categories of Entra's diagnostic settings, each its own dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exported {
    /// `MicrosoftGraphActivityLogs`: every Graph API request in the tenant.
    GraphActivity,
    /// `ADFSSignInLogs`: AD FS sign-ins reported by Connect Health.
    AdfsSignIns,
    /// `NetworkAccessTrafficLogs`: Global Secure Access traffic.
    NetworkAccessTraffic,
    /// `EnrichedOffice365AuditLogs`: Global Secure Access enriched Microsoft 365 logs.
    EnrichedOffice365Audit,
    /// `RemoteNetworkHealthLogs`: Global Secure Access remote network health.
    RemoteNetworkHealth,
    /// `NetworkAccessAlerts`: Global Secure Access alerts.
    NetworkAccessAlerts,
    /// `NetworkAccessConnectionEvents`: Global Secure Access connection events.
    NetworkAccessConnections,
    /// `MicrosoftServicePrincipalSignInLogs`: sign-ins of Microsoft's first-party service
    /// principals.
    MicrosoftServicePrincipalSignIns,
    /// `AzureADGraphActivityLogs`: requests to the retiring Azure AD Graph.
    AzureAdGraphActivity,
}

impl Exported {
    /// The export category carrying a Graph stream's records, `None` for a stream no
    /// diagnostic setting exports (the agent streams, the directory inventories). Sign-ins:
    /// any one of their four categories.
    pub fn carrying(kind: StreamKind) -> Option<&'static str> {
        match kind {
            StreamKind::DirectoryAudits => Some("AuditLogs"),
            StreamKind::SignIns => Some("SignInLogs"),
            StreamKind::RiskyUsers => Some("RiskyUsers"),
            StreamKind::RiskDetections => Some("UserRiskEvents"),
            StreamKind::RiskyServicePrincipals => Some("RiskyServicePrincipals"),
            StreamKind::ServicePrincipalRiskDetections => Some("ServicePrincipalRiskEvents"),
            StreamKind::Provisioning => Some("ProvisioningLogs"),
            StreamKind::RiskyAgents
            | StreamKind::AgentRiskDetections
            | StreamKind::Users
            | StreamKind::Devices
            | StreamKind::RoleAssignments
            | StreamKind::Exported(_) => None,
        }
    }

    pub const ALL: [Exported; 9] = [
        Exported::GraphActivity,
        Exported::AdfsSignIns,
        Exported::NetworkAccessTraffic,
        Exported::EnrichedOffice365Audit,
        Exported::RemoteNetworkHealth,
        Exported::NetworkAccessAlerts,
        Exported::NetworkAccessConnections,
        Exported::MicrosoftServicePrincipalSignIns,
        Exported::AzureAdGraphActivity,
    ];

    /// Its name in the state file and in `event.dataset` (`entra.<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Exported::GraphActivity => "graph_activity",
            Exported::AdfsSignIns => "adfs_sign_ins",
            Exported::NetworkAccessTraffic => "network_access_traffic",
            Exported::EnrichedOffice365Audit => "enriched_office365_audit",
            Exported::RemoteNetworkHealth => "remote_network_health",
            Exported::NetworkAccessAlerts => "network_access_alerts",
            Exported::NetworkAccessConnections => "network_access_connections",
            Exported::MicrosoftServicePrincipalSignIns => "microsoft_service_principal_sign_ins",
            Exported::AzureAdGraphActivity => "azure_ad_graph_activity",
        }
    }

    pub fn dataset(self) -> &'static str {
        match self {
            Exported::GraphActivity => "entra.graph_activity",
            Exported::AdfsSignIns => "entra.adfs_sign_ins",
            Exported::NetworkAccessTraffic => "entra.network_access_traffic",
            Exported::EnrichedOffice365Audit => "entra.enriched_office365_audit",
            Exported::RemoteNetworkHealth => "entra.remote_network_health",
            Exported::NetworkAccessAlerts => "entra.network_access_alerts",
            Exported::NetworkAccessConnections => "entra.network_access_connections",
            Exported::MicrosoftServicePrincipalSignIns => {
                "entra.microsoft_service_principal_sign_ins"
            }
            Exported::AzureAdGraphActivity => "entra.azure_ad_graph_activity",
        }
    }

    /// The diagnostic-settings category (the export's `category`, the Log Analytics table).
    pub fn category(self) -> &'static str {
        match self {
            Exported::GraphActivity => "MicrosoftGraphActivityLogs",
            Exported::AdfsSignIns => "ADFSSignInLogs",
            Exported::NetworkAccessTraffic => "NetworkAccessTrafficLogs",
            Exported::EnrichedOffice365Audit => "EnrichedOffice365AuditLogs",
            Exported::RemoteNetworkHealth => "RemoteNetworkHealthLogs",
            Exported::NetworkAccessAlerts => "NetworkAccessAlerts",
            Exported::NetworkAccessConnections => "NetworkAccessConnectionEvents",
            Exported::MicrosoftServicePrincipalSignIns => "MicrosoftServicePrincipalSignInLogs",
            Exported::AzureAdGraphActivity => "AzureADGraphActivityLogs",
        }
    }
}

impl StreamKind {
    /// The name used in `[streams.NAME]`, the state file and `event.dataset`.
    pub fn name(self) -> &'static str {
        match self {
            StreamKind::DirectoryAudits => "directory_audits",
            StreamKind::SignIns => "sign_ins",
            StreamKind::RiskyUsers => "risky_users",
            StreamKind::RiskDetections => "risk_detections",
            StreamKind::RiskyServicePrincipals => "risky_service_principals",
            StreamKind::ServicePrincipalRiskDetections => "service_principal_risk_detections",
            StreamKind::Provisioning => "provisioning",
            StreamKind::RiskyAgents => "risky_agents",
            StreamKind::AgentRiskDetections => "agent_risk_detections",
            StreamKind::Users => "users",
            StreamKind::Devices => "devices",
            StreamKind::RoleAssignments => "role_assignments",
            StreamKind::Exported(e) => e.name(),
        }
    }

    /// `event.dataset` of its native events: `entra.<name>`.
    pub fn dataset(self) -> &'static str {
        match self {
            StreamKind::DirectoryAudits => "entra.directory_audits",
            StreamKind::SignIns => "entra.sign_ins",
            StreamKind::RiskyUsers => "entra.risky_users",
            StreamKind::RiskDetections => "entra.risk_detections",
            StreamKind::RiskyServicePrincipals => "entra.risky_service_principals",
            StreamKind::ServicePrincipalRiskDetections => "entra.service_principal_risk_detections",
            StreamKind::Provisioning => "entra.provisioning",
            StreamKind::RiskyAgents => "entra.risky_agents",
            StreamKind::AgentRiskDetections => "entra.agent_risk_detections",
            StreamKind::Users => "entra.users",
            StreamKind::Devices => "entra.devices",
            StreamKind::RoleAssignments => "entra.role_assignments",
            StreamKind::Exported(e) => e.dataset(),
        }
    }

    pub fn all() -> [StreamKind; 12] {
        [
            StreamKind::DirectoryAudits,
            StreamKind::SignIns,
            StreamKind::RiskyUsers,
            StreamKind::RiskDetections,
            StreamKind::RiskyServicePrincipals,
            StreamKind::ServicePrincipalRiskDetections,
            StreamKind::Provisioning,
            StreamKind::RiskyAgents,
            StreamKind::AgentRiskDetections,
            StreamKind::Users,
            StreamKind::Devices,
            StreamKind::RoleAssignments,
        ]
    }

    /// Read by delta query (an inventory), not by time window.
    pub fn is_inventory(self) -> bool {
        self.family() == Family::Directory
    }

    /// Beta-only resources (Microsoft Entra Agent ID), offered in the global cloud only.
    pub fn beta_only(self) -> bool {
        matches!(
            self,
            StreamKind::RiskyAgents | StreamKind::AgentRiskDetections
        )
    }

    /// Graph's throttling family of the resource.
    pub fn family(self) -> Family {
        match self {
            StreamKind::DirectoryAudits | StreamKind::SignIns | StreamKind::Provisioning => {
                Family::Reports
            }
            StreamKind::Users | StreamKind::Devices | StreamKind::RoleAssignments => {
                Family::Directory
            }
            _ => Family::IdentityProtection,
        }
    }

    /// The least application permission that reads the resource.
    pub fn permission(self) -> &'static str {
        match self {
            StreamKind::DirectoryAudits | StreamKind::SignIns | StreamKind::Provisioning => {
                "AuditLog.Read.All"
            }
            StreamKind::RiskyUsers => "IdentityRiskyUser.Read.All",
            StreamKind::RiskDetections
            | StreamKind::ServicePrincipalRiskDetections
            | StreamKind::AgentRiskDetections => "IdentityRiskEvent.Read.All",
            StreamKind::RiskyServicePrincipals => "IdentityRiskyServicePrincipal.Read.All",
            StreamKind::RiskyAgents => "IdentityRiskyAgent.Read.All",
            StreamKind::Users => "User.Read.All",
            StreamKind::Devices => "Device.Read.All",
            StreamKind::RoleAssignments => "RoleManagement.Read.Directory",
            // Read from the tenant's own Event Hubs namespace: no Graph permission.
            StreamKind::Exported(_) => "Azure Event Hubs Data Receiver (on the namespace)",
        }
    }

    /// The licence the tenant needs for the resource, if any.
    pub fn licence(self) -> Option<&'static str> {
        match self {
            StreamKind::DirectoryAudits
            | StreamKind::Users
            | StreamKind::Devices
            | StreamKind::RoleAssignments => None,
            StreamKind::SignIns | StreamKind::Provisioning => Some("Microsoft Entra ID P1 or P2"),
            StreamKind::RiskyUsers => Some("Microsoft Entra ID P2"),
            StreamKind::RiskDetections => {
                Some("Microsoft Entra ID P1 or P2 (P2 for every detection type)")
            }
            StreamKind::RiskyServicePrincipals | StreamKind::ServicePrincipalRiskDetections => {
                Some("Microsoft Entra Workload ID Premium")
            }
            StreamKind::RiskyAgents | StreamKind::AgentRiskDetections => {
                Some("Microsoft Entra ID P2 (ID Protection for agents)")
            }
            StreamKind::Exported(Exported::GraphActivity | Exported::AdfsSignIns) => {
                Some("Microsoft Entra ID P1 or P2")
            }
            StreamKind::Exported(_) => Some("Microsoft Entra Internet or Private Access"),
        }
    }

    /// How long Graph keeps the resource's records, where it drops them by age: audits and
    /// sign-ins 30 days (P1/P2), risk detections 90 days (P2). Risky users and service
    /// principals stay listed until their risk is remediated: no age limit.
    pub fn retention(self) -> Option<chrono::Duration> {
        match self {
            StreamKind::DirectoryAudits | StreamKind::SignIns | StreamKind::Provisioning => {
                Some(chrono::Duration::days(30))
            }
            StreamKind::RiskDetections
            | StreamKind::ServicePrincipalRiskDetections
            | StreamKind::AgentRiskDetections => Some(chrono::Duration::days(90)),
            StreamKind::RiskyUsers
            | StreamKind::RiskyServicePrincipals
            | StreamKind::RiskyAgents
            | StreamKind::Users
            | StreamKind::Devices
            | StreamKind::RoleAssignments => None,
            // An Event Hub keeps messages for its retention (1 to 7 days, 90 on Premium).
            StreamKind::Exported(_) => None,
        }
    }

    /// `late_arrival` when neither the stream nor `[poll]` sets one: a first sweep just past
    /// Graph's usual delay and a last one past its tail (issue 27, `cargo bench --bench
    /// latency`). Audits, provisioning and the risky-object lists: 5 and 20 minutes (Microsoft:
    /// 2 minutes at p95, 5 at p99). Sign-ins: 5 and 40 minutes (non-interactive sign-ins are
    /// observed up to 30 minutes late; a 20-minute last sweep lost them). Risk detections: 10
    /// minutes (real-time detections take 5 to 10) and 48 hours (offline ones).
    pub fn default_sweeps(self) -> Vec<Duration> {
        let m = |m: u64| Duration::from_secs(m * 60);
        match self {
            StreamKind::RiskDetections
            | StreamKind::ServicePrincipalRiskDetections
            | StreamKind::AgentRiskDetections => vec![m(10), m(48 * 60)],
            StreamKind::SignIns => vec![m(5), m(40)],
            _ => vec![m(5), m(20)],
        }
    }
}

/// Graph's throttling families: each has its own client-side budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Identity and access reports: directory audits, sign-ins.
    Reports,
    /// Identity protection: risky users and service principals, risk detections.
    IdentityProtection,
    /// Directory objects read by delta query (users, devices, roles): its own budget, so an
    /// inventory sync never delays the logs.
    Directory,
}
