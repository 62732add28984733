//! One query of one window: its pages through the [`Pager`] (a refused nextLink restarts the
//! window once from the marks already checkpointed), each page's new records normalized,
//! written and flushed, and only then their keys and marks checkpointed.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use url::Url;

use super::{window, Drained, PollError, PollStats, StreamPoller, Window};
use crate::event::whole_seconds;
use crate::graph::{GraphError, Pager, Step};
use crate::state::{fingerprint, Fingerprint};
use crate::streams::NormalizeContext;

impl StreamPoller {
    /// Pages through one query of `window`.
    pub(super) async fn drain(
        &self,
        window: &Window<'_>,
        extra: Option<&str>,
        progress: &crate::progress::Catchup,
        stats: &mut PollStats,
    ) -> Result<Drained, PollError> {
        let first = self.window_url(window.from, window.to, extra);
        let mut pager = Pager::new(&self.client, self.spec.family(), first).restartable();
        loop {
            let step = match pager.next().await {
                Ok(Some(step)) => step,
                Ok(None) => return Ok(Drained::Done),
                Err(GraphError::BadRequest { body, .. })
                    if self.spec.snapshot_fallback() && stats.pages == 0 =>
                {
                    return Ok(Drained::FilterRefused(body));
                }
                Err(e) => return Err(e.into()),
            };
            let records = match step {
                Step::Page { records, .. } => records,
                Step::Stopped => return Ok(Drained::Interrupted),
                // No delta round here: a 410 is an error.
                Step::Resynced => continue,
                Step::LinkRefused(body) => {
                    tracing::warn!(
                        entra_stream = self.name(),
                        sign_in_type = self.spec.sign_in_type(),
                        "Graph refused a nextLink ({}); restarting the window from the cursor once",
                        body.describe()
                    );
                    // Advancing marks have moved with every checkpointed page: resume at the
                    // earliest of those still short of their range's end.
                    let resume = if window.advance {
                        self.stream_state(|s| {
                            s.and_then(|s| window::resume_from(s, window.members))
                                .map_or(window.from, |r| whole_seconds(r).max(window.from))
                        })
                        .await
                    } else {
                        window.from
                    };
                    if let Some(t) = window.check {
                        // The listing starts again from its beginning: so does its digest.
                        t.lock().unwrap_or_else(|p| p.into_inner()).clear();
                    }
                    pager.restart_at(self.window_url(resume, window.to, extra));
                    continue;
                }
            };
            self.page_read(stats);
            let newest = match window.check {
                Some(tally) => self.tally(tally, &records),
                None => self.emit_page(records, window, stats).await?,
            };
            self.progress(progress, stats.emitted, newest.unwrap_or(window.from), None);
        }
    }

    /// Normalizes the page's new records, writes and flushes them, then checkpoints their keys
    /// (and, when the window advances page by page, the newest time they reached). Returns
    /// that newest time.
    pub(super) async fn emit_page(
        &self,
        records: crate::graph::Records,
        window: &Window<'_>,
        stats: &mut PollStats,
    ) -> Result<Option<DateTime<Utc>>, PollError> {
        // A hub feeding the same section checks and records its ids under the same gate: one
        // record is emitted once, whichever path brings it first.
        let _gate = self.gate.lock().await;
        // Each event becomes its line at once: a page in flight holds its lines, not the
        // events' trees.
        let mut page = self.output.lock().await.page();
        let audit = self.settings.audit;
        let mut audited: Vec<(DateTime<Utc>, bool)> = Vec::new();
        let ctx = self.context().with_columns(page.columns());
        // Each key is hashed once: looked up, checked against the page, remembered.
        let mut new_keys: Vec<(Fingerprint, DateTime<Utc>)> = Vec::with_capacity(records.len());
        let mut newest: Option<DateTime<Utc>> = None;
        let mut in_page = HashSet::new();
        let mut rest = records.records().peekable();
        // One read of the directory cache for the page's lookups.
        let context = self.context.as_ref().and_then(|c| c.reader());
        let policy = self.spec.shaping();
        let mut shaper = super::shape::Shaper::default();
        while rest.peek().is_some() {
            self.checkpoint
                .read(|s| {
                    let seen = s.map(|s| &s.seen);
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
                        if seen.is_some_and(|s| s.contains(key, at)) {
                            stats.duplicates += 1;
                            if audit {
                                audited.push((at, false));
                            }
                            continue;
                        }
                        if !in_page.insert(key) {
                            stats.duplicates += 1;
                            continue;
                        }
                        new_keys.push((key, at));
                        if audit {
                            audited.push((at, true));
                        }
                        stats.found.record(window.members, at, &window.sched.sweeps);
                        if let Some(p) = policy {
                            let shaped = s.map(|s| &s.shaping);
                            if !shaper.full(p, shaped, &record, at, key) {
                                stats.summarized += 1;
                                continue;
                            }
                        }
                        let mut e = self.spec.event(record, &ctx);
                        if audit {
                            e.collected_from = Some(crate::event::Collected::GraphAudit);
                        }
                        if let Some(c) = &context {
                            c.enrich(&mut e);
                        }
                        page.push(&e)?;
                        if page.is_full() {
                            break;
                        }
                    }
                    Ok::<(), PollError>(())
                })
                .await?;
            // A part of the page goes out while the rest is encoded (the state is not held
            // across the write); the checkpoint still waits for the whole page.
            if rest.peek().is_some() {
                self.output.lock().await.write_part(&mut page).await?;
            }
        }
        self.write(page, stats).await?;

        let cursor = self
            .checkpoint
            .stage(|s| {
                s.seen.extend(new_keys);
                for (at, repaired) in audited {
                    s.hub.audit(at, repaired);
                }
                if let Some(p) = policy {
                    let n = shaper.apply(p, s);
                    self.count(|c| c.summarized(n));
                }
                // Records arrive in ascending time: everything before `newest` in this window
                // has been emitted, so a restart may begin there, and keys older than every
                // mark can never be read again. This keeps the id set (and each checkpoint)
                // bounded during a backfill.
                if window.advance {
                    if let Some(n) = newest.filter(|n| *n <= window.to) {
                        window::reached(s, window.members, n, window.sched);
                    }
                }
                s.cursor
            })
            .await;
        self.checkpoint.commit().await?;
        if let Some(cursor) = cursor {
            let (tenant, section) = (self.tenant_id(), &self.key());
            crate::telemetry::CursorMoved {
                tenant,
                section,
                cursor,
            }
            .emit();
        }
        self.close_windows(window.sched).await?;
        Ok(newest)
    }

    /// Counts a page read.
    pub(super) fn page_read(&self, stats: &mut PollStats) {
        stats.pages += 1;
        self.count(|c| c.page_read());
    }

    pub(super) async fn write(
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

    pub(super) fn context(&self) -> NormalizeContext {
        NormalizeContext::new(self.tenant_id(), Utc::now())
    }

    /// The first request of the window `[from, to]` for one sub-query.
    pub(super) fn window_url(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        extra: Option<&str>,
    ) -> Url {
        self.client.url(
            self.spec.api_version(),
            self.spec.path(),
            &self.spec.query(from, to, extra),
        )
    }
}
