//! `risk_detections` (`/identityProtection/riskDetections`) and
//! `service_principal_risk_detections` (`/identityProtection/servicePrincipalRiskDetections`):
//! cursor `lastUpdatedDateTime`, because detections change state after they are created and
//! offline ones surface up to 48 h late (the default `late_arrival`). Each state of a detection
//! is one alert: `event.id = id@lastUpdatedDateTime`, `event.kind = "alert"`.

use serde_json::Value;

use super::{NormalizeContext, Protection, StreamKind, StreamSpec};
use crate::event::{self, EventKind, Field, NativeEvent, Outcome, Severity, Summary};
use crate::record::{self, Record};

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
        beta: false,
        normalize,
    }
}

/// `additionalInfo` is a JSON string holding `[{"Key":…,"Value":…}]`: parsed when it parses.
fn additional_info<'a>(record: &Record<'a>) -> Field<'a> {
    let Some(raw) = record.get("additionalInfo") else {
        return Field::Null;
    };
    match record::string(raw) {
        Some(s) => {
            serde_json::from_str::<Value>(&s).map_or(Field::Str(s), |v| Field::Json(Box::new(v)))
        }
        None => Field::Raw(raw),
    }
}

fn normalize<'a>(
    spec: &dyn StreamSpec,
    record: Record<'a>,
    ctx: &'a NormalizeContext,
) -> NativeEvent<'a> {
    let users = spec.kind() == StreamKind::RiskDetections;
    let action = record
        .str("riskEventType")
        .map_or_else(|| "unknown".to_string(), |s| s.into_owned());
    let severity = if record.str("riskState").as_deref() == Some("confirmedCompromised") {
        Severity::High
    } else {
        event::risk_severity(record.str("riskLevel").as_deref())
    };
    // The cursor field first; a detection whose lastUpdatedDateTime does not parse keeps the
    // time of its detection or activity.
    let time = [
        "lastUpdatedDateTime",
        "detectedDateTime",
        "activityDateTime",
    ]
    .iter()
    .find_map(|f| record.str(f).and_then(|s| event::parse_time(&s)))
    .unwrap_or(ctx.ingested);
    // The export's `identity` is the display name and its `location` the country, both in
    // lower case; its `correlationId` is the detection's id.
    let identity = record
        .str(if users {
            "userDisplayName"
        } else {
            "servicePrincipalDisplayName"
        })
        .map(|n| n.to_lowercase());
    let country = record
        .str("location/countryOrRegion")
        .map(|c| c.to_lowercase());
    let caller_ip = event::ip_of(&record, "ipAddress");
    let info = additional_info(&record);
    let summary = Summary {
        id: spec.event_id(&record),
        stream: spec.kind(),
        kind: EventKind::Alert,
        action,
        outcome: Outcome::Unknown,
        severity,
    };
    let (category, operation) = if users {
        ("UserRiskEvents", "User Risk Detection")
    } else {
        (
            "ServicePrincipalRiskEvents",
            "Service Principal Risk Detection",
        )
    };
    let mut e = NativeEvent::new(summary, record, ctx, time, category, operation);
    e.set("callerIpAddress", caller_ip)
        .copy("correlationId", "id")
        .set("identity", identity)
        .set("location", country);
    // Log Analytics `AADUserRiskEvents` / `AADServicePrincipalRiskEvents` columns.
    e.columns()
        .copy_all(&[
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
        ])
        .set("AdditionalInfo", info)
        .set("OperationName", operation)
        .table(
            if users {
                "AADUserRiskEvents"
            } else {
                "AADServicePrincipalRiskEvents"
            },
            false,
        );
    if users {
        e.copy_all(&[
            ("UserDisplayName", "userDisplayName"),
            ("UserId", "userId"),
            ("UserPrincipalName", "userPrincipalName"),
        ]);
    } else {
        e.copy_all(&[
            ("AppId", "appId"),
            ("KeyIds", "keyIds"),
            ("ServicePrincipalDisplayName", "servicePrincipalDisplayName"),
            ("ServicePrincipalId", "servicePrincipalId"),
        ]);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_unparseable_update_time_keeps_the_record() {
        let ctx = NormalizeContext::new("t", chrono::Utc::now());
        let r = json!({"id": "d1", "riskEventType": "investigationsThreatIntelligence", "riskLevel": "high",
            "lastUpdatedDateTime": "2021-10-26T16:28:17.8202975Z)", "detectedDateTime": "2021-10-26T00:00:00Z",
            "ipAddress": "123.456.7.89", "additionalInfo": "[{\"Key\":\"alertUrl\",\"Value\":null}]"});
        let s = spec(StreamKind::ServicePrincipalRiskDetections);
        let e = s.normalize(r.clone(), &ctx);
        assert_eq!(e["event"]["id"], "d1@2021-10-26T16:28:17.8202975Z)");
        assert_eq!(e["time"], "2021-10-26T00:00:00.0000000Z");
        let export = s.render(r.clone(), &ctx, crate::format::Format::AzureMonitor);
        assert!(export.get("callerIpAddress").is_none(), "{export}");
        let row = s.render(r.clone(), &ctx, crate::format::Format::LogAnalytics);
        assert_eq!(row["AdditionalInfo"][0]["Key"], "alertUrl");
        assert_eq!(e["event"]["kind"], "alert");
        assert_eq!(e["event"]["severity"], "high");
        assert_eq!(e["properties"], r);
    }
}
