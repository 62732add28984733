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
use crate::graph::GraphError;
use crate::kind::{Family, StreamKind};
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
        let mut url = match saved.as_deref().map(|l| self.client.check_next_link(l)) {
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
        let mut resynced = false;
        loop {
            self.client.ready(Family::Directory).await;
            let page = match self.client.get_page(&url, Family::Directory).await {
                Err(GraphError::Status { status: 410, .. }) if !resynced => {
                    tracing::warn!(
                        tenant = %self.tenant_id(),
                        entra_stream = self.name(),
                        "Graph no longer has this stream's delta state (410): reading the whole inventory again; its objects are emitted as `present`"
                    );
                    resynced = true;
                    since = None;
                    url = baseline_url.clone();
                    continue;
                }
                other => other?,
            };
            stats.pages += 1;
            self.count(|c| c.page_read());
            let (next, delta) = self.client.links(&page)?;
            self.write_inventory(kind, &page.records, since, &mut stats)
                .await?;
            match (next, delta) {
                (Some(next), _) => url = next,
                (None, delta) => {
                    self.end_round(delta, started).await?;
                    break;
                }
            }
            if self.shutdown.is_set() {
                stats.interrupted = true;
                break;
            }
        }
        Ok(stats)
    }

    /// Writes one page's events (a role's members one event each).
    async fn write_inventory(
        &self,
        kind: StreamKind,
        records: &crate::graph::Records,
        since: Option<chrono::DateTime<Utc>>,
        stats: &mut PollStats,
    ) -> Result<(), PollError> {
        let mut page = self.output.lock().await.page();
        let mut ctx = self.context().with_columns(page.columns());
        ctx.since = since;
        if kind == StreamKind::RoleAssignments {
            let memberships: Vec<String> = records
                .records()
                .flat_map(|role| memberships(&role, since.is_none()))
                .collect();
            for m in &memberships {
                page.push(&self.spec.event(Record::new(m), &ctx))?;
            }
        } else {
            for record in records.records() {
                page.push(&self.spec.event(record, &ctx))?;
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
        {
            let mut st = self.state.lock().await;
            let s = st.stream_mut(self.tenant_id(), &self.key());
            s.delta_link = delta.map(|u| u.to_string());
            s.last_success = Some(started);
            s.cursor = Some(started);
            if s.read_from.is_none() {
                s.read_from = Some(started);
            }
        }
        self.checkpointer.checkpoint().await?;
        Ok(())
    }
}

/// A directory role's `members@delta` as one record per member: the role, the member and the
/// change (`added`, `removed`, or `present` in a baseline round).
fn memberships(role: &Record<'_>, baseline: bool) -> Vec<String> {
    let Some(members) = role.get("members@delta") else {
        return Vec::new();
    };
    let s = |k: &str| role.str(k).map(|v| v.into_owned());
    crate::record::elements(members)
        .into_iter()
        .map(|m| {
            let m = Record::nested(m);
            let removed = m.get("@removed").is_some();
            let member_type = m
                .str("@odata.type")
                .map(|t| t.trim_start_matches("#microsoft.graph.").to_string());
            serde_json::json!({
                "roleId": s("id"),
                "roleDisplayName": s("displayName"),
                "roleTemplateId": s("roleTemplateId"),
                "memberId": m.str("id").map(|v| v.into_owned()),
                "memberType": member_type,
                "change": if removed { "removed" } else if baseline { "present" } else { "added" },
            })
            .to_string()
        })
        .collect()
}
