//! Microsoft's export stream (issue 31) against a real Kafka-protocol broker: tansu, an
//! Apache-licensed broker from crates.io that `.ci/run` installs (`cargo install tansu
//! --version 0.6.0 --locked --features libsql,dynostore`), with SQLite storage so that a broker
//! restart keeps the messages. `ENTRA_SOURCE_TANSU` names the binary; without it each test
//! says it did not run.
//!
//! Messages are Entra's diagnostic-settings batches (`{"records":[…]}`): the simulator's Graph
//! records wrapped as Microsoft's export wraps them (`format = "azure_monitor"` writes that
//! shape, checked against the peer's samples in `export_shape.rs`), plus the peer's own
//! samples (`testdata/azure-monitor/`).

mod audit;
mod broker;
mod delivery;
mod tansu;

pub use tansu::Broker;

use entra_source::format::Format;
use entra_source::kind::StreamKind;
use serde_json::Value;

/// A diagnostic-settings message of `records` (export records, already JSON text).
pub fn message(records: &[String]) -> Vec<u8> {
    format!("{{\"records\": [{}]}}", records.join(",")).into_bytes()
}

/// Graph records of `kind` as Microsoft's export writes them (the simulated tenant's).
pub fn exported(kind: StreamKind, records: &[Value]) -> Vec<String> {
    let spec = entra_source::streams::spec(kind);
    let ctx =
        entra_source::event::NormalizeContext::new(entra_simulator::TENANT_ID, chrono::Utc::now());
    records
        .iter()
        .map(|r| {
            spec.render(r.clone(), &ctx, Format::AzureMonitor)
                .to_string()
        })
        .collect()
}

/// Messages of `per` records each.
pub fn messages(records: &[String], per: usize) -> Vec<Vec<u8>> {
    records.chunks(per).map(message).collect()
}

/// The `[[tenant.hubs]]` table of a test broker.
pub fn hub_table(bootstrap: &str, hubs: &[&str], extra: &str) -> String {
    let list: Vec<String> = hubs.iter().map(|h| format!("\"{h}\"")).collect();
    format!(
        "[[tenant.hubs]]\nnamespace = \"{bootstrap}\"\nhubs = [{}]\nauthentication = \"none\"\n{extra}\n",
        list.join(", ")
    )
}
