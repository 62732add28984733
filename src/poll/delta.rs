//! Inventory streams (`users`, `devices`, `role_assignments`): one delta round per poll. The
//! round starts from the delta link saved when the previous one ended (none: a baseline round
//! listing every object), follows the nextLinks, writes each page's events, and saves the new
//! delta link with the checkpoint when the round ends. Graph's 410 (the delta state is gone, or
//! the link expired) starts a baseline round at once: every object again, as `present`.
//! Directory reads have their own budget ([`Family::Directory`]), so a big sync never delays
//! the logs.

use chrono::Utc;
use url::Url;

use super::{PollError, PollStats, StreamPoller};
use crate::graph::{Pager, Step};
use crate::kind::Family;
use crate::record::Record;

impl StreamPoller {
    pub(super) async fn poll_delta(&self) -> Result<PollStats, PollError> {
        let kind = self.spec.kind();
        let (saved, previous) = self
            .stream_state(|s| {
                (
                    s.and_then(|s| s.delta_link.clone()),
                    s.and_then(|s| s.last_success),
                )
            })
            .await;
        let baseline_url = self.client.url(
            "v1.0",
            self.spec.path(),
            &[(
                "$select".to_string(),
                crate::streams::inventory::select(kind).to_string(),
            )],
        );
        let url = match saved.as_deref().map(|l| self.client.check_next_link(l)) {
            Some(Ok(u)) => u,
            // A link this config's graph_url does not serve (the config changed): resync.
            Some(Err(_)) | None => baseline_url.clone(),
        };
        let mut since = if saved.is_some() { previous } else { None };
        let started = Utc::now();
        let mut stats = PollStats {
            now: Some(started),
            ..Default::default()
        };
        let mut pager = Pager::new(&self.client, Family::Directory, url).delta(baseline_url);
        while let Some(step) = pager.next().await? {
            match step {
                Step::Page {
                    records,
                    last,
                    delta,
                } => {
                    self.page_read(&mut stats);
                    self.write_inventory(&records, since, &mut stats).await?;
                    if last {
                        self.end_round(delta, started).await?;
                    }
                }
                Step::Resynced => {
                    tracing::warn!(
                        tenant = %self.tenant_id(),
                        entra_stream = self.name(),
                        "Graph no longer has this stream's delta state (410): reading the whole inventory again; its objects are emitted as `present`"
                    );
                    since = None;
                }
                Step::Stopped => {
                    stats.interrupted = true;
                    break;
                }
                // Not restartable: never given.
                Step::LinkRefused(_) => {}
            }
        }
        Ok(stats)
    }

    /// Writes one page's events (a role's members one event each).
    async fn write_inventory(
        &self,
        records: &crate::graph::Records,
        since: Option<chrono::DateTime<Utc>>,
        stats: &mut PollStats,
    ) -> Result<(), PollError> {
        let mut page = self.output.lock().await.page();
        let mut ctx = self.context().with_columns(page.columns());
        ctx.since = since;
        for object in records.records() {
            match self.spec.delta_records(&object, since.is_none()) {
                None => page.push(&self.spec.event(object, &ctx))?,
                Some(parts) => {
                    for part in &parts {
                        page.push(&self.spec.event(Record::new(part), &ctx))?;
                    }
                }
            }
        }
        let n = page.len();
        self.output.lock().await.write_encoded(page).await?;
        stats.emitted += n;
        self.count(|c| c.events_written(n));
        Ok(())
    }

    /// The round ended: its delta link is where the next one starts.
    async fn end_round(
        &self,
        delta: Option<Url>,
        started: chrono::DateTime<Utc>,
    ) -> Result<(), PollError> {
        self.checkpoint
            .stage(|s| {
                s.delta_link = delta.map(|u| u.to_string());
                s.last_success = Some(started);
                s.cursor = Some(started);
                if s.read_from.is_none() {
                    s.read_from = Some(started);
                }
            })
            .await;
        self.checkpoint.commit().await?;
        Ok(())
    }
}
