//! `risk_detections` (`/identityProtection/riskDetections`) and
//! `service_principal_risk_detections` (`/identityProtection/servicePrincipalRiskDetections`):
//! cursor `lastUpdatedDateTime`, because detections change state after they are created and
//! offline ones surface up to 48 h late (the default `late_arrival`). Each state of a detection
//! is one alert: `event.id = id@lastUpdatedDateTime`, `event.kind = "alert"`.

use serde_json::Value;

use super::{NormalizeContext, Protection, StreamKind, StreamSpec};
use crate::event::{self, EventBuilder, EventKind, Outcome, Severity, Summary};

const UPDATED: &str = "lastUpdatedDateTime";

/// The spec of `risk_detections` or `service_principal_risk_detections`.
pub fn spec(kind: StreamKind) -> Protection {
    Protection {
        kind,
        path: if kind == StreamKind::RiskDetections {
            "/identityProtection/riskDetections"
        } else {
            "/identityProtection/servicePrincipalRiskDetections"
        },
        updated: UPDATED,
        fingerprint: None,
        normalize,
    }
}

/// `additionalInfo` is a JSON string holding `[{"Key":…,"Value":…}]`: parsed when it parses.
fn additional_info(record: &Value) -> Value {
    match record.get("additionalInfo") {
        Some(Value::String(s)) => {
            serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
        }
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

fn normalize(spec: &dyn StreamSpec, record: Value, ctx: &NormalizeContext) -> Value {
    let users = spec.kind() == StreamKind::RiskDetections;
    let action = event::str_at(&record, "riskEventType")
        .unwrap_or("unknown")
        .to_string();
    let severity = if event::str_at(&record, "riskState") == Some("confirmedCompromised") {
        Severity::High
    } else {
        event::risk_severity(event::str_at(&record, "riskLevel"))
    };
    // The cursor field first; a detection whose lastUpdatedDateTime does not parse keeps the
    // time of its detection or activity.
    let time = [
        "lastUpdatedDateTime",
        "detectedDateTime",
        "activityDateTime",
    ]
    .iter()
    .find_map(|f| event::str_at(&record, f).and_then(event::parse_time))
    .unwrap_or(ctx.ingested);
    let identity = if users {
        event::str_at(&record, "userPrincipalName")
            .or_else(|| event::str_at(&record, "userDisplayName"))
    } else {
        event::str_at(&record, "servicePrincipalDisplayName")
            .or_else(|| event::str_at(&record, "appId"))
    }
    .map(str::to_string);
    let summary = Summary {
        id: spec.event_id(&record),
        stream: spec.kind(),
        kind: EventKind::Alert,
        action,
        outcome: Outcome::Unknown,
        severity,
        ctx,
    };
    let (category, operation) = if users {
        ("UserRiskEvents", "User Risk Detection")
    } else {
        (
            "ServicePrincipalRiskEvents",
            "Service Principal Risk Detection",
        )
    };
    let mut e = EventBuilder::new(summary, time, category, operation);
    e.set("resultType", "")
        .set("callerIpAddress", event::valid_ip(&record, "ipAddress"))
        .copy("correlationId", &record, "correlationId")
        .set("identity", identity)
        .copy("location", &record, "location/countryOrRegion");
    // Log Analytics `AADUserRiskEvents` / `AADServicePrincipalRiskEvents` columns.
    e.copy_all(
        &record,
        &[
            ("Activity", "activity"),
            ("ActivityDateTime", "activityDateTime"),
            ("CorrelationId", "correlationId"),
            ("DetectedDateTime", "detectedDateTime"),
            ("DetectionTimingType", "detectionTimingType"),
            ("Id", "id"),
            ("IpAddress", "ipAddress"),
            ("LastUpdatedDateTime", UPDATED),
            ("Location", "location"),
            ("RequestId", "requestId"),
            ("RiskDetail", "riskDetail"),
            ("RiskEventType", "riskEventType"),
            ("RiskLevel", "riskLevel"),
            ("RiskState", "riskState"),
            ("Source", "source"),
            ("TokenIssuerType", "tokenIssuerType"),
        ],
    )
    .set("AdditionalInfo", additional_info(&record))
    .set("OperationName", operation);
    if users {
        e.copy_all(
            &record,
            &[
                ("UserDisplayName", "userDisplayName"),
                ("UserId", "userId"),
                ("UserPrincipalName", "userPrincipalName"),
            ],
        );
    } else {
        e.copy_all(
            &record,
            &[
                ("AppId", "appId"),
                ("KeyIds", "keyIds"),
                ("ServicePrincipalDisplayName", "servicePrincipalDisplayName"),
                ("ServicePrincipalId", "servicePrincipalId"),
            ],
        );
    }
    e.finish(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_unparseable_update_time_keeps_the_record() {
        let ctx = NormalizeContext {
            tenant_id: "t".into(),
            ingested: chrono::Utc::now(),
        };
        let r = json!({"id": "d1", "riskEventType": "investigationsThreatIntelligence", "riskLevel": "high",
            "lastUpdatedDateTime": "2021-10-26T16:28:17.8202975Z)", "detectedDateTime": "2021-10-26T00:00:00Z",
            "ipAddress": "123.456.7.89", "additionalInfo": "[{\"Key\":\"alertUrl\",\"Value\":null}]"});
        let e = spec(StreamKind::ServicePrincipalRiskDetections).normalize(r.clone(), &ctx);
        assert_eq!(e["event"]["id"], "d1@2021-10-26T16:28:17.8202975Z)");
        assert_eq!(e["time"], "2021-10-26T00:00:00.0000000Z");
        assert_eq!(e["callerIpAddress"], Value::Null);
        assert_eq!(e["AdditionalInfo"][0]["Key"], "alertUrl");
        assert_eq!(e["event"]["kind"], "alert");
        assert_eq!(e["event"]["severity"], "high");
        assert_eq!(e["properties"], r);
    }
}
