//! One partition read over the Kafka protocol, the reader's building block: from its offsets
//! across a broker restart.

use std::collections::BTreeMap;

use super::Broker;
use entra_source::hub::message::{parse, Category};
use entra_source::hub::partition::{connect, Partition, Start};

fn message(lines: &[&str]) -> Vec<u8> {
    format!("{{\"records\": [{}]}}", lines.join(",")).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_is_read_from_its_offsets_across_a_broker_restart() {
    let Some(mut broker) = Broker::start_if_available().await else {
        return;
    };
    let bootstrap = format!("127.0.0.1:{}", broker.port);
    let samples = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/azure-monitor/samples.jsonl"
    ))
    .unwrap();
    let lines: Vec<&str> = samples.lines().collect();

    let client = connect(&bootstrap).await.unwrap();
    client
        .controller_client()
        .unwrap()
        .create_topic("insights-logs-entra", 2, 1, 5_000)
        .await
        .unwrap();
    let produce = |body: Vec<u8>| {
        let client = &client;
        async move {
            let p = client
                .partition_client(
                    "insights-logs-entra",
                    0,
                    rskafka::client::partition::UnknownTopicHandling::Retry,
                )
                .await
                .unwrap();
            let r = rskafka::record::Record {
                key: None,
                value: Some(body),
                headers: BTreeMap::new(),
                timestamp: chrono::Utc::now(),
            };
            p.produce(
                vec![r],
                rskafka::client::partition::Compression::NoCompression,
            )
            .await
            .unwrap()
        }
    };
    produce(message(&lines[..4])).await;
    produce(message(&lines[4..])).await;

    let part = Partition::open(&client, "insights-logs-entra", 0)
        .await
        .unwrap();
    let start = part.start(Start::Earliest).await.unwrap();
    let (messages, high) = part.read(start, 1 << 20, 1_000).await.unwrap();
    assert_eq!(messages.len(), 2);
    let records: usize = messages
        .iter()
        .map(|m| parse(&m.body, 1 << 20).unwrap().entries.len())
        .sum();
    assert_eq!(records, lines.len());
    let next = messages.last().unwrap().offset + 1;
    assert_eq!(next, high);

    // The broker restarts; what was sent after reads on from the kept offset, nothing twice.
    broker.stop().await;
    broker.start().await;
    let client = connect(&bootstrap).await.unwrap();
    let p = client
        .partition_client(
            "insights-logs-entra",
            0,
            rskafka::client::partition::UnknownTopicHandling::Retry,
        )
        .await
        .unwrap();
    p.produce(
        vec![rskafka::record::Record {
            key: None,
            value: Some(message(&lines[..1])),
            headers: BTreeMap::new(),
            timestamp: chrono::Utc::now(),
        }],
        rskafka::client::partition::Compression::NoCompression,
    )
    .await
    .unwrap();
    let part = Partition::open(&client, "insights-logs-entra", 0)
        .await
        .unwrap();
    let (messages, _) = part.read(next, 1 << 20, 1_000).await.unwrap();
    assert_eq!(
        messages.len(),
        1,
        "exactly the message sent after the restart"
    );
    let parsed = parse(&messages[0].body, 1 << 20).unwrap();
    assert_eq!(parsed.entries[0].category, Category::SignInLogs);
    broker.stop().await;
}
