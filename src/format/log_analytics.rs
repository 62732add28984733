//! `format = "log_analytics"`: each event is the row of the stream's Log Analytics (Sentinel)
//! table: that table's columns (Microsoft's published references, `testdata/log-analytics/`,
//! compiled in), `Type` = the table, `string` columns as strings, `dynamic` columns as JSON
//! values, null and empty columns left out unless `[output] keep_null_columns = true`, and no
//! other copy of the record. The shape for Sentinel's Logs Ingestion API and for SigmaHQ's Azure
//! rules. A stream no Microsoft table publishes (the directory inventories, agent risk
//! detections) becomes a row of a custom table, `Entra<Stream>_CL`: `TimeGenerated`,
//! `OperationName`, `Category`, `AADTenantId` and the record's top-level members, each named
//! with its first letter upper-cased as Log Analytics names columns.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::event::{write_str, Field, NativeEvent};

/// How a column's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// A JSON string (an object or array is written as its JSON text).
    String,
    /// A JSON value.
    Dynamic,
    /// `bool`, `long`, `int`, `real`, `datetime`: the value as the record has it.
    Scalar,
}

/// The published table references, compiled in (`testdata/log-analytics/README.md` gives their
/// source and commit).
const SOURCES: [(&str, &str); 12] = [
    (
        "SigninLogs",
        include_str!("../../testdata/log-analytics/SigninLogs.tsv"),
    ),
    (
        "AADNonInteractiveUserSignInLogs",
        include_str!("../../testdata/log-analytics/AADNonInteractiveUserSignInLogs.tsv"),
    ),
    (
        "AADServicePrincipalSignInLogs",
        include_str!("../../testdata/log-analytics/AADServicePrincipalSignInLogs.tsv"),
    ),
    (
        "AADManagedIdentitySignInLogs",
        include_str!("../../testdata/log-analytics/AADManagedIdentitySignInLogs.tsv"),
    ),
    (
        "AuditLogs",
        include_str!("../../testdata/log-analytics/AuditLogs.tsv"),
    ),
    (
        "AADProvisioningLogs",
        include_str!("../../testdata/log-analytics/AADProvisioningLogs.tsv"),
    ),
    (
        "AADRiskyUsers",
        include_str!("../../testdata/log-analytics/AADRiskyUsers.tsv"),
    ),
    (
        "AADUserRiskEvents",
        include_str!("../../testdata/log-analytics/AADUserRiskEvents.tsv"),
    ),
    (
        "AADRiskyServicePrincipals",
        include_str!("../../testdata/log-analytics/AADRiskyServicePrincipals.tsv"),
    ),
    (
        "AADServicePrincipalRiskEvents",
        include_str!("../../testdata/log-analytics/AADServicePrincipalRiskEvents.tsv"),
    ),
    (
        "AADRiskyAgents",
        include_str!("../../testdata/log-analytics/AADRiskyAgents.tsv"),
    ),
    (
        "MicrosoftGraphActivityLogs",
        include_str!("../../testdata/log-analytics/MicrosoftGraphActivityLogs.tsv"),
    ),
];

/// Columns Log Analytics computes at ingestion, never sent (`TenantId` is the workspace).
pub const COMPUTED: [&str; 3] = ["_BilledSize", "_IsBillable", "TenantId"];

/// A table's columns, by name.
pub type Table = HashMap<&'static str, ColumnType>;

static TABLES: LazyLock<HashMap<&'static str, Table>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(name, tsv)| {
            let columns = tsv
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once('\t'))
                .filter(|(c, _)| !COMPUTED.contains(c))
                .map(|(c, t)| {
                    let ty = match t.trim() {
                        "string" => ColumnType::String,
                        "dynamic" => ColumnType::Dynamic,
                        _ => ColumnType::Scalar,
                    };
                    (c, ty)
                })
                .collect();
            (*name, columns)
        })
        .collect()
});

/// The columns of a published table (`None` for a name Microsoft publishes no table for).
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.get(name)
}

/// The published tables' names.
pub fn table_names() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(n, _)| *n)
}

/// The columns an over-long row keeps when even without its structured columns it is too long.
pub const ESSENTIAL_COLUMNS: [&str; 10] = [
    "Type",
    "TimeGenerated",
    "Id",
    "CorrelationId",
    "OperationName",
    "Category",
    "ResultType",
    "AADTenantId",
    "UserPrincipalName",
    "Identity",
];

/// Appends `e` as one row (no newline).
pub fn write(e: &NativeEvent<'_>, keep_null: bool, out: &mut Vec<u8>) {
    let columns = e.column_fields();
    let table = columns.iter().find_map(|(k, v)| match (k, v) {
        (&"Type", Field::Str(t)) => table(t),
        _ => None,
    });
    let Some(table) = table else {
        return write_custom(e, keep_null, out);
    };
    out.push(b'{');
    let mut first = true;
    for (k, v) in columns {
        let Some(ty) = table.get(k) else {
            // The sign-in tables differ: each event carries the union, its table picks.
            continue;
        };
        if !keep_null && v.is_null() {
            continue;
        }
        key(out, k, &mut first);
        match ty {
            ColumnType::String => v.write_as_text(out),
            ColumnType::Dynamic => v.write_as_value(out),
            ColumnType::Scalar => v.write(out),
        }
    }
    out.push(b'}');
}

/// `,"k":` (no comma before the first).
fn key(out: &mut Vec<u8>, k: &str, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
    write_str(out, k);
    out.push(b':');
}

/// The custom table of a stream Microsoft publishes no table for: `Entra` + the stream's name
/// in PascalCase + `_CL` (`users` → `EntraUsers_CL`).
pub fn custom_table(stream: &str) -> String {
    let mut name = String::from("Entra");
    for part in stream.split('_') {
        let mut c = part.chars();
        if let Some(f) = c.next() {
            name.extend(f.to_uppercase());
            name.push_str(c.as_str());
        }
    }
    name.push_str("_CL");
    name
}

/// A row of the stream's custom table.
fn write_custom(e: &NativeEvent<'_>, keep_null: bool, out: &mut Vec<u8>) {
    let mut first = true;
    out.push(b'{');
    key(out, "Type", &mut first);
    write_str(out, &custom_table(e.summary.stream.name()));
    key(out, "TimeGenerated", &mut first);
    write_str(out, &e.time);
    key(out, "OperationName", &mut first);
    write_str(out, &e.operation_name);
    key(out, "Category", &mut first);
    write_str(out, e.category);
    key(out, "AADTenantId", &mut first);
    write_str(out, &e.ctx.tenant_id);
    const OWN: [&str; 5] = [
        "Type",
        "TimeGenerated",
        "OperationName",
        "Category",
        "AADTenantId",
    ];
    let mut seen: Vec<String> = Vec::new();
    for m in e.record.members() {
        if m.key.starts_with('@') || (!keep_null && Field::Raw(m.value).is_null()) {
            continue;
        }
        let mut chars = m.key.chars();
        let Some(f) = chars.next() else { continue };
        let column: String = f.to_uppercase().chain(chars).collect();
        if OWN.contains(&column.as_str()) || seen.contains(&column) {
            continue;
        }
        key(out, &column, &mut first);
        out.extend_from_slice(m.value.as_bytes());
        seen.push(column);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_table_is_compiled_in() {
        assert_eq!(table_names().count(), 12);
        for name in table_names() {
            let t = table(name).unwrap();
            assert!(
                t.contains_key("Type") && t.contains_key("TimeGenerated"),
                "{name}"
            );
            assert!(
                !t.contains_key("TenantId"),
                "{name}: computed by Log Analytics"
            );
        }
        assert_eq!(table("SigninLogs").unwrap()["Status"], ColumnType::Dynamic);
        assert_eq!(
            table("AADNonInteractiveUserSignInLogs").unwrap()["Status"],
            ColumnType::String
        );
    }

    #[test]
    fn a_stream_without_a_table_gets_a_custom_one() {
        assert_eq!(custom_table("users"), "EntraUsers_CL");
        assert_eq!(
            custom_table("agent_risk_detections"),
            "EntraAgentRiskDetections_CL"
        );
    }
}
