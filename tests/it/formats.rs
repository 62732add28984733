//! `[output] format`, end to end: a simulated tenant with every stream is read by the real
//! binary in each of the five formats. Every format carries every record once; the native event
//! is the summary and the record and nothing else; ECS and OCSF events are checked against the
//! published schema: ECS field by field against `testdata/ecs/ecs_flat.yml`; OCSF by
//! `pydantic-ocsf` (`tests/ocsf/validate.py`, installed by `.ci/test`). The golden renders of
//! Microsoft's documented payloads (`tests/golden/ecs`, `tests/golden/ocsf`) are checked the same
//! way; `azure_monitor` and `log_analytics` in `export_shape.rs` and `columns.rs`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::common::*;
use serde_json::Value;

const ALL_STREAMS: &str = r#"
[streams.directory_audits]
[streams.sign_ins]
filter = "all"
event_types = ["interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity"]
[streams.risky_users]
[streams.risk_detections]
[streams.risky_service_principals]
[streams.service_principal_risk_detections]
[streams.provisioning]
[streams.risky_agents]
[streams.agent_risk_detections]
"#;

/// Runs the binary once over a tenant with `per_stream` records in each stream, in `format`.
async fn run_in_format(format: &str, per_stream: u64) -> (Vec<Value>, usize) {
    let h = Harness::new("").await;
    h.sim.populate(per_stream, chrono::Duration::minutes(50), 0);
    h.write_streams(&format!("[output]\nformat = \"{format}\"\n{ALL_STREAMS}"));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let expected = entra_simulator::Resource::all()
        .iter()
        .map(|r| h.sim.ids(*r).len())
        .sum();
    (r.events(), expected)
}

fn golden(dir: &str) -> Vec<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(dir);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        out.extend(v.as_array().unwrap().iter().cloned());
    }
    assert!(out.len() >= 8, "golden {dir} renders missing");
    out
}

// ---------------------------------------------------------------------------------------------
// ECS

/// One field definition of `ecs_flat.yml`.
struct EcsField {
    ty: String,
    array: bool,
    allowed: Vec<String>,
}

pub(crate) struct Ecs {
    fields: HashMap<String, EcsField>,
    /// event.category → the event.type values ECS expects with it.
    expected_types: HashMap<String, Vec<String>>,
}

pub(crate) fn ecs() -> Ecs {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/ecs/ecs_flat.yml");
    let text = std::fs::read_to_string(&path).expect("testdata/ecs/ecs_flat.yml");
    let doc: Value = yaml_serde::from_str(&text).expect("ecs_flat.yml parses");
    let mut fields = HashMap::new();
    let mut expected_types = HashMap::new();
    for (name, def) in doc.as_object().unwrap() {
        let allowed: Vec<String> = def["allowed_values"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if name == "event.category" {
            for v in def["allowed_values"].as_array().unwrap() {
                let types = v["expected_event_types"]
                    .as_array()
                    .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default();
                expected_types.insert(v["name"].as_str().unwrap().to_string(), types);
            }
        }
        let array = def["normalize"]
            .as_array()
            .is_some_and(|n| n.iter().any(|x| x == "array"));
        fields.insert(
            name.clone(),
            EcsField {
                ty: def["type"].as_str().unwrap_or("").to_string(),
                array,
                allowed,
            },
        );
    }
    assert!(fields.len() > 1000, "ecs_flat.yml lists ECS's fields");
    Ecs {
        fields,
        expected_types,
    }
}

/// Leaf fields of a nested ECS document by dotted name (geo points and vendor fields are leaves).
fn flatten<'a>(prefix: &str, v: &'a Value, ecs: &Ecs, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m)
            if !prefix.starts_with("azure")
                && ecs.fields.get(prefix).is_none_or(|f| f.ty != "geo_point") =>
        {
            for (k, v) in m {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, ecs, out);
            }
        }
        _ => out.push((prefix.to_string(), v)),
    }
}

fn type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "text" => v.is_string(),
        "long" | "integer" | "short" | "byte" | "unsigned_long" => v.is_i64() || v.is_u64(),
        "float" | "double" | "scaled_float" | "half_float" => v.is_number(),
        "boolean" => v.is_boolean(),
        "date" => v
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        "ip" => v
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        "geo_point" => {
            v["lat"]
                .as_f64()
                .is_some_and(|x| (-90.0..=90.0).contains(&x))
                && v["lon"]
                    .as_f64()
                    .is_some_and(|x| (-180.0..=180.0).contains(&x))
        }
        "flattened" | "object" | "nested" => v.is_object(),
        _ => false,
    }
}

/// Every problem of one ECS event.
pub(crate) fn ecs_problems(e: &Value, ecs: &Ecs) -> Vec<String> {
    let mut problems = Vec::new();
    let mut leaves = Vec::new();
    flatten("", e, ecs, &mut leaves);
    for (name, v) in &leaves {
        if name == "azure" || name.starts_with("azure.") {
            continue;
        }
        let Some(def) = ecs.fields.get(name) else {
            problems.push(format!(
                "{name} is not an ECS field (vendor fields go under azure.*)"
            ));
            continue;
        };
        let values: Vec<&Value> = match v {
            Value::Array(a) if def.array => a.iter().collect(),
            Value::Array(_) => {
                problems.push(format!("{name} is an array but ECS defines a single value"));
                continue;
            }
            v => vec![v],
        };
        for x in values {
            if !type_ok(&def.ty, x) {
                problems.push(format!("{name} = {x} is not of ECS type {}", def.ty));
            }
            if !def.allowed.is_empty()
                && !x
                    .as_str()
                    .is_some_and(|s| def.allowed.iter().any(|a| a == s))
            {
                problems.push(format!("{name} = {x} is not an allowed value"));
            }
        }
    }
    let names: HashSet<&str> = leaves.iter().map(|(n, _)| n.as_str()).collect();
    for required in [
        "@timestamp",
        "ecs.version",
        "event.id",
        "event.kind",
        "event.category",
        "event.type",
        "event.action",
        "event.outcome",
        "event.severity",
        "event.dataset",
        "event.original",
        "cloud.provider",
        "cloud.account.id",
    ] {
        if !names.contains(required) {
            problems.push(format!("{required} is missing"));
        }
    }
    // Every event.type must be one ECS expects with one of the event's categories.
    let categories: Vec<&str> = e["event"]["category"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for t in e["event"]["type"].as_array().into_iter().flatten() {
        let t = t.as_str().unwrap_or("");
        if !categories.iter().any(|c| {
            ecs.expected_types
                .get(*c)
                .is_some_and(|ts| ts.iter().any(|x| x == t))
        }) {
            problems.push(format!(
                "event.type {t} is not expected with {categories:?}"
            ));
        }
    }
    if e["event"]["original"]
        .as_str()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .is_none_or(|v| !v.is_object())
    {
        problems.push("event.original is not the Graph record's JSON".into());
    }
    problems
}

#[test]
fn ecs_checker_rejects_what_ecs_does_not_define() {
    let ecs = ecs();
    let good = &golden("ecs")[0];
    assert_eq!(ecs_problems(good, &ecs), Vec::<String>::new());
    let mut bad = good.clone();
    bad["event"]["category"] = serde_json::json!(["identity"]);
    bad["event"]["severity"] = "high".into();
    bad["user"]["nickname"] = "x".into();
    bad["source"] = serde_json::json!({"ip": "123.456.7.89"});
    bad["event"]["kind"] = "incident".into();
    let p = ecs_problems(&bad, &ecs).join("\n");
    for needle in [
        "event.category = \"identity\" is not an allowed value",
        "event.severity = \"high\" is not of ECS type long",
        "user.nickname is not an ECS field",
        "source.ip = \"123.456.7.89\" is not of ECS type ip",
        "event.kind = \"incident\" is not an allowed value",
    ] {
        assert!(p.contains(needle), "missing «{needle}» in:\n{p}");
    }
}

#[test]
fn golden_ecs_renders_are_valid_ecs() {
    let ecs = ecs();
    for e in golden("ecs") {
        let p = ecs_problems(&e, &ecs);
        assert!(p.is_empty(), "{}: {p:#?}", e["event"]["id"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_stream_in_ecs_is_valid_ecs_and_complete() {
    let ecs = ecs();
    let (events, expected) = run_in_format("ecs", 40).await;
    assert_eq!(events.len(), expected, "every record, once");
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_unique(&ids);
    let mut by_category = HashMap::new();
    for e in &events {
        let p = ecs_problems(e, &ecs);
        assert!(p.is_empty(), "{e}\n{p:#?}");
        *by_category
            .entry(e["event"]["category"][0].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(
        by_category["authentication"] > 0 && by_category["iam"] > 0,
        "{by_category:?}"
    );
    // What a SOC queries on: the principal, the address, the targets.
    let signin = events
        .iter()
        .find(|e| e["event"]["dataset"] == "entra.sign_ins" && e["user"]["name"].is_string())
        .expect("a user sign-in");
    assert!(signin["source"]["ip"].is_string());
    assert!(signin["related"]["ip"].is_array());
    let role = events
        .iter()
        .find(|e| e["event"]["action"] == "Add member to role")
        .expect("a role assignment");
    assert!(role["user"]["target"]["name"].is_string(), "{role}");
    assert_eq!(
        role["event"]["type"],
        serde_json::json!(["admin", "change"])
    );
    let group = events
        .iter()
        .find(|e| e["event"]["action"] == "Add member to group")
        .expect("a group change");
    assert!(
        group["user"]["target"]["group"]["name"].is_string(),
        "{group}"
    );
}

// ---------------------------------------------------------------------------------------------
// OCSF

/// The Python with pydantic-ocsf that `.ci/test` installs (or `ENTRA_SOURCE_OCSF_PYTHON`).
fn ocsf_python() -> PathBuf {
    if let Some(p) = std::env::var_os("ENTRA_SOURCE_OCSF_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ocsf-venv/bin/python");
    assert!(
        venv.exists(),
        "the OCSF validator is not installed: run the tests with `bash .ci/test` (it installs pydantic-ocsf into target/ocsf-venv), or set ENTRA_SOURCE_OCSF_PYTHON to a python that has pydantic-ocsf"
    );
    venv
}

/// Runs the validator over `events`; returns (success, its report).
pub(crate) fn validate_ocsf(events: &[Value], require: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let sample = dir.path().join("sample.ndjson");
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(&sample, text).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ocsf/validate.py");
    let mut cmd = std::process::Command::new(ocsf_python());
    cmd.arg(&script).arg(&sample);
    if !require.is_empty() {
        cmd.arg("--require-classes").arg(require);
    }
    let out = cmd.output().expect("run the OCSF validator");
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), report)
}

#[test]
fn ocsf_validator_rejects_unknown_keys_and_bad_values() {
    let good = golden("ocsf");
    let (ok, report) = validate_ocsf(&good[..1], "");
    assert!(ok, "{report}");
    let mut unknown = good[0].clone();
    unknown["metadata"]["product"]["nickname"] = "x".into();
    let mut type_uid = good[0].clone();
    type_uid["type_uid"] = 1.into();
    let mut severity = good[0].clone();
    severity["severity_id"] = 42.into();
    let (ok, report) = validate_ocsf(&[unknown, type_uid, severity], "");
    assert!(!ok, "{report}");
    for needle in ["metadata.product.nickname", "type_uid", "severity_id"] {
        assert!(report.contains(needle), "missing «{needle}» in:\n{report}");
    }
}

#[test]
fn golden_ocsf_renders_validate() {
    let (ok, report) = validate_ocsf(&golden("ocsf"), "3002,3004,3006,2004,6003");
    assert!(ok, "{report}");
}

/// Every export-only category (issue 31) in ECS and OCSF: Graph activity from the peer's
/// records, AD FS and first-party service-principal sign-ins in a sign-in's shape, the Global
/// Secure Access and Azure AD Graph categories as generic records.
#[test]
fn every_export_only_category_is_valid_ecs_and_ocsf() {
    use entra_source::format::Format;
    use entra_source::kind::{Exported, StreamKind};
    let ctx = entra_source::streams::NormalizeContext::new(
        "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "2026-11-21T10:00:03Z".parse().unwrap(),
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let activity: Vec<Value> =
        std::fs::read_to_string(root.join("testdata/azure-monitor/graph-activity.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["properties"].clone())
            .collect();
    let sign_in: Value = serde_json::from_str::<Value>(
        &std::fs::read_to_string(root.join("testdata/graph-fixtures/signIn.json")).unwrap(),
    )
    .unwrap()["value"][0]
        .clone();
    let generic = serde_json::json!({
        "id": "c1d2e3f4-0000-4000-8000-000000000001",
        "createdDateTime": "2026-11-21T09:58:00Z",
        "operationName": "Traffic log",
        "sourceIp": "203.0.113.7",
        "result": "success"
    });
    let (ecs, mut ocsf) = (ecs(), Vec::new());
    for which in Exported::ALL {
        let records = match which {
            Exported::GraphActivity => activity.clone(),
            Exported::AdfsSignIns | Exported::MicrosoftServicePrincipalSignIns => {
                vec![sign_in.clone()]
            }
            _ => vec![generic.clone()],
        };
        let spec = entra_source::streams::spec(StreamKind::Exported(which));
        for r in records {
            let e = spec.render(r.clone(), &ctx, Format::Ecs);
            assert_eq!(e["event"]["dataset"], which.dataset());
            let p = ecs_problems(&e, &ecs);
            assert!(p.is_empty(), "{which:?}: {p:#?}");
            let native = spec.normalize(r.clone(), &ctx);
            assert_eq!(native["properties"], r, "the record verbatim");
            ocsf.push(spec.render(r, &ctx, Format::Ocsf));
        }
    }
    let (ok, report) = validate_ocsf(&ocsf, "6003,3002,4001");
    assert!(ok, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_stream_in_ocsf_validates_and_covers_every_class() {
    let (events, expected) = run_in_format("ocsf", 40).await;
    assert_eq!(events.len(), expected, "every record, once");
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["metadata"]["uid"].as_str().unwrap().to_string())
        .collect();
    assert_unique(&ids);
    for e in &events {
        let class = e["class_uid"].as_i64().unwrap();
        let activity = e["activity_id"].as_i64().unwrap();
        assert_eq!(e["type_uid"].as_i64().unwrap(), class * 100 + activity);
        assert!(
            e["unmapped"]["id"].is_string(),
            "the raw record in unmapped"
        );
    }
    let (ok, report) = validate_ocsf(&events, "3001,3002,3004,3005,3006,2004");
    assert!(ok, "{report}");
    assert!(report.contains("0 problems"), "{report}");
}

/// The native event is entra-source's summary, the time and the record, nothing else: a fixed
/// few hundred bytes beside the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_event_is_the_summary_and_the_record_and_nothing_else() {
    let (events, _) = run_in_format("native", 40).await;
    for e in records(events) {
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(
            keys == ["event", "time", "properties"]
                || keys == ["event", "time", "context", "properties"],
            "{keys:?}"
        );
        let summary: Vec<&str> = e["event"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in ["id", "dataset", "kind", "action", "severity", "tenant_id"] {
            assert!(summary.contains(&key), "{key} missing: {e}");
        }
        assert!(summary.len() <= 7, "{summary:?}");
        let line = e.to_string();
        let overhead = line.len()
            - e["properties"].to_string().len()
            - e.get("context").map_or(0, |c| c.to_string().len());
        // A failed sign-in's action carries its failure reason (some 150 bytes).
        assert!(
            overhead <= 480,
            "{overhead} bytes beside the record: {line}"
        );
    }
}

/// Every format carries every record once: the ids a SOC dedups on are where each schema puts
/// them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_carries_every_record_once() {
    for format in ["native", "azure_monitor", "log_analytics", "ecs", "ocsf"] {
        let (events, expected) = run_in_format(format, 15).await;
        let events = records(events);
        assert_eq!(events.len(), expected, "{format}");
        let ids: Vec<String> = events
            .iter()
            .map(|e| {
                let id = match format {
                    "native" | "ecs" => &e["event"]["id"],
                    "ocsf" => &e["metadata"]["uid"],
                    // The record's own id: a state's versions are told apart by their time.
                    "azure_monitor" => &e["properties"]["id"],
                    _ => &e["Id"],
                };
                let version = match format {
                    "azure_monitor" => e["time"].to_string(),
                    "log_analytics" => {
                        e["TimeGenerated"].to_string() + &e["RiskLastUpdatedDateTime"].to_string()
                    }
                    _ => String::new(),
                };
                format!(
                    "{}{version}",
                    id.as_str()
                        .unwrap_or_else(|| panic!("{format}: no id in {e}"))
                )
            })
            .collect();
        assert_unique(&ids);
    }
}
