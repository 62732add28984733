//! Risk detections, risky users and risky service principals as OCSF Detection Findings (2004).

use super::*;

pub(super) fn finding(n: &Native<'_>) -> Mapped {
    let detection = matches!(
        n.kind,
        StreamKind::RiskDetections | StreamKind::ServicePrincipalRiskDetections
    );
    let sp = matches!(
        n.kind,
        StreamKind::RiskyServicePrincipals | StreamKind::ServicePrincipalRiskDetections
    );
    let state = n.s("riskState").unwrap_or("").to_ascii_lowercase();
    let closed = matches!(
        state.as_str(),
        "remediated" | "dismissed" | "confirmedsafe" | "none"
    );
    let act = if closed {
        activity(3, "Close")
    } else if detection
        && n.s("lastUpdatedDateTime").is_some()
        && ms(n, "lastUpdatedDateTime") != ms(n, "detectedDateTime")
    {
        activity(2, "Update")
    } else if detection {
        activity(1, "Create")
    } else {
        activity(2, "Update")
    };
    let mut m = Map::new();
    let (status_id, status) = match state.as_str() {
        "atrisk" => (1, "New"),
        "confirmedcompromised" => (2, "In Progress"),
        "dismissed" | "confirmedsafe" => (3, "Suppressed"),
        "remediated" | "none" => (4, "Resolved"),
        _ => (99, n.s("riskState").unwrap_or("Other")),
    };
    m.insert("status_id".into(), status_id.into());
    m.insert("status".into(), status.into());
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
        m.insert("risk_level_id".into(), id.into());
        m.insert("risk_level".into(), caption.into());
    }
    let who = n
        .s("userPrincipalName")
        .or(n.s("servicePrincipalDisplayName"))
        .or(n.s("displayName"))
        .unwrap_or("unknown principal");
    let (title, types, created, modified) = if detection {
        let kind = n.s("riskEventType").unwrap_or("unknown");
        (
            format!("Risk detection {kind} for {who}"),
            json!([kind]),
            ms(n, "detectedDateTime"),
            ms(n, "lastUpdatedDateTime"),
        )
    } else {
        let what = if sp {
            "Risky service principal"
        } else {
            "Risky user"
        };
        (
            format!("{what} {who}"),
            json!([if sp {
                "riskyServicePrincipal"
            } else {
                "riskyUser"
            }]),
            None,
            ms(n, "riskLastUpdatedDateTime"),
        )
    };
    m.insert(
        "finding_info".into(),
        object([
            ("uid", Some(n.record_id().into())),
            ("title", Some(title.clone().into())),
            ("types", Some(types)),
            ("created_time", created),
            ("modified_time", modified),
            ("first_seen_time", ms(n, "activityDateTime")),
            ("data_sources", n.s("source").map(|s| json!([s]))),
            ("desc", sv(n.s("riskDetail"))),
        ]),
    );
    m.insert("is_alert".into(), detection.into());
    // What the finding is about.
    let principal = if sp {
        None
    } else if detection {
        Some(user(
            n.s("userId"),
            n.s("userPrincipalName"),
            n.s("userDisplayName"),
        ))
    } else {
        Some(user(
            n.s("id"),
            n.s("userPrincipalName"),
            n.s("userDisplayName"),
        ))
    };
    let evidence = object([
        ("user", principal),
        (
            "src_endpoint",
            if detection {
                endpoint(n, "ipAddress", "location")
            } else {
                None
            },
        ),
    ]);
    insert(&mut m, "evidences", non_empty(evidence).map(|e| json!([e])));
    if sp {
        let id = n.s("servicePrincipalId").or(n.s("id"));
        let name = n.s("servicePrincipalDisplayName").or(n.s("displayName"));
        m.insert(
            "resources".into(),
            json!([object([
                ("uid", sv(id)),
                ("name", sv(name)),
                ("type", Some("Service Principal".into())),
            ])]),
        );
    }
    m.insert("message".into(), title.into());
    (DETECTION_FINDING, act, m)
}
