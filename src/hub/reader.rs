//! The loop that reads one hub of one tenant: a task per partition, each fetching messages from
//! its checkpointed offset, normalizing every record as its Graph stream's records are (the
//! export's `properties` is the Graph record's shape), dropping what either path already
//! emitted, writing the rest, and only then checkpointing the partition's next offset with the
//! records' ids, in one state write. A bad message (not JSON, no `records`, too large) or record
//! (an unknown category, another tenant's) is counted and reported; the partition goes on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::{Client, OauthBearerCredentials, SaslConfig};
use tokio::sync::Mutex;

use super::message::{Category, Destination};
use super::partition::{self, HubError, Partition};
use super::settings::{HubAuth, HubSettings};
use crate::graph::GraphClient;
use crate::poll::{PollError, Shared};
use crate::state::StreamCheckpoint;
use crate::streams::{StreamKind, StreamSettings, StreamSpec};
use crate::tenant::TenantId;

/// How long a caught-up fetch waits for a message before asking again (and seeing a stop).
/// Behind the partition's end a fetch does not wait at all: some brokers hold every fetch for
/// its whole wait, whatever they have (tansu 0.6 does), which capped a catch-up at a fetch per
/// wait (`cargo bench --bench hub`: 5,761 records/s with the wait, 24,900 without).
const FETCH_WAIT_MS: i32 = 500;
/// How many bytes of messages one fetch asks for: one write and one checkpoint per fetch.
const FETCH_BYTES: i32 = 1024 * 1024;
/// The first wait before reconnecting after a failure; doubled up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_secs(1);
const RECONNECT_MAX: Duration = Duration::from_secs(60);
/// How long the hourly counts of a section no auditor reads are kept.
pub(super) const DELIVERED_KEPT: chrono::Duration = chrono::Duration::days(2);

/// Where one category's records go in this tenant.
pub(super) struct Route {
    pub(super) spec: Box<dyn StreamSpec>,
    pub(super) section: String,
    /// A Graph stream of this run reads the section: it forgets the ids, not the hub.
    pub(super) polled: bool,
    pub(super) gate: Arc<Mutex<()>>,
}

/// One hub of one tenant.
pub struct HubReader {
    pub(super) tenant: Arc<TenantId>,
    pub(super) hub: String,
    pub(super) settings: Arc<HubSettings>,
    pub(super) client: Arc<GraphClient>,
    pub(super) tokens: Option<Arc<crate::auth::TokenProvider>>,
    pub(super) tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    pub(super) shared: Shared,
    /// The hub's own section (`hub:<name>`): its offsets and counts.
    pub(super) checkpoint: StreamCheckpoint,
    pub(super) routes: HashMap<Category, Route>,
    pub(super) context: Option<Arc<crate::context::ContextCache>>,
}

/// What one fetch of one partition did.
#[derive(Debug, Default)]
pub struct Batch {
    pub messages: u64,
    pub emitted: u64,
    pub duplicates: u64,
    pub skipped: BTreeMap<String, u64>,
    pub refused: BTreeMap<&'static str, u64>,
}

impl HubReader {
    /// The reader of `hub`; `streams` are the tenant's Graph streams (their filters apply to
    /// the hub's records too, and their sections are shared).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tenant: Arc<TenantId>,
        hub: &str,
        settings: Arc<HubSettings>,
        client: Arc<GraphClient>,
        tokens: Option<Arc<crate::auth::TokenProvider>>,
        tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
        streams: &[StreamSettings],
        shared: &Shared,
    ) -> HubReader {
        let mut routes = HashMap::new();
        for category in Category::ALL {
            let (spec, polled) = route_spec(category, streams);
            let section = spec.state_key();
            routes.insert(
                category,
                Route {
                    gate: shared.gate(tenant.configured(), &section),
                    spec,
                    section,
                    polled,
                },
            );
        }
        HubReader {
            checkpoint: shared.checkpoints.stream(tenant.clone(), section_of(hub)),
            tenant,
            hub: hub.to_string(),
            settings,
            client,
            tokens,
            tls,
            shared: shared.clone(),
            routes,
            context: None,
        }
    }

    /// Events get `context` from this directory cache (`[context]`).
    pub fn with_context(mut self, cache: Option<Arc<crate::context::ContextCache>>) -> Self {
        self.context = cache;
        self
    }

    pub fn hub(&self) -> &str {
        &self.hub
    }

    pub fn configured_tenant(&self) -> &str {
        self.tenant.configured()
    }

    /// Reads every partition until a stop (`once`: until each has reached the end it had when
    /// the run began). A failure to reach the namespace is retried with a growing pause in a
    /// long run; `--once` returns it.
    pub async fn run(self: Arc<Self>, once: bool) -> Result<(), PollError> {
        crate::poll::claim::resolve(
            &self.tenant,
            &self.client,
            &self.checkpoint,
            &self.shared.claims,
        )
        .await?;
        // `/health` and the metrics know the hub as a section of its own.
        let section = section_of(&self.hub);
        crate::telemetry::StreamRegistered {
            tenant: self.tenant.key(),
            section: &section,
        }
        .emit();
        let mut pause = RECONNECT_FIRST;
        loop {
            match self.clone().read_all(once).await {
                Ok(()) => return Ok(()),
                Err(e) if once => return Err(e),
                Err(PollError::Output(e)) => return Err(PollError::Output(e)),
                Err(PollError::State(e)) => return Err(PollError::State(e)),
                Err(e) => {
                    crate::telemetry::PollDone {
                        tenant: self.tenant.key(),
                        section: &section,
                        health: crate::telemetry::Health::Degraded,
                        cursor: None,
                        error: Some(e.to_string()),
                    }
                    .emit();
                    tracing::warn!(
                        tenant = %self.tenant.key(),
                        hub = %self.hub,
                        retry_in_seconds = pause.as_secs(),
                        "hub {}: {e}; reconnecting",
                        self.hub
                    );
                }
            }
            if !self.shared.shutdown.sleep(pause).await {
                return Ok(());
            }
            pause = (pause * 2).min(RECONNECT_MAX);
        }
    }

    async fn connect(&self) -> Result<Client, PollError> {
        let sasl = match &self.settings.auth {
            HubAuth::None => None,
            HubAuth::ConnectionString(source) => {
                let secret = source.read().map_err(PollError::Refused)?;
                Some(SaslConfig::Plain(rskafka::client::Credentials::new(
                    "$ConnectionString".into(),
                    secret.expose().to_string(),
                )))
            }
            HubAuth::App => {
                let tokens = self.tokens.clone().ok_or_else(|| {
                    PollError::Refused("no token provider for the hub's app credential".into())
                })?;
                Some(SaslConfig::Oauthbearer(OauthBearerCredentials {
                    callback: Arc::new(move || {
                        let tokens = tokens.clone();
                        Box::pin(async move {
                            tokens
                                .token()
                                .await
                                .map(|t| t.value.expose().to_string())
                                .map_err(|e| {
                                    Box::new(e) as Box<dyn std::error::Error + Send + Sync>
                                })
                        })
                    }),
                    authz_id: None,
                    bearer_kvs: Vec::new(),
                }))
            }
        };
        let tls = if self.settings.tls {
            self.tls.clone()
        } else {
            None
        };
        partition::connect_with(&self.settings.bootstrap, tls, sasl)
            .await
            .map_err(hub_failed)
    }

    async fn read_all(self: Arc<Self>, once: bool) -> Result<(), PollError> {
        let client = self.connect().await?;
        let partitions = partition::partitions(&client, &self.hub)
            .await
            .map_err(hub_failed)?;
        if partitions.is_empty() {
            return Err(PollError::Refused(format!(
                "the namespace {} has no hub named {}: check [[tenants.hubs]] hubs (diagnostic settings name theirs insights-logs-<category>, e.g. insights-logs-signinlogs, once a first record was sent)",
                self.settings.bootstrap, self.hub
            )));
        }
        // One task per partition; the first failure stops the others (the caller reconnects).
        let mut tasks = tokio::task::JoinSet::new();
        for p in partitions {
            let part = Partition::open(&client, &self.hub, p)
                .await
                .map_err(hub_failed)?;
            let me = self.clone();
            tasks.spawn(async move { me.read_partition(part, p, once).await });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) => {
                    return Err(PollError::Refused(format!(
                        "a partition task of hub {} crashed: {e}",
                        self.hub
                    )))
                }
            }
        }
        Ok(())
    }

    async fn read_partition(&self, part: Partition, p: i32, once: bool) -> Result<(), PollError> {
        let kept = self
            .checkpoint
            .read(|s| s.and_then(|s| s.hub.offsets.get(&p).copied()))
            .await;
        let mut offset = match kept {
            Some(o) => o,
            None => {
                let o = part.start(self.settings.start).await.map_err(hub_failed)?;
                // No message at or after the start time: from the end.
                if o < 0 {
                    part.start(super::partition::Start::Latest)
                        .await
                        .map_err(hub_failed)?
                } else {
                    o
                }
            }
        };
        let end = if once {
            Some(
                part.start(super::partition::Start::Latest)
                    .await
                    .map_err(hub_failed)?,
            )
        } else {
            None
        };
        // A fetch returns whole messages: one larger than it asks for comes back as nothing
        // (brokers differ), so an empty answer below the high watermark asks for more.
        let mut fetch = FETCH_BYTES;
        // The partition's end at the last fetch: below it, a fetch need not wait.
        let mut high = i64::MIN;
        loop {
            if end.is_some_and(|e| offset >= e) || self.shared.shutdown.is_set() {
                return Ok(());
            }
            let read = tokio::select! {
                r = part.read(offset, fetch, if offset < high { 0 } else { FETCH_WAIT_MS }) => r,
                _ = self.shared.shutdown.wait() => return Ok(()),
            };
            let (messages, end_now) = match read {
                Ok(r) => r,
                // Retention passed the kept offset (the reader was off longer than the hub
                // keeps messages): what it dropped is a gap, said, and reading goes on from
                // the oldest message still kept.
                Err(HubError::Partition { source, .. })
                    if source.to_string().contains("OffsetOutOfRange") =>
                {
                    let oldest = part
                        .start(super::partition::Start::Earliest)
                        .await
                        .map_err(hub_failed)?;
                    tracing::warn!(
                        tenant = %self.tenant.key(),
                        hub = %self.hub,
                        partition = p,
                        lost_messages = oldest - offset,
                        "hub {} partition {p}: messages {offset} to {} were dropped by the hub's retention before they were read; reading from {oldest}. An auditor (audit = true on the stream) repairs what Graph still has",
                        self.hub,
                        oldest - 1
                    );
                    offset = oldest.max(offset);
                    continue;
                }
                Err(e) => return Err(hub_failed(e)),
            };
            high = end_now;
            // Each answer, messages or none, is the hub's sign of life for `/health`.
            crate::telemetry::PollDone {
                tenant: self.tenant.key(),
                section: &section_of(&self.hub),
                health: crate::telemetry::Health::Ok,
                cursor: messages.last().map(|m| m.enqueued),
                error: None,
            }
            .emit();
            let Some(last) = messages.last().map(|m| m.offset) else {
                if offset < high {
                    if fetch < fetch_cap(self.settings.max_message_bytes) {
                        fetch = fetch.saturating_mul(2);
                    } else {
                        // Larger than any message this reader takes: refused, counted, passed.
                        self.pass_unreadable(p, offset).await?;
                        offset += 1;
                        fetch = FETCH_BYTES;
                    }
                }
                continue;
            };
            fetch = FETCH_BYTES;
            let batch = self.write_batch(p, &messages, last + 1).await?;
            crate::telemetry::HubBatch {
                tenant: self.tenant.key(),
                hub: &self.hub,
                partition: p,
                messages: batch.messages,
                emitted: batch.emitted,
                duplicates: batch.duplicates,
                skipped: &batch
                    .skipped
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect::<Vec<_>>(),
                refused: &batch
                    .refused
                    .iter()
                    .map(|(k, v)| (*k, *v))
                    .collect::<Vec<_>>(),
                lag: (high - (last + 1)).max(0),
            }
            .emit();
            offset = last + 1;
        }
    }
}

/// The largest fetch asked for: a message just over `max_message_bytes` still arrives whole
/// (and is refused as too large, counted); past this the broker is not answering with it.
fn fetch_cap(max_message_bytes: usize) -> i32 {
    i32::try_from(
        max_message_bytes
            .saturating_mul(2)
            .max(FETCH_BYTES as usize),
    )
    .unwrap_or(i32::MAX)
}

/// The state section of hub `name`.
pub fn section_of(name: &str) -> String {
    format!("hub:{name}")
}

/// The spec a category's records are normalized with, and whether a Graph stream of this run
/// reads the same section: that stream's own spec (its filter applies), or the default one.
fn route_spec(category: Category, streams: &[StreamSettings]) -> (Box<dyn StreamSpec>, bool) {
    match category.destination() {
        Destination::Own(which) => (crate::streams::spec(StreamKind::Exported(which)), false),
        Destination::Stream(kind, sign_in_type) => {
            for settings in streams.iter().filter(|s| s.kind == kind) {
                for spec in crate::streams::specs(settings) {
                    // A v1.0 sign-in stream (no types) reads interactive sign-ins only.
                    let same = match (spec.sign_in_type(), sign_in_type) {
                        (Some(a), Some(b)) => a == b,
                        (None, Some(b)) => b == "interactiveUser",
                        (_, None) => true,
                    };
                    if same {
                        return (spec, true);
                    }
                }
            }
            (crate::streams::spec_for(kind, sign_in_type), false)
        }
    }
}

fn hub_failed(e: HubError) -> PollError {
    PollError::Refused(e.to_string())
}
