//! What the state keeps of Microsoft's export stream (issue 31, version 9), in the sections it
//! concerns:
//! - a hub's own section (`hub:<name>`): the next offset of each partition, moved only in the
//!   checkpoint of the lines before it, and the messages and records read and refused;
//! - a stream's section (`sign_ins.interactiveUser`, `directory_audits`, …) that a hub feeds:
//!   the hub's records count per hour (what the auditor compares Graph's listing with), the
//!   audit ledger, and, when no Graph stream reads the section, how far back the hub's ids
//!   are remembered (`forgot_before`).
//!
//! The ids a hub emitted live in the section's `seen`, with Graph's: one record emitted once
//! whichever path brought it first.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many audited slices a section keeps for `state show`.
pub const AUDITED_KEPT: usize = 48;

/// The hub's part of one section.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubState {
    /// A hub section: the next offset to read, by partition.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offsets: BTreeMap<i32, i64>,
    /// A hub section: messages read, records in them, messages refused whole, records skipped
    /// (by reason: `not_an_object`, `no_category`, `unknown_category:<name>`, `other_tenant`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub messages: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub records: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refused: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, u64>,
    /// A stream section no Graph stream reads: ids of the hub's records older than this were
    /// forgotten. A Graph stream later started on it begins here, never re-emitting them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forgot_before: Option<DateTime<Utc>>,
    /// A stream section: records the hub emitted, by the hour (epoch seconds) of their time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delivered: BTreeMap<i64, u64>,
    /// An audited stream section: what Graph listed and what it emitted for the hub (the
    /// hub's losses), by the hour, until the auditor's reads have passed the hour.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_open: BTreeMap<i64, SliceCounts>,
    /// The last [`AUDITED_KEPT`] closed hours, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audited: Vec<AuditedSlice>,
    /// Every closed hour together.
    #[serde(default, skip_serializing_if = "AuditTotals::is_empty")]
    pub audit_totals: AuditTotals,
}

/// What the auditor counted in one hour.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceCounts {
    /// Records Graph listed.
    pub graph: u64,
    /// Of those, the ones the hub had not delivered: emitted by the auditor.
    pub repaired: u64,
}

/// One closed hour of an audited section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditedSlice {
    pub from: DateTime<Utc>,
    pub hub: u64,
    pub graph: u64,
    pub repaired: u64,
}

/// The audited hours together.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditTotals {
    pub slices: u64,
    pub hub: u64,
    pub graph: u64,
    pub repaired: u64,
}

impl AuditTotals {
    pub fn is_empty(&self) -> bool {
        self.slices == 0
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl HubState {
    pub fn is_empty(&self) -> bool {
        *self == HubState::default()
    }

    /// Counts a record the hub emitted at `at`.
    pub fn deliver(&mut self, at: DateTime<Utc>) {
        *self
            .delivered
            .entry(crate::state::hour_of(at.timestamp()))
            .or_default() += 1;
    }

    /// Counts a record the auditor's listing returned at `at`, and whether it repaired it.
    pub fn audit(&mut self, at: DateTime<Utc>, repaired: bool) {
        let slice = self
            .audit_open
            .entry(crate::state::hour_of(at.timestamp()))
            .or_default();
        slice.graph += 1;
        slice.repaired += u64::from(repaired);
    }

    /// Closes every hour that ends at or before `through` (the auditor's oldest mark): its
    /// counts move to the ledger and are returned, oldest first. An hour Graph listed nothing
    /// in but the hub delivered to closes too (Graph: 0).
    pub fn close_audit(&mut self, through: DateTime<Utc>) -> Vec<AuditedSlice> {
        let edge = through.timestamp();
        let hours: Vec<i64> = self
            .audit_open
            .keys()
            .chain(self.delivered.keys())
            .copied()
            .filter(|h| h + crate::state::TAIL_SLICE_SECONDS <= edge)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut closed = Vec::new();
        for h in hours {
            let counts = self.audit_open.remove(&h).unwrap_or_default();
            let hub = self.delivered.remove(&h).unwrap_or(0);
            let Some(from) = DateTime::from_timestamp(h, 0) else {
                continue;
            };
            let slice = AuditedSlice {
                from,
                hub,
                graph: counts.graph,
                repaired: counts.repaired,
            };
            self.audit_totals.slices += 1;
            self.audit_totals.hub += hub;
            self.audit_totals.graph += counts.graph;
            self.audit_totals.repaired += counts.repaired;
            self.audited.push(slice);
            closed.push(slice);
        }
        let extra = self.audited.len().saturating_sub(AUDITED_KEPT);
        self.audited.drain(..extra);
        closed
    }

    /// Forgets hourly counts no auditor will close (a section without one): older than
    /// `before`.
    pub fn prune_delivered(&mut self, before: DateTime<Utc>) {
        let edge = before.timestamp();
        self.delivered
            .retain(|h, _| h + crate::state::TAIL_SLICE_SECONDS > edge);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn an_hour_closes_once_the_auditor_passed_it_with_both_paths_counts() {
        let mut h = HubState::default();
        h.deliver(t("2026-12-01T10:05:00Z"));
        h.deliver(t("2026-12-01T10:06:00Z"));
        h.deliver(t("2026-12-01T11:06:00Z"));
        h.audit(t("2026-12-01T10:05:00Z"), false);
        h.audit(t("2026-12-01T10:06:00Z"), false);
        h.audit(t("2026-12-01T10:07:00Z"), true);
        assert!(h.close_audit(t("2026-12-01T10:59:59Z")).is_empty());
        let closed = h.close_audit(t("2026-12-01T11:30:00Z"));
        assert_eq!(
            closed,
            vec![AuditedSlice {
                from: t("2026-12-01T10:00:00Z"),
                hub: 2,
                graph: 3,
                repaired: 1
            }]
        );
        assert_eq!(h.audit_totals.repaired, 1);
        assert_eq!(h.delivered.len(), 1, "11:00 stays open");
        let text = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<HubState>(&text).unwrap(), h);
    }
}
