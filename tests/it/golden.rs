//! Golden tests: Microsoft's documented example payloads (`testdata/graph-fixtures/`) turn into
//! the checked-in events under `tests/golden/` (native), `tests/golden/azure_monitor/`,
//! `tests/golden/log_analytics/`, `tests/golden/ecs/` and `tests/golden/ocsf/`. Regenerate with
//! `UPDATE_GOLDEN=1` after an intended change, and review the diff.

use std::path::PathBuf;

use entra_source::format::Format;
use entra_source::streams::{NormalizeContext, StreamKind};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/graph-fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The golden directory of a format.
fn dir(format: Format) -> &'static str {
    match format {
        Format::Native => "",
        other => other.name(),
    }
}

fn check(kind: StreamKind, fixture_name: &str) {
    let records = fixture(fixture_name)["value"].as_array().unwrap().clone();
    check_records(kind, fixture_name, records);
}

fn check_records(kind: StreamKind, fixture_name: &str, records: Vec<Value>) {
    let ctx = NormalizeContext::new(
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "2026-11-21T10:00:03Z".parse().unwrap(),
    );
    let spec = entra_source::streams::spec(kind);
    for format in Format::all() {
        let rendered: Vec<Value> = records
            .iter()
            .map(|r| {
                let e = spec.render(r.clone(), &ctx, format);
                if matches!(format, Format::Native | Format::AzureMonitor) {
                    assert_eq!(
                        &e["properties"], r,
                        "the Graph record must be kept verbatim"
                    );
                }
                e
            })
            .collect();
        let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(dir(format))
            .join(fixture_name);
        let actual = serde_json::to_string_pretty(&rendered).unwrap() + "\n";
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &actual).unwrap();
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
            panic!("{} is missing: run with UPDATE_GOLDEN=1", golden.display())
        });
        assert_eq!(
            actual,
            expected,
            "{fixture_name} renders differently ({}) from {}",
            format.name(),
            golden.display()
        );
    }
}

#[test]
fn every_fixture_of_every_stream() {
    check(StreamKind::DirectoryAudits, "directoryAudit.json");
    check(StreamKind::DirectoryAudits, "directoryAudit_example1.json");
    check(StreamKind::SignIns, "signIn.json");
    check(StreamKind::Provisioning, "provisioningObjectSummary.json");
    check(StreamKind::RiskyAgents, "riskyAgent.json");
    check(StreamKind::AgentRiskDetections, "agentRiskDetection.json");
    check(StreamKind::RiskyUsers, "riskyUser.json");
    check(StreamKind::RiskyUsers, "riskyUser_filter_medium.json");
    check(StreamKind::RiskDetections, "riskDetection.json");
    check(
        StreamKind::RiskyServicePrincipals,
        "riskyServicePrincipal.json",
    );
    check(
        StreamKind::ServicePrincipalRiskDetections,
        "servicePrincipalRiskDetection.json",
    );
}

/// Graph activity comes only from an Event Hub: the peer's two export records' `properties`
/// (`testdata/azure-monitor/graph-activity.jsonl`) in every format.
#[test]
fn graph_activity_records_of_the_export_stream() {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/azure-monitor/graph-activity.jsonl"),
    )
    .unwrap();
    let records = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["properties"].clone())
        .collect();
    check_records(
        StreamKind::Exported(entra_source::kind::Exported::GraphActivity),
        "graphActivity.json",
        records,
    );
}

#[test]
fn quirky_fixture_values_are_read_or_left_alone() {
    let ctx = NormalizeContext::new("t", "2026-11-21T10:00:03Z".parse().unwrap());
    // riskDetection.json: malformed GUID, invalid IPv4, a non-enum tokenIssuerType, JSON-string additionalInfo.
    let r = &fixture("riskDetection.json")["value"][0];
    let spec = entra_source::streams::spec(StreamKind::RiskDetections);
    let e = spec.normalize(r.clone(), &ctx);
    let export = spec.render(r.clone(), &ctx, Format::AzureMonitor);
    let row = spec.render(r.clone(), &ctx, Format::LogAnalytics);
    assert_eq!(
        e["event"]["id"],
        "6a5874ca-abcd-9d82-5ad39bd71600@2018-09-05T00:11:27.773602Z"
    );
    assert_eq!(e["event"]["action"], "unfamiliarFeatures");
    assert_eq!(e["event"]["kind"], "alert");
    assert_eq!(e["event"]["severity"], "medium");
    assert!(
        export.get("callerIpAddress").is_none(),
        "an invalid IP is not put in an IP field"
    );
    assert_eq!(
        e["properties"]["ipAddress"], "123.456.7.89",
        "the Graph value stays verbatim"
    );
    assert_eq!(row["IpAddress"], "123.456.7.89", "a string column keeps it");
    assert_eq!(row["TokenIssuerType"], "Azure Active Directory");
    assert_eq!(row["AdditionalInfo"][0]["Key"], "userAgent");
    assert_eq!(row["RiskEventType"], "unfamiliarFeatures");
    assert_eq!(export["category"], "UserRiskEvents");
    // servicePrincipalRiskDetection.json: a lastUpdatedDateTime with a stray ')', null location.
    let r = &fixture("servicePrincipalRiskDetection.json")["value"][0];
    let spec = entra_source::streams::spec(StreamKind::ServicePrincipalRiskDetections);
    let e = spec.normalize(r.clone(), &ctx);
    assert_eq!(e["time"], "2021-10-26T00:00:00.0000000Z");
    let export = spec.render(r.clone(), &ctx, Format::AzureMonitor);
    assert!(export.get("location").is_none(), "{export}");
    assert_eq!(e["event"]["severity"], "high");
    // riskyUser.json: deleted but at risk, confirmed compromised sign-in.
    let r = &fixture("riskyUser.json")["value"][0];
    let spec = entra_source::streams::spec(StreamKind::RiskyUsers);
    let e = spec.normalize(r.clone(), &ctx);
    assert_eq!(
        e["event"]["id"],
        "c2b6c2b9-dddc-acd0-2b39-d519d803dbc3@2016-01-29T20:03:57.7872426Z"
    );
    assert_eq!(
        (e["event"]["kind"].as_str(), e["event"]["severity"].as_str()),
        (Some("state"), Some("high"))
    );
    assert_eq!(
        spec.render(r.clone(), &ctx, Format::LogAnalytics)["IsDeleted"],
        true
    );
    // signIn.json: a successful v1.0 interactive sign-in without risk.
    let r = &fixture("signIn.json")["value"][0];
    let spec = entra_source::streams::spec(StreamKind::SignIns);
    let e = spec.normalize(r.clone(), &ctx);
    assert_eq!(
        (
            e["event"]["outcome"].as_str(),
            e["event"]["severity"].as_str()
        ),
        (Some("success"), Some("info"))
    );
    let row = spec.render(r.clone(), &ctx, Format::LogAnalytics);
    assert_eq!(row["ResultType"], "0");
    assert_eq!(row["Status"]["errorCode"], 0);
    assert_eq!(row["IPAddress"], "131.107.159.37");
    let export = spec.render(r.clone(), &ctx, Format::AzureMonitor);
    assert_eq!(export["location"], "US");
    assert!(
        export.get("resultDescription").is_none(),
        "a success has none"
    );
    // signIn_failure_status.json is a bare status object: as a sign-in's status it is a failure.
    let status = fixture("signIn_failure_status.json");
    let mut failed = r.clone();
    failed["status"] = status;
    let e = spec.normalize(failed.clone(), &ctx);
    assert_eq!(
        (
            e["event"]["outcome"].as_str(),
            e["event"]["severity"].as_str()
        ),
        (Some("failure"), Some("low"))
    );
    let row = spec.render(failed.clone(), &ctx, Format::LogAnalytics);
    assert_eq!(row["ResultType"], "65001");
    assert!(row["ResultDescription"]
        .as_str()
        .unwrap()
        .starts_with("The user or administrator has not consented"));
    let export = spec.render(failed, &ctx, Format::AzureMonitor);
    assert_eq!(export["resultType"], "65001");
    assert_eq!(export["resultDescription"], row["ResultDescription"]);
}

#[test]
fn directory_audit_summary_values() {
    let ctx = NormalizeContext::new("t", chrono::Utc::now());
    let spec = entra_source::streams::spec(StreamKind::DirectoryAudits);
    let r = &fixture("directoryAudit_example1.json")["value"][0];
    let e = spec.normalize(r.clone(), &ctx);
    assert_eq!(e["event"]["id"], "id");
    assert_eq!(e["event"]["action"], "Add member to group");
    assert_eq!(e["event"]["outcome"], "success");
    assert_eq!(e["event"]["severity"], "low");
    assert_eq!(e["time"], "2018-01-09T21:20:02.7215374Z");
    let export = spec.render(r.clone(), &ctx, Format::AzureMonitor);
    assert_eq!(export["callerIpAddress"], "127.0.0.1");
    assert_eq!(export["identity"], "bob@wingtiptoysonline.com");
    assert_eq!(export["category"], "AuditLogs");
    let row = spec.render(r.clone(), &ctx, Format::LogAnalytics);
    assert_eq!(row["Category"], "UserManagement");
    // A read that is logged as "Update" is still a read.
    let r = &fixture("directoryAudit.json")["value"][0];
    let e = spec.normalize(r.clone(), &ctx);
    assert_eq!(e["event"]["severity"], "info");
    // A record that breaks the schema is still emitted with what could be read.
    for odd in [
        serde_json::json!({"activityDateTime": "2021-10-26T16:28:17.8202975Z)"}),
        serde_json::json!("a string"),
    ] {
        let e = spec.normalize(odd.clone(), &ctx);
        assert_eq!(e["properties"], odd);
        assert!(e["event"]["id"].as_str().unwrap().starts_with("fnv1a-"));
        assert!(e["event"].get("outcome").is_none(), "unknown is left out");
    }
}

#[test]
fn error_fixtures_parse_into_typed_errors() {
    use entra_source::graph::{ForbiddenKind, GraphErrorBody};
    let body = |name: &str| GraphErrorBody::parse(fixture(name).to_string().as_bytes());
    let licence = body("error_403_nonpremium_tenant.json");
    assert_eq!(ForbiddenKind::classify(&licence), ForbiddenKind::Licence);
    assert_eq!(
        licence.request_id.as_deref(),
        Some("2501535b-2fd7-43e3-87db-c12cbe31fca0")
    );
    assert_eq!(
        licence.client_request_id.as_deref(),
        Some("2501535b-2fd7-43e3-87db-c12cbe31fca0")
    );
    let denied = body("error_403_authorization_requestdenied.json");
    assert_eq!(ForbiddenKind::classify(&denied), ForbiddenKind::Permission);
    let throttled = body("error_429_throttled.json");
    assert_eq!(throttled.code, "TooManyRequests");
    assert!(throttled
        .describe()
        .contains("94fb3b52-452a-4535-a601-69e0a90e3aa2"));
    let generic = body("error_generic_odata.json");
    assert_eq!(
        (generic.code.as_str(), ForbiddenKind::classify(&generic)),
        ("invalidRange", ForbiddenKind::Other)
    );
}
