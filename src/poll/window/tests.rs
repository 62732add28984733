use super::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const NOW: &str = "2026-12-01T12:00:00.700Z";

fn sched(sweeps: &[i64], settle_only: bool) -> Schedule {
    Schedule {
        sweeps: sweeps.iter().map(|m| Duration::minutes(*m)).collect(),
        settle_only,
        lookback: Duration::hours(1),
        retention: Some(Duration::days(30)),
        tail_check: None,
    }
}

fn spans(p: &Plan) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    p.reads.iter().map(|r| (r.from, r.to)).collect()
}

#[test]
fn a_first_poll_reads_the_lookback_once_and_starts_every_mark() {
    let sc = sched(&[20], false);
    let mut s = StreamState::default();
    let p = plan(t(NOW), &s, &sc).unwrap();
    // The fresh read [11:00, 12:00] and the sweep's [11:00, 11:40] are one query.
    assert_eq!(
        spans(&p),
        vec![(t("2026-12-01T11:00:00Z"), t("2026-12-01T12:00:00Z"))]
    );
    assert_eq!(p.reads[0].members.len(), 2);
    assert!(!p.backfilling);
    let read = p.reads[0].clone();
    reached(&mut s, &read.members, read.to, &sc);
    finished(&mut s, &p, &sc);
    assert_eq!(s.cursor, Some(t("2026-12-01T12:00:00Z")));
    assert_eq!(s.settled[&1200], t("2026-12-01T11:40:00Z"));
}

#[test]
fn a_steady_poll_reads_each_slice_once_fresh_and_once_settled() {
    let sc = sched(&[20], false);
    let mut s = StreamState {
        cursor: Some(t("2026-12-01T11:55:00Z")),
        ..Default::default()
    };
    s.settled.insert(1200, t("2026-12-01T11:35:00Z"));
    let p = plan(t(NOW), &s, &sc).unwrap();
    assert_eq!(
        spans(&p),
        vec![
            (t("2026-12-01T11:35:00Z"), t("2026-12-01T11:40:00Z")),
            (t("2026-12-01T11:55:00Z"), t("2026-12-01T12:00:00Z")),
        ]
    );
    // Two sweeps: three reads of each slice, and no more.
    let sc2 = sched(&[5, 20], false);
    s.settled.insert(300, t("2026-12-01T11:50:00Z"));
    let p = plan(t(NOW), &s, &sc2).unwrap();
    let width: i64 = p.reads.iter().map(|r| (r.to - r.from).num_minutes()).sum();
    assert_eq!(width, 15);
    // Settle-only: only the settled slice.
    let p = plan(t(NOW), &s, &sched(&[20], true)).unwrap();
    assert_eq!(
        spans(&p),
        vec![(t("2026-12-01T11:35:00Z"), t("2026-12-01T11:40:00Z"))]
    );
}

#[test]
fn a_state_from_before_sweeps_resumes_where_its_remembered_ids_reach() {
    let sc = sched(&[20], false);
    let s = StreamState {
        cursor: Some(t("2026-12-01T11:55:00Z")),
        ..Default::default()
    };
    let p = plan(t(NOW), &s, &sc).unwrap();
    assert_eq!(p.reads[0].from, t("2026-12-01T11:35:00Z"));
}

#[test]
fn marks_move_page_by_page_within_their_own_range_and_ids_are_kept_back_to_the_oldest() {
    let sc = sched(&[20], false);
    let mut s = StreamState {
        cursor: Some(t("2026-12-01T09:00:00Z")),
        ..Default::default()
    };
    s.settled.insert(1200, t("2026-12-01T08:40:00Z"));
    s.seen.insert_id("old", t("2026-12-01T08:30:00Z"));
    s.seen.insert_id("kept", t("2026-12-01T08:50:00Z"));
    // Three hours behind: one merged read.
    let p = plan(t(NOW), &s, &sc).unwrap();
    assert_eq!(
        spans(&p),
        vec![(t("2026-12-01T08:40:00Z"), t("2026-12-01T12:00:00Z"))]
    );
    let members = p.reads[0].members.clone();
    // A page reaching 08:50 moves the sweep's mark only (the fresh range starts at 09:00).
    assert!(reached(&mut s, &members, t("2026-12-01T08:50:00Z"), &sc));
    assert_eq!(s.settled[&1200], t("2026-12-01T08:50:00Z"));
    assert_eq!(s.cursor, Some(t("2026-12-01T09:00:00Z")));
    assert!(!s.seen.contains_id("old") && s.seen.contains_id("kept"));
    // Reaching 11:50 moves the fresh mark there and the sweep's to its end, 11:40.
    reached(&mut s, &members, t("2026-12-01T11:50:00Z"), &sc);
    assert_eq!(s.cursor, Some(t("2026-12-01T11:50:00Z")));
    assert_eq!(s.settled[&1200], t("2026-12-01T11:40:00Z"));
    // Never back.
    assert!(!reached(&mut s, &members, t("2026-12-01T10:00:00Z"), &sc));
}

#[test]
fn a_reset_floor_retention_and_a_skewed_cursor_bound_the_reads() {
    let sc = sched(&[20], false);
    let s = StreamState {
        cursor: Some(t("2026-12-01T11:55:00Z")),
        not_before: Some(t("2026-12-01T11:50:00Z")),
        ..Default::default()
    };
    let p = plan(t(NOW), &s, &sc).unwrap();
    assert_eq!(p.from(), Some(t("2026-12-01T11:55:00Z")));
    assert!(p.reads.iter().all(|r| r.from >= t("2026-12-01T11:50:00Z")));
    let old = StreamState {
        cursor: Some(t("2025-01-01T00:00:00Z")),
        ..Default::default()
    };
    let p = plan(t(NOW), &old, &sc).unwrap();
    assert_eq!(p.from(), Some(t("2026-11-01T12:00:00Z")));
    assert_eq!(p.reads.len(), 1);
    assert!(p.backfilling);
    assert_eq!(p.beyond_retention.unwrap().1, t("2026-11-01T12:00:00Z"));
    let ahead = StreamState {
        cursor: Some(t("2026-12-01T12:05:00Z")),
        ..Default::default()
    };
    assert_eq!(
        plan(t(NOW), &ahead, &sc).unwrap().to(),
        Some(t("2026-12-01T12:05:00Z"))
    );
    let far = StreamState {
        cursor: Some(t("2026-12-05T00:00:00Z")),
        ..Default::default()
    };
    assert!(plan(t(NOW), &far, &sc).is_err());
    // Absurd durations do not overflow.
    let absurd = Schedule {
        sweeps: vec![Duration::MAX],
        settle_only: false,
        lookback: Duration::MAX,
        retention: Some(Duration::MAX),
        tail_check: None,
    };
    assert!(plan(t(NOW), &s, &absurd).is_ok());
}

#[test]
fn a_sweep_older_than_the_first_lookback_starts_at_the_lookback_not_before_it() {
    // lookback 1h, sweep at 48h: the first poll must not later sweep records from 47h ago.
    let sc = Schedule {
        sweeps: vec![Duration::hours(48)],
        settle_only: false,
        lookback: Duration::hours(1),
        retention: None,
        tail_check: None,
    };
    let mut s = StreamState::default();
    let p = plan(t(NOW), &s, &sc).unwrap();
    for r in p.reads.clone() {
        reached(&mut s, &r.members, r.to, &sc);
    }
    finished(&mut s, &p, &sc);
    assert_eq!(s.settled[&172800], t("2026-12-01T11:00:00Z"));
    let later = t("2026-12-03T12:00:00Z");
    let p = plan(later, &s, &sc).unwrap();
    assert!(p.from().unwrap() >= t("2026-12-01T11:00:00Z"));
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
fn settle_only_keeps_the_cursor_at_the_newest_mark_and_drops_unconfigured_ages() {
    let sc = sched(&[20], true);
    let mut s = StreamState::default();
    s.settled.insert(300, t("2026-12-01T11:00:00Z"));
    s.settled.insert(1200, t("2026-12-01T11:30:00Z"));
    settle(&mut s, &sc);
    assert_eq!(s.settled.len(), 1);
    assert_eq!(s.cursor, Some(t("2026-12-01T11:30:00Z")));
    assert_eq!(floor(&s, &sc), Some(t("2026-12-01T11:30:00Z")));
}

/// A first run killed before its first mark was checkpointed (only `read_from` was), restarted
/// hours later: it reads from where it began, not from `now − lookback`, which skipped what lay
/// between (found by the shaping SIGKILL test).
#[test]
fn a_first_run_killed_before_its_first_mark_restarts_where_it_began() {
    let sc = sched(&[20], false);
    let s = StreamState {
        read_from: Some(t("2026-12-01T08:00:00Z")),
        ..StreamState::default()
    };
    let p = plan(t(NOW), &s, &sc).unwrap();
    assert_eq!(
        spans(&p),
        vec![(t("2026-12-01T08:00:00Z"), t("2026-12-01T12:00:00Z"))]
    );
}

#[test]
fn a_section_an_event_hub_fed_alone_is_read_from_where_its_ids_begin() {
    let sc = sched(&[20], false);
    // Graph read up to 09:00, then a hub fed the section alone and forgot ids before 11:30.
    let s = StreamState {
        cursor: Some(t("2026-12-01T09:00:00Z")),
        settled: [(1200, t("2026-12-01T08:40:00Z"))].into(),
        hub: crate::state::HubState {
            forgot_before: Some(t("2026-12-01T11:30:00Z")),
            ..Default::default()
        },
        ..Default::default()
    };
    let p = plan(t(NOW), &s, &sc).unwrap();
    assert_eq!(
        spans(&p),
        vec![(t("2026-12-01T11:30:00Z"), t("2026-12-01T12:00:00Z"))],
        "nothing the hub delivered is read again"
    );
    // Never polled: from there too, not from `now − lookback`.
    let fresh = StreamState {
        hub: s.hub.clone(),
        ..Default::default()
    };
    let p = plan(t(NOW), &fresh, &sc).unwrap();
    assert_eq!(p.from(), Some(t("2026-12-01T11:30:00Z")));
}
