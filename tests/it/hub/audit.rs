//! Graph audits the hub: what the hub lost is emitted from Graph, nothing twice whichever path
//! brought it first, and a tenant moved from Graph to the hub and back emits nothing twice.

use entra_simulator::{Resource, TENANT_ID};
use entra_source::kind::StreamKind;
use serde_json::Value;

use super::{exported, hub_table, messages, Broker};
use crate::common::{assert_unique, between_minutes_ago, event_ids, Harness};

const HUB: &str = "insights-logs-auditlogs";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auditor_repairs_records_deleted_from_the_hub_and_emits_nothing_twice() {
    let Some(mut broker) = Broker::start_if_available().await else {
        return;
    };
    let h = Harness::new("").await;
    broker.create(HUB, 1).await;
    // Three hours of audits: by the auditor's age (2 h) two whole hours have settled.
    h.sim.generate(
        Resource::DirectoryAudits,
        900,
        between_minutes_ago(185, 125),
    );
    let records = h.sim.records(Resource::DirectoryAudits);
    // One in ten never reaches the hub (Microsoft: resource logs "aren't completely lossless").
    let kept: Vec<Value> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 != 0)
        .map(|(_, r)| r.clone())
        .collect();
    let lost: Vec<String> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 10 == 0)
        .map(|(_, r)| r["id"].as_str().unwrap().to_string())
        .collect();
    broker
        .produce(
            HUB,
            0,
            messages(&exported(StreamKind::DirectoryAudits, &kept), 25),
        )
        .await;
    let hubs = hub_table(&broker.bootstrap(), &[HUB], "");

    // The hub first (in production the auditor's two hours give it the lead).
    h.write_streams(&hubs);
    let first = h.run_once().await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let from_hub = event_ids(&first.events());
    assert_eq!(from_hub.len(), kept.len());
    assert!(first
        .events()
        .iter()
        .all(|e| e["event"]["collected_from"] == "event_hubs"));

    // Then the auditor beside it.
    h.write_streams(&format!(
        "[streams.directory_audits]\naudit = true\ninitial_lookback = \"4h\"\n\n{hubs}"
    ));
    let second = h.run_once().await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let repaired: Vec<Value> = second.events();
    let repaired_ids = event_ids(&repaired);
    let mut want = lost.clone();
    want.sort();
    let mut got = repaired_ids.clone();
    got.sort();
    assert_eq!(got, want, "exactly what the hub lost");
    assert!(repaired
        .iter()
        .all(|e| e["event"]["collected_from"] == "graph_audit"));
    let mut all = from_hub.clone();
    all.extend(repaired_ids);
    assert_unique(&all);

    // Per hour both paths' counts and the repairs: a health event and the state.
    let audited: Vec<Value> = second
        .health()
        .into_iter()
        .filter(|e| e["properties"]["state"] == "audited")
        .collect();
    assert!(!audited.is_empty(), "{}", second.stdout);
    let sum = |k: &str| {
        audited
            .iter()
            .map(|e| e["properties"][k].as_u64().unwrap())
            .sum::<u64>()
    };
    let section = &h.state_json()["tenants"][TENANT_ID]["streams"]["directory_audits"]["hub"];
    let totals = &section["audit_totals"];
    assert_eq!(totals["graph"].as_u64(), Some(sum("graph_listed")));
    assert_eq!(totals["repaired"].as_u64(), Some(sum("repaired")));
    assert_eq!(totals["hub"].as_u64(), Some(sum("hub_delivered")));
    // The closed hours hold every record of theirs; what is still open waits for its hour.
    let open: u64 = section["audit_open"]
        .as_object()
        .map(|o| o.values().map(|v| v["repaired"].as_u64().unwrap()).sum())
        .unwrap_or(0);
    assert_eq!(sum("repaired") + open, lost.len() as u64);
    assert_eq!(
        sum("graph_listed") - sum("repaired"),
        sum("hub_delivered"),
        "what Graph listed is what the hub delivered plus what it lost"
    );

    // Again: nothing new from either path.
    let third = h.run_once().await;
    assert_eq!(third.code, Some(0), "{}", third.stderr);
    assert!(event_ids(&third.events()).is_empty(), "{}", third.stdout);
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_a_tenant_from_graph_to_the_hub_and_back_emits_nothing_twice() {
    let Some(mut broker) = Broker::start_if_available().await else {
        return;
    };
    let h = Harness::new("").await;
    broker.create(HUB, 1).await;
    let ids = |rs: &[Value]| -> Vec<String> {
        rs.iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    // On Graph.
    h.sim
        .generate(Resource::DirectoryAudits, 300, between_minutes_ago(50, 30));
    let graph_era = h.sim.records(Resource::DirectoryAudits);
    let first = h.run_once().await;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let mut delivered = event_ids(&first.events());
    assert_eq!(delivered.len(), 300);

    // To the hub, which starts at its oldest message: the export carried the same records.
    // Newer than Graph's last settle sweep (20 minutes): Graph's ids of that span are still
    // remembered; an older record is Graph's to have read (docs/eventhubs.md § How records flow).
    h.sim
        .generate(Resource::DirectoryAudits, 200, between_minutes_ago(15, 10));
    let all = h.sim.records(Resource::DirectoryAudits);
    broker
        .produce(
            HUB,
            0,
            messages(&exported(StreamKind::DirectoryAudits, &all), 25),
        )
        .await;
    // The hub remembers its ids one minute past its newest record: the way back to Graph must
    // not read again what it forgot (nor what Graph emitted before).
    let hubs = hub_table(&broker.bootstrap(), &[HUB], "dedup_window = \"1m\"");
    h.write_streams(&hubs);
    let second = h.run_once().await;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    let from_hub = event_ids(&second.events());
    let old = ids(&graph_era);
    assert_eq!(from_hub.len(), 200, "only what Graph had not emitted");
    assert!(from_hub.iter().all(|id| !old.contains(id)));
    delivered.extend(from_hub);

    // Back to Graph.
    h.sim
        .generate(Resource::DirectoryAudits, 100, between_minutes_ago(9, 1));
    h.write_streams("[streams.directory_audits]\n");
    // Graph's settle sweeps come due (the new records are older than its cursor).
    h.settle();
    let third = h.run_once().await;
    assert_eq!(third.code, Some(0), "{}", third.stderr);
    let back = event_ids(&third.events());
    assert_eq!(back.len(), 100, "only the records neither path had emitted");
    delivered.extend(back);
    assert_unique(&delivered);
    assert_eq!(delivered.len(), h.sim.ids(Resource::DirectoryAudits).len());
    broker.stop().await;
}
