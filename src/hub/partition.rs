//! One partition of one hub, read over the Kafka protocol (Event Hubs' Kafka endpoint, or any
//! Kafka-protocol broker): the connection (TLS, SASL PLAIN with a connection string or
//! OAUTHBEARER with the tenant's token), where a new hub starts, and the messages from an
//! offset on. The offsets are the caller's to keep ([`super::reader`]): one is checkpointed only
//! after the lines of every message before it were written.

use chrono::{DateTime, Utc};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, SaslConfig};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Where a hub no checkpoint knows starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest message the hub still keeps (its retention).
    Earliest,
    /// Only messages sent from now on.
    Latest,
    /// The first message enqueued at or after this time.
    At(DateTime<Utc>),
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("cannot reach the hub at {bootstrap}: {source}; check the namespace, the port (9093 for Event Hubs' Kafka endpoint) and the credential")]
    Connect {
        bootstrap: String,
        source: rskafka::client::error::Error,
    },
    #[error("hub {hub} partition {partition}: {source}")]
    Partition {
        hub: String,
        partition: i32,
        source: rskafka::client::error::Error,
    },
}

/// One message: its offset, its enqueued time and its body.
#[derive(Debug, Clone)]
pub struct Message {
    pub offset: i64,
    pub enqueued: DateTime<Utc>,
    pub body: Vec<u8>,
}

/// How long one request (a connection and sign-in included) is retried before it fails.
pub const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

/// A connection to a plain loopback broker (tests, a local relay).
pub async fn connect(bootstrap: &str) -> Result<Client, HubError> {
    connect_with(bootstrap, None, None).await
}

/// A connection to a namespace's brokers, with TLS and SASL when given.
pub async fn connect_with(
    bootstrap: &str,
    tls: Option<Arc<ClientConfig>>,
    sasl: Option<SaslConfig>,
) -> Result<Client, HubError> {
    let mut builder = ClientBuilder::new(vec![bootstrap.to_string()])
        .client_id("entra-source")
        // rskafka retries a refused connection or sign-in forever by default: a wrong
        // credential would hang `--once`. Within this, a request gives up and the reader
        // reconnects (a run) or fails naming the hub (`--once`).
        .backoff_config(rskafka::BackoffConfig {
            init_backoff: std::time::Duration::from_millis(100),
            max_backoff: std::time::Duration::from_secs(5),
            base: 3.0,
            deadline: Some(REQUEST_DEADLINE),
        })
        // Event Hubs' largest message is 1 MiB; a fetch holds a few.
        .max_message_size(16 * 1024 * 1024);
    if let Some(tls) = tls {
        builder = builder.tls_config(tls);
    }
    if let Some(sasl) = sasl {
        builder = builder.sasl_config(sasl);
    }
    builder.build().await.map_err(|source| HubError::Connect {
        bootstrap: bootstrap.to_string(),
        source,
    })
}

/// TLS to Event Hubs: the public roots (as for Graph), plus `[tls] ca_file`.
pub fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        let certs = pem::parse_many(pem).map_err(|e| format!("[tls] ca_file is not PEM: {e}"))?;
        for c in certs.into_iter().filter(|c| c.tag() == "CERTIFICATE") {
            roots
                .add(CertificateDer::from(c.into_contents()))
                .map_err(|e| format!("[tls] ca_file holds a certificate rustls refuses: {e}"))?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The partitions of `hub`, as the namespace lists them.
pub async fn partitions(client: &Client, hub: &str) -> Result<Vec<i32>, HubError> {
    let topics = client
        .list_topics()
        .await
        .map_err(|source| HubError::Partition {
            hub: hub.to_string(),
            partition: -1,
            source,
        })?;
    let mut found: Vec<i32> = topics
        .into_iter()
        .find(|t| t.name == hub)
        .map(|t| t.partitions.into_iter().collect())
        .unwrap_or_default();
    found.sort_unstable();
    Ok(found)
}

/// Reads one partition of one hub.
pub struct Partition {
    hub: String,
    partition: i32,
    client: PartitionClient,
}

impl Partition {
    pub async fn open(client: &Client, hub: &str, partition: i32) -> Result<Partition, HubError> {
        let c = client
            .partition_client(hub, partition, UnknownTopicHandling::Error)
            .await
            .map_err(|source| HubError::Partition {
                hub: hub.to_string(),
                partition,
                source,
            })?;
        Ok(Partition {
            hub: hub.to_string(),
            partition,
            client: c,
        })
    }

    fn err(&self, source: rskafka::client::error::Error) -> HubError {
        HubError::Partition {
            hub: self.hub.clone(),
            partition: self.partition,
            source,
        }
    }

    /// The offset a new hub's reading starts at.
    pub async fn start(&self, start: Start) -> Result<i64, HubError> {
        let at = match start {
            Start::Earliest => OffsetAt::Earliest,
            Start::Latest => OffsetAt::Latest,
            Start::At(t) => OffsetAt::Timestamp(t),
        };
        self.client.get_offset(at).await.map_err(|e| self.err(e))
    }

    /// Messages from `offset` on (up to about `max_bytes`, waiting up to `wait_ms` for some),
    /// and the partition's high watermark.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: i32,
        wait_ms: i32,
    ) -> Result<(Vec<Message>, i64), HubError> {
        let (records, high) = self
            .client
            .fetch_records(offset, 1..max_bytes.max(1), wait_ms)
            .await
            .map_err(|e| self.err(e))?;
        let messages = records
            .into_iter()
            // A fetch may return a batch that starts before the offset asked for.
            .filter(|r| r.offset >= offset)
            .map(|r| Message {
                offset: r.offset,
                enqueued: r.record.timestamp,
                body: r.record.value.unwrap_or_default(),
            })
            .collect();
        Ok((messages, high))
    }
}
