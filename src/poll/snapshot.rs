//! Snapshot mode, for state streams whose time filter Graph refuses: each poll lists every
//! record, emits the new and changed ones (by fingerprint), checkpoints them page by page, and
//! forgets records that left the listing.

use std::collections::{BTreeMap, HashSet};

use chrono::Utc;

use super::{PollError, PollStats, StreamPoller};
use crate::graph::GraphError;

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
            let mut events = self.output.lock().await.page();
            let ctx = self.context().with_columns(events.columns());
            let mut changed = Vec::new();
            {
                let st = self.state.lock().await;
                let known = st
                    .stream(self.tenant_id(), &self.key())
                    .and_then(|s| s.snapshot.as_ref());
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
            }
            self.write(events, &mut stats).await?;
            let mut st = self.state.lock().await;
            let s = st.stream_mut(self.tenant_id(), &self.key());
            let snapshot = s.snapshot.get_or_insert_with(BTreeMap::new);
            snapshot.extend(changed);
            let done = next.is_none();
            if done {
                snapshot.retain(|id, _| listed.contains(id));
                s.last_success = Some(Utc::now());
            }
            drop(st);
            self.checkpointer.checkpoint().await?;
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
}
