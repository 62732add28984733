//! What a stream learns about Graph's delays and keeps in its checkpoint (version 7): the
//! sweeps it added for records Graph shows late ([`Ladder`]), and a digest of what it emitted
//! per hour, against which the long-age check finds records Graph showed after the last sweep
//! ([`TailDigest`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::seen::{Fingerprint, FINGERPRINT_BYTES};

/// The learned sweeps between the last two `late_arrival` ages, and the evidence gathered
/// since the last change: of the records emitted, how many the top learned sweep found first
/// and how many only the last sweep found.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ladder {
    #[serde(default)]
    pub rungs: u32,
    /// The budget is tight: only the fresh read and the last sweep (the ages between are shed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lean: bool,
    #[serde(default)]
    pub emitted: u64,
    #[serde(default)]
    pub top: u64,
    #[serde(default)]
    pub beyond: u64,
}

impl Ladder {
    pub fn is_empty(&self) -> bool {
        *self == Ladder::default()
    }
}

/// Seconds in a digest's slice.
pub const TAIL_SLICE_SECONDS: i64 = 3600;

/// Per hour of record time, how many records the stream emitted and the XOR of their
/// fingerprints, for the hours the id set no longer covers (its fingerprints are folded in
/// as they are forgotten): 16 bytes an hour, whatever the volume. A check that lists an hour
/// again finds one record Graph showed after the last sweep exactly (the XOR of Graph's
/// fingerprints with the digest's is its fingerprint), and counts any larger difference.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailDigest {
    /// Where the next check starts: records before it were checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked: Option<chrono::DateTime<chrono::Utc>>,
    /// Hour (Unix seconds of its start) → `count:hex-xor`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hours: BTreeMap<i64, String>,
    /// Records the checks found that every read had missed (emitted by the check).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub found: u64,
    /// Records Graph listed beyond what was emitted that a check could not single out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unmatched: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One hour's count and XOR.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HourDigest {
    pub count: u64,
    pub xor: Fingerprint,
}

impl HourDigest {
    pub fn add(&mut self, fp: &Fingerprint) {
        self.count += 1;
        xor_into(&mut self.xor, fp);
    }

    fn encode(&self) -> String {
        let hex: String = self.xor.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}:{hex}", self.count)
    }

    fn decode(s: &str) -> Option<HourDigest> {
        let (count, hex) = s.split_once(':')?;
        if hex.len() != FINGERPRINT_BYTES * 2 {
            return None;
        }
        let mut xor = [0u8; FINGERPRINT_BYTES];
        for (i, b) in xor.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(HourDigest {
            count: count.parse().ok()?,
            xor,
        })
    }

    /// Adds another set's count and XOR (a disjoint set: another query's records).
    pub fn merge(&mut self, other: &HourDigest) {
        self.count += other.count;
        xor_into(&mut self.xor, &other.xor);
    }

    /// The one fingerprint `other` has beyond `self`, when it has exactly one more record.
    pub fn missing_one(&self, other: &HourDigest) -> Option<Fingerprint> {
        (other.count == self.count + 1).then(|| {
            let mut fp = self.xor;
            xor_into(&mut fp, &other.xor);
            fp
        })
    }
}

fn xor_into(a: &mut Fingerprint, b: &Fingerprint) {
    a.iter_mut().zip(b).for_each(|(a, b)| *a ^= b);
}

/// The hour a record second belongs to.
pub fn hour_of(second: i64) -> i64 {
    second.div_euclid(TAIL_SLICE_SECONDS) * TAIL_SLICE_SECONDS
}

impl TailDigest {
    pub fn is_empty(&self) -> bool {
        *self == TailDigest::default()
    }

    pub fn hour(&self, hour: i64) -> HourDigest {
        self.hours
            .get(&hour)
            .and_then(|s| HourDigest::decode(s))
            .unwrap_or_default()
    }

    pub fn set(&mut self, hour: i64, d: HourDigest) {
        self.hours.insert(hour, d.encode());
    }

    /// Folds fingerprints the id set forgets into their hours.
    pub fn fold<'a>(&mut self, seconds: impl IntoIterator<Item = (i64, &'a [Fingerprint])>) {
        let mut current: Option<(i64, HourDigest)> = None;
        for (second, fps) in seconds {
            let h = hour_of(second);
            if current.as_ref().is_none_or(|(c, _)| *c != h) {
                if let Some((c, d)) = current.take() {
                    self.set(c, d);
                }
                current = Some((h, self.hour(h)));
            }
            if let Some((_, d)) = current.as_mut() {
                fps.iter().for_each(|fp| d.add(fp));
            }
        }
        if let Some((c, d)) = current {
            self.set(c, d);
        }
    }

    /// Forgets the hours wholly before `from` (checked).
    pub fn prune_before(&mut self, from: i64) {
        self.hours.retain(|h, _| h + TAIL_SLICE_SECONDS > from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fingerprint;

    #[test]
    fn an_hour_with_one_record_more_names_its_fingerprint() {
        let ours = [fingerprint("a"), fingerprint("b")];
        let mut digest = TailDigest::default();
        digest.fold([(7200, &ours[..1]), (7201, &ours[1..])]);
        let mut graph = HourDigest::default();
        for id in ["a", "late", "b"] {
            graph.add(&fingerprint(id));
        }
        let d = digest.hour(7200);
        assert_eq!(d.count, 2);
        assert_eq!(d.missing_one(&graph), Some(fingerprint("late")));
        graph.add(&fingerprint("later"));
        assert_eq!(d.missing_one(&graph), None, "two more: not singled out");
        // The digest survives its text form and is pruned by whole hours.
        let text = serde_json::to_string(&digest).unwrap();
        let back: TailDigest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, digest);
        digest.prune_before(7200 + 3599);
        assert_eq!(digest.hour(7200).count, 2);
        digest.prune_before(10800);
        assert!(digest.hours.is_empty());
    }
}
