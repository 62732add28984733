//! A real Kafka-protocol broker for the hub tests and `benches/hub.rs` (which includes this file):
//! tansu (Apache-2.0, crates.io), the binary `ENTRA_SOURCE_TANSU` names, in a temp dir with SQLite
//! storage so that a restart keeps its messages.

use std::collections::BTreeMap;
use std::process::Stdio;

/// A tansu broker in a temp dir.
pub struct Broker {
    bin: String,
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<tokio::process::Child>,
}

impl Broker {
    /// A running broker, or `None` (and a note) when `ENTRA_SOURCE_TANSU` is not set.
    pub async fn start_if_available() -> Option<Broker> {
        let Ok(bin) = std::env::var("ENTRA_SOURCE_TANSU") else {
            eprintln!("ENTRA_SOURCE_TANSU is not set: no Kafka-protocol broker, test not run");
            return None;
        };
        let mut b = Broker {
            bin,
            dir: tempfile::tempdir().unwrap(),
            port: std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port(),
            child: None,
        };
        b.start().await;
        Some(b)
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self) {
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

    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().await.unwrap();
            let _ = c.wait().await;
        }
    }

    /// Creates `topic` with `partitions`.
    pub async fn create(&self, topic: &str, partitions: i32) {
        let client = entra_source::hub::partition::connect(&self.bootstrap())
            .await
            .unwrap();
        client
            .controller_client()
            .unwrap()
            .create_topic(topic, partitions, 1, 5_000)
            .await
            .unwrap();
    }

    /// Sends each body as one message to `partition` of `topic`.
    pub async fn produce(&self, topic: &str, partition: i32, bodies: Vec<Vec<u8>>) {
        let client = entra_source::hub::partition::connect(&self.bootstrap())
            .await
            .unwrap();
        let p = client
            .partition_client(
                topic,
                partition,
                rskafka::client::partition::UnknownTopicHandling::Retry,
            )
            .await
            .unwrap();
        for body in bodies {
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
            .unwrap();
        }
    }
}
