//! What the engine learns about Graph's delays (issue 27): the sweeps it reads at, and the
//! records its long-age check found that every read had missed.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{get, StreamLabels};

#[derive(Default)]
pub(super) struct DelayMetrics {
    sweeps: Family<StreamLabels, Gauge>,
    late_found: Family<StreamLabels, Counter>,
    late_unmatched: Family<StreamLabels, Counter>,
}

impl DelayMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "sweeps",
            "Settle sweeps the stream reads at: its late_arrival ages and the ones it learned",
            self.sweeps.clone(),
        );
        registry.register(
            "late_records_found",
            "Records the long-age check found that every read had missed (emitted by it)",
            self.late_found.clone(),
        );
        registry.register(
            "late_records_unmatched",
            "Records the long-age check counted beyond those emitted but could not single out",
            self.late_unmatched.clone(),
        );
    }
}

/// A poll read at `sweeps` ages (configured and learned).
pub struct SweepsRead<'a> {
    pub tenant: &'a str,
    pub section: &'a str,
    pub sweeps: usize,
}

impl SweepsRead<'_> {
    pub fn emit(self) {
        get()
            .delays
            .sweeps
            .get_or_create(&StreamLabels::new(self.tenant, self.section))
            .set(self.sweeps as i64);
    }
}

/// The learned sweeps changed.
pub struct SweepsLearned<'a> {
    pub tenant: &'a str,
    pub section: &'a str,
    pub change: i32,
    pub ages: &'a [chrono::Duration],
}

impl SweepsLearned<'_> {
    pub fn emit(self) {
        let (stream, sign_in_type) = super::split_section(self.section);
        let ages: Vec<String> = self
            .ages
            .iter()
            .map(|a| crate::duration::format_duration(a.to_std().unwrap_or_default()))
            .collect();
        tracing::info!(
            tenant = %self.tenant,
            entra_stream = stream,
            sign_in_type,
            sweeps = %ages.join(", "),
            "{}: the stream now reads each slice again at {}",
            if self.change > 0 {
                "the last sweep keeps finding records every earlier read missed, so a sweep was added"
            } else {
                "the sweeps find next to nothing (or the budget needs the reads), so one was taken away"
            },
            ages.join(", ")
        );
    }
}

/// A long-age check ran.
pub struct TailChecked<'a> {
    pub tenant: &'a str,
    pub section: &'a str,
    pub found: u64,
    pub unmatched: u64,
}

impl TailChecked<'_> {
    pub fn emit(self) {
        let m = &get().delays;
        let labels = StreamLabels::new(self.tenant, self.section);
        m.late_found.get_or_create(&labels).inc_by(self.found);
        m.late_unmatched
            .get_or_create(&labels)
            .inc_by(self.unmatched);
    }
}
