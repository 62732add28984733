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

pub mod budget;
mod claim;
mod delta;
mod health;
mod ladder;
mod outcome;
mod shared;
mod snapshot;
pub use shared::Shared;
mod tail;
pub mod window;

pub use outcome::{log_poll, Mode};
pub use window::{backfill_windows, BACKFILL_WINDOW};

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use url::Url;

use crate::event::whole_seconds;
use crate::graph::{GraphClient, GraphError, GraphErrorBody};
use crate::output::{Output, OutputError};
use crate::shutdown::Shutdown;
use crate::state::{fingerprint, Fingerprint, StateError, StateStore, StreamState};
use crate::streams::StreamSettings;
use crate::streams::{NormalizeContext, StreamSpec};
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
    pub tenant: Arc<TenantId>,
    pub spec: Box<dyn StreamSpec>,
    pub settings: StreamSettings,
    pub client: Arc<GraphClient>,
    pub state: Arc<Mutex<StateStore>>,
    pub output: Arc<Mutex<Output>>,
    /// Makes the state durable after each page, for every stream at once, off the workers.
    pub checkpointer: crate::checkpointer::Checkpointer,
    pub shutdown: Shutdown,
    /// Graph refused the time filter: list everything and compare (state streams only).
    pub snapshot_mode: AtomicBool,
    /// Its pages and events counters, made once its tenant's GUID is known.
    counters: std::sync::OnceLock<crate::telemetry::StreamCounters>,
    /// When it last warned that its budget cannot keep up.
    budget_warned: std::sync::Mutex<Option<std::time::Instant>>,
    /// The tenant's directory cache: `context` on its events (`[context]`).
    pub context: Option<Arc<crate::context::ContextCache>>,
    claims: claim::Claims,
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
        StreamPoller {
            tenant,
            spec,
            settings,
            client,
            state: shared.state.clone(),
            output: shared.output.clone(),
            checkpointer: shared.checkpointer.clone(),
            shutdown: shared.shutdown.clone(),
            snapshot_mode: AtomicBool::new(false),
            counters: std::sync::OnceLock::new(),
            budget_warned: std::sync::Mutex::new(None),
            context: None,
            claims: shared.claims.clone(),
        }
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
        let guid = self
            .tenant
            .resolve(
                async || Ok::<_, PollError>(self.client.tenant_guid().await?),
                async |configured: &str, guid: &str| {
                    let mut st = self.state.lock().await;
                    self.claims
                        .claim(&st, configured, guid)
                        .map_err(PollError::Refused)?;
                    let moved = st.adopt_tenant_alias(configured, guid);
                    drop(st);
                    if moved {
                        self.checkpointer.checkpoint().await?;
                    }
                    Ok(())
                },
            )
            .await?;
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
        let st = self.state.lock().await;
        f(st.stream(self.tenant_id(), &self.key()))
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
        let (sched, check, plan) = {
            let st = self.state.lock().await;
            let empty = StreamState::default();
            let s = st.stream(self.tenant_id(), &self.key()).unwrap_or(&empty);
            let sched = self.schedule(&s.ladder);
            let check = sched
                .tail_check
                .and_then(|a| tail::due(s.tail.checked, now, a));
            let plan = window::plan(now, s, &sched);
            (sched, check, plan)
        };
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
        {
            // Where the stream's reads begin, for `state show`'s ranges.
            let mut st = self.state.lock().await;
            let s = st.stream_mut(self.tenant_id(), &self.key());
            if s.read_from.is_none() {
                s.read_from = plan.from();
            }
        }
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
                let mut st = self.state.lock().await;
                let s = st.stream_mut(self.tenant_id(), &self.key());
                window::reached(s, &read.members, w_to, &sched);
                let c = s.cursor.unwrap_or(w_to);
                drop(st);
                if i + 1 < windows.len() {
                    self.checkpointer.checkpoint().await?;
                    progress.page(stats.emitted, c);
                    if progress.active {
                        tracing::info!(
                            tenant = %self.tenant_id(),
                            entra_stream = self.name(),
                            sign_in_type = self.spec.sign_in_type(),
                            window = i + 1,
                            windows = windows.len(),
                            emitted = stats.emitted,
                            events_per_second = progress.rate(stats.emitted).round() as u64,
                            cursor = %crate::event::graph_time(c),
                            behind_seconds = progress.behind(c),
                            "backfill: window checkpointed"
                        );
                    }
                }
            }
        }

        // Every read is drained: the marks are at their ends; forget what cannot come back.
        let mut st = self.state.lock().await;
        let s = st.stream_mut(self.tenant_id(), &self.key());
        window::finished(s, &plan, &sched);
        s.last_success = Some(Utc::now());
        stats.cursor = s.cursor;
        drop(st);
        self.learn_delays(&stats).await;
        self.checkpointer.checkpoint().await?;
        if let Some(range) = check {
            self.check_tail(range, &sched, &progress, &mut stats)
                .await?;
        }
        Ok(stats)
    }

    /// Pages through one query of `window`.
    async fn drain(
        &self,
        window: &Window<'_>,
        extra: Option<&str>,
        progress: &crate::progress::Catchup,
        stats: &mut PollStats,
    ) -> Result<Drained, PollError> {
        let first = self.window_url(window.from, window.to, extra);
        let mut url = first.clone();
        let mut restarted = false;
        loop {
            let page = match self.client.get_page(&url, self.spec.family()).await {
                Ok(p) => p,
                Err(GraphError::BadRequest { body, .. })
                    if url == first && self.spec.snapshot_fallback() && stats.pages == 0 =>
                {
                    return Ok(Drained::FilterRefused(body));
                }
                Err(GraphError::BadRequest { body, .. }) if url != first && !restarted => {
                    tracing::warn!(
                        entra_stream = self.name(),
                        sign_in_type = self.spec.sign_in_type(),
                        "Graph refused a nextLink ({}); restarting the window from the cursor once",
                        body.describe()
                    );
                    restarted = true;
                    // Advancing marks have moved with every checkpointed page: resume at the
                    // earliest of those still short of their range's end.
                    let resume = if window.advance {
                        let st = self.state.lock().await;
                        st.stream(self.tenant_id(), &self.key())
                            .and_then(|s| window::resume_from(s, window.members))
                            .map_or(window.from, |r| whole_seconds(r).max(window.from))
                    } else {
                        window.from
                    };
                    if let Some(t) = window.check {
                        // The listing starts again from its beginning: so does its digest.
                        t.lock().unwrap_or_else(|p| p.into_inner()).clear();
                    }
                    url = self.window_url(resume, window.to, extra);
                    continue;
                }
                Err(GraphError::Shutdown) => return Ok(Drained::Interrupted),
                Err(e) => return Err(e.into()),
            };
            let (records, next) = self.accept(page, stats)?;
            let newest = match window.check {
                Some(tally) => self.tally(tally, &records),
                None => self.emit_page(records, window, stats).await?,
            };
            progress.page(stats.emitted, newest.unwrap_or(window.from));
            match next {
                Some(n) => url = n,
                None => return Ok(Drained::Done),
            }
            if self.shutdown.is_set() {
                return Ok(Drained::Interrupted);
            }
        }
    }

    /// Normalizes the page's new records, writes and flushes them, then checkpoints their keys
    /// (and, when the window advances page by page, the newest time they reached). Returns
    /// that newest time.
    async fn emit_page(
        &self,
        records: crate::graph::Records,
        window: &Window<'_>,
        stats: &mut PollStats,
    ) -> Result<Option<DateTime<Utc>>, PollError> {
        // Each event becomes its line at once: a page in flight holds its lines, not the
        // events' trees.
        let mut page = self.output.lock().await.page();
        let ctx = self.context().with_columns(page.columns());
        // Each key is hashed once: looked up, checked against the page, remembered.
        let mut new_keys: Vec<(Fingerprint, DateTime<Utc>)> = Vec::with_capacity(records.len());
        let mut newest: Option<DateTime<Utc>> = None;
        let mut in_page = HashSet::new();
        let mut rest = records.records().peekable();
        // One read of the directory cache for the page's lookups.
        let context = self.context.as_ref().and_then(|c| c.reader());
        while rest.peek().is_some() {
            {
                let st = self.state.lock().await;
                let seen = st.stream(self.tenant_id(), &self.key()).map(|s| &s.seen);
                for record in rest.by_ref() {
                    let t = self.spec.record_time(&record);
                    newest = newest.max(t);
                    if !self.spec.keep(&record) {
                        continue;
                    }
                    let at = t.unwrap_or(window.to);
                    let key = fingerprint(&self.spec.dedup_key(&record));
                    if window.only.is_some_and(|o| !o.contains(&key)) {
                        continue;
                    }
                    if seen.is_some_and(|s| s.contains(key, at)) || !in_page.insert(key) {
                        stats.duplicates += 1;
                        continue;
                    }
                    new_keys.push((key, at));
                    stats.found.record(window.members, at, &window.sched.sweeps);
                    let mut e = self.spec.event(record, &ctx);
                    if let Some(c) = &context {
                        c.enrich(&mut e);
                    }
                    page.push(&e)?;
                    if page.is_full() {
                        break;
                    }
                }
            }
            // A part of the page goes out while the rest is encoded (the state is not held
            // across the write); the checkpoint still waits for the whole page.
            if rest.peek().is_some() {
                self.output.lock().await.write_part(&mut page).await?;
            }
        }
        self.write(page, stats).await?;

        let mut st = self.state.lock().await;
        let s = st.stream_mut(self.tenant_id(), &self.key());
        s.seen.extend(new_keys);
        // Records arrive in ascending time: everything before `newest` in this window has
        // been emitted, so a restart may begin there, and keys older than every mark can never
        // be read again. This keeps the id set (and each checkpoint) bounded during a backfill.
        if window.advance {
            if let Some(n) = newest.filter(|n| *n <= window.to) {
                window::reached(s, window.members, n, window.sched);
            }
        }
        let cursor = s.cursor;
        drop(st);
        self.checkpointer.checkpoint().await?;
        if let Some(cursor) = cursor {
            let (tenant, section) = (self.tenant_id(), &self.key());
            crate::telemetry::CursorMoved {
                tenant,
                section,
                cursor,
            }
            .emit();
        }
        Ok(newest)
    }

    /// Counts a page and checks its nextLink before anything of it is used.
    fn accept(
        &self,
        page: crate::graph::Page,
        stats: &mut PollStats,
    ) -> Result<(crate::graph::Records, Option<Url>), PollError> {
        stats.pages += 1;
        self.count(|c| c.page_read());
        let next = page
            .next_link
            .as_ref()
            .map(|l| self.client.check_next_link(l.as_str()))
            .transpose()?;
        Ok((page.records, next))
    }

    async fn write(
        &self,
        page: crate::output::Page,
        stats: &mut PollStats,
    ) -> Result<(), PollError> {
        if page.is_empty() {
            return Ok(());
        }
        let n = page.len();
        self.output.lock().await.write_encoded(page).await?;
        stats.emitted += n;
        self.count(|c| c.events_written(n));
        Ok(())
    }

    fn context(&self) -> NormalizeContext {
        NormalizeContext::new(self.tenant_id(), Utc::now())
    }

    /// The first request of the window `[from, to]` for one sub-query.
    fn window_url(&self, from: DateTime<Utc>, to: DateTime<Utc>, extra: Option<&str>) -> Url {
        self.client.url(
            self.spec.api_version(),
            self.spec.path(),
            &self.spec.query(from, to, extra),
        )
    }
}

#[cfg(test)]
mod delays_tests;
#[cfg(test)]
mod tests;
