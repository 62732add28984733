//! A shaped sign-in stream's state (`[streams.sign_ins.shaping]`, version 8): the summaries
//! being counted, per window of record time and per grouping (identity, app, resource, IP,
//! result): how many records were counted instead of emitted, their first and last times, one
//! sample id and the XOR of their fingerprints; each window's accounting (every new record is
//! emitted in full or counted in exactly one summary); and the values already known per identity
//! (fingerprints by day of first sighting, journaled like the emitted ids).
//!
//! It changes only with the page that counted the records, in the same checkpoint as their ids,
//! so a page read again after a crash counts nothing twice. A window is closed (its summaries
//! emitted, then taken out) once every read has passed its end; a summary's identity is its
//! window and grouping, so one emitted again after a crash between the write and the checkpoint
//! is the same event with the same count.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::seen::{Fingerprint, SeenIds, FINGERPRINT_BYTES};

/// How many closed windows' accounts a stream keeps for `state show`.
pub const RECENT_WINDOWS: usize = 16;

const DAY: i64 = 86_400;

/// What a summary groups by, with the names the first record gave (made by
/// `streams::shaping::grouping`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grouping {
    pub identity_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identity_name: String,
    pub app_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_name: String,
    pub resource_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_name: String,
    pub ip: String,
    /// `status.errorCode` (0: success).
    pub result: i64,
}

impl Grouping {
    /// The key a window's summaries are kept under: the grouped ids, never the names.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.identity_id, self.app_id, self.resource_id, self.ip, self.result
        )
    }
}

/// One summary being counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub grouping: Grouping,
    pub count: u64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// The id of the first record counted.
    pub sample_id: String,
    /// XOR of the counted records' fingerprints (hex): with `count`, a digest an analyst checks
    /// a suspected record against.
    pub digest: String,
}

/// One window's accounting: `fetched` = `full` + `summarized`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// New records read (duplicates of emitted or counted ones excluded).
    pub fetched: u64,
    /// Emitted in full.
    pub full: u64,
    /// Counted into summaries.
    pub summarized: u64,
    /// Summaries they made.
    pub summaries: u64,
}

impl Account {
    pub fn reconciles(&self) -> bool {
        self.fetched == self.full + self.summarized
    }

    fn add(&mut self, o: &Account) {
        self.fetched += o.fetched;
        self.full += o.full;
        self.summarized += o.summarized;
        self.summaries += o.summaries;
    }
}

/// A closed window's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowAccount {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(flatten)]
    pub account: Account,
}

/// A shaped stream's state.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shaped {
    /// Window start (Unix seconds) → grouping key → summary.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub open: BTreeMap<i64, BTreeMap<String, Summary>>,
    /// Each open window's account (a window with records kept in full only has one too).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: BTreeMap<i64, Account>,
    /// Windows ending at or before this were closed: a record of one read later (the long-age
    /// check) is emitted in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_through: Option<DateTime<Utc>>,
    /// Every record since shaping began, closed windows and late ones included.
    #[serde(default)]
    pub totals: Account,
    /// Records emitted in full because their window had closed (in `totals` too).
    #[serde(default)]
    pub late: u64,
    /// The window length (seconds) the open summaries were counted with: what closes them if
    /// the policy goes back to `full`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub window: i64,
    /// The latest closed windows' accounts, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<WindowAccount>,
    /// Fingerprints of (identity, value) pairs already kept in full, by the day (Unix second
    /// of its start) they were first kept: journaled as blocks, not in the JSON.
    #[serde(skip)]
    pub known: SeenIds,
    /// Summaries counted into, and windows closed, since the state was last written: what the
    /// journal's next delta carries instead of every open summary.
    #[serde(skip)]
    changed: BTreeSet<(i64, String)>,
    #[serde(skip)]
    closed_windows: Vec<i64>,
}

/// A shaped stream's summary changes since the last write (a journal delta's).
#[derive(Debug, Default)]
pub struct PendingSummaries {
    pub changed: Vec<(i64, String)>,
    pub closed: Vec<i64>,
}

/// A window closed: its summaries and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub summaries: Vec<Summary>,
    pub account: Account,
}

fn ts(s: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(s, 0).unwrap_or_default()
}

/// The start of the window of `window` seconds holding `at`.
pub fn window_start(window: i64, at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(window.max(1)) * window.max(1)
}

impl Shaped {
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
            && self.accounts.is_empty()
            && self.closed_through.is_none()
            && self.totals == Account::default()
            && self.known.is_empty()
    }

    /// The state without its known values and open summaries (a journal delta's JSON: the
    /// summaries that changed travel beside it, [`Self::take_pending`]).
    pub fn for_delta(&self) -> Shaped {
        Shaped {
            open: BTreeMap::new(),
            ..self.clone_json()
        }
    }

    /// What changed since the last write, and forgets it.
    pub fn take_pending(&mut self) -> PendingSummaries {
        PendingSummaries {
            changed: std::mem::take(&mut self.changed).into_iter().collect(),
            closed: std::mem::take(&mut self.closed_windows),
        }
    }

    /// Forgets what changed: a snapshot holds it all.
    pub fn clear_pending(&mut self) {
        self.changed.clear();
        self.closed_windows.clear();
    }

    /// A delta's summary changes, replayed: windows closed, then summaries counted into.
    pub fn replay(&mut self, closed: &[i64], changed: Vec<(i64, String, Summary)>) {
        for start in closed {
            self.open.remove(start);
        }
        for (start, key, s) in changed {
            self.open.entry(start).or_default().insert(key, s);
        }
    }

    fn clone_json(&self) -> Shaped {
        Shaped {
            open: self.open.clone(),
            accounts: self.accounts.clone(),
            closed_through: self.closed_through,
            totals: self.totals,
            late: self.late,
            window: self.window,
            recent: self.recent.clone(),
            known: SeenIds::default(),
            changed: BTreeSet::new(),
            closed_windows: Vec::new(),
        }
    }

    /// Whether a record of time `at` belongs to a window already closed.
    pub fn is_closed(&self, at: DateTime<Utc>, window: i64) -> bool {
        self.closed_through
            .is_some_and(|c| window_start(window, at) + window.max(1) <= c.timestamp())
    }

    /// Whether `fp` (an identity and a value) was kept in full within the horizon.
    pub fn knows(&self, fp: &Fingerprint) -> bool {
        self.known.contains_anywhere(fp)
    }

    /// Remembers values first kept in full at `at` (by day).
    pub fn learn(&mut self, fps: impl IntoIterator<Item = (Fingerprint, DateTime<Utc>)>) {
        self.known.extend(
            fps.into_iter()
                .map(|(fp, at)| (fp, ts(at.timestamp().div_euclid(DAY) * DAY))),
        );
    }

    /// Forgets values first kept before `horizon` ago from `now` (whole days kept).
    pub fn forget_before(&mut self, now: DateTime<Utc>, horizon: i64) {
        let from = (now.timestamp() - horizon).div_euclid(DAY) * DAY;
        self.known.prune_before_second(from);
    }

    /// Accounts a record of time `at` emitted in full.
    pub fn count_full(&mut self, window: i64, at: DateTime<Utc>) {
        let one = Account {
            fetched: 1,
            full: 1,
            ..Account::default()
        };
        self.totals.add(&one);
        if self.is_closed(at, window) {
            self.late += 1;
        } else {
            self.accounts
                .entry(window_start(window, at))
                .or_default()
                .add(&one);
        }
    }

    /// Counts a record of time `at` into its window's summary for `grouping`.
    pub fn count(
        &mut self,
        window: i64,
        grouping: &Grouping,
        at: DateTime<Utc>,
        id: &str,
        fp: Fingerprint,
    ) {
        let start = window_start(window, at);
        let mut one = Account {
            fetched: 1,
            summarized: 1,
            ..Account::default()
        };
        let key = grouping.key();
        self.changed.insert((start, key.clone()));
        let s = match self.open.entry(start).or_default().entry(key) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                one.summaries = 1;
                v.insert(Summary {
                    grouping: grouping.clone(),
                    count: 0,
                    first: at,
                    last: at,
                    sample_id: id.to_string(),
                    digest: hex(&[0; FINGERPRINT_BYTES]),
                })
            }
        };
        s.count += 1;
        s.first = s.first.min(at);
        s.last = s.last.max(at);
        let mut x = unhex(&s.digest);
        for (a, b) in x.iter_mut().zip(fp) {
            *a ^= b;
        }
        s.digest = hex(&x);
        self.totals.add(&one);
        self.accounts.entry(start).or_default().add(&one);
    }

    /// The windows (of `window` seconds) that end at or before `settled` (no read can add to
    /// them any more), oldest first, left in place: they are taken out by [`Self::closed`] once
    /// their summaries are written.
    pub fn closable(&self, window: i64, settled: DateTime<Utc>) -> Vec<Closed> {
        let window = window.max(1);
        let due = |start: &i64| start + window <= settled.timestamp();
        let mut starts: Vec<i64> = self.accounts.keys().copied().filter(due).collect();
        starts.extend(self.open.keys().copied().filter(due));
        starts.sort_unstable();
        starts.dedup();
        starts
            .into_iter()
            .map(|start| Closed {
                from: ts(start),
                to: ts(start + window),
                summaries: self
                    .open
                    .get(&start)
                    .map(|m| m.values().cloned().collect())
                    .unwrap_or_default(),
                account: self.accounts.get(&start).copied().unwrap_or_default(),
            })
            .collect()
    }

    /// Takes out windows whose summaries were written.
    pub fn closed(&mut self, windows: &[Closed]) {
        for c in windows {
            let start = c.from.timestamp();
            self.open.remove(&start);
            self.accounts.remove(&start);
            self.changed.retain(|(s, _)| *s != start);
            self.closed_windows.push(start);
            self.closed_through = self.closed_through.max(Some(c.to));
            self.recent.push(WindowAccount {
                from: c.from,
                to: c.to,
                account: c.account,
            });
        }
        let extra = self.recent.len().saturating_sub(RECENT_WINDOWS);
        self.recent.drain(..extra);
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> [u8; FINGERPRINT_BYTES] {
    let mut out = [0; FINGERPRINT_BYTES];
    for (i, o) in out.iter_mut().enumerate() {
        *o = s
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fingerprint;

    /// Whether the record of `id` can be a member of a summary of `count` records with `digest`:
    /// for a one-record summary, exactly; for more, only with the other members' ids
    /// (`others`), whose fingerprints XORed out must leave `id`'s.
    fn is_member(digest: &str, id: &str, others: &[&str]) -> bool {
        let mut x = unhex(digest);
        for o in others {
            for (a, b) in x.iter_mut().zip(crate::state::fingerprint(o)) {
                *a ^= b;
            }
        }
        x == crate::state::fingerprint(id)
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn g(identity: &str) -> Grouping {
        Grouping {
            identity_id: identity.into(),
            app_id: "app".into(),
            resource_id: "graph".into(),
            ip: "10.0.0.1".into(),
            ..Grouping::default()
        }
    }

    #[test]
    fn records_are_counted_per_window_and_grouping_and_closed_once_settled() {
        let mut s = Shaped::default();
        let sp = g("sp1");
        s.count(900, &sp, t("2026-12-05T08:01:00Z"), "a", fingerprint("a"));
        s.count(900, &sp, t("2026-12-05T08:14:59Z"), "b", fingerprint("b"));
        s.count(900, &sp, t("2026-12-05T08:15:00Z"), "c", fingerprint("c"));
        s.count(
            900,
            &g("other"),
            t("2026-12-05T08:02:00Z"),
            "d",
            fingerprint("d"),
        );
        s.count_full(900, t("2026-12-05T08:03:00Z"));
        // Nothing closes before the window's end has settled.
        assert!(s.closable(900, t("2026-12-05T08:14:59Z")).is_empty());
        let due = s.closable(900, t("2026-12-05T08:15:00Z"));
        assert_eq!(due.len(), 1);
        let w = &due[0];
        assert_eq!(w.summaries.len(), 2);
        assert_eq!(
            w.account,
            Account {
                fetched: 4,
                full: 1,
                summarized: 3,
                summaries: 2
            }
        );
        assert!(w.account.reconciles());
        let c = w.summaries.iter().find(|c| c.grouping == sp).unwrap();
        assert_eq!((c.count, c.sample_id.as_str()), (2, "a"));
        assert_eq!(
            (c.first, c.last),
            (t("2026-12-05T08:01:00Z"), t("2026-12-05T08:14:59Z"))
        );
        assert_eq!(w.to, t("2026-12-05T08:15:00Z"));
        // The digest names a member: with the other member's id, and only with it.
        assert!(is_member(&c.digest, "a", &["b"]));
        assert!(!is_member(&c.digest, "x", &["b"]));
        // Left in place until written; then taken out, and a late record of the closed window
        // is emitted in full, never counted into a summary already out.
        assert_eq!(s.closable(900, t("2026-12-05T08:15:00Z")), due);
        s.closed(&due);
        assert!(s.is_closed(t("2026-12-05T08:14:00Z"), 900));
        assert!(!s.is_closed(t("2026-12-05T08:15:00Z"), 900));
        s.count_full(900, t("2026-12-05T08:14:00Z"));
        assert_eq!(s.late, 1);
        assert_eq!(
            s.totals,
            Account {
                fetched: 6,
                full: 2,
                summarized: 4,
                summaries: 3
            }
        );
        // The later window stays open, and survives the state's JSON (known values travel as
        // journal blocks).
        let pending = s.take_pending();
        assert_eq!(pending.closed, [due[0].from.timestamp()]);
        assert_eq!(
            pending.changed.len(),
            1,
            "only the open window's summary changed"
        );
        let back: Shaped = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.open.len(), 1);
        assert_eq!(s.recent.len(), 1);
    }

    #[test]
    fn known_values_are_kept_by_day_and_forgotten_after_the_horizon() {
        let mut s = Shaped::default();
        let fp = fingerprint("sp1\u{1f}ip\u{1f}10.0.0.1");
        s.learn([(fp, t("2026-12-01T23:59:00Z"))]);
        assert!(s.knows(&fp));
        s.forget_before(t("2026-12-15T12:00:00Z"), 14 * DAY);
        assert!(
            s.knows(&fp),
            "the day it was learned is still inside the horizon"
        );
        s.forget_before(t("2026-12-16T00:00:00Z"), 14 * DAY);
        assert!(!s.knows(&fp));
    }
}
