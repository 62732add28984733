//! One fetch of one partition, written and checkpointed (issue 31): each message read in one
//! pass, each record routed to its stream's section, dropped when either path already emitted
//! it, normalized, written; then the partition's next offset, the records' ids and the counts in
//! one state write, under the gates of every section the fetch touches.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use super::message::{self, Refused, Skipped};
use super::partition::Message;
use super::reader::{section_of, Batch, HubReader, Route, DELIVERED_KEPT};
use crate::event::{envelope_time, parse_time, Collected, NormalizeContext};
use crate::poll::PollError;
use crate::record::Record;
use crate::state::{fingerprint, Fingerprint, StreamState};

impl HubReader {
    /// Passes a message no fetch returns (far larger than `max_message_bytes`): counted as
    /// refused, reported, and the offset moves past it.
    pub(super) async fn pass_unreadable(&self, p: i32, offset: i64) -> Result<(), PollError> {
        let tenant = self.tenant.key().to_string();
        let section = section_of(&self.hub);
        self.checkpoint
            .tenant(|store| {
                let h = store.stream_mut(&tenant, &section);
                h.hub.offsets.insert(p, offset + 1);
                h.hub.messages += 1;
                *h.hub.refused.entry("too_large".into()).or_default() += 1;
            })
            .await;
        self.checkpoint.commit().await?;
        crate::telemetry::HubBatch {
            tenant: &tenant,
            hub: &self.hub,
            partition: p,
            messages: 1,
            emitted: 0,
            duplicates: 0,
            skipped: &[],
            refused: &[("too_large", 1)],
            lag: 0,
        }
        .emit();
        Ok(())
    }

    /// Writes the new records of `messages`, then checkpoints `next` as the partition's
    /// offset with their ids and counts, in one state write.
    pub async fn write_batch(
        &self,
        p: i32,
        messages: &[Message],
        next: i64,
    ) -> Result<Batch, PollError> {
        let mut batch = Batch {
            messages: messages.len() as u64,
            ..Batch::default()
        };
        let max = self.settings.max_message_bytes;
        let mut parsed = Vec::with_capacity(messages.len());
        for m in messages {
            match message::parse(&m.body, max) {
                Ok(p) => parsed.push((m, p)),
                Err(r) => {
                    let why = match r {
                        Refused::TooLarge { .. } => "too_large",
                        Refused::NotJson(_) => "not_json",
                        Refused::NoRecords => "no_records",
                    };
                    tracing::debug!(hub = %self.hub, partition = p, offset = m.offset, "message refused: {r}");
                    *batch.refused.entry(why).or_default() += 1;
                }
            }
        }
        for (_, p) in &parsed {
            for s in &p.skipped {
                *batch.skipped.entry(skipped_name(s)).or_default() += 1;
            }
        }
        // The gates of every section the batch touches, in one order (no deadlock with a
        // poller, which holds one).
        let mut sections: Vec<&Route> = parsed
            .iter()
            .flat_map(|(_, p)| p.entries.iter().map(|e| &self.routes[&e.category]))
            .collect();
        sections.sort_by(|a, b| a.section.cmp(&b.section));
        sections.dedup_by(|a, b| a.section == b.section);
        let mut held = Vec::with_capacity(sections.len());
        for r in &sections {
            held.push(r.gate.lock().await);
        }
        let tenant = self.tenant.key().to_string();
        let mut page = self.shared.output.lock().await.page();
        let ctx = NormalizeContext::new(&tenant, Utc::now()).with_columns(page.columns());
        let context = self.context.as_ref().and_then(|c| c.reader());
        // New ids per section, with their record times.
        let mut new: BTreeMap<&str, Vec<(Fingerprint, DateTime<Utc>)>> = BTreeMap::new();
        let mut in_batch: HashSet<(&str, Fingerprint)> = HashSet::new();
        self.checkpoint
            .tenant(|store| {
                for (m, p) in parsed {
                    for entry in p.entries {
                        let route = &self.routes[&entry.category];
                        if other_tenant(entry.tenant_id, &tenant) {
                            *batch.skipped.entry("other_tenant".into()).or_default() += 1;
                            continue;
                        }
                        let Some(props) = entry.properties else {
                            *batch.skipped.entry("no_properties".into()).or_default() += 1;
                            continue;
                        };
                        // The members the message's one pass found.
                        let record = match entry.members {
                            Some(m) => Record::from_members(props, m),
                            None => Record::new(props),
                        };
                        if !route.spec.keep(&record) {
                            continue;
                        }
                        let own_time = route.spec.record_time(&record);
                        let at = own_time
                            .or_else(|| entry.time.and_then(envelope))
                            .unwrap_or(m.enqueued);
                        let key = fingerprint(&route.spec.dedup_key(&record));
                        let state = store.stream(&tenant, &route.section);
                        let emitted = state
                            .is_some_and(|s| s.seen.contains(key, at) || covered_by_graph(s, at));
                        if emitted || !in_batch.insert((route.section.as_str(), key)) {
                            batch.duplicates += 1;
                            continue;
                        }
                        let mut e = route.spec.event(record, &ctx);
                        e.export = Some(entry.record);
                        e.collected_from = Some(Collected::EventHubs);
                        if own_time.is_none() {
                            e.time = envelope_time(at);
                        }
                        if let Some(c) = &context {
                            c.enrich(&mut e);
                        }
                        page.push(&e)?;
                        new.entry(route.section.as_str())
                            .or_default()
                            .push((key, at));
                        batch.emitted += 1;
                    }
                }
                Ok::<(), PollError>(())
            })
            .await?;
        if !page.is_empty() {
            self.shared.output.lock().await.write_encoded(page).await?;
        }
        let now = Utc::now();
        let dedup = chrono::Duration::from_std(self.settings.dedup_window).unwrap_or_default();
        let hub_section = section_of(&self.hub);
        self.checkpoint
            .tenant(|store| {
                for r in &sections {
                    let keys = new.remove(r.section.as_str()).unwrap_or_default();
                    // Nothing emitted into a section the state does not have: none is made.
                    if keys.is_empty() && store.stream(&tenant, &r.section).is_none() {
                        continue;
                    }
                    let newest = keys.iter().map(|(_, at)| *at).max();
                    let s = store.stream_mut(&tenant, &r.section);
                    for (_, at) in &keys {
                        s.hub.deliver(*at);
                    }
                    s.seen.extend(keys);
                    if !r.polled {
                        // No Graph stream forgets these ids: the hub does, past its window.
                        if let Some(cut) = newest.and_then(|n| n.checked_sub_signed(dedup)) {
                            s.seen.prune_before(cut);
                            s.hub.forgot_before =
                                Some(s.hub.forgot_before.map_or(cut, |f| f.max(cut)));
                        }
                        s.hub.prune_delivered(now - DELIVERED_KEPT);
                    }
                }
                let h = store.stream_mut(&tenant, &hub_section);
                h.hub.offsets.insert(p, next);
                h.hub.messages += batch.messages;
                h.hub.records += batch.emitted + batch.duplicates;
                for (why, n) in &batch.refused {
                    *h.hub.refused.entry((*why).to_string()).or_default() += n;
                }
                for (why, n) in &batch.skipped {
                    *h.hub.skipped.entry(why.clone()).or_default() += n;
                }
                h.last_success = Some(now);
            })
            .await;
        self.checkpoint.commit().await?;
        drop(held);
        Ok(batch)
    }
}

/// Whether a Graph stream's reads have passed `at` and forgotten its ids: a hub record that old
/// was emitted by Graph if Graph had it (the hub reading behind, or a tenant moved from Graph
/// to the hub starting at the hub's oldest message).
fn covered_by_graph(s: &StreamState, at: DateTime<Utc>) -> bool {
    let Some(cursor) = s.cursor else {
        return false;
    };
    let floor = s
        .settled
        .values()
        .copied()
        .chain([cursor])
        .min()
        .unwrap_or(cursor);
    at < floor
        && s.read_ranges()
            .iter()
            .any(|(from, to)| at >= *from && at < *to)
}

/// A record whose `tenantId` names another tenant (one hub configured under two tenants, or a
/// diagnostic setting of another tenant sending to this hub).
fn other_tenant(tenant_id: Option<&str>, tenant: &str) -> bool {
    tenant_id
        .and_then(crate::jsontext::string)
        .is_some_and(|t| {
            !t.is_empty() && !t.eq_ignore_ascii_case(tenant) && crate::tenant::is_guid(tenant)
        })
}

/// The export envelope's `time` (its JSON text).
fn envelope(time: &str) -> Option<DateTime<Utc>> {
    crate::jsontext::string(time).and_then(|t| parse_time(&t))
}

fn skipped_name(s: &Skipped) -> String {
    match s {
        Skipped::NotAnObject => "not_an_object".into(),
        Skipped::NoCategory => "no_category".into(),
        Skipped::UnknownCategory(name) => format!("unknown_category:{name}"),
    }
}
