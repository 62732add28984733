//! The one poll loop every stream shares: window, paging, dedup, emit, checkpoint.
//!
//! Each poll reads `[cursor − late_arrival, now]` (or `[now − initial_lookback, now]` for a
//! stream without a checkpoint) on the stream's time field, one query per sub-filter, follows
//! every `@odata.nextLink` verbatim, drops what was already emitted inside the window, writes and
//! flushes each page, and only then checkpoints it. Once every sub-query is drained the cursor
//! becomes the window's end and ids older than the next window's start are forgotten.
//!
//! State streams whose time filter Graph refuses fall back to a full listing per poll, compared
//! against the fingerprints kept in the state file.

mod audit;
pub mod budget;
pub mod claim;
mod delta;
mod health;
mod ladder;
mod outcome;
mod read;
mod run;
mod shape;
mod shared;
mod snapshot;
pub use shared::Shared;
mod tail;
pub mod window;

pub use outcome::log_poll;
pub use run::Mode;
pub use window::{backfill_windows, BACKFILL_WINDOW};

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use crate::graph::{GraphClient, GraphError, GraphErrorBody};
use crate::output::{Output, OutputError};
use crate::shutdown::Shutdown;
use crate::state::{Fingerprint, StateError, StreamCheckpoint, StreamState};
use crate::streams::StreamSettings;
use crate::streams::StreamSpec;
use crate::tenant::{is_guid, TenantId};

/// Why a poll did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    State(#[from] StateError),
    /// An operator's mistake that would duplicate records (`claim.rs`).
    #[error("{0}")]
    Refused(String),
}

impl PollError {
    /// The next poll may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            PollError::Graph(g) => g.is_transient(),
            _ => false,
        }
    }

    /// The run was stopped (SIGTERM) mid-request or mid-export: nothing failed.
    pub fn is_shutdown(&self) -> bool {
        matches!(
            self,
            PollError::Graph(GraphError::Shutdown) | PollError::Output(OutputError::Shutdown)
        )
    }
}

/// What one poll did.
#[derive(Debug, Default, Clone)]
pub struct PollStats {
    pub pages: u64,
    pub emitted: u64,
    pub duplicates: u64,
    /// New records a `summarize` policy counted into summaries instead of emitting.
    pub summarized: u64,
    /// The poll stopped early for shutdown, after checkpointing its last page.
    pub interrupted: bool,
    pub cursor: Option<DateTime<Utc>>,
    /// Seconds of stream time read for the first time (the fresh range; in settle-only mode
    /// the last sweep's), over which `emitted` arrived.
    pub covered_seconds: f64,
    /// Now on Graph's clock when the poll planned its reads.
    pub now: Option<DateTime<Utc>>,
    /// Which reads found the new records first (what the learned sweeps learn from).
    pub found: ladder::Found,
    /// Sweeps the poll read at (configured and learned).
    pub sweeps: u32,
}

/// How one query's paging ended.
enum Drained {
    Done,
    Interrupted,
    /// Graph refused the time filter of the first request.
    FilterRefused(Box<GraphErrorBody>),
}

/// One window of one read, as the paging of each of its queries sees it.
struct Window<'a> {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    members: &'a [window::Member],
    sched: &'a window::Schedule,
    /// One ordered query: the marks move page by page.
    advance: bool,
    /// The long-age check's listing: pages are digested, nothing is emitted.
    check: Option<&'a std::sync::Mutex<tail::Tally>>,
    /// Emit only these (the records a check found missing).
    only: Option<&'a HashSet<Fingerprint>>,
}

/// One cursor of one stream of one tenant, with everything it shares with the others.
pub struct StreamPoller {
    /// The tenant, keyed by its GUID once known (`tenant.id` may be a domain).
    tenant: Arc<TenantId>,
    spec: Box<dyn StreamSpec>,
    settings: StreamSettings,
    client: Arc<GraphClient>,
    /// Its section of the checkpoint store: the one door to it.
    checkpoint: StreamCheckpoint,
    output: Arc<Mutex<Output>>,
    shutdown: Shutdown,
    /// Graph refused the time filter: list everything and compare (state streams only).
    snapshot_mode: AtomicBool,
    /// Its pages and events counters, made once its tenant's GUID is known.
    counters: std::sync::OnceLock<crate::telemetry::StreamCounters>,
    /// When it last warned that its budget cannot keep up.
    budget_warned: std::sync::Mutex<Option<std::time::Instant>>,
    /// The tenant's directory cache: `context` on its events (`[context]`).
    context: Option<Arc<crate::context::ContextCache>>,
    claims: claim::Claims,
    /// Held while a page's ids are checked, written and recorded: an Event Hub feeding the
    /// same section takes it too ([`Shared::gate`]).
    gate: Arc<Mutex<()>>,
}

impl StreamPoller {
    pub fn new(
        tenant: Arc<TenantId>,
        spec: Box<dyn StreamSpec>,
        settings: StreamSettings,
        client: Arc<GraphClient>,
        shared: &Shared,
    ) -> StreamPoller {
        if is_guid(tenant.configured()) {
            crate::telemetry::StreamRegistered {
                tenant: tenant.key(),
                section: &spec.state_key(),
            }
            .emit();
        }
        client.register_stream(spec.family());
        let gate = shared.gate(tenant.configured(), &spec.state_key());
        StreamPoller {
            checkpoint: shared.checkpoints.stream(tenant.clone(), spec.state_key()),
            tenant,
            spec,
            settings,
            client,
            output: shared.output.clone(),
            shutdown: shared.shutdown.clone(),
            snapshot_mode: AtomicBool::new(false),
            counters: std::sync::OnceLock::new(),
            budget_warned: std::sync::Mutex::new(None),
            context: None,
            claims: shared.claims.clone(),
            gate,
        }
    }

    /// Events get `context` from this directory cache (`[context]`).
    pub fn with_context(mut self, cache: Option<Arc<crate::context::ContextCache>>) -> Self {
        self.context = cache;
        self
    }

    /// The tenant as the config names it.
    pub fn configured_tenant(&self) -> &str {
        self.tenant.configured()
    }

    /// The sign-in type of a `sign_ins` cursor.
    pub fn sign_in_type(&self) -> Option<&str> {
        self.spec.sign_in_type()
    }

    /// The tenant's GUID (before a domain is resolved: the id as configured).
    pub fn tenant_id(&self) -> &str {
        self.tenant.key()
    }

    /// Learns the tenant's GUID (once per tenant: the `tid` of its token, unless the config
    /// names the GUID) and moves state sections kept under the configured form to it.
    async fn resolve_tenant(&self) -> Result<(), PollError> {
        if self.counters.get().is_some() {
            return Ok(());
        }
        let guid =
            claim::resolve(&self.tenant, &self.client, &self.checkpoint, &self.claims).await?;
        let section = self.key();
        crate::telemetry::StreamRegistered {
            tenant: guid,
            section: &section,
        }
        .emit();
        let format = self.output.lock().await.format().name();
        let _ = self
            .counters
            .set(crate::telemetry::stream_counters(guid, &section, format));
        Ok(())
    }

    /// Counts what the poll did (set by [`Self::resolve_tenant`], which every poll runs first).
    fn count(&self, f: impl FnOnce(&crate::telemetry::StreamCounters)) {
        if let Some(c) = self.counters.get() {
            f(c);
        }
    }

    /// The `[streams.NAME]` name.
    pub fn name(&self) -> &'static str {
        self.spec.kind().name()
    }

    /// The state-file section (`sign_ins.nonInteractiveUser`, …).
    pub fn key(&self) -> String {
        self.spec.state_key()
    }

    async fn stream_state<T>(&self, f: impl FnOnce(Option<&StreamState>) -> T) -> T {
        self.checkpoint.read(f).await
    }

    /// Where a catch-up stands, after a page (`window` `None`) or a checkpointed backfill
    /// window (its number and the count): the terminal's progress line, and for a window the
    /// log line that says the same.
    fn progress(
        &self,
        progress: &crate::progress::Catchup,
        emitted: u64,
        reached: DateTime<Utc>,
        window: Option<(usize, usize)>,
    ) {
        progress.page(emitted, reached);
        let Some((window, windows)) = window.filter(|_| progress.active) else {
            return;
        };
        tracing::info!(
            tenant = %self.tenant_id(),
            entra_stream = self.name(),
            sign_in_type = self.spec.sign_in_type(),
            window,
            windows,
            emitted,
            events_per_second = progress.rate(emitted).round() as u64,
            cursor = %crate::event::graph_time(reached),
            behind_seconds = progress.behind(reached),
            "backfill: window checkpointed"
        );
    }

    /// What the settings and the learned sweeps say about the stream's reads.
    fn schedule(&self, learned: &crate::state::Ladder) -> window::Schedule {
        let d = |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or_default();
        let (configured, step) = ladder::configured(&self.settings);
        window::Schedule {
            sweeps: ladder::ages(&configured, step, learned),
            settle_only: self.settings.settle_only,
            lookback: d(self.settings.initial_lookback),
            retention: self.spec.kind().retention(),
            tail_check: self.settings.tail_check.map(d),
        }
    }

    /// One pass: the fresh slice and every settle sweep that is due ([`window::plan`]).
    pub async fn poll_once(&self) -> Result<PollStats, PollError> {
        self.resolve_tenant().await?;
        if self.spec.kind().is_inventory() {
            return self.poll_delta().await;
        }
        if self.snapshot_mode.load(Ordering::Relaxed) {
            return self.poll_snapshot().await;
        }
        self.client.ready(self.spec.family()).await;
        let now = self.client.now().await;
        let (sched, check, plan) = self
            .stream_state(|s| {
                let empty = StreamState::default();
                let s = s.unwrap_or(&empty);
                let sched = self.schedule(&s.ladder);
                let check = sched
                    .tail_check
                    .and_then(|a| tail::due(s.tail.checked, now, a));
                let plan = window::plan(now, s, &sched);
                (sched, check, plan)
            })
            .await;
        crate::telemetry::SweepsRead {
            tenant: self.tenant_id(),
            section: &self.key(),
            sweeps: sched.sweeps.len(),
        }
        .emit();
        let plan = plan.map_err(|f| StateError::FutureCursor {
            stream: self.key(),
            cursor: crate::event::graph_time(f.cursor),
            now: crate::event::graph_time(f.now),
        })?;
        // Where the stream's reads begin, for `state show`'s ranges.
        self.checkpoint
            .stage(|s| {
                if s.read_from.is_none() {
                    s.read_from = plan.from();
                }
            })
            .await;
        if let Some((checkpoint, oldest)) = plan.beyond_retention {
            self.collection_gap(checkpoint, oldest).await?;
            // Graph keeps no record older than its retention: a checkpoint older than that (a
            // stream off for months) resumes at the retention's edge instead of walking empty
            // windows.
            tracing::warn!(
                tenant = %self.tenant_id(),
                entra_stream = self.name(),
                sign_in_type = self.spec.sign_in_type(),
                checkpoint = %crate::event::graph_time(checkpoint),
                "the checkpoint is older than Graph keeps these records: those from before {} can no longer be read; reading from there",
                crate::event::graph_time(oldest)
            );
        }
        let subs = self.spec.sub_filters();
        // With one ordered query, every page moves the marks; otherwise records of later
        // pages or sub-queries may be older, so the marks wait for the whole window.
        let advance = self.spec.ordered() && subs.len() == 1;
        let mut stats = PollStats {
            covered_seconds: window::first_reads(&plan, &sched),
            sweeps: sched.sweeps.len() as u32,
            now: Some(now),
            ..Default::default()
        };
        let (from, to) = (plan.from().unwrap_or(now), plan.to().unwrap_or(now));
        let progress = crate::progress::Catchup::new(
            self.tenant_id(),
            &self.key(),
            from,
            to,
            plan.backfilling,
        );
        for read in &plan.reads {
            tracing::debug!(entra_stream = self.name(), sign_in_type = self.spec.sign_in_type(), from = %read.from, to = %read.to, ranges = read.members.len(), queries = subs.len(), "polling window");
            // A long catch-up (a first run with a long initial_lookback, or a long outage)
            // goes window by window, as Graph advises, each checkpointed when drained.
            let windows = window::backfill_windows(read.from, read.to);
            for (i, &(w_from, w_to)) in windows.iter().enumerate() {
                let window = Window {
                    from: w_from,
                    to: w_to,
                    members: &read.members,
                    sched: &sched,
                    advance,
                    check: None,
                    only: None,
                };
                for extra in &subs {
                    match self
                        .drain(&window, extra.as_deref(), &progress, &mut stats)
                        .await?
                    {
                        Drained::Done => {}
                        Drained::Interrupted => {
                            stats.interrupted = true;
                            return Ok(stats);
                        }
                        Drained::FilterRefused(body) => {
                            tracing::warn!(
                                entra_stream = self.name(), sign_in_type = self.spec.sign_in_type(),
                                "Graph refused the {} filter ({}); listing everything each poll and comparing with the state file instead",
                                self.spec.time_field(),
                                body.describe()
                            );
                            self.snapshot_mode.store(true, Ordering::Relaxed);
                            return self.poll_snapshot().await;
                        }
                    }
                }
                let c = self
                    .checkpoint
                    .stage(|s| {
                        window::reached(s, &read.members, w_to, &sched);
                        s.cursor.unwrap_or(w_to)
                    })
                    .await;
                if i + 1 < windows.len() {
                    self.checkpoint.commit().await?;
                    self.progress(&progress, stats.emitted, c, Some((i + 1, windows.len())));
                }
            }
        }

        // Every read is drained: the marks are at their ends; forget what cannot come back.
        stats.cursor = self
            .checkpoint
            .stage(|s| {
                window::finished(s, &plan, &sched);
                s.last_success = Some(Utc::now());
                s.cursor
            })
            .await;
        self.learn_delays(&stats).await;
        self.checkpoint.commit().await?;
        self.close_windows(&sched).await?;
        self.close_audit(&sched).await?;
        if let Some(range) = check {
            self.check_tail(range, &sched, &progress, &mut stats)
                .await?;
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod delays_tests;
#[cfg(test)]
mod tests;
