//! The hub path on its own: every record once across a SIGKILL of entra-source and a broker
//! restart; bad messages counted, never stopping the partition; the export-only categories in
//! every format.

use entra_simulator::{Resource, TENANT_ID};
use entra_source::kind::StreamKind;
use serde_json::Value;

use super::{exported, hub_table, message, messages, Broker};
use crate::common::{between_minutes_ago, event_ids, run_then_kill_9, tally, Harness};

const HUB: &str = "insights-logs-auditlogs";

/// The tenant's hub section of `state export`.
fn hub_section(h: &Harness, hub: &str) -> Value {
    h.state_json()["tenants"][TENANT_ID]["streams"][format!("hub:{hub}")].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hub_record_is_emitted_once_across_a_sigkill_and_a_broker_restart() {
    let Some(mut broker) = Broker::start_if_available().await else {
        return;
    };
    let h = Harness::new("").await;
    broker.create(HUB, 2).await;
    h.sim
        .generate(Resource::DirectoryAudits, 1200, between_minutes_ago(50, 2));
    let first = h.sim.records(Resource::DirectoryAudits);
    let export = exported(StreamKind::DirectoryAudits, &first);
    // Twenty records a message, as diagnostic settings batch them; both partitions.
    let batches = messages(&export, 20);
    let (a, b) = batches.split_at(batches.len() / 2);
    broker.produce(HUB, 0, a.to_vec()).await;
    broker.produce(HUB, 1, b.to_vec()).await;
    h.write_streams(&hub_table(&broker.bootstrap(), &[HUB], ""));

    let mut delivered = run_then_kill_9(&h, 300).await;
    // The broker restarts; the export goes on meanwhile.
    broker.stop().await;
    broker.start().await;
    let before: std::collections::HashSet<String> = first
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    h.sim
        .generate(Resource::DirectoryAudits, 400, between_minutes_ago(2, 1));
    let second: Vec<Value> = h
        .sim
        .records(Resource::DirectoryAudits)
        .into_iter()
        .filter(|r| !before.contains(r["id"].as_str().unwrap()))
        .collect();
    broker
        .produce(
            HUB,
            1,
            messages(&exported(StreamKind::DirectoryAudits, &second), 20),
        )
        .await;
    delivered.extend(run_then_kill_9(&h, 700).await);
    let last = h.run_once().await;
    assert_eq!(last.code, Some(0), "{}", last.stderr);
    delivered.extend(event_ids(&last.events()));

    let all: Vec<String> = h.sim.ids(Resource::DirectoryAudits);
    let counts = tally(&delivered);
    let missing: Vec<_> = all.iter().filter(|id| !counts.contains_key(*id)).collect();
    assert!(missing.is_empty(), "{} records lost", missing.len());
    assert!(
        counts.keys().all(|k| all.contains(k)),
        "only the hub's records"
    );
    // A SIGKILL between a batch's lines and its checkpoint repeats that batch, no more: two
    // kills, two partitions, one fetch (1 MiB, under 700 of these records) each.
    let extra = delivered.len() - all.len();
    assert!(extra <= 2 * 2 * 700, "{extra} repeated");
    let section = hub_section(&h, HUB);
    assert_eq!(
        section["hub"]["offsets"],
        serde_json::json!({"0": a.len(), "1": b.len() + 20}),
        "{section}"
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_counted_and_reported_and_never_stop_the_partition() {
    let Some(mut broker) = Broker::start_if_available().await else {
        return;
    };
    let h = Harness::new("").await;
    broker.create(HUB, 1).await;
    h.sim
        .generate(Resource::DirectoryAudits, 60, between_minutes_ago(30, 2));
    let export = exported(
        StreamKind::DirectoryAudits,
        &h.sim.records(Resource::DirectoryAudits),
    );
    // A message just over Event Hubs' 1 MiB: records enough to pass it.
    let big: Vec<String> =
        std::iter::repeat_n(export[0].clone(), 1024 * 1024 / export[0].len() + 2).collect();
    let mut bodies = vec![
        b"not json at all".to_vec(),
        br#"{"value": []}"#.to_vec(),
        message(&big),
        message(&[
            r#"{"category":"SomethingNewFromMicrosoft","properties":{}}"#.to_string(),
            "42".to_string(),
            export[0].clone(),
        ]),
    ];
    bodies.extend(messages(&export[1..], 20));
    broker.produce(HUB, 0, bodies).await;
    h.write_streams(&hub_table(&broker.bootstrap(), &[HUB], ""));

    let run = h.run_once().await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let ids = event_ids(&run.events());
    assert_eq!(ids.len(), 60, "every good record, once");
    let section = hub_section(&h, HUB);
    let hub = &section["hub"];
    assert_eq!(
        hub["refused"],
        serde_json::json!({"no_records": 1, "not_json": 1, "too_large": 1}),
        "{section}"
    );
    assert_eq!(
        hub["skipped"],
        serde_json::json!({"not_an_object": 1, "unknown_category:SomethingNewFromMicrosoft": 1}),
        "{section}"
    );
    for needle in ["too_large", "not_json", "no_records"] {
        assert!(
            run.stderr.contains(needle),
            "said on stderr: {needle}\n{}",
            run.stderr
        );
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_string_never_reaches_stdout_stderr_or_the_state() {
    let Some(mut broker) = Broker::start_if_available().await else {
        return;
    };
    let h = Harness::new("").await;
    broker.create(HUB, 1).await;
    let secret = "c2VjcmV0LXNoYXJlZC1hY2Nlc3Mta2V5LTAxMjM0NTY3ODk=";
    let file = h.dir.path().join("eventhubs-connection");
    std::fs::write(
        &file,
        format!("Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey={secret}\n"),
    )
    .unwrap();
    h.write_streams(&format!(
        "[[tenant.hubs]]\nnamespace = \"{}\"\nhubs = [\"{HUB}\"]\nconnection_string_file = \"{}\"\n",
        broker.bootstrap(),
        file.display()
    ));
    // The test broker offers no SASL PLAIN: the sign-in fails, and says so without the key.
    let run = h
        .run_args(&[
            "run",
            "--config",
            h.config.to_str().unwrap(),
            "--once",
            "--log-format",
            "json",
        ])
        .await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.last_stderr_line().contains(HUB), "{}", run.stderr);
    assert!(
        run.last_stderr_line().contains("credential"),
        "the fix is named: {}",
        run.last_stderr_line()
    );
    let state = std::fs::read(&h.state).unwrap_or_default();
    for (what, text) in [
        ("stdout", run.stdout.as_bytes()),
        ("stderr", run.stderr.as_bytes()),
        ("state", &state[..]),
    ] {
        assert!(
            !String::from_utf8_lossy(text).contains(secret),
            "the connection string's key reached {what}"
        );
    }
    broker.stop().await;
}
