//! Which time range a poll reads, and what a drained range does to the checkpoint: pure
//! functions of the checkpoint, the clock and the stream's settings, unit-tested here.

use chrono::{DateTime, Duration, Utc};

use crate::event::whole_seconds;
use crate::state::StreamState;

/// A catch-up longer than this is read window by window, each checkpointed when drained.
pub const BACKFILL_WINDOW: Duration = Duration::days(1);

/// The furthest a cursor may run ahead of this host's clock before it is taken for a broken
/// clock or state file rather than skew.
pub const MAX_CLOCK_SKEW: Duration = Duration::days(1);

/// What a poll reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The poll is more than a backfill window behind (not merely re-reading late arrivals).
    pub backfilling: bool,
    /// The checkpoint was older than Graph keeps the records: (where it pointed, where the
    /// poll starts instead).
    pub beyond_retention: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The stream's checkpoint is ahead of the clock by more than [`MAX_CLOCK_SKEW`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FutureCursor {
    pub cursor: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// `[cursor − late, now]` for a stream with a checkpoint, `[now − lookback, now]` without;
/// never before a `state reset` floor (`not_before`), never before what Graph still keeps
/// (`retention`), and never ending before a cursor slightly ahead of this clock.
pub fn plan(
    now: DateTime<Utc>,
    cursor: Option<DateTime<Utc>>,
    not_before: Option<DateTime<Utc>>,
    late: Duration,
    lookback: Duration,
    retention: Option<Duration>,
) -> Result<Plan, FutureCursor> {
    let now = whole_seconds(now);
    if let Some(c) = cursor.filter(|c| *c > now + MAX_CLOCK_SKEW) {
        return Err(FutureCursor { cursor: c, now });
    }
    let from = match cursor {
        Some(c) => whole_seconds(c.checked_sub_signed(late).unwrap_or(c)),
        None => now.checked_sub_signed(lookback).unwrap_or(now),
    };
    // After `state reset --since`: exactly from there, no late-arrival re-read before it.
    let from = not_before.map_or(from, |nb| from.max(whole_seconds(nb)));
    let (from, beyond_retention) = match retention.and_then(|r| now.checked_sub_signed(r)) {
        Some(oldest) if from < oldest => (oldest, Some((from, oldest))),
        _ => (from, None),
    };
    let to = now.max(cursor.unwrap_or(now));
    let behind_from = cursor.unwrap_or(from).max(from);
    Ok(Plan {
        from,
        to,
        backfilling: to - behind_from > BACKFILL_WINDOW,
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

/// A window `[…, to]` is drained: the cursor moves to `to` (never back), the ids that cannot be
/// read again are forgotten, and a `state reset` floor behind the next window is cleared.
/// Returns the new cursor.
pub fn window_drained(s: &mut StreamState, to: DateTime<Utc>, late: Duration) -> DateTime<Utc> {
    let cursor = s.cursor.map_or(to, |c| c.max(to));
    s.cursor = Some(cursor);
    s.seen.prune_before(whole_seconds(cursor - late));
    if s.not_before.is_some_and(|nb| nb <= cursor - late) {
        s.not_before = None;
    }
    cursor
}

/// A page of an ordered query reached `newest` (inside the window ending `window_end`): the
/// cursor may move there, since everything before it in this window has been emitted, and ids
/// older than `newest − late` can never be read again. Returns whether the cursor moved.
pub fn page_reached(
    s: &mut StreamState,
    newest: Option<DateTime<Utc>>,
    window_end: DateTime<Utc>,
    late: Duration,
) -> bool {
    let Some(n) = newest.filter(|n| *n <= window_end) else {
        return false;
    };
    let cursor = s.cursor.map_or(n, |c| c.max(n));
    s.cursor = Some(cursor);
    s.seen.prune_before(whole_seconds(cursor - late));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const NOW: &str = "2026-12-01T12:00:00.700Z";

    #[test]
    fn a_first_poll_reads_the_lookback_and_later_ones_re_read_late_arrivals() {
        let p = plan(
            t(NOW),
            None,
            None,
            Duration::minutes(20),
            Duration::hours(1),
            None,
        )
        .unwrap();
        assert_eq!(
            (p.from, p.to),
            (t("2026-12-01T11:00:00Z"), t("2026-12-01T12:00:00Z"))
        );
        assert!(!p.backfilling);
        let cursor = Some(t("2026-12-01T11:55:00.5Z"));
        let p = plan(
            t(NOW),
            cursor,
            None,
            Duration::minutes(20),
            Duration::hours(1),
            None,
        )
        .unwrap();
        assert_eq!(p.from, t("2026-12-01T11:35:00Z"));
        // A 48 h re-read spans days but is no backfill.
        let p = plan(
            t(NOW),
            cursor,
            None,
            Duration::hours(48),
            Duration::hours(1),
            None,
        )
        .unwrap();
        assert!(!p.backfilling && backfill_windows(p.from, p.to).len() == 3);
        // Three days behind is.
        let behind = Some(t("2026-11-28T12:00:00Z"));
        let p = plan(
            t(NOW),
            behind,
            None,
            Duration::minutes(20),
            Duration::hours(1),
            None,
        )
        .unwrap();
        assert!(p.backfilling);
    }

    #[test]
    fn a_reset_floor_retention_and_a_skewed_cursor_bound_the_window() {
        let cursor = Some(t("2026-12-01T11:55:00Z"));
        let floor = Some(t("2026-12-01T11:50:00Z"));
        let p = plan(
            t(NOW),
            cursor,
            floor,
            Duration::minutes(20),
            Duration::hours(1),
            None,
        )
        .unwrap();
        assert_eq!(p.from, t("2026-12-01T11:50:00Z"));
        let old = Some(t("2025-01-01T00:00:00Z"));
        let p = plan(
            t(NOW),
            old,
            None,
            Duration::minutes(20),
            Duration::hours(1),
            Some(Duration::days(30)),
        )
        .unwrap();
        assert_eq!(p.from, t("2026-11-01T12:00:00Z"));
        assert_eq!(p.beyond_retention.unwrap().1, p.from);
        // Skew: read up to the cursor, never backwards; far ahead is an error.
        let ahead = Some(t("2026-12-01T12:05:00Z"));
        let p = plan(
            t(NOW),
            ahead,
            None,
            Duration::minutes(20),
            Duration::hours(1),
            None,
        )
        .unwrap();
        assert_eq!(p.to, t("2026-12-01T12:05:00Z"));
        let far = Some(t("2026-12-05T00:00:00Z"));
        assert!(plan(
            t(NOW),
            far,
            None,
            Duration::minutes(20),
            Duration::hours(1),
            None
        )
        .is_err());
        // Absurd durations do not overflow.
        assert!(plan(
            t(NOW),
            cursor,
            None,
            Duration::MAX,
            Duration::MAX,
            Some(Duration::MAX)
        )
        .is_ok());
    }

    #[test]
    fn windows_are_cut_by_day_and_cover_the_range_exactly() {
        let from = t("2026-11-28T10:00:00Z");
        let to = t("2026-12-01T12:00:00Z");
        let w = backfill_windows(from, to);
        assert_eq!(w.len(), 4);
        assert_eq!(w[0].0, from);
        assert_eq!(w.last().unwrap().1, to);
        assert!(w.windows(2).all(|p| p[0].1 == p[1].0));
        assert_eq!(backfill_windows(to, to), vec![(to, to)]);
    }

    #[test]
    fn the_cursor_advances_never_back_and_the_id_set_forgets_what_cannot_return() {
        let mut s = StreamState::default();
        s.seen.insert("old".into(), t("2026-12-01T11:00:00Z"));
        s.seen.insert("new".into(), t("2026-12-01T11:50:00Z"));
        let late = Duration::minutes(20);
        assert!(page_reached(
            &mut s,
            Some(t("2026-12-01T11:45:00Z")),
            t("2026-12-01T12:00:00Z"),
            late
        ));
        assert_eq!(s.cursor, Some(t("2026-12-01T11:45:00Z")));
        assert!(!s.seen.contains("old") && s.seen.contains("new"));
        // A newest time past the window end (a clock quirk) does not move it.
        assert!(!page_reached(
            &mut s,
            Some(t("2026-12-01T13:00:00Z")),
            t("2026-12-01T12:00:00Z"),
            late
        ));
        // Draining never moves it back, and clears a floor behind the next window.
        s.not_before = Some(t("2026-12-01T11:00:00Z"));
        assert_eq!(
            window_drained(&mut s, t("2026-12-01T11:30:00Z"), late),
            t("2026-12-01T11:45:00Z")
        );
        assert!(s.not_before.is_none());
        assert_eq!(
            window_drained(&mut s, t("2026-12-01T12:00:00Z"), late),
            t("2026-12-01T12:00:00Z")
        );
    }
}
