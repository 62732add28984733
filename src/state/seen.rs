//! The ids a stream already emitted that a later read could return, as fingerprints grouped
//! by their record's second.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// A compact stand-in for an emitted `event.id` (or a state record's dedup key): the first 12
/// bytes (96 bits) of its SHA-256. A record is only ever compared with the ids of its own
/// record second (a re-read returns it with the same time), so a new record is wrongly taken
/// for a duplicate only if its fingerprint equals one of the `n` kept for that second: odds of
/// n/2⁹⁶, about 1.3·10⁻²⁶ for a second holding 1,000 records; at a million records a second
/// for a century (3·10¹⁵ records), below 10⁻⁴.
pub type Fingerprint = [u8; FINGERPRINT_BYTES];

/// Bytes of a fingerprint, in memory and on disk.
pub const FINGERPRINT_BYTES: usize = 12;

/// The fingerprint of an `event.id`.
pub fn fingerprint(id: &str) -> Fingerprint {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; FINGERPRINT_BYTES];
    first.copy_from_slice(&digest[..FINGERPRINT_BYTES]);
    first
}

/// Fingerprints of emitted ids by the whole second (Unix time) of their record, each second's
/// list sorted: 12 bytes an id in memory (lists are sized exactly), looked up by binary search
/// in the record's own second, pruned by time (never by count).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeenIds {
    by_second: BTreeMap<i64, Vec<Fingerprint>>,
    len: usize,
    /// Added since the state was last written: what the next journal append carries.
    pending: Vec<(i64, Fingerprint)>,
}

impl SeenIds {
    /// Whether `fp` was emitted for a record of `at`'s second.
    pub fn contains(&self, fp: Fingerprint, at: DateTime<Utc>) -> bool {
        self.by_second
            .get(&at.timestamp())
            .is_some_and(|v| v.binary_search(&fp).is_ok())
    }

    /// Whether an id was emitted at any second (tools and tests; the poll loop knows the time).
    pub fn contains_id(&self, id: &str) -> bool {
        let fp = fingerprint(id);
        self.by_second
            .values()
            .any(|v| v.binary_search(&fp).is_ok())
    }

    /// Whether `fp` is kept under any second (a shaped stream's known values, a few buckets).
    pub fn contains_anywhere(&self, fp: &Fingerprint) -> bool {
        self.by_second.values().any(|v| v.binary_search(fp).is_ok())
    }

    pub fn insert(&mut self, fp: Fingerprint, at: DateTime<Utc>) {
        self.extend(std::iter::once((fp, at)));
    }

    pub fn insert_id(&mut self, id: &str, at: DateTime<Utc>) {
        self.insert(fingerprint(id), at);
    }

    /// Adds a page's fingerprints: each touched second's list grows once, exactly, and stays
    /// sorted (a sorted run appended to a sorted list merges in linear time).
    pub fn extend(&mut self, keys: impl IntoIterator<Item = (Fingerprint, DateTime<Utc>)>) {
        let mut batch: Vec<(i64, Fingerprint)> = keys
            .into_iter()
            .map(|(fp, at)| (at.timestamp(), fp))
            .collect();
        batch.sort_unstable();
        for group in batch.chunk_by(|a, b| a.0 == b.0) {
            self.add_sorted(group[0].0, group.iter().map(|(_, fp)| *fp));
        }
        self.pending.extend(batch);
    }

    /// What was added since the last call (the journal's next append for this section).
    pub fn take_pending(&mut self) -> Vec<(i64, Fingerprint)> {
        std::mem::take(&mut self.pending)
    }

    /// Forgets what was added since the last write: a snapshot holds it all.
    pub fn clear_pending(&mut self) {
        self.pending = Vec::new();
    }

    /// Adds fingerprints of one second, given in ascending order.
    pub fn add_sorted(&mut self, second: i64, fps: impl ExactSizeIterator<Item = Fingerprint>) {
        let list = self.by_second.entry(second).or_default();
        let before = list.len();
        list.reserve_exact(fps.len());
        list.extend(fps);
        list.sort();
        list.dedup();
        list.shrink_to_fit();
        self.len += list.len() - before;
    }

    /// Forgets ids of records older than `from` (a whole second): they are never read again.
    pub fn prune_before(&mut self, from: DateTime<Utc>) {
        self.prune_before_second(from.timestamp());
    }

    /// The same, from a Unix second.
    pub fn prune_before_second(&mut self, from: i64) {
        let keep = self.by_second.split_off(&from);
        let dropped = std::mem::replace(&mut self.by_second, keep);
        self.len -= dropped.values().map(Vec::len).sum::<usize>();
    }

    /// Forgets ids of records older than the Unix second `from` and returns them by second.
    pub fn take_before(&mut self, from: i64) -> BTreeMap<i64, Vec<Fingerprint>> {
        let keep = self.by_second.split_off(&from);
        let dropped = std::mem::replace(&mut self.by_second, keep);
        self.len -= dropped.values().map(Vec::len).sum::<usize>();
        dropped
    }

    /// Each second with its sorted fingerprints, oldest first.
    pub fn seconds(&self) -> impl Iterator<Item = (i64, &[Fingerprint])> {
        self.by_second.iter().map(|(s, v)| (*s, v.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn an_id_is_found_in_its_own_second_only_and_pruned_by_time() {
        let mut s = SeenIds::default();
        let a = t("2026-12-01T10:00:00.250Z");
        s.extend((0..3000).map(|i| (fingerprint(&format!("id{i}")), a)));
        s.insert_id("id1", a);
        assert_eq!(s.len(), 3000);
        assert!(s.contains(fingerprint("id7"), t("2026-12-01T10:00:00.900Z")));
        assert!(!s.contains(fingerprint("id7"), t("2026-12-01T10:00:01Z")));
        assert!(s.contains_id("id2999") && !s.contains_id("id3000"));
        let b = t("2026-12-01T10:00:05Z");
        s.insert_id("late", b);
        s.prune_before(t("2026-12-01T10:00:01Z"));
        assert_eq!(s.len(), 1);
        assert!(s.contains(fingerprint("late"), b));
        // Lists are sized exactly: 12 bytes an id.
        assert!(s.seconds().all(|(_, v)| v.len() == 1));
    }
}
