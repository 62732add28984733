//! Sign-in volume shaping in the poll loop (`[streams.sign_ins.shaping]`): which new records of a
//! summarized type go out in full and which are counted ([`Shaper`], one per page), and the
//! windows closed once every read has passed them: their summaries written, then their
//! accounting event, then taken out of the state.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{window, PollError, StreamPoller};
use crate::record::Record;
use crate::state::shaping::{Closed, Grouping, Shaped};
use crate::state::{fingerprint, Fingerprint, StreamState};
use crate::streams::shaping::{always_kept, grouping, novelties, Policy};

/// What a page did to its stream's shaping state, applied when the page is checkpointed.
#[derive(Default)]
pub(super) struct Shaper {
    /// Records emitted in full, by time.
    full: Vec<DateTime<Utc>>,
    /// Records counted: grouping, time, Graph id, fingerprint.
    counted: Vec<(Grouping, DateTime<Utc>, String, Fingerprint)>,
    /// Values first kept in full on this page.
    learned: Vec<(Fingerprint, DateTime<Utc>)>,
    learned_here: HashSet<Fingerprint>,
}

impl Shaper {
    /// Whether a new record of time `at` goes out in full (else it is counted).
    pub(super) fn full(
        &mut self,
        p: Policy,
        state: Option<&Shaped>,
        r: &Record<'_>,
        at: DateTime<Utc>,
        fp: Fingerprint,
    ) -> bool {
        let late = state.is_some_and(|s| s.is_closed(at, p.window));
        let mut new = false;
        for v in novelties(r) {
            let f = fingerprint(&v);
            if !self.learned_here.contains(&f) && !state.is_some_and(|s| s.knows(&f)) {
                new = true;
                // A value is known once a record showing it is kept in full (this one).
                self.learned.push((f, at));
                self.learned_here.insert(f);
            }
        }
        // Every value it shows is known now (the new ones learned above, kept with its page).
        if late || new || always_kept(r).is_some() {
            self.full.push(at);
            return true;
        }
        let id = r.str("id").map(|s| s.into_owned()).unwrap_or_default();
        self.counted.push((grouping(r), at, id, fp));
        false
    }

    /// Applies the page to the state (with its records' ids, in the page's checkpoint).
    /// Returns how many records it counted.
    pub(super) fn apply(self, p: Policy, s: &mut StreamState) -> u64 {
        let n = self.counted.len() as u64;
        let sh = &mut s.shaping;
        sh.window = p.window;
        for at in self.full {
            sh.count_full(p.window, at);
        }
        for (g, at, id, fp) in self.counted {
            sh.count(p.window, &g, at, &id, fp);
        }
        sh.learn(self.learned);
        if let Some(now) = s.cursor {
            sh.forget_before(now, p.horizon);
        }
        n
    }
}

/// Where every read has passed: the oldest of the fresh read's cursor and each sweep's mark;
/// none while a sweep has no mark yet (a first run: it will still read from the start).
fn settled(s: &StreamState, sched: &window::Schedule) -> Option<DateTime<Utc>> {
    let sweeps: Option<Vec<DateTime<Utc>>> = sched
        .sweeps
        .iter()
        .map(|age| s.settled.get(&(age.num_seconds().max(0) as u64)).copied())
        .collect();
    let fresh = if sched.settle_only { None } else { s.cursor };
    fresh.into_iter().chain(sweeps?).min()
}

impl StreamPoller {
    /// Writes the summaries and the accounting of every window every read has passed, then
    /// takes them out of the state and checkpoints. A crash between the two writes them again,
    /// with the same ids and counts.
    pub(super) async fn close_windows(&self, sched: &window::Schedule) -> Result<(), PollError> {
        let policy = self.spec.shaping();
        let due: Vec<Closed> = self
            .checkpoint
            .read(|s| {
                let s = s?;
                match policy {
                    Some(p) => Some(s.shaping.closable(p.window, settled(s, sched)?)),
                    // Set back to `full` with summaries open: they go out now, never lost.
                    None if !s.shaping.open.is_empty() || !s.shaping.accounts.is_empty() => Some(
                        s.shaping
                            .closable(s.shaping.window, DateTime::<Utc>::MAX_UTC),
                    ),
                    None => None,
                }
            })
            .await
            .unwrap_or_default();
        if due.is_empty() {
            return Ok(());
        }
        let sign_in_type = self.spec.sign_in_type().unwrap_or_default();
        let now = Utc::now();
        {
            let mut output = self.output.lock().await;
            let mut page = output.page();
            for w in &due {
                for s in &w.summaries {
                    let e = crate::event::summary::event(self.tenant_id(), sign_in_type, w.from, s);
                    page.push_value(&e)?;
                }
                let mut c = self.change(None, "shaped");
                c.reason = format!(
                    "{} new sign-ins from {} to {}: {} emitted in full, {} counted into {} summaries",
                    w.account.fetched,
                    crate::event::graph_time(w.from),
                    crate::event::graph_time(w.to),
                    w.account.full,
                    w.account.summarized,
                    w.account.summaries
                );
                c.gap = Some((w.from, w.to));
                c.account = Some(w.account);
                page.push_value(&crate::event::health::event(&c, now))?;
            }
            let n = page.len();
            output.write_encoded(page).await?;
            self.count(|c| c.events_written(n));
        }
        self.checkpoint.stage(|s| s.shaping.closed(&due)).await;
        self.checkpoint.commit().await?;
        Ok(())
    }
}
