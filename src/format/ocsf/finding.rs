//! Risk detections, risky users, risky service principals and risky agents (and their
//! detections) as OCSF Detection Findings (2004).

use super::*;

/// A detection (risk detection of a user or a service principal) rather than a risky entity.
fn is_detection(n: &Native<'_>) -> bool {
    matches!(
        n.kind,
        StreamKind::RiskDetections
            | StreamKind::ServicePrincipalRiskDetections
            | StreamKind::AgentRiskDetections
    )
}

/// About an agent identity (Microsoft Entra Agent ID).
fn is_agent(n: &Native<'_>) -> bool {
    matches!(
        n.kind,
        StreamKind::RiskyAgents | StreamKind::AgentRiskDetections
    )
}

/// The detection's last-change field: agents' detections name it differently.
fn updated_field(n: &Native<'_>) -> &'static str {
    if is_agent(n) {
        "lastModifiedDateTime"
    } else {
        "lastUpdatedDateTime"
    }
}

/// About a service principal rather than a user.
fn is_service_principal(n: &Native<'_>) -> bool {
    matches!(
        n.kind,
        StreamKind::RiskyServicePrincipals | StreamKind::ServicePrincipalRiskDetections
    )
}

fn risk_state(n: &Native<'_>) -> String {
    n.s("riskState").unwrap_or("").to_ascii_lowercase()
}

/// Create, Update or Close.
pub(super) fn activity_of(n: &Native<'_>) -> Activity<'static> {
    let detection = is_detection(n);
    let closed = matches!(
        risk_state(n).as_str(),
        "remediated" | "dismissed" | "confirmedsafe" | "none"
    );
    if closed {
        activity(3, "Close")
    } else if detection
        && n.s(updated_field(n)).is_some()
        && ms(n, updated_field(n)) != ms(n, "detectedDateTime")
    {
        activity(2, "Update")
    } else if detection {
        activity(1, "Create")
    } else {
        activity(2, "Update")
    }
}

pub(super) fn fields(n: &Native<'_>, m: &mut Obj<'_>) {
    let detection = is_detection(n);
    let sp = is_service_principal(n);
    let (status_id, status) = match risk_state(n).as_str() {
        "atrisk" => (1, "New"),
        "confirmedcompromised" => (2, "In Progress"),
        "dismissed" | "confirmedsafe" => (3, "Suppressed"),
        "remediated" | "none" => (4, "Resolved"),
        _ => (99, n.s("riskState").unwrap_or("Other")),
    };
    m.int("status_id", status_id).str("status", status);
    if let Some(level) = n.s("riskLevel") {
        let id = match level.to_ascii_lowercase().as_str() {
            "none" => 0,
            "low" => 1,
            "medium" => 2,
            "high" => 3,
            _ => 99,
        };
        let caption = match id {
            0 => "Info",
            1 => "Low",
            2 => "Medium",
            3 => "High",
            _ => level,
        };
        m.int("risk_level_id", id).str("risk_level", caption);
    }
    let who = n
        .s("userPrincipalName")
        .or(n.s("servicePrincipalDisplayName"))
        .or(n.s("displayName"))
        .or(n.s("agentDisplayName"))
        .unwrap_or("unknown principal");
    let (title, kind, created, modified) = if detection {
        let kind = n.s("riskEventType").unwrap_or("unknown");
        (
            format!("Risk detection {kind} for {who}"),
            kind,
            ms(n, "detectedDateTime"),
            ms(n, updated_field(n)),
        )
    } else {
        let (what, kind) = if is_agent(n) {
            ("Risky agent", "riskyAgent")
        } else if sp {
            ("Risky service principal", "riskyServicePrincipal")
        } else {
            ("Risky user", "riskyUser")
        };
        let modified = ms(n, "riskLastUpdatedDateTime").or(ms(n, "riskLastModifiedDateTime"));
        (format!("{what} {who}"), kind, None, modified)
    };
    m.obj("finding_info", |f| {
        f.str("uid", &n.record_id())
            .str("title", &title)
            .strs("types", &[kind])
            .opt_int("created_time", created)
            .opt_int("modified_time", modified)
            .opt_int("first_seen_time", ms(n, "activityDateTime"));
        if let Some(source) = n.s("source") {
            f.strs("data_sources", &[source]);
        }
        f.opt_str("desc", n.s("riskDetail"));
    });
    m.bool("is_alert", detection);
    // What the finding is about.
    m.one_obj_if_any("evidences", |e| {
        if !sp && !is_agent(n) {
            let id = if detection { n.s("userId") } else { n.s("id") };
            e.obj("user", |u| {
                user(u, id, n.s("userPrincipalName"), n.s("userDisplayName"))
            });
        }
        if detection {
            endpoint(n, e, "src_endpoint", "ipAddress", "location");
        }
    });
    if is_agent(n) {
        let id = if detection { n.s("agentId") } else { n.s("id") };
        let kind = n
            .s("@odata.type")
            .map(|t| t.rsplit('.').next().unwrap_or(t))
            .filter(|t| *t != "agentRiskDetection")
            .unwrap_or("Agent Identity");
        m.one_obj_if_any("resources", |r| {
            r.opt_str("uid", id)
                .opt_str("name", n.s("agentDisplayName"))
                .str("type", kind);
        });
    }
    if sp {
        let id = n.s("servicePrincipalId").or(n.s("id"));
        let name = n.s("servicePrincipalDisplayName").or(n.s("displayName"));
        m.one_obj_if_any("resources", |r| {
            r.opt_str("uid", id)
                .opt_str("name", name)
                .str("type", "Service Principal");
        });
    }
    m.str("message", &title);
}
