//! Golden tests: Microsoft's documented example payloads (`../shared/graph/fixtures/`) turn into
//! the checked-in native events under `tests/golden/`. Regenerate with `UPDATE_GOLDEN=1` after
//! an intended change, and review the diff.

use std::path::PathBuf;

use entra_source::streams::{NormalizeContext, StreamKind};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/graph/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn check(kind: StreamKind, fixture_name: &str) {
    let ctx = NormalizeContext {
        tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
        ingested: "2026-11-21T10:00:03Z".parse().unwrap(),
    };
    let spec = kind.spec();
    let events: Vec<Value> = fixture(fixture_name)["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let e = spec.normalize(r.clone(), &ctx);
            assert_eq!(
                &e["properties"], r,
                "the Graph record must be kept verbatim"
            );
            e
        })
        .collect();
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(fixture_name);
    let actual = serde_json::to_string_pretty(&events).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|_| panic!("{} is missing: run with UPDATE_GOLDEN=1", golden.display()));
    assert_eq!(
        actual, expected,
        "{fixture_name} normalizes differently from its golden file"
    );
}

#[test]
fn directory_audit_fixtures() {
    check(StreamKind::DirectoryAudits, "directoryAudit.json");
    check(StreamKind::DirectoryAudits, "directoryAudit_example1.json");
}

#[test]
fn directory_audit_summary_values() {
    let ctx = NormalizeContext {
        tenant_id: "t".into(),
        ingested: chrono::Utc::now(),
    };
    let spec = StreamKind::DirectoryAudits.spec();
    let r = &fixture("directoryAudit_example1.json")["value"][0];
    let e = spec.normalize(r.clone(), &ctx);
    assert_eq!(e["event"]["id"], "id");
    assert_eq!(e["event"]["action"], "Add member to group");
    assert_eq!(e["event"]["outcome"], "success");
    assert_eq!(e["event"]["severity"], "low");
    assert_eq!(e["time"], "2018-01-09T21:20:02.7215374Z");
    assert_eq!(e["callerIpAddress"], "127.0.0.1");
    assert_eq!(e["identity"], "bob@wingtiptoysonline.com");
    assert_eq!(e["Category"], "UserManagement");
    assert_eq!(e["category"], "AuditLogs");
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
        assert_eq!(e["event"]["outcome"], "unknown");
    }
}
