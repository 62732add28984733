//! The `full` native profile carries every column of Microsoft's published Log Analytics table
//! references (`testdata/log-analytics/`, one list per table, with its source), with Log
//! Analytics' types: checked on every event of a simulated tenant with every stream and sign-in
//! type, and on Microsoft's documented example payloads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::common::*;
use entra_source::streams::{NormalizeContext, StreamKind};
use serde_json::Value;

/// Columns Log Analytics computes at ingestion, not the source (`TenantId` is the workspace).
const COMPUTED_BY_LOG_ANALYTICS: [&str; 3] = ["_BilledSize", "_IsBillable", "TenantId"];

/// Columns whose shape predates the complete lists and is kept (README § Events): the record's
/// own value where Log Analytics shows its JSON text, and `Level` as the export's number.
const SHAPE_KEPT: [&str; 8] = [
    "AuthenticationDetails",
    "ConditionalAccessPolicies",
    "DeviceDetail",
    "LocationDetails",
    "MfaDetail",
    "RiskEventTypes",
    "RiskEventTypes_V2",
    "Level",
];

/// Each table's `(column, type)` list.
fn tables() -> BTreeMap<String, Vec<(String, String)>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/log-analytics");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("tsv") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let columns = text
            .lines()
            .skip(1)
            .map(|l| {
                let (c, t) = l.split_once('\t').unwrap();
                (c.to_string(), t.to_string())
            })
            .collect();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        out.insert(name, columns);
    }
    assert_eq!(out.len(), 10, "ten table references");
    out
}

/// What is wrong with `e` against its table's list (named by its `Type`).
fn problems(e: &Value, tables: &BTreeMap<String, Vec<(String, String)>>) -> Vec<String> {
    let Some(table) = e["Type"].as_str() else {
        return vec![format!("no Type: {}", e["event"]["id"])];
    };
    let Some(columns) = tables.get(table) else {
        return vec![format!("Type {table} is not a published table")];
    };
    let mut out = Vec::new();
    for (column, ty) in columns {
        if COMPUTED_BY_LOG_ANALYTICS.contains(&column.as_str()) {
            continue;
        }
        let Some(v) = e.get(column) else {
            out.push(format!("{table}.{column} missing"));
            continue;
        };
        let ok = v.is_null()
            || SHAPE_KEPT.contains(&column.as_str())
            || match ty.as_str() {
                "string" => v.is_string(),
                "bool" => v.is_boolean(),
                "long" | "real" | "int" => v.is_number(),
                "datetime" => v.as_str().is_some_and(|s| {
                    chrono::DateTime::parse_from_rfc3339(s.trim_end_matches(')')).is_ok()
                }),
                _ => true,
            };
        if !ok {
            out.push(format!("{table}.{column} is {ty} in Log Analytics but {v}"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_published_log_analytics_column_is_in_every_full_event() {
    let tables = tables();
    let h = Harness::new("").await;
    h.sim.populate(30, chrono::Duration::minutes(50), 0);
    h.write_streams(
        r#"
[streams.directory_audits]
[streams.sign_ins]
event_types = ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"]
[streams.risky_users]
[streams.risk_detections]
[streams.risky_service_principals]
[streams.service_principal_risk_detections]
[streams.provisioning]
"#,
    );
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let events = r.events();
    let mut seen = BTreeMap::<String, usize>::new();
    for e in &events {
        let p = problems(e, &tables);
        assert!(p.is_empty(), "{p:#?}");
        *seen
            .entry(e["Type"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        tables.keys().collect::<Vec<_>>(),
        "every table is seen"
    );
}

#[test]
fn microsofts_example_payloads_fill_their_tables_columns() {
    let tables = tables();
    let ctx = NormalizeContext::new("t", "2026-11-21T10:00:03Z".parse().unwrap());
    for (kind, fixture) in [
        (StreamKind::DirectoryAudits, "directoryAudit.json"),
        (StreamKind::DirectoryAudits, "directoryAudit_example1.json"),
        (StreamKind::SignIns, "signIn.json"),
        (StreamKind::RiskyUsers, "riskyUser.json"),
        (StreamKind::RiskDetections, "riskDetection.json"),
        (
            StreamKind::RiskyServicePrincipals,
            "riskyServicePrincipal.json",
        ),
        (
            StreamKind::ServicePrincipalRiskDetections,
            "servicePrincipalRiskDetection.json",
        ),
        (StreamKind::Provisioning, "provisioningObjectSummary.json"),
    ] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/graph-fixtures")
            .join(fixture);
        let page: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for r in page["value"].as_array().unwrap() {
            let e = entra_source::streams::spec(kind).normalize(r.clone(), &ctx);
            let p = problems(&e, &tables);
            assert!(p.is_empty(), "{fixture}: {p:#?}");
        }
    }
    // The values Graph gives land in their columns, typed as Log Analytics shows them.
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/graph-fixtures/signIn.json");
    let page: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut r = page["value"][0].clone();
    r["autonomousSystemNumber"] = 8075.into();
    r["authenticationMethodsUsed"] = serde_json::json!(["Password"]);
    r["signInIdentifier"] = "alice@contoso.com".into();
    let e = entra_source::streams::spec(StreamKind::SignIns).normalize(r, &ctx);
    assert_eq!(e["Type"], "SigninLogs");
    assert_eq!(e["AutonomousSystemNumber"], "8075");
    assert_eq!(e["AuthenticationMethodsUsed"], "[\"Password\"]");
    assert_eq!(e["SignInIdentifier"], "alice@contoso.com");
    assert_eq!(e["AlternateSignInName"], "alice@contoso.com");
    assert_eq!(e["IsRisky"], false);
    assert_eq!(e["TimeGenerated"], e["time"]);
    assert_eq!(e["SourceSystem"], "Azure AD");
}
