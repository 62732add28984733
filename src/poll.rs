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

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

use crate::event::whole_seconds;
use crate::graph::{ForbiddenKind, GraphClient, GraphError, GraphErrorBody};
use crate::output::{Output, OutputError};
use crate::shutdown::Shutdown;
use crate::state::{Health, StateError, StateStore, StreamState};
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
}

/// How one query's paging ended.
enum Drained {
    Done,
    Interrupted,
    /// Graph refused the time filter of the first request.
    FilterRefused(Box<GraphErrorBody>),
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
    pub shutdown: Shutdown,
    /// Graph refused the time filter: list everything and compare (state streams only).
    pub snapshot_mode: AtomicBool,
}

impl StreamPoller {
    pub fn new(
        tenant: Arc<TenantId>,
        spec: Box<dyn StreamSpec>,
        settings: StreamSettings,
        client: Arc<GraphClient>,
        state: Arc<Mutex<StateStore>>,
        output: Arc<Mutex<Output>>,
        shutdown: Shutdown,
    ) -> StreamPoller {
        if is_guid(tenant.configured()) {
            crate::metrics::get().register_stream(tenant.key(), &spec.state_key());
        }
        StreamPoller {
            tenant,
            spec,
            settings,
            client,
            state,
            output,
            shutdown,
            snapshot_mode: AtomicBool::new(false),
        }
    }

    /// The tenant's GUID (before a domain is resolved: the id as configured).
    pub fn tenant_id(&self) -> &str {
        self.tenant.key()
    }

    /// Learns the tenant's GUID (once per tenant: the `tid` of its token, unless the config
    /// names the GUID) and moves state sections kept under the configured form to it.
    async fn resolve_tenant(&self) -> Result<(), PollError> {
        if self.tenant.is_resolved() {
            return Ok(());
        }
        let guid = self
            .tenant
            .resolve(
                async || Ok::<_, PollError>(self.client.tenant_guid().await?),
                async |configured: &str, guid: &str| {
                    let mut st = self.state.lock().await;
                    if st.adopt_tenant_alias(configured, guid) {
                        st.save()?;
                    }
                    Ok(())
                },
            )
            .await?;
        crate::metrics::get().register_stream(guid, &self.key());
        Ok(())
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

    /// One catch-up pass over the stream's window.
    pub async fn poll_once(&self) -> Result<PollStats, PollError> {
        self.resolve_tenant().await?;
        if self.snapshot_mode.load(Ordering::Relaxed) {
            return self.poll_snapshot().await;
        }
        let now = whole_seconds(Utc::now());
        let late = self.late_arrival();
        let (cursor, not_before) = self
            .stream_state(|s| (s.and_then(|s| s.cursor), s.and_then(|s| s.not_before)))
            .await;
        let from = match cursor {
            Some(c) => whole_seconds(c.checked_sub_signed(late).unwrap_or(c)),
            None => {
                let lookback =
                    chrono::Duration::from_std(self.settings.initial_lookback).unwrap_or_default();
                now - lookback
            }
        };
        // After `state reset --since`: exactly from there, no late-arrival re-read before it.
        let from = not_before.map_or(from, |nb| from.max(whole_seconds(nb)));
        // Graph keeps no record older than its retention: a checkpoint older than that (a
        // stream off for months) resumes at the retention's edge instead of walking empty
        // windows.
        let from = match self.spec.kind().retention().map(|r| now - r) {
            Some(oldest) if from < oldest => {
                tracing::warn!(
                    tenant = %self.tenant_id(),
                    entra_stream = self.name(),
                    sign_in_type = self.spec.sign_in_type(),
                    checkpoint = %crate::event::graph_time(from),
                    "the checkpoint is older than Graph keeps these records: those from before {} can no longer be read; reading from there",
                    crate::event::graph_time(oldest)
                );
                oldest
            }
            _ => from,
        };
        // A cursor ahead of this host's clock (skew): read up to the cursor, never backwards;
        // one more than a day ahead is not skew but a broken clock or state file.
        if let Some(c) = cursor.filter(|c| *c > now + chrono::Duration::days(1)) {
            return Err(StateError::FutureCursor {
                stream: self.key(),
                cursor: crate::event::graph_time(c),
                now: crate::event::graph_time(now),
            }
            .into());
        }
        let to = now.max(cursor.unwrap_or(now));
        let subs = self.spec.sub_filters();
        // With one ordered query, every page moves the cursor; otherwise records of later
        // pages or sub-queries may be older, so the cursor waits for the whole window.
        let advance = self.spec.ordered() && subs.len() == 1;
        tracing::debug!(entra_stream = self.name(), sign_in_type = self.spec.sign_in_type(), %from, %to, queries = subs.len(), "polling window");

        let mut stats = PollStats::default();
        // A long catch-up (a first run with a long initial_lookback, or a long outage) goes
        // window by window, as Graph advises, each checkpointed when drained.
        let windows = backfill_windows(from, to);
        let progress = crate::progress::Catchup::new(
            &format!("{}/{}", short(self.tenant_id()), self.key()),
            from,
            to,
            to - cursor.unwrap_or(from).max(from) > BACKFILL_WINDOW,
        );
        for (i, &(w_from, w_to)) in windows.iter().enumerate() {
            for extra in &subs {
                match self
                    .drain(
                        w_from,
                        w_to,
                        extra.as_deref(),
                        advance,
                        &progress,
                        &mut stats,
                    )
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
            if i + 1 < windows.len() {
                let mut st = self.state.lock().await;
                let c = window_drained(st.stream_mut(self.tenant_id(), &self.key()), w_to, late);
                st.save()?;
                drop(st);
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
                        eta_seconds = progress.eta(c),
                        "backfill: window checkpointed"
                    );
                }
            }
        }

        // The window is drained: move the cursor to its end and forget what cannot come back.
        let mut st = self.state.lock().await;
        let s = st.stream_mut(self.tenant_id(), &self.key());
        window_drained(s, to, late);
        s.last_success = Some(Utc::now());
        stats.cursor = s.cursor;
        st.save()?;
        Ok(stats)
    }

    /// Pages through one query of the window `[from, to]`.
    async fn drain(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        extra: Option<&str>,
        advance: bool,
        progress: &crate::progress::Catchup,
        stats: &mut PollStats,
    ) -> Result<Drained, PollError> {
        let first = self.window_url(from, to, extra);
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
                    // An advancing cursor has moved with every checkpointed page: resume there.
                    let resume = if advance {
                        self.stream_state(|s| s.and_then(|s| s.cursor))
                            .await
                            .map_or(from, |c| whole_seconds(c - self.late_arrival()).max(from))
                    } else {
                        from
                    };
                    url = self.window_url(resume, to, extra);
                    continue;
                }
                Err(GraphError::Shutdown) => return Ok(Drained::Interrupted),
                Err(e) => return Err(e.into()),
            };
            let (records, next) = self.accept(page, stats)?;
            let newest = self.emit_page(records, to, advance, stats).await?;
            progress.page(stats.emitted, newest.unwrap_or(from));
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
    /// (and, when `advance`, the newest time they reached). Returns that newest time.
    async fn emit_page(
        &self,
        records: Vec<Value>,
        window_end: DateTime<Utc>,
        advance: bool,
        stats: &mut PollStats,
    ) -> Result<Option<DateTime<Utc>>, PollError> {
        let ctx = self.context();
        let mut events = Vec::with_capacity(records.len());
        let mut new_keys: Vec<(String, DateTime<Utc>)> = Vec::with_capacity(records.len());
        let mut newest: Option<DateTime<Utc>> = None;
        {
            let st = self.state.lock().await;
            let seen = st.stream(self.tenant_id(), &self.key()).map(|s| &s.seen);
            let mut in_page = HashSet::new();
            for record in records {
                let t = self.spec.record_time(&record);
                newest = newest.max(t);
                if !self.spec.keep(&record) {
                    continue;
                }
                let key = self.spec.dedup_key(&record);
                if seen.is_some_and(|s| s.contains(&key)) || !in_page.insert(key.clone()) {
                    stats.duplicates += 1;
                    continue;
                }
                new_keys.push((key, t.unwrap_or(window_end)));
                events.push(self.spec.normalize(record, &ctx));
            }
        }
        self.write(&events, stats).await?;

        let mut st = self.state.lock().await;
        let late = self.late_arrival();
        let s = st.stream_mut(self.tenant_id(), &self.key());
        for (key, t) in new_keys {
            s.seen.insert(key, t);
        }
        // Records arrive in ascending time: everything before `newest` in this window has
        // been emitted, so a restart may begin there (minus late_arrival, as always), and keys
        // older than that can never be read again. This keeps the id set (and each checkpoint
        // write) bounded by late_arrival during a long backfill.
        if let Some(n) = newest.filter(|n| advance && *n <= window_end) {
            let cursor = s.cursor.map_or(n, |c| c.max(n));
            s.cursor = Some(cursor);
            s.seen.prune_before(whole_seconds(cursor - late));
        }
        st.save()?;
        Ok(newest)
    }

    /// Snapshot mode: lists every record, emits the new and changed ones, checkpoints their
    /// fingerprints page by page, and forgets records that left the listing.
    async fn poll_snapshot(&self) -> Result<PollStats, PollError> {
        let first = self.client.url(
            self.spec.api_version(),
            self.spec.path(),
            &self.spec.snapshot_query(),
        );
        let mut stats = PollStats::default();
        let mut listed = HashSet::new();
        let mut url = first;
        loop {
            let page = match self.client.get_page(&url, self.spec.family()).await {
                Ok(p) => p,
                Err(GraphError::Shutdown) => {
                    stats.interrupted = true;
                    return Ok(stats);
                }
                Err(e) => return Err(e.into()),
            };
            let (records, next) = self.accept(page, &mut stats)?;
            let ctx = self.context();
            let mut events = Vec::new();
            let mut changed = Vec::new();
            {
                let st = self.state.lock().await;
                let known = st
                    .stream(self.tenant_id(), &self.key())
                    .and_then(|s| s.snapshot.as_ref());
                for record in records {
                    let id = crate::event::record_id(&record);
                    let fingerprint = self.spec.dedup_key(&record);
                    listed.insert(id.clone());
                    if known.and_then(|k| k.get(&id)) == Some(&fingerprint) {
                        stats.duplicates += 1;
                        continue;
                    }
                    changed.push((id, fingerprint));
                    events.push(self.spec.normalize(record, &ctx));
                }
            }
            self.write(&events, &mut stats).await?;
            let mut st = self.state.lock().await;
            let s = st.stream_mut(self.tenant_id(), &self.key());
            let snapshot = s.snapshot.get_or_insert_with(BTreeMap::new);
            snapshot.extend(changed);
            let done = next.is_none();
            if done {
                snapshot.retain(|id, _| listed.contains(id));
                s.last_success = Some(Utc::now());
            }
            st.save()?;
            drop(st);
            match next {
                Some(n) => url = n,
                None => return Ok(stats),
            }
            if self.shutdown.is_set() {
                stats.interrupted = true;
                return Ok(stats);
            }
        }
    }

    /// Counts a page and checks its nextLink before anything of it is used.
    fn accept(
        &self,
        page: crate::graph::Page,
        stats: &mut PollStats,
    ) -> Result<(Vec<Value>, Option<Url>), PollError> {
        stats.pages += 1;
        crate::metrics::get()
            .pages
            .get_or_create(&crate::metrics::StreamLabels::new(
                self.tenant_id(),
                &self.key(),
            ))
            .inc();
        let next = page
            .next_link
            .as_ref()
            .map(|l| self.client.check_next_link(l.as_str()))
            .transpose()?;
        Ok((page.records, next))
    }

    async fn write(&self, events: &[Value], stats: &mut PollStats) -> Result<(), PollError> {
        if events.is_empty() {
            return Ok(());
        }
        let format = {
            let mut out = self.output.lock().await;
            out.write_page(events).await?;
            out.format().name()
        };
        stats.emitted += events.len() as u64;
        crate::metrics::get()
            .events
            .get_or_create(&crate::metrics::EventLabels::new(
                self.tenant_id(),
                &self.key(),
                format,
            ))
            .inc_by(events.len() as u64);
        Ok(())
    }

    fn context(&self) -> NormalizeContext {
        NormalizeContext {
            tenant_id: self.tenant_id().to_string(),
            ingested: Utc::now(),
        }
    }

    fn late_arrival(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.late_arrival).unwrap_or_default()
    }

    /// The first request of the window `[from, to]` for one sub-query.
    fn window_url(&self, from: DateTime<Utc>, to: DateTime<Utc>, extra: Option<&str>) -> Url {
        self.client.url(
            self.spec.api_version(),
            self.spec.path(),
            &self.spec.query(from, to, extra),
        )
    }

    /// `run`: polls every `interval` until shutdown or a permanent failure. A licence 403 on a
    /// stream that worked before is retried next poll (Graph answers it intermittently).
    /// [`Self::poll_once`], then the stream's health in the state file: `ok`, or `degraded`
    /// / `error` with the failure and its fix.
    pub async fn poll_recorded(&self) -> Result<PollStats, PollError> {
        let r = self.poll_once().await;
        let health = match &r {
            Ok(_) => Some(Health::Ok),
            Err(e) if e.is_shutdown() => None,
            Err(PollError::Output(_) | PollError::State(_)) => None,
            Err(e) if e.is_transient() || self.intermittent_licence_error(e).await => {
                Some(Health::Degraded)
            }
            Err(_) => Some(Health::Error),
        };
        let Some(health) = health else {
            return r;
        };
        let error = r.as_ref().err().map(|e| self.explain(e));
        crate::metrics::get().poll_done(
            self.tenant_id(),
            &self.key(),
            health,
            r.as_ref().ok().and_then(|s| s.cursor),
            error.clone(),
        );
        // A tenant whose GUID is still unknown (its token was refused) has no section to
        // record in: the state file is keyed by GUID only.
        if !self.tenant.is_resolved() {
            return r;
        }
        let mut st = self.state.lock().await;
        let s = st.stream_mut(self.tenant_id(), &self.key());
        // A healthy stream that stays healthy: the poll's own checkpoint already holds it.
        if error.is_none() && s.health == Some(health) && s.consecutive_failures == 0 {
            return r;
        }
        s.health = Some(health);
        match error {
            None => s.consecutive_failures = 0,
            Some(error) => {
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                s.last_error = Some(error);
                s.last_error_at = Some(Utc::now());
            }
        }
        // A failure is recorded even when the write fails; the poll's own error wins.
        let saved = st.save();
        if let (Ok(_), Err(e)) = (&r, saved) {
            return Err(e.into());
        }
        r
    }

    pub async fn run_forever(&self, interval: Duration) -> Result<(), PollError> {
        let mut failures = 0u32;
        loop {
            match self.poll_recorded().await {
                Ok(stats) => {
                    failures = 0;
                    log_poll(self, &stats);
                    if stats.interrupted {
                        return Ok(());
                    }
                }
                Err(e) if e.is_shutdown() => return Ok(()),
                Err(e) if e.is_transient() || self.intermittent_licence_error(&e).await => {
                    failures += 1;
                    tracing::warn!(
                        tenant = %self.tenant_id(),
                        entra_stream = self.name(), sign_in_type = self.spec.sign_in_type(),
                        consecutive_failures = failures,
                        "poll failed, retrying at the next interval: {}",
                        self.explain(&e)
                    );
                }
                Err(e) => return Err(e),
            }
            if !self.shutdown.sleep(interval).await {
                return Ok(());
            }
        }
    }

    async fn intermittent_licence_error(&self, e: &PollError) -> bool {
        matches!(
            e,
            PollError::Graph(GraphError::Forbidden {
                kind: ForbiddenKind::Licence,
                ..
            })
        ) && self
            .stream_state(|s| s.and_then(|s| s.last_success).is_some())
            .await
    }

    /// One line saying what failed and how to fix it.
    pub fn explain(&self, e: &PollError) -> String {
        let kind = self.spec.kind();
        let name = kind.name();
        match e {
            PollError::Graph(GraphError::Forbidden {
                kind: ForbiddenKind::Licence,
                body,
                ..
            }) => format!(
                "stream {name} is disabled for this run: the tenant lacks the licence it needs ({}); Graph answered 403 {}. Assign that licence, or set enabled = false in [streams.{name}]",
                kind.licence().unwrap_or("a premium licence"),
                body.describe()
            ),
            PollError::Graph(GraphError::Forbidden {
                kind: ForbiddenKind::Permission,
                body,
                ..
            }) => format!(
                "stream {name} is disabled for this run: the app lacks the Microsoft Graph application permission {} or its admin consent; Graph answered 403 {}. Add it under App registrations > API permissions > Microsoft Graph > Application permissions, then Grant admin consent",
                kind.permission(),
                body.describe()
            ),
            PollError::Graph(GraphError::Forbidden {
                kind: ForbiddenKind::ConditionalAccess,
                body,
                ..
            }) => format!(
                "stream {name} is disabled for this run: conditional access blocks the app ({}); exclude the app's service principal from the policy",
                body.describe()
            ),
            other => format!("stream {name}: {other}"),
        }
    }
}

/// A window `[…, to]` is drained: the cursor moves to `to` (never back), the ids that cannot be
/// read again are forgotten, and a `state reset` floor behind the next window is cleared.
/// Returns the new cursor.
fn window_drained(s: &mut StreamState, to: DateTime<Utc>, late: chrono::Duration) -> DateTime<Utc> {
    let cursor = s.cursor.map_or(to, |c| c.max(to));
    s.cursor = Some(cursor);
    s.seen.prune_before(whole_seconds(cursor - late));
    if s.not_before.is_some_and(|nb| nb <= cursor - late) {
        s.not_before = None;
    }
    cursor
}

/// The first block of a tenant id, for bar labels.
fn short(tenant: &str) -> &str {
    tenant.split(['-', '.']).next().unwrap_or(tenant)
}

/// A catch-up longer than this is read window by window.
pub const BACKFILL_WINDOW: chrono::Duration = chrono::Duration::days(1);

/// `[from, to]` cut into consecutive windows of at most [`BACKFILL_WINDOW`].
pub fn backfill_windows(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut start = from;
    while to - start > BACKFILL_WINDOW {
        out.push((start, start + BACKFILL_WINDOW));
        start += BACKFILL_WINDOW;
    }
    out.push((start, to));
    out
}

pub fn log_poll(p: &StreamPoller, stats: &PollStats) {
    if stats.interrupted {
        // Cut short by a stop: the checkpoint holds what was written; no lag to speak of.
        tracing::info!(
            tenant = %p.tenant_id(),
            entra_stream = p.name(),
            sign_in_type = p.spec.sign_in_type(),
            pages = stats.pages,
            emitted = stats.emitted,
            "poll stopped by shutdown; the next run resumes from the last checkpointed page"
        );
        return;
    }
    let lag = stats.cursor.map(|c| (Utc::now() - c).num_seconds().max(0));
    tracing::info!(
        tenant = %p.tenant_id(),
        entra_stream = p.name(),
        sign_in_type = p.spec.sign_in_type(),
        pages = stats.pages,
        emitted = stats.emitted,
        duplicates_dropped = stats.duplicates,
        lag_seconds = lag,
        "poll complete"
    );
}
