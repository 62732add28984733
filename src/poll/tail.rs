//! The long-age check (issue 27): once per `tail_check` (a day by default) the stream lists
//! again the hours that are `tail_check` old, well past its last sweep, and compares each
//! hour with the digest of what it emitted ([`TailDigest`]: a count and the XOR of the
//! fingerprints, 16 bytes an hour). An hour with one record more names it exactly: it is read
//! again and emitted. A larger difference is counted, not guessed at. Either way the stream's
//! checkpoint (`state show`) and a `connector_health` event (`late_records`) say how many
//! records Graph showed after the last sweep, so that users learn Graph's real tail and what
//! `late_arrival` would have caught them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::{Drained, PollError, PollStats, StreamPoller, Window};
use crate::graph::Records;
use crate::state::{fingerprint, hour_of, HourDigest, TAIL_SLICE_SECONDS};

/// Graph's records of the checked range, digested by hour as their pages come.
#[derive(Debug, Default)]
pub(super) struct Tally {
    hours: BTreeMap<i64, HourDigest>,
}

impl Tally {
    pub(super) fn clear(&mut self) {
        self.hours.clear();
    }
}

impl StreamPoller {
    /// Runs a due check of `(from, to)` after the poll's reads, then checkpoints.
    pub(super) async fn check_tail(
        &self,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        sched: &super::window::Schedule,
        progress: &crate::progress::Catchup,
        stats: &mut PollStats,
    ) -> Result<(), PollError> {
        // The check reads each record once more: only while that fits in half the stream's
        // share of the budget (a busy stream near it skips the day, and says so).
        if self.room(stats, self.settings.sweeps.len()).fits == 0 {
            tracing::warn!(
                tenant = %self.tenant_id(),
                entra_stream = self.name(),
                sign_in_type = self.spec.sign_in_type(),
                "the long-age check of {} to {} is skipped: it reads every record once more, and this stream already uses more than half its share of the tenant's Graph budget",
                crate::event::graph_time(from),
                crate::event::graph_time(to)
            );
        } else {
            let whole = Window {
                from,
                to,
                members: &[],
                sched,
                advance: false,
                check: None,
                only: None,
            };
            if let Drained::Interrupted = self.tail_check(&whole, progress, stats).await? {
                stats.interrupted = true;
                return Ok(());
            }
        }
        self.checkpoint
            .stage(|s| {
                // The records it emitted are digested into their hours, then the checked hours
                // go.
                super::window::settle(s, sched);
                s.tail.prune_before(to.timestamp());
                s.tail.checked = Some(to);
            })
            .await;
        self.checkpoint.commit().await?;
        Ok(())
    }

    /// Digests a page of the check's listing: only the records the stream would emit.
    pub(super) fn tally(&self, tally: &Mutex<Tally>, records: &Records) -> Option<DateTime<Utc>> {
        let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
        let mut newest = None;
        for record in records.records() {
            let Some(at) = self.spec.record_time(&record) else {
                continue;
            };
            newest = newest.max(Some(at));
            if self.spec.keep(&record) {
                let fp = fingerprint(&self.spec.dedup_key(&record));
                t.hours.entry(hour_of(at.timestamp())).or_default().add(&fp);
            }
        }
        newest
    }

    /// Checks `[from, to)` (whole hours): lists it, emits each hour's one missing record,
    /// counts what cannot be singled out, records the result and reports it.
    pub(super) async fn tail_check(
        &self,
        window: &Window<'_>,
        progress: &crate::progress::Catchup,
        stats: &mut PollStats,
    ) -> Result<Drained, PollError> {
        let (from, to) = (window.from, window.to);
        // A digest per query (a refused nextLink restarts one query, and clears its digest).
        let mut graph: BTreeMap<i64, HourDigest> = BTreeMap::new();
        for extra in &self.spec.sub_filters() {
            let tally = Mutex::new(Tally::default());
            let listing = Window {
                check: Some(&tally),
                ..*window
            };
            match self
                .drain(&listing, extra.as_deref(), progress, stats)
                .await?
            {
                Drained::Done => {}
                other => return Ok(other),
            }
            for (hour, d) in tally.into_inner().unwrap_or_else(|p| p.into_inner()).hours {
                graph.entry(hour).or_default().merge(&d);
            }
        }
        let (mut missing, mut hours, mut unmatched) = (HashSet::new(), Vec::new(), 0u64);
        self.stream_state(|s| {
            for (hour, theirs) in &graph {
                let ours = s.map(|s| s.tail.hour(*hour)).unwrap_or_default();
                if theirs.count <= ours.count {
                    continue;
                }
                match ours.missing_one(theirs) {
                    Some(fp) => {
                        missing.insert(fp);
                        hours.push(*hour);
                    }
                    None => unmatched += theirs.count - ours.count,
                }
            }
        })
        .await;
        let before = stats.emitted;
        for hour in hours {
            let start = DateTime::from_timestamp(hour, 0).unwrap_or(from);
            let end = DateTime::from_timestamp(hour + TAIL_SLICE_SECONDS - 1, 0).unwrap_or(to);
            let read = Window {
                from: start,
                to: end,
                only: Some(&missing),
                ..*window
            };
            for extra in &self.spec.sub_filters() {
                match self.drain(&read, extra.as_deref(), progress, stats).await? {
                    Drained::Done => {}
                    other => return Ok(other),
                }
            }
        }
        let found = stats.emitted - before;
        self.checkpoint
            .stage(|s| {
                s.tail.checked = Some(to);
                s.tail.found += found;
                s.tail.unmatched += unmatched;
            })
            .await;
        crate::telemetry::TailChecked {
            tenant: self.tenant_id(),
            section: &self.key(),
            found,
            unmatched,
        }
        .emit();
        if found + unmatched > 0 {
            self.late_records(from, to, found, unmatched).await?;
        }
        Ok(Drained::Done)
    }
}

/// The range a due check reads: from where the last one stopped to the last whole hour
/// `age` old, once that is `age` long (a day's hours once a day by default).
pub(super) fn due(
    checked: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    age: chrono::Duration,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let from = checked?;
    let edge = now.checked_sub_signed(age)?.timestamp();
    let to = DateTime::from_timestamp(hour_of(edge), 0)?;
    (to - from >= age).then_some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_check_is_due_once_its_age_of_whole_hours_has_settled() {
        let day = chrono::Duration::days(1);
        let checked = Some(t("2026-12-01T00:00:00Z"));
        assert_eq!(
            due(None, t("2026-12-05T00:00:00Z"), day),
            None,
            "nothing digested yet"
        );
        assert_eq!(due(checked, t("2026-12-02T23:59:00Z"), day), None);
        assert_eq!(
            due(checked, t("2026-12-03T00:30:00Z"), day),
            Some((t("2026-12-01T00:00:00Z"), t("2026-12-02T00:00:00Z")))
        );
    }
}
