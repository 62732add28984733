//! The OCSF classes the events are written as (a uniform table).

/// One OCSF class.
pub(super) struct Class {
    pub(super) uid: i64,
    pub(super) name: &'static str,
    pub(super) category_uid: i64,
    pub(super) category_name: &'static str,
}

pub(super) const AUTHENTICATION: Class = Class {
    uid: 3002,
    name: "Authentication",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
pub(super) const ACCOUNT_CHANGE: Class = Class {
    uid: 3001,
    name: "Account Change",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
pub(super) const ENTITY_MANAGEMENT: Class = Class {
    uid: 3004,
    name: "Entity Management",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
pub(super) const USER_ACCESS: Class = Class {
    uid: 3005,
    name: "User Access Management",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
pub(super) const GROUP_MANAGEMENT: Class = Class {
    uid: 3006,
    name: "Group Management",
    category_uid: 3,
    category_name: "Identity & Access Management",
};
pub(super) const API_ACTIVITY: Class = Class {
    uid: 6003,
    name: "API Activity",
    category_uid: 6,
    category_name: "Application Activity",
};
/// Global Secure Access's traffic, connections, alerts and health.
pub(super) const NETWORK_ACTIVITY: Class = Class {
    uid: 4001,
    name: "Network Activity",
    category_uid: 4,
    category_name: "Network Activity",
};
pub(super) const DETECTION_FINDING: Class = Class {
    uid: 2004,
    name: "Detection Finding",
    category_uid: 2,
    category_name: "Findings",
};
