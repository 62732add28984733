//! One partition read over the Kafka protocol, the reader's building block: from its offsets
//! across a broker restart.

use super::Broker;
use entra_source::hub::message::{parse, Category};
use entra_source::hub::partition::{connect, Partition, Start};

fn message(lines: &[&str]) -> Vec<u8> {
    super::message(&lines.iter().map(|l| l.to_string()).collect::<Vec<_>>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_is_read_from_its_offsets_across_a_broker_restart() {
    let Some(mut broker) = Broker::start_if_available().await else {
        return;
    };
    let samples = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/azure-monitor/samples.jsonl"
    ))
    .unwrap();
    let lines: Vec<&str> = samples.lines().collect();
    let topic = "insights-logs-entra";
    broker.create(topic, 2).await;
    broker
        .produce(topic, 0, vec![message(&lines[..4]), message(&lines[4..])])
        .await;

    let client = connect(&broker.bootstrap()).await.unwrap();
    let part = Partition::open(&client, topic, 0).await.unwrap();
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
    broker.produce(topic, 0, vec![message(&lines[..1])]).await;
    let client = connect(&broker.bootstrap()).await.unwrap();
    let part = Partition::open(&client, topic, 0).await.unwrap();
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
