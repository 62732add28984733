//! A Graph stream auditing the tenant's Event Hub (`audit = true`, issue 31): settle-only, it
//! lists each settled slice once; the ids the hub already emitted are in the section's `seen`
//! (the hub records them there), so what it emits is exactly what the hub lost, marked
//! `event.collected_from = "graph_audit"`. Per hour it counts what Graph listed and what it
//! repaired, beside what the hub delivered; once its mark has passed an hour, the hour is
//! closed: a `connector_health` event (`state = "audited"`) and a line of `state show`.

use chrono::Utc;

use super::{window, PollError, StreamPoller};

impl StreamPoller {
    /// Closes the hours the auditor's reads have passed: their counts go to the ledger and
    /// out as health events, then the checkpoint.
    pub(super) async fn close_audit(&self, sched: &window::Schedule) -> Result<(), PollError> {
        if !self.settings.audit {
            return Ok(());
        }
        // Worked out on a copy: the hours leave the state only once their events are written
        // (a crash between the two writes them again, with the same counts).
        let (closed, through) = self
            .checkpoint
            .read(|s| {
                let Some((s, through)) = s.and_then(|s| Some((s, window::floor(s, sched)?))) else {
                    return (Vec::new(), None);
                };
                (s.hub.clone().close_audit(through), Some(through))
            })
            .await;
        if closed.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        {
            let mut output = self.output.lock().await;
            let mut page = output.page();
            for slice in &closed {
                let mut c = self.change(None, "audited");
                c.reason = format!(
                    "{} to {}: Graph listed {} records, the hub delivered {}, and {} Graph had that the hub never delivered were emitted from Graph",
                    crate::event::graph_time(slice.from),
                    crate::event::graph_time(slice.from + chrono::Duration::hours(1)),
                    slice.graph,
                    slice.hub,
                    slice.repaired
                );
                if slice.repaired > 0 {
                    c.fix = "nothing is missing downstream (the auditor emitted what the hub lost); if it recurs, check the diagnostic setting and the hub's throughput units".into();
                }
                c.audit = Some(*slice);
                page.push_value(&crate::event::health::event(&c, now))?;
                crate::telemetry::HubAudited {
                    tenant: self.tenant_id(),
                    section: &self.key(),
                    hub: slice.hub,
                    graph: slice.graph,
                    repaired: slice.repaired,
                }
                .emit();
            }
            let n = page.len();
            output.write_encoded(page).await?;
            self.count(|c| c.events_written(n));
        }
        if let Some(through) = through {
            self.checkpoint
                .stage(|s| {
                    s.hub.close_audit(through);
                })
                .await;
        }
        self.checkpoint.commit().await?;
        Ok(())
    }
}
