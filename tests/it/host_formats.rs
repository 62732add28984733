//! What each `[output] format` asks of the host examples in `config-examples/`: the Vector
//! examples' dedupe names every format's key, and the log-tailing examples say where each
//! format keeps its time and severity.

use crate::common::*;
use crate::host_configs::{example, toml_file};
use serde_json::Value;

/// The dedup key a Vector `dedupe` transform builds from `fields.match`: each field's value,
/// or nothing where the event lacks it (as Vector's cache entry does).
fn dedupe_key(e: &Value, fields: &[String]) -> Vec<Option<String>> {
    fields
        .iter()
        .map(|f| {
            f.split('.')
                .try_fold(e, |v, k| v.get(k))
                .filter(|v| !v.is_null())
                .map(Value::to_string)
        })
        .collect()
}

/// Both Vector examples deduped on `event.id`, which OCSF events lack (their id is
/// `metadata.uid`): every OCSF event after the first was dropped as a duplicate of "no value"
/// (and so would every `azure_monitor` and `log_analytics` event be).
/// For every format, the fields each example names must identify every record, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_carries_the_dedup_key_the_vector_examples_name() {
    use entra_simulator::Resource;
    let mut dedupes = Vec::new();
    for name in ["vector-streaming.toml", "vector-scheduled.toml"] {
        let v = toml_file(name);
        let transforms = v["transforms"].as_object().unwrap();
        let fields: Vec<Vec<String>> = transforms
            .values()
            .filter(|t| t["type"] == "dedupe")
            .map(|t| {
                t["fields"]["match"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_string())
                    .collect()
            })
            .collect();
        assert!(!fields.is_empty(), "{name} has no dedupe");
        dedupes.extend(fields.into_iter().map(|f| (name, f)));
    }
    let h = Harness::new("").await;
    let mut expected = 0;
    for (resource, n) in [
        (Resource::DirectoryAudits, 60),
        (Resource::SignIns, 60),
        (Resource::RiskyUsers, 20),
        (Resource::RiskDetections, 20),
        (Resource::RiskyServicePrincipals, 10),
        (Resource::ServicePrincipalRiskDetections, 10),
        (Resource::Provisioning, 20),
        (Resource::RiskyAgents, 10),
        (Resource::AgentRiskDetections, 10),
    ] {
        expected += h
            .sim
            .generate(resource, n, between_minutes_ago(30, 1))
            .len();
    }
    let streams = "[streams.directory_audits]\n[streams.sign_ins]\n[streams.risky_users]\n[streams.risk_detections]\n[streams.risky_service_principals]\n[streams.service_principal_risk_detections]\n[streams.provisioning]\n[streams.risky_agents]\n[streams.agent_risk_detections]\n";
    for format in ["native", "azure_monitor", "log_analytics", "ecs", "ocsf"] {
        h.write_streams(&format!("{streams}\n[output]\nformat = \"{format}\"\n"));
        let _ = std::fs::remove_file(&h.state);
        let r = h.run_once().await;
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let events = r.events();
        assert_eq!(events.len(), expected, "{format}");
        for (name, fields) in &dedupes {
            let keys: std::collections::HashSet<Vec<Option<String>>> = events
                .iter()
                .map(|e| {
                    let k = dedupe_key(e, fields);
                    assert!(
                        k.iter().any(Option::is_some),
                        "{name}: a {format} event has none of {fields:?}: {e}"
                    );
                    k
                })
                .collect();
            assert_eq!(
                keys.len(),
                events.len(),
                "{name}: {fields:?} is not unique per {format} record"
            );
        }
    }
}

/// The log-tailing examples read native's `time` and `event.severity` only, and `ecs`/`ocsf`
/// events fell back to the ingestion time silently: each now says, for every format, where its
/// time (and severity) is, or that it cannot read it.
#[test]
fn the_log_tailing_examples_say_how_to_read_every_format() {
    for name in [
        "otel-collector-filelog.yaml",
        "parsers.conf",
        "fluent-bit.yaml",
    ] {
        let text = example(name);
        for format in entra_source::format::Format::all() {
            assert!(
                text.contains(format.name()),
                "{name} says nothing of {}",
                format.name()
            );
        }
        for field in ["TimeGenerated", "@timestamp"] {
            assert!(text.contains(field), "{name}: where {field} is");
        }
    }
    let filelog = example("otel-collector-filelog.yaml");
    for needle in ["body.severity_id", "layout_type: epoch"] {
        assert!(filelog.contains(needle), "{needle}");
    }
}
