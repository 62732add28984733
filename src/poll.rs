//! The one poll loop every stream shares: window, paging, dedup, emit, checkpoint.
//!
//! Each poll reads `[cursor − late_arrival, now]` (or `[now − initial_lookback, now]` for a
//! stream without a checkpoint) ordered by the stream's time field, follows every
//! `@odata.nextLink` verbatim, drops ids already emitted inside the window, writes and flushes
//! each page, and only then checkpoints it. Once the window is drained the cursor becomes the
//! window's end and ids older than the next window's start are forgotten.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::StreamSettings;
use crate::event::whole_seconds;
use crate::graph::{GraphClient, GraphError};
use crate::output::{Output, OutputError};
use crate::shutdown::Shutdown;
use crate::state::{StateError, StateStore};
use crate::streams::{NormalizeContext, StreamSpec};

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

/// One stream of one tenant, with everything it shares with the others.
pub struct StreamPoller {
    pub tenant_id: String,
    pub spec: Box<dyn StreamSpec>,
    pub settings: StreamSettings,
    pub client: Arc<GraphClient>,
    pub state: Arc<Mutex<StateStore>>,
    pub output: Arc<Mutex<Output>>,
    pub shutdown: Shutdown,
}

impl StreamPoller {
    pub fn name(&self) -> &'static str {
        self.spec.kind().name()
    }

    /// One catch-up pass over the stream's window.
    pub async fn poll_once(&self) -> Result<PollStats, PollError> {
        let name = self.name();
        let now = whole_seconds(Utc::now());
        let late = self.late_arrival();
        let cursor = {
            let st = self.state.lock().await;
            st.stream(&self.tenant_id, name).and_then(|s| s.cursor)
        };
        let from = match cursor {
            Some(c) => whole_seconds(c - late),
            None => {
                let lookback =
                    chrono::Duration::from_std(self.settings.initial_lookback).unwrap_or_default();
                now - lookback
            }
        };
        // A cursor ahead of this host's clock (skew): read up to the cursor, never backwards.
        let to = now.max(cursor.unwrap_or(now));
        let first = self.window_url(from, to);
        tracing::debug!(stream = name, %from, %to, "polling window");

        let mut stats = PollStats::default();
        let mut url = first.clone();
        let mut restarted = false;
        loop {
            let page = match self.client.get_page(&url).await {
                Ok(p) => p,
                Err(GraphError::BadRequest { body, .. }) if url != first && !restarted => {
                    tracing::warn!(
                        stream = name,
                        "Graph refused a nextLink ({}); restarting the window from the cursor once",
                        body.describe()
                    );
                    restarted = true;
                    // The cursor has moved with every checkpointed page: resume from there.
                    let cursor = {
                        let st = self.state.lock().await;
                        st.stream(&self.tenant_id, name).and_then(|s| s.cursor)
                    };
                    let from = cursor.map_or(from, |c| whole_seconds(c - late).max(from));
                    url = self.window_url(from, to);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            stats.pages += 1;
            let next = page
                .next_link
                .as_ref()
                .map(|l| self.client.check_next_link(l.as_str()))
                .transpose()?;
            self.emit_page(page.records, to, &mut stats).await?;
            match next {
                Some(n) => url = n,
                None => break,
            }
            if self.shutdown.is_set() {
                stats.interrupted = true;
                return Ok(stats);
            }
        }

        // The window is drained: move the cursor to its end and forget what cannot come back.
        let mut st = self.state.lock().await;
        let s = st.stream_mut(&self.tenant_id, name);
        let new_cursor = s.cursor.map_or(to, |c| c.max(to));
        s.cursor = Some(new_cursor);
        s.seen.prune_before(whole_seconds(new_cursor - late));
        s.last_success = Some(Utc::now());
        stats.cursor = s.cursor;
        st.save()?;
        Ok(stats)
    }

    /// Normalizes the page's new records, writes and flushes them, then checkpoints their ids
    /// (and, since pages come in time order, the newest time they reached).
    async fn emit_page(
        &self,
        records: Vec<Value>,
        window_end: DateTime<Utc>,
        stats: &mut PollStats,
    ) -> Result<(), PollError> {
        let ctx = NormalizeContext {
            tenant_id: self.tenant_id.clone(),
            ingested: Utc::now(),
        };
        let mut events = Vec::with_capacity(records.len());
        let mut new_ids: Vec<(String, DateTime<Utc>)> = Vec::with_capacity(records.len());
        let mut newest: Option<DateTime<Utc>> = None;
        {
            let st = self.state.lock().await;
            let seen = st.stream(&self.tenant_id, self.name()).map(|s| &s.seen);
            let mut in_page = std::collections::HashSet::new();
            for record in records {
                let id = self.spec.event_id(&record);
                if seen.is_some_and(|s| s.contains(&id)) || !in_page.insert(id.clone()) {
                    stats.duplicates += 1;
                    continue;
                }
                let t = self.spec.record_time(&record);
                newest = newest.max(t);
                new_ids.push((id, t.unwrap_or(window_end)));
                events.push(self.spec.normalize(record, &ctx));
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        self.output.lock().await.write_page(&events).await?;
        stats.emitted += events.len() as u64;

        let mut st = self.state.lock().await;
        let s = st.stream_mut(&self.tenant_id, self.name());
        for (id, t) in new_ids {
            s.seen.insert(id, t);
        }
        // Records arrive in ascending time: everything before `newest` in this window has
        // been emitted, so a restart may begin there (minus late_arrival, as always), and ids
        // older than that can never be read again. This keeps the id set (and each checkpoint
        // write) bounded by late_arrival during a long backfill.
        if let Some(n) = newest.filter(|n| *n <= window_end) {
            let cursor = s.cursor.map_or(n, |c| c.max(n));
            s.cursor = Some(cursor);
            s.seen
                .prune_before(whole_seconds(cursor - self.late_arrival()));
        }
        st.save()?;
        Ok(())
    }

    fn late_arrival(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.late_arrival).unwrap_or_default()
    }

    /// The first request of the window `[from, to]`.
    fn window_url(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> url::Url {
        self.client.url(
            self.spec.api_version(),
            self.spec.path(),
            &self.spec.query(from, to),
        )
    }

    /// `run`: polls every `interval` until shutdown or a permanent failure.
    pub async fn run_forever(&self, interval: Duration) -> Result<(), PollError> {
        let mut failures = 0u32;
        loop {
            match self.poll_once().await {
                Ok(stats) => {
                    failures = 0;
                    log_poll(self, &stats);
                    if stats.interrupted {
                        return Ok(());
                    }
                }
                Err(PollError::Graph(GraphError::Shutdown)) => return Ok(()),
                Err(e) if e.is_transient() => {
                    failures += 1;
                    tracing::warn!(
                        tenant = %self.tenant_id,
                        stream = self.name(),
                        consecutive_failures = failures,
                        "poll failed, retrying at the next interval: {e}"
                    );
                }
                Err(e) => return Err(e),
            }
            if !self.shutdown.sleep(interval).await {
                return Ok(());
            }
        }
    }
}

pub fn log_poll(p: &StreamPoller, stats: &PollStats) {
    let lag = stats
        .cursor
        .map(|c| (Utc::now() - c).num_seconds())
        .unwrap_or_default();
    tracing::info!(
        tenant = %p.tenant_id,
        stream = p.name(),
        pages = stats.pages,
        emitted = stats.emitted,
        duplicates_dropped = stats.duplicates,
        lag_seconds = lag,
        "poll complete"
    );
}
