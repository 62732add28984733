//! `format = "log_analytics"` writes the row of each stream's table: every column of Microsoft's
//! published table references (`testdata/log-analytics/`, one list per table, with its source)
//! with Log Analytics' types, and nothing else; null and empty columns only with
//! `keep_null_columns = true`. Checked on every event of a simulated tenant with every stream and
//! sign-in type, and on Microsoft's documented example payloads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::common::*;
use entra_source::format::Format;
use entra_source::streams::{NormalizeContext, StreamKind};
use serde_json::Value;

/// Columns Log Analytics computes at ingestion, not the source (`TenantId` is the workspace).
const COMPUTED_BY_LOG_ANALYTICS: [&str; 3] = ["_BilledSize", "_IsBillable", "TenantId"];

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
    assert_eq!(out.len(), 12, "twelve table references");
    out
}

/// What is wrong with the row `e` against its table's list (named by its `Type`): a column
/// missing (with `keep_null`), one of another type, or one the table does not have.
fn problems(
    e: &Value,
    tables: &BTreeMap<String, Vec<(String, String)>>,
    keep_null: bool,
) -> Vec<String> {
    let Some(table) = e["Type"].as_str() else {
        return vec![format!("no Type: {e}")];
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
            if keep_null {
                out.push(format!("{table}.{column} missing"));
            }
            continue;
        };
        if !keep_null && (v.is_null() || v.as_str() == Some("")) {
            out.push(format!("{table}.{column} is {v} without keep_null_columns"));
        }
        let ok = v.is_null()
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
    for key in e.as_object().unwrap().keys() {
        if !columns.iter().any(|(c, _)| c == key) {
            out.push(format!("{table} has no column {key}"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_has_its_tables_columns_and_no_other() {
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
[streams.risky_agents]
[streams.agent_risk_detections]
[output]
format = "log_analytics"
keep_null_columns = true
"#,
    );
    let spread = between_minutes_ago(40, 2);
    h.sim
        .generate(entra_simulator::Resource::RiskyAgents, 5, spread);
    h.sim
        .generate(entra_simulator::Resource::AgentRiskDetections, 5, spread);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let (events, custom): (Vec<Value>, Vec<Value>) = records(r.events())
        .into_iter()
        .partition(|e| !e["Type"].as_str().unwrap_or("").ends_with("_CL"));
    // What no Microsoft table publishes is a custom table's row, its record's members as columns.
    let custom_tables: std::collections::BTreeSet<&str> =
        custom.iter().map(|e| e["Type"].as_str().unwrap()).collect();
    assert_eq!(custom_tables, ["EntraAgentRiskDetections_CL"].into(),);
    for e in &custom {
        assert!(
            e["TimeGenerated"].is_string() && e["AADTenantId"].is_string(),
            "{e}"
        );
        assert!(e["Id"].is_string(), "{e}");
    }
    let mut seen = BTreeMap::<String, usize>::new();
    for e in &events {
        let p = problems(e, &tables, true);
        assert!(p.is_empty(), "{p:#?}");
        *seen
            .entry(e["Type"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    // Graph activity has no Graph stream: its rows are checked from the hub's records below.
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        tables
            .keys()
            .filter(|t| *t != "MicrosoftGraphActivityLogs")
            .collect::<Vec<_>>(),
        "every table of a Graph stream is seen"
    );
}

/// Graph activity comes from an Event Hub only (issue 31): the peer's two export records, their
/// `properties` as the row's source, fill `MicrosoftGraphActivityLogs` with its types.
#[test]
fn graph_activity_rows_fill_their_tables_columns_with_their_types() {
    let tables = tables();
    let ctx = NormalizeContext::new("t", "2026-11-21T10:00:03Z".parse().unwrap());
    let spec = entra_source::streams::spec(StreamKind::Exported(
        entra_source::kind::Exported::GraphActivity,
    ));
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/azure-monitor/graph-activity.jsonl"),
    )
    .unwrap();
    for line in text.lines() {
        let export: Value = serde_json::from_str(line).unwrap();
        for keep_null in [true, false] {
            let e = spec.render_with(
                export["properties"].clone(),
                &ctx,
                Format::LogAnalytics,
                keep_null,
            );
            assert_eq!(e["Type"], "MicrosoftGraphActivityLogs");
            let p = problems(&e, &tables, keep_null);
            assert!(p.is_empty(), "{p:#?}\n{e:#}");
            assert_eq!(
                e["ClientAuthMethod"], 2,
                "an int column, from the export's \"2\""
            );
            assert_eq!(e["RequestUri"], export["properties"]["requestUri"]);
        }
    }
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
            let spec = entra_source::streams::spec(kind);
            for keep_null in [true, false] {
                let e = spec.render_with(r.clone(), &ctx, Format::LogAnalytics, keep_null);
                let p = problems(&e, &tables, keep_null);
                assert!(p.is_empty(), "{fixture}: {p:#?}");
            }
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
    let e = entra_source::streams::spec(StreamKind::SignIns).render(r, &ctx, Format::LogAnalytics);
    assert_eq!(e["Type"], "SigninLogs");
    assert_eq!(e["AutonomousSystemNumber"], "8075");
    assert_eq!(e["AuthenticationMethodsUsed"], "[\"Password\"]");
    assert_eq!(e["SignInIdentifier"], "alice@contoso.com");
    assert_eq!(e["AlternateSignInName"], "alice@contoso.com");
    assert_eq!(e["IsRisky"], false);
    assert_eq!(e["TimeGenerated"], "2020-03-13T19:15:41.6195833Z");
    assert_eq!(
        e["Status"]["errorCode"], 0,
        "a dynamic column is the JSON value"
    );
    assert_eq!(e["SourceSystem"], "Azure AD");
}
