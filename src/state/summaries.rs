//! Sign-in summaries being counted (issue 30, branch `shaping`): per window of record time and
//! per key (identity, app, resource, IP, result, sign-in type), how many records were counted
//! instead of emitted, their first and last times, one sample id and the XOR of their
//! fingerprints. Kept in the stream's checkpoint and changed only with the page that counted
//! the records, so a page read again after a crash counts nothing twice; a window is closed
//! (emitted as one summary event) once the last settle sweep has passed its end, and its
//! identity is the window and the key, so a summary emitted again after a crash is the same
//! event with the same count.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::seen::{Fingerprint, FINGERPRINT_BYTES};

/// One summary being counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub count: u64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// The id of the first record counted.
    pub sample_id: String,
    /// XOR of the counted records' fingerprints (hex): with `count`, a digest an analyst checks
    /// a suspected record against.
    pub xor: String,
}

/// The open summaries of a stream: window start (Unix seconds) → key → summary.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summaries {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub open: BTreeMap<i64, BTreeMap<String, Summary>>,
}

/// A summary whose window closed: what the summary event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub key: String,
    pub summary: Summary,
}

impl Summaries {
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Counts a record of time `at` under `key`, in the window of `window` seconds holding it.
    pub fn count(&mut self, window: i64, key: &str, at: DateTime<Utc>, id: &str, fp: Fingerprint) {
        let start = at.timestamp().div_euclid(window.max(1)) * window.max(1);
        let s = self
            .open
            .entry(start)
            .or_default()
            .entry(key.to_string())
            .or_insert_with(|| Summary {
                count: 0,
                first: at,
                last: at,
                sample_id: id.to_string(),
                xor: hex(&[0; FINGERPRINT_BYTES]),
            });
        s.count += 1;
        s.first = s.first.min(at);
        s.last = s.last.max(at);
        let mut x = unhex(&s.xor);
        for (a, b) in x.iter_mut().zip(fp) {
            *a ^= b;
        }
        s.xor = hex(&x);
    }

    /// Takes out every summary whose window ends at or before `settled` (no read can add to it
    /// any more), oldest first.
    pub fn close(&mut self, window: i64, settled: DateTime<Utc>) -> Vec<Closed> {
        let window = window.max(1);
        let due: Vec<i64> = self
            .open
            .keys()
            .copied()
            .filter(|start| start + window <= settled.timestamp())
            .collect();
        let mut out = Vec::new();
        for start in due {
            let ts = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap_or_default();
            for (key, summary) in self.open.remove(&start).unwrap_or_default() {
                out.push(Closed {
                    window_start: ts(start),
                    window_end: ts(start + window),
                    key,
                    summary,
                });
            }
        }
        out
    }
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

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn records_are_counted_per_window_and_key_and_closed_once_settled() {
        let mut s = Summaries::default();
        let key = "sp1|app|graph|10.0.0.1|0|servicePrincipal";
        s.count(900, key, t("2026-12-05T08:01:00Z"), "a", fingerprint("a"));
        s.count(900, key, t("2026-12-05T08:14:59Z"), "b", fingerprint("b"));
        s.count(900, key, t("2026-12-05T08:15:00Z"), "c", fingerprint("c"));
        s.count(
            900,
            "other",
            t("2026-12-05T08:02:00Z"),
            "d",
            fingerprint("d"),
        );
        // Nothing closes before the window's end has settled.
        assert!(s.close(900, t("2026-12-05T08:14:59Z")).is_empty());
        let closed = s.close(900, t("2026-12-05T08:15:00Z"));
        assert_eq!(closed.len(), 2);
        let c = closed.iter().find(|c| c.key == key).unwrap();
        assert_eq!(c.summary.count, 2);
        assert_eq!(c.summary.sample_id, "a");
        assert_eq!(
            (c.summary.first, c.summary.last),
            (t("2026-12-05T08:01:00Z"), t("2026-12-05T08:14:59Z"))
        );
        assert_eq!(c.window_end, t("2026-12-05T08:15:00Z"));
        // The digest names a member: XOR out the other one and what is left is it.
        let mut x = unhex(&c.summary.xor);
        for (a, b) in x.iter_mut().zip(fingerprint("b")) {
            *a ^= b;
        }
        assert_eq!(x, fingerprint("a"));
        // The later window stays open, and survives the state's JSON.
        let back: Summaries = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.open.len(), 1);
    }
}
