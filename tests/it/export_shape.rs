//! `format = "azure_monitor"` against Microsoft's own export (`testdata/azure-monitor/`, peer
//! samples of what Entra's diagnostic settings send to Event Hubs): each sample's record,
//! written by its stream, has the sample's top-level keys with the same JSON types, and costs
//! within 5 % of the sample's bytes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use entra_source::format::Format;
use entra_source::streams::{NormalizeContext, StreamKind};
use serde_json::Value;

/// What Graph cannot tell, per category: `(category, key, why)`.
const UNKNOWABLE: [(&str, &str, &str); 1] = [(
    "RiskyUsers",
    "location",
    "the data region Microsoft keeps the risky user in (`neu`, `weu`); Graph does not say it",
)];

/// The stream and sign-in event type that read a category.
fn stream_of(category: &str) -> (StreamKind, Option<&'static str>) {
    match category {
        "SignInLogs" => (StreamKind::SignIns, Some("interactiveUser")),
        "NonInteractiveUserSignInLogs" => (StreamKind::SignIns, Some("nonInteractiveUser")),
        "ServicePrincipalSignInLogs" => (StreamKind::SignIns, Some("servicePrincipal")),
        "ManagedIdentitySignInLogs" => (StreamKind::SignIns, Some("managedIdentity")),
        "AuditLogs" => (StreamKind::DirectoryAudits, None),
        "ProvisioningLogs" => (StreamKind::Provisioning, None),
        "RiskyUsers" => (StreamKind::RiskyUsers, None),
        "UserRiskEvents" => (StreamKind::RiskDetections, None),
        other => panic!("no stream reads {other}"),
    }
}

/// The Graph record behind a sample. Microsoft's export writes a sign-in's event type only in
/// the category, and a provisioning record's status in its older PascalCase shape
/// (`provisioningStatusInfo.Status`); Graph writes `signInEventTypes` and `status`.
fn graph_record(category: &str, sign_in_type: Option<&str>, properties: &Value) -> Value {
    let mut r = properties.clone();
    if let Some(t) = sign_in_type {
        r["signInEventTypes"] = serde_json::json!([t]);
    }
    if category == "ProvisioningLogs" {
        let status = r["provisioningStatusInfo"]["Status"].clone();
        r["provisioningStatusInfo"]["status"] = status;
    }
    r
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn shape(v: &Value) -> BTreeMap<String, &'static str> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json_type(v)))
        .collect()
}

#[test]
fn every_category_has_microsofts_export_keys_and_types() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/azure-monitor/samples.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    let (mut ours_bytes, mut theirs_bytes) = (0usize, 0usize);
    let mut seen = Vec::new();
    for line in text.lines() {
        let sample: Value = serde_json::from_str(line).unwrap();
        let category = sample["category"].as_str().unwrap();
        let (kind, sign_in_type) = stream_of(category);
        let tenant = sample["tenantId"].as_str().unwrap();
        let ctx = NormalizeContext::new(tenant, "2026-11-21T10:00:03Z".parse().unwrap());
        let record = graph_record(category, sign_in_type, &sample["properties"]);
        let spec: Box<dyn entra_source::streams::StreamSpec> = match sign_in_type {
            Some(t) => Box::new(entra_source::streams::sign_ins::SignIns {
                filter: entra_source::streams::SignInFilter::All,
                beta: true,
                event_type: Some(t.to_string()),
                shaping: None,
            }),
            None => entra_source::streams::spec(kind),
        };
        let ours = spec.render(record.clone(), &ctx, Format::AzureMonitor);
        let mut want = shape(&sample);
        for (c, key, _) in UNKNOWABLE {
            if c == category {
                want.remove(key);
            }
        }
        assert_eq!(shape(&ours), want, "{category}: ours {ours}");
        assert_eq!(ours["category"], category);
        assert_eq!(
            ours["properties"], record,
            "{category}: the record verbatim"
        );
        // The export's keys in the export's order, `properties` last.
        let keys: Vec<&String> = ours.as_object().unwrap().keys().collect();
        let theirs: Vec<&String> = sample
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| want.contains_key(*k))
            .collect();
        assert_eq!(keys, theirs, "{category}");
        // Bytes: the same record, so what differs is the envelope.
        let (o, t) = (
            ours.to_string().len(),
            serde_json::to_string(&{
                let mut s = sample.clone();
                s["properties"] = record.clone();
                s
            })
            .unwrap()
            .len(),
        );
        assert!(
            (o as f64 / t as f64 - 1.0).abs() <= 0.05,
            "{category}: {o} bytes against Microsoft's {t}"
        );
        ours_bytes += o;
        theirs_bytes += t;
        seen.push(category.to_string());
    }
    assert_eq!(seen.len(), 8, "a sample per category the peer has");
    eprintln!("azure_monitor: {ours_bytes} bytes against Microsoft's {theirs_bytes}");
}
