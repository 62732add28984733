//! The learned sweeps (issue 27): between the last two `late_arrival` ages the engine reads
//! every interval once the last sweep finds more than 1 % of the records every earlier read
//! missed (all the rungs at once: the last sweep's finds say only that a record came after the
//! earlier reads, not when, and come an age late), then takes the top one away while it and
//! the last find next to nothing together. Under Microsoft's published delays the
//! last sweep finds about 0.4 % of the records and nothing is added (a record costs at most
//! three fetches); under sign-ins that Graph shows 5 to 30 minutes late it finds half of them,
//! and the ladder grows until a record is read within an interval of Graph showing it. A rung
//! is added only while the stream's share of the tenant's budget would stay under half used,
//! and one is shed when it would not; with none left to shed, the configured ages between the
//! fresh read and the last are shed too (`lean`), until the budget has room for them again: a
//! busy stream reads each record twice, as before the first sweep at 5 minutes was a default.
//!
//! Pure functions of the checkpoint's [`Ladder`] and a poll's [`Found`], unit-tested here.

use chrono::{DateTime, Duration, Utc};

use super::window::{Mark, Member};
use crate::state::Ladder;

/// Records a decision waits for at least.
pub const EVIDENCE: u64 = 50;
/// Evidence is kept for at most this many records without a decision, so that it stays recent.
pub const MAX_EVIDENCE: u64 = 20_000;
/// How sure a decision is: a rung is added only when the share the last sweep found is above
/// [`GROW_ABOVE`] at 3 standard deviations (a 400-record sample of Microsoft's 0.4 % found
/// 5 now and then, and a plain share took it for 1.25 %), and taken away when the top rung's
/// and the last sweep's share is below [`SHED_BELOW`] at 2.
const GROW_Z: f64 = 3.0;
const SHED_Z: f64 = 2.0;
/// The share of records only the last sweep found above which a rung is added.
pub const GROW_ABOVE: f64 = 0.01;
/// The share the top rung and the last sweep found together below which a rung goes.
pub const SHED_BELOW: f64 = 0.005;
/// The most rungs: each is one more fetch of every record Graph already shows.
pub const MAX_RUNGS: u32 = 8;

/// The configured `late_arrival` ages and the learned sweeps' spacing (`None`: no learning).
pub fn configured(s: &crate::streams::StreamSettings) -> (Vec<Duration>, Option<Duration>) {
    let d = |d: std::time::Duration| Duration::from_std(d).unwrap_or_default();
    (
        s.sweeps.iter().map(|a| d(*a)).collect(),
        s.learn_step.map(d),
    )
}

/// The ages a stream reads at: the configured ones and, between the last two (or the fresh
/// read and the only one), `rungs` sweeps `step` apart, each short of the last age; when the
/// ladder is `lean`, the last age alone.
pub fn ages(configured: &[Duration], step: Option<Duration>, l: &Ladder) -> Vec<Duration> {
    if l.lean && step.is_some() {
        return configured.last().copied().into_iter().collect();
    }
    let mut out = configured.to_vec();
    let (Some(step), Some(last)) = (step, configured.last()) else {
        return out;
    };
    for k in 1..=l.rungs.min(max_rungs(configured, Some(step))) {
        let age = base(configured) + step * k as i32;
        if age < *last {
            out.push(age);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Where the rungs start: the age before the last (the fresh read, age zero, with one age).
fn base(configured: &[Duration]) -> Duration {
    configured
        .len()
        .checked_sub(2)
        .map_or(Duration::zero(), |i| configured[i])
}

/// How many rungs fit between the last two ages.
pub fn max_rungs(configured: &[Duration], step: Option<Duration>) -> u32 {
    let (Some(step), Some(last)) = (step, configured.last()) else {
        return 0;
    };
    if step <= Duration::zero() {
        return 0;
    }
    let span = (*last - base(configured)).num_seconds();
    let fit = (span - 1).max(0) / step.num_seconds().max(1);
    (fit as u32).min(MAX_RUNGS)
}

/// What a poll's new records say about its reads.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub emitted: u64,
    /// First found by the highest sweep below the last.
    pub top: u64,
    /// First found by the last sweep: every earlier read had missed them.
    pub beyond: u64,
}

impl Found {
    /// Counts a new record of time `at`, first found by the youngest range covering it.
    pub fn record(&mut self, members: &[Member], at: DateTime<Utc>, ages: &[Duration]) {
        self.emitted += 1;
        let mark = members
            .iter()
            .filter(|m| m.from <= at && at <= m.to)
            .map(|m| m.mark)
            .min_by_key(|m| match m {
                Mark::Fresh => 0,
                Mark::Sweep(a) => *a + 1,
            });
        let Some(Mark::Sweep(age)) = mark else {
            return;
        };
        let secs = |d: &Duration| d.num_seconds().max(0) as u64;
        let last = ages.last().map(secs);
        let top = ages.len().checked_sub(2).map(|i| secs(&ages[i]));
        if Some(age) == last {
            self.beyond += 1;
        } else if Some(age) == top {
            self.top += 1;
        }
    }
}

/// What the budget allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// How many more reads of every record keep the stream under half its budget.
    pub fits: u32,
    /// The reads it makes already take more than half: shed a rung.
    pub shed: bool,
    /// Every configured age fits under half the budget again (a lean ladder's way back).
    pub restore: bool,
}

/// Adds the poll's evidence and decides: returns the change in reads (+1, −1) when there is
/// one. Evidence accumulates until it is conclusive (Wilson score bounds on the shares), then
/// is judged and cleared. A
/// ladder of `configured` ages with none learned sheds the ages between the fresh read and the
/// last when the budget is tight (`lean`), and takes them back when it has room.
pub fn learn(
    l: &mut Ladder,
    found: &Found,
    room: Room,
    max: u32,
    configured: usize,
) -> Option<i32> {
    if room.shed && l.rungs > 0 {
        l.rungs -= 1;
        clear(l);
        return Some(-1);
    }
    if room.shed && !l.lean && configured > 1 {
        l.lean = true;
        clear(l);
        return Some(-1);
    }
    if l.lean {
        if room.restore {
            l.lean = false;
            clear(l);
            return Some(1);
        }
        return None;
    }
    l.emitted += found.emitted;
    l.top += found.top;
    l.beyond += found.beyond;
    if l.emitted < EVIDENCE {
        return None;
    }
    let n = l.emitted as f64;
    let add = max.saturating_sub(l.rungs).min(room.fits);
    let change = if wilson(l.beyond as f64, n, -GROW_Z) > GROW_ABOVE && add > 0 {
        l.rungs += add;
        Some(add as i32)
    } else if l.rungs > 0 && wilson((l.top + l.beyond) as f64, n, SHED_Z) < SHED_BELOW {
        l.rungs -= 1;
        Some(-1)
    } else {
        if l.emitted >= MAX_EVIDENCE {
            clear(l);
        }
        return None;
    };
    clear(l);
    change
}

/// The Wilson score bound of a share `k / n`: the lower one for `z < 0`, the upper for `z > 0`.
fn wilson(k: f64, n: f64, z: f64) -> f64 {
    let p = k / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    (centre + spread) / (1.0 + z2 / n)
}

fn clear(l: &mut Ladder) {
    l.emitted = 0;
    l.top = 0;
    l.beyond = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(min: i64) -> Duration {
        Duration::minutes(min)
    }

    #[test]
    fn rungs_fill_the_gap_before_the_last_age_an_interval_apart() {
        let sign_ins = [m(5), m(40)];
        assert_eq!(max_rungs(&sign_ins, Some(m(5))), 6);
        let rungs = |rungs| Ladder {
            rungs,
            ..Default::default()
        };
        assert_eq!(
            ages(&sign_ins, Some(m(5)), &rungs(3)),
            vec![m(5), m(10), m(15), m(20), m(40)]
        );
        assert_eq!(
            ages(&sign_ins, Some(m(5)), &rungs(99)).len(),
            8,
            "at most 6 fit"
        );
        assert_eq!(
            ages(&sign_ins, None, &rungs(3)),
            sign_ins.to_vec(),
            "learning off"
        );
        // One configured age: rungs between the fresh read and it.
        assert_eq!(
            ages(&[m(20)], Some(m(5)), &rungs(2)),
            vec![m(5), m(10), m(20)]
        );
        let lean = Ladder {
            lean: true,
            ..Default::default()
        };
        assert_eq!(
            ages(&sign_ins, Some(m(5)), &lean),
            vec![m(40)],
            "budget tight: the last only"
        );
        assert_eq!(max_rungs(&[m(4)], Some(m(5))), 0);
    }

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + m(min)
    }

    #[test]
    fn a_record_counts_for_the_youngest_read_that_covered_it() {
        let now = 100;
        let members = [
            Member {
                mark: Mark::Fresh,
                from: t(now - 5),
                to: t(now),
            },
            Member {
                mark: Mark::Sweep(300),
                from: t(now - 10),
                to: t(now - 5),
            },
            Member {
                mark: Mark::Sweep(2400),
                from: t(now - 45),
                to: t(now - 40),
            },
        ];
        let ages = [m(5), m(40)];
        let mut f = Found::default();
        f.record(&members, t(now - 1), &ages);
        f.record(&members, t(now - 5), &ages);
        f.record(&members, t(now - 7), &ages);
        f.record(&members, t(now - 42), &ages);
        assert_eq!(
            f,
            Found {
                emitted: 4,
                top: 1,
                beyond: 1
            }
        );
    }

    #[test]
    fn the_ladder_grows_while_the_last_sweep_finds_much_and_shrinks_when_little() {
        let room = Room {
            fits: 99,
            shed: false,
            restore: true,
        };
        let mut l = Ladder::default();
        // Microsoft's delays: the last sweep finds 0.4 %: nothing added.
        let ms = Found {
            emitted: 1000,
            top: 60,
            beyond: 4,
        };
        assert_eq!(learn(&mut l, &ms, room, 6, 2), None);
        assert_eq!(l.rungs, 0);
        // A 400-record sample with 5 late (1.25 %) is not evidence of more than 1 %.
        let mut noisy = Ladder::default();
        let five = Found {
            emitted: 400,
            top: 20,
            beyond: 5,
        };
        assert_eq!(learn(&mut noisy, &five, room, 6, 2), None);
        assert_eq!(noisy.emitted, 400, "evidence kept until conclusive");
        // Slow sign-ins: half of them only at the last sweep.
        let slow = Found {
            emitted: 300,
            top: 20,
            beyond: 150,
        };
        let few = Found {
            emitted: 20,
            top: 2,
            beyond: 10,
        };
        assert_eq!(learn(&mut l, &few, room, 6, 2), None, "20 < EVIDENCE: wait");
        l = Ladder::default();
        // All that fit at once (here 3 of 6, by the budget), the rest when there is room.
        let three = Room { fits: 3, ..room };
        assert_eq!(learn(&mut l, &slow, three, 6, 2), Some(3));
        assert_eq!(l.rungs, 3);
        for _ in 0..2 {
            learn(&mut l, &slow, room, 6, 2);
        }
        assert_eq!(l.rungs, 6, "no more than fit");
        // No room in the budget: no rung, and one shed at once.
        let mut tight = Ladder {
            rungs: 2,
            ..Default::default()
        };
        let full = Room {
            fits: 0,
            shed: false,
            restore: false,
        };
        assert_eq!(learn(&mut tight, &slow, full, 6, 2), None);
        assert_eq!(
            learn(&mut tight, &slow, full, 6, 2),
            None,
            "no room: kept at 2"
        );
        let over = Room {
            fits: 0,
            shed: true,
            restore: false,
        };
        assert_eq!(learn(&mut tight, &Found::default(), over, 6, 2), Some(-1));
        // The top rung and the last sweep find next to nothing: a rung goes.
        let quiet = Found {
            emitted: 2000,
            top: 0,
            beyond: 1,
        };
        assert_eq!(learn(&mut tight, &quiet, room, 6, 2), Some(-1));
        assert_eq!(tight.rungs, 0);
        assert!(
            wilson(0.0, 100.0, SHED_Z) > SHED_BELOW,
            "100 quiet records prove nothing"
        );
        // Still over half the budget with no rung left: the 5-minute sweep goes too, and comes
        // back once every configured age fits.
        assert_eq!(learn(&mut tight, &Found::default(), over, 6, 2), Some(-1));
        assert!(tight.lean);
        assert_eq!(
            learn(&mut tight, &slow, full, 6, 2),
            None,
            "lean: no evidence judged"
        );
        assert_eq!(learn(&mut tight, &Found::default(), room, 6, 2), Some(1));
        assert!(!tight.lean);
        // One configured age: nothing to shed.
        let mut one = Ladder::default();
        assert_eq!(learn(&mut one, &Found::default(), over, 6, 1), None);
    }
}
