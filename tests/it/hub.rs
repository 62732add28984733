//! Reading a hub over the Kafka protocol against a real broker (issue 31, in progress): tansu,
//! an Apache-licensed Kafka-compatible broker from crates.io (`cargo install tansu --version 0.6.0
//! --locked --features libsql,dynostore`), its SQLite storage so that a broker restart keeps the
//! messages. Opt-in: `ENTRA_SOURCE_TANSU=/path/to/tansu cargo test --test it hub`; without it the
//! test says so and passes (`.ci/run` does not install the broker yet).

use std::collections::BTreeMap;
use std::process::Stdio;

use crate::common::free_port;
use entra_source::hub::message::{parse, Category};
use entra_source::hub::partition::{connect, Partition, Start};

struct Broker {
    bin: String,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<tokio::process::Child>,
}

impl Broker {
    async fn start(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut child = tokio::process::Command::new(&self.bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .arg("--storage-engine")
            .arg("sqlite://broker.db")
            .current_dir(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("tansu starts");
        // Ready when it says so ("ready in …", on stdout or stderr); its output is drained for
        // as long as it runs (a closed pipe would fail its next log line).
        use tokio::io::AsyncBufReadExt;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        for pipe in [
            Box::new(out) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(err),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(pipe).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let _ = tx.send(l);
                }
            });
        }
        drop(tx);
        let ready = async {
            while let Some(l) = rx.recv().await {
                if l.contains("ready in") {
                    return;
                }
            }
            panic!("tansu exited before it was ready");
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), ready)
            .await
            .expect("tansu ready within 10 s");
        self.child = Some(child);
    }

    async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.unwrap();
        }
    }
}

fn message(lines: &[&str]) -> Vec<u8> {
    format!("{{\"records\": [{}]}}", lines.join(",")).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_is_read_from_its_offsets_across_a_broker_restart() {
    let Ok(bin) = std::env::var("ENTRA_SOURCE_TANSU") else {
        eprintln!("ENTRA_SOURCE_TANSU is not set: no Kafka-protocol broker, test not run");
        return;
    };
    let mut broker = Broker {
        bin,
        dir: tempfile::tempdir().unwrap(),
        port: free_port(),
        child: None,
    };
    broker.start().await;
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
