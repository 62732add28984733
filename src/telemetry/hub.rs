//! Microsoft's export stream (issue 31): what each hub read, refused and skipped, how far
//! behind its partitions are, and what the auditors found the hub had lost.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{get, StreamLabels};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HubLabels {
    pub tenant: String,
    pub hub: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HubReasonLabels {
    pub tenant: String,
    pub hub: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub tenant: String,
    pub hub: String,
    pub partition: String,
}

#[derive(Default)]
pub(super) struct HubMetrics {
    messages: Family<HubLabels, Counter>,
    records: Family<HubReasonLabels, Counter>,
    refused: Family<HubReasonLabels, Counter>,
    lag: Family<PartitionLabels, Gauge>,
    audit_graph: Family<StreamLabels, Counter>,
    audit_repaired: Family<StreamLabels, Counter>,
}

impl HubMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "hub_messages",
            "Event Hubs messages read, per tenant and hub",
            self.messages.clone(),
        );
        registry.register(
            "hub_records",
            "Records of the hub's messages by outcome: emitted, duplicate (already emitted by either path), skipped_<reason>",
            self.records.clone(),
        );
        registry.register(
            "hub_messages_refused",
            "Messages refused whole, by reason (too_large, not_json, no_records); the partition goes on",
            self.refused.clone(),
        );
        registry.register(
            "hub_partition_lag_messages",
            "Messages in the partition not yet read (its high watermark less the next offset)",
            self.lag.clone(),
        );
        registry.register(
            "hub_audit_graph_records",
            "Records an auditor's Graph listing returned, per stream",
            self.audit_graph.clone(),
        );
        registry.register(
            "hub_audit_repaired_records",
            "Records an auditor emitted because the hub had not delivered them",
            self.audit_repaired.clone(),
        );
    }
}

/// One batch of one partition was written and checkpointed.
pub struct HubBatch<'a> {
    pub tenant: &'a str,
    pub hub: &'a str,
    pub partition: i32,
    pub messages: u64,
    pub emitted: u64,
    pub duplicates: u64,
    /// Records skipped, by reason.
    pub skipped: &'a [(String, u64)],
    /// Messages refused, by reason.
    pub refused: &'a [(&'static str, u64)],
    pub lag: i64,
}

impl HubBatch<'_> {
    pub fn emit(self) {
        let m = &get().hub;
        let hub = HubLabels {
            tenant: self.tenant.to_string(),
            hub: self.hub.to_string(),
        };
        m.messages.get_or_create(&hub).inc_by(self.messages);
        let reason = |r: &str| HubReasonLabels {
            tenant: self.tenant.to_string(),
            hub: self.hub.to_string(),
            reason: r.to_string(),
        };
        m.records
            .get_or_create(&reason("emitted"))
            .inc_by(self.emitted);
        m.records
            .get_or_create(&reason("duplicate"))
            .inc_by(self.duplicates);
        for (why, n) in self.skipped {
            m.records
                .get_or_create(&reason(&format!("skipped_{why}")))
                .inc_by(*n);
        }
        for (why, n) in self.refused {
            m.refused.get_or_create(&reason(why)).inc_by(*n);
            tracing::warn!(
                tenant = %self.tenant,
                hub = %self.hub,
                partition = self.partition,
                refused = *n,
                reason = *why,
                "hub {}: {n} message(s) refused ({why}); counted in the hub's section of the state and in entra_source_hub_messages_refused_total; the partition goes on",
                self.hub
            );
        }
        m.lag
            .get_or_create(&PartitionLabels {
                tenant: self.tenant.to_string(),
                hub: self.hub.to_string(),
                partition: self.partition.to_string(),
            })
            .set(self.lag);
    }
}

/// An auditor closed an hour.
pub struct HubAudited<'a> {
    pub tenant: &'a str,
    pub section: &'a str,
    pub hub: u64,
    pub graph: u64,
    pub repaired: u64,
}

impl HubAudited<'_> {
    pub fn emit(self) {
        let m = &get().hub;
        let labels = StreamLabels::new(self.tenant, self.section);
        m.audit_graph.get_or_create(&labels).inc_by(self.graph);
        m.audit_repaired
            .get_or_create(&labels)
            .inc_by(self.repaired);
        let (stream, sign_in_type) = super::split_section(self.section);
        tracing::info!(
            tenant = %self.tenant,
            entra_stream = stream,
            sign_in_type,
            hub_delivered = self.hub,
            graph_listed = self.graph,
            repaired = self.repaired,
            "audit of an hour: Graph listed {}, the hub delivered {}, {} repaired from Graph",
            self.graph,
            self.hub,
            self.repaired
        );
    }
}
