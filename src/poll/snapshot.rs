//! Snapshot mode, for state streams whose time filter Graph refuses: each poll lists every
//! record, emits the new and changed ones (by fingerprint), checkpoints them page by page, and
//! forgets records that left the listing.

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;

use super::{PollError, PollStats, StreamPoller};
use crate::graph::{Pager, Step};

impl StreamPoller {
    /// One full listing compared with the fingerprints in the state file.
    pub(super) async fn poll_snapshot(&self) -> Result<PollStats, PollError> {
        let first = self.client.url(
            self.spec.api_version(),
            self.spec.path(),
            &self.spec.snapshot_query(),
        );
        let mut stats = PollStats::default();
        let mut listed = HashSet::new();
        let mut pager = Pager::new(&self.client, self.spec.family(), first);
        while let Some(step) = pager.next().await? {
            let (records, done) = match step {
                Step::Page { records, last, .. } => (records, last),
                Step::Stopped => {
                    stats.interrupted = true;
                    return Ok(stats);
                }
                // Neither a delta query nor restartable: never given.
                Step::Resynced | Step::LinkRefused(_) => continue,
            };
            self.page_read(&mut stats);
            let mut events = self.output.lock().await.page();
            let ctx = self.context().with_columns(events.columns());
            let mut changed = Vec::new();
            self.checkpoint
                .read(|s| {
                    let known = s.and_then(|s| s.snapshot.as_ref());
                    for record in records.records() {
                        let id = crate::event::id_of(&record);
                        let fingerprint = self.spec.dedup_key(&record);
                        listed.insert(id.clone());
                        if known.and_then(|k| k.get(&id)) == Some(&fingerprint) {
                            stats.duplicates += 1;
                            continue;
                        }
                        changed.push((id, fingerprint));
                        events.push(&self.spec.event(record, &ctx))?;
                    }
                    Ok::<(), PollError>(())
                })
                .await?;
            self.write(events, &mut stats).await?;
            self.checkpoint
                .stage(|s| {
                    let snapshot = s.snapshot.get_or_insert_with(BTreeMap::new);
                    snapshot.extend(changed);
                    if done {
                        snapshot.retain(|id, _| listed.contains(id));
                        s.last_success = Some(Utc::now());
                    }
                })
                .await;
            self.checkpoint.commit().await?;
        }
        Ok(stats)
    }
}
