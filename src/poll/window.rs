//! Which time ranges a poll reads, and what a drained range does to the checkpoint: pure
//! functions of the checkpoint, the clock and the stream's settings, unit-tested here.
//!
//! Settle sweeps: each time slice is read once fresh (`[cursor, now]`) and read again once it
//! has settled, at each `late_arrival` age (`[marker, now − age]`), so that in steady state a
//! record is fetched `1 + sweeps` times (settle-only: `sweeps` times), not
//! `(late_arrival + interval) / interval` times as a sliding re-read would. Ranges that overlap
//! (a catch-up, a first run) are merged into one query. Each range keeps its own mark in the
//! state: the fresh read's `cursor`, each sweep's `settled[age]`. Records before a mark have
//! been read at that age; the ids remembered reach back to the oldest mark, so whatever a
//! later read returns again is dropped.

use chrono::{DateTime, Duration, Utc};

use crate::event::whole_seconds;
use crate::state::StreamState;

/// A catch-up longer than this is read window by window, each checkpointed when drained.
pub const BACKFILL_WINDOW: Duration = Duration::days(1);

/// The furthest a cursor may run ahead of the clock the run plans on (Graph's `Date`) before
/// it is taken for a broken clock or state file rather than skew.
pub const MAX_CLOCK_SKEW: Duration = Duration::days(1);

/// What the stream's settings say about its reads.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The `late_arrival` ages, ascending, at least one.
    pub sweeps: Vec<Duration>,
    pub settle_only: bool,
    pub lookback: Duration,
    /// How long Graph keeps the records (none: state records, kept while they exist).
    pub retention: Option<Duration>,
    /// The long-age check's age (and period), if on: forgotten ids are digested by hour.
    pub tail_check: Option<Duration>,
}

/// Which mark a range moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The fresh read: the stream's `cursor`.
    Fresh,
    /// The sweep at this age in seconds: `settled[age]`.
    Sweep(u64),
}

/// One range a poll owes: `[from, to]` for `mark`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub mark: Mark,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// One query: the union of overlapping ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub members: Vec<Member>,
}

/// What a poll reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub reads: Vec<Read>,
    /// Sweeps with nothing to read yet whose mark starts here (a first run's start).
    pub idle: Vec<(u64, DateTime<Utc>)>,
    /// A read spans more than a backfill window (not merely the slices of a steady poll).
    pub backfilling: bool,
    /// The checkpoint was older than Graph keeps the records: (where it pointed, where the
    /// poll starts instead).
    pub beyond_retention: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl Plan {
    pub fn from(&self) -> Option<DateTime<Utc>> {
        self.reads.iter().map(|r| r.from).min()
    }
    pub fn to(&self) -> Option<DateTime<Utc>> {
        self.reads.iter().map(|r| r.to).max()
    }
}

/// The stream's checkpoint is ahead of the clock by more than [`MAX_CLOCK_SKEW`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FutureCursor {
    pub cursor: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

fn age_secs(a: Duration) -> u64 {
    a.num_seconds().max(0) as u64
}

/// Where the sweep at `age` starts: its mark; without one (a state from before sweeps, an age
/// just added) `cursor − age`, which the remembered ids cover; on a first run, `start`.
fn sweep_from(s: &StreamState, age: Duration, start: DateTime<Utc>) -> DateTime<Utc> {
    match (s.settled.get(&age_secs(age)), s.cursor) {
        (Some(m), _) => *m,
        (None, Some(c)) => c.checked_sub_signed(age).unwrap_or(c),
        (None, None) => start,
    }
}

/// The ranges owed at `now`: the fresh read `[cursor, now]` (`[now − lookback, now]` without a
/// checkpoint, none in settle-only mode) and each sweep's `[mark, now − age]`; never before a
/// `state reset` floor (`not_before`) or what Graph still keeps (`retention`); overlapping
/// ranges merged into one read.
pub fn plan(now: DateTime<Utc>, s: &StreamState, sched: &Schedule) -> Result<Plan, FutureCursor> {
    let now = whole_seconds(now);
    if let Some(c) = s.cursor.filter(|c| *c > now + MAX_CLOCK_SKEW) {
        return Err(FutureCursor { cursor: c, now });
    }
    // A first run that was stopped before its first mark (killed, say) began at `read_from`:
    // starting from `now − lookback` again would skip what lay between.
    let start = match (s.cursor, s.read_from) {
        (None, Some(began)) => whole_seconds(began),
        // A section an Event Hub fed alone: Graph starts where the hub's remembered ids
        // begin, so that nothing the hub emitted comes again (issue 31).
        _ => now.checked_sub_signed(sched.lookback).unwrap_or(now),
    };
    let oldest = sched.retention.and_then(|r| now.checked_sub_signed(r));
    let mut beyond_retention = None;
    let mut clamp = |from: DateTime<Utc>| {
        // After `state reset --since`: exactly from there, no sweep before it.
        let from = s.not_before.map_or(from, |nb| from.max(whole_seconds(nb)));
        // An Event Hub fed the section alone and forgot its ids before this: what lies before
        // was the hub's to deliver, and reading it again would emit it twice (issue 31).
        let from = s
            .hub
            .forgot_before
            .map_or(from, |f| from.max(whole_seconds(f)).min(now));
        let from = whole_seconds(from);
        match oldest {
            Some(o) if from < o => {
                beyond_retention = Some(
                    beyond_retention
                        .map_or((from, o), |(f, o): (DateTime<Utc>, _)| (f.min(from), o)),
                );
                o
            }
            _ => from,
        }
    };
    let mut members = Vec::new();
    if !sched.settle_only {
        let from = clamp(s.cursor.unwrap_or(start));
        // A cursor slightly ahead of this clock: read up to it, never backwards.
        let to = now.max(s.cursor.unwrap_or(now));
        members.push(Member {
            mark: Mark::Fresh,
            from,
            to,
        });
    }
    let mut idle = Vec::new();
    for age in &sched.sweeps {
        let to = now.checked_sub_signed(*age).unwrap_or(now);
        let from = clamp(sweep_from(s, *age, start));
        if from < to {
            members.push(Member {
                mark: Mark::Sweep(age_secs(*age)),
                from,
                to,
            });
        } else if !s.settled.contains_key(&age_secs(*age)) {
            idle.push((age_secs(*age), from));
        }
    }
    members.sort_by_key(|m| m.from);
    let mut reads: Vec<Read> = Vec::new();
    for m in members {
        match reads.last_mut() {
            Some(r) if m.from <= r.to => {
                r.to = r.to.max(m.to);
                r.members.push(m);
            }
            _ => reads.push(Read {
                from: m.from,
                to: m.to,
                members: vec![m],
            }),
        }
    }
    let backfilling = reads.iter().any(|r| r.to - r.from > BACKFILL_WINDOW);
    Ok(Plan {
        reads,
        idle,
        backfilling,
        beyond_retention,
    })
}

/// `[from, to]` cut into consecutive windows of at most [`BACKFILL_WINDOW`].
pub fn backfill_windows(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut start = from;
    while to - start > BACKFILL_WINDOW {
        out.push((start, start + BACKFILL_WINDOW));
        start += BACKFILL_WINDOW;
    }
    out.push((start, to));
    out
}

/// Everything of `read` before `reached` has been emitted (a drained window's end, or the
/// newest record of an ascending query's page): each range's mark moves there (at most to the
/// range's end, never back), then the ids no later read can return are forgotten. Returns
/// whether a mark moved.
pub fn reached(
    s: &mut StreamState,
    members: &[Member],
    reached: DateTime<Utc>,
    sched: &Schedule,
) -> bool {
    let mut moved = false;
    for m in members.iter().filter(|m| reached >= m.from) {
        moved |= advance(s, m.mark, reached.min(m.to));
    }
    settle(s, sched);
    moved
}

fn advance(s: &mut StreamState, mark: Mark, at: DateTime<Utc>) -> bool {
    let old = match mark {
        Mark::Fresh => s.cursor,
        Mark::Sweep(age) => s.settled.get(&age).copied(),
    };
    if old.is_some_and(|o| o >= at) {
        return false;
    }
    match mark {
        Mark::Fresh => s.cursor = Some(at),
        Mark::Sweep(age) => {
            s.settled.insert(age, at);
        }
    }
    true
}

/// A poll drained every read: sweeps that had nothing to read start their marks where the
/// poll started, then the checkpoint is tidied ([`settle`]).
pub fn finished(s: &mut StreamState, plan: &Plan, sched: &Schedule) {
    for (age, from) in &plan.idle {
        s.settled.entry(*age).or_insert(*from);
    }
    settle(s, sched);
}

/// Tidies the checkpoint after marks moved: marks of ages no longer configured go; in
/// settle-only mode the cursor follows the newest mark (what `state show` and the lag report);
/// ids older than the oldest mark are forgotten, since no read starts before it; a `state
/// reset` floor behind every mark is cleared.
pub fn settle(s: &mut StreamState, sched: &Schedule) {
    let ages: Vec<u64> = sched.sweeps.iter().map(|a| age_secs(*a)).collect();
    s.settled.retain(|age, _| ages.contains(age));
    if sched.settle_only {
        if let Some(newest) = s.settled.values().max().copied() {
            s.cursor = Some(s.cursor.map_or(newest, |c| c.max(newest)));
        }
    }
    if sched.tail_check.is_none() && !s.tail.hours.is_empty() {
        s.tail.hours.clear();
        s.tail.checked = None;
    }
    let Some(floor) = floor(s, sched) else {
        return;
    };
    let forgotten = s.seen.take_before(whole_seconds(floor).timestamp());
    if sched.tail_check.is_some() {
        if let (None, Some(first)) = (s.tail.checked, forgotten.keys().next()) {
            // The first hour is only partly digested (the first run's lookback began in it):
            // checks begin at the next one.
            let next = crate::state::hour_of(*first) + crate::state::TAIL_SLICE_SECONDS;
            s.tail.checked = DateTime::from_timestamp(next, 0);
        }
        s.tail
            .fold(forgotten.iter().map(|(sec, fps)| (*sec, fps.as_slice())));
    }
    if s.not_before.is_some_and(|nb| nb <= floor) {
        s.not_before = None;
    }
}

/// Where the next poll's earliest read starts, if the stream has a checkpoint.
pub fn floor(s: &StreamState, sched: &Schedule) -> Option<DateTime<Utc>> {
    let fresh = if sched.settle_only { None } else { s.cursor };
    let sweeps = sched.sweeps.iter().filter_map(|age| {
        s.settled
            .get(&age_secs(*age))
            .copied()
            .or_else(|| s.cursor.map(|c| c.checked_sub_signed(*age).unwrap_or(c)))
    });
    fresh.into_iter().chain(sweeps).min()
}

/// Where a query of `members` restarts after Graph refused a nextLink: the earliest mark of
/// a range not yet at its end.
pub fn resume_from(s: &StreamState, members: &[Member]) -> Option<DateTime<Utc>> {
    members
        .iter()
        .filter_map(|m| {
            let mark = match m.mark {
                Mark::Fresh => s.cursor,
                Mark::Sweep(age) => s.settled.get(&age).copied(),
            }
            .map_or(m.from, |c| c.max(m.from));
            (mark < m.to).then_some(mark)
        })
        .min()
}

/// Seconds of stream time a plan reads for the first time: its fresh range, or in
/// settle-only mode its first sweep's.
pub fn first_reads(plan: &Plan, sched: &Schedule) -> f64 {
    let first = if sched.settle_only {
        sched
            .sweeps
            .first()
            .map(|a| Mark::Sweep(a.num_seconds().max(0) as u64))
    } else {
        Some(Mark::Fresh)
    };
    plan.reads
        .iter()
        .flat_map(|r| &r.members)
        .filter(|m| Some(m.mark) == first)
        .map(|m| (m.to - m.from).num_milliseconds() as f64 / 1000.0)
        .sum()
}

#[cfg(test)]
mod tests;
