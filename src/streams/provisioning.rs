//! `provisioning`: `/auditLogs/provisioning` (provisioningObjectSummary), cursor
//! `activityDateTime`, the reports budget; Log Analytics table `AADProvisioningLogs`.
//!
//! Graph documents only `eq`, `contains`, `gt` and `lt` on this resource, its filters case
//! sensitive (docs-contrib `provisioningobjectsummary-list.md`): the window `[from, to]` is
//! asked as `gt from − 100 ns and lt to + 100 ns`, the same records at Graph's 100 ns precision.

use chrono::{DateTime, SecondsFormat, Utc};

use super::{NormalizeContext, StreamKind, StreamSpec};
use crate::event::{self, EventKind, Field, NativeEvent, Outcome, Severity, Summary};
use crate::record::Record;

pub struct Provisioning;

/// The envelope `operationName` and the `OperationName` column.
pub const OPERATION: &str = "Provisioning activity";

/// One tick of Graph's time precision (seven fractional digits).
const TICK: chrono::Duration = chrono::Duration::nanoseconds(100);

/// `2026-01-01T00:00:00.1234567Z`: Graph's own seven-digit form.
fn seven_digits(t: DateTime<Utc>) -> String {
    let nanos = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    match nanos.rsplit_once('.') {
        Some((head, frac)) => format!("{head}.{}Z", frac.get(..7).unwrap_or("0000000")),
        None => nanos,
    }
}

impl StreamSpec for Provisioning {
    fn kind(&self) -> StreamKind {
        StreamKind::Provisioning
    }
    fn path(&self) -> &'static str {
        "/auditLogs/provisioning"
    }
    fn time_field(&self) -> &'static str {
        "activityDateTime"
    }
    /// Not documented; the reports' 1000.
    fn max_top(&self) -> u32 {
        1000
    }
    fn event_id(&self, record: &Record<'_>) -> String {
        event::id_of(record)
    }
    fn filter(&self, from: DateTime<Utc>, to: DateTime<Utc>, extra: Option<&str>) -> String {
        let f = self.time_field();
        let mut s = format!(
            "{f} gt {} and {f} lt {}",
            seven_digits(from - TICK),
            seven_digits(to + TICK)
        );
        if let Some(extra) = extra {
            s.push_str(" and ");
            s.push_str(extra);
        }
        s
    }
    fn event<'a>(&self, record: Record<'a>, ctx: &'a NormalizeContext) -> NativeEvent<'a> {
        normalize(self, record, ctx)
    }
}

/// `provisioningStatusInfo.status` as Log Analytics' `ResultType` writes it: `Success`,
/// `Failure`, `Skipped`, `Warning` (Graph's `provisioningResult`); another value as it is.
fn result_type(status: Option<&str>) -> String {
    match status {
        Some("success") => "Success".into(),
        Some("failure") => "Failure".into(),
        Some("skipped") => "Skipped".into(),
        Some("warning") => "Warning".into(),
        Some(other) => other.into(),
        None => String::new(),
    }
}

fn normalize<'a>(
    spec: &Provisioning,
    record: Record<'a>,
    ctx: &'a NormalizeContext,
) -> NativeEvent<'a> {
    let status = record.str("provisioningStatusInfo/status");
    // A warning is an action carried out; a skip (out of scope) is none.
    let outcome = match status.as_deref() {
        Some("success" | "warning") => Outcome::Success,
        Some("failure") => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    let severity = if outcome == Outcome::Failure {
        Severity::Low
    } else {
        Severity::Info
    };
    let action = record
        .str("provisioningAction")
        .map_or_else(|| "other".to_string(), |a| a.into_owned());
    let time = spec.record_time(&record).unwrap_or(ctx.ingested);
    let result = result_type(status.as_deref());
    // The export's `identity` is the record's id, its `correlationId` the change id.
    let identity = record.str("id");
    let summary = Summary {
        id: spec.event_id(&record),
        stream: StreamKind::Provisioning,
        kind: EventKind::Event,
        action,
        outcome,
        severity,
    };
    let mut e = NativeEvent::new(summary, record, ctx, time, "ProvisioningLogs", OPERATION);
    e.duration_ms = e.record.int("durationInMilliseconds").unwrap_or(0);
    e.result_signature = None;
    e.set("resultType", result.clone())
        .copy(
            "resultDescription",
            "provisioningStatusInfo/errorInformation/reason",
        )
        .copy("correlationId", "changeId")
        .set("identity", identity);
    // Log Analytics `AADProvisioningLogs` (`testdata/log-analytics/AADProvisioningLogs.tsv`):
    // its object columns are strings holding the JSON, as Log Analytics shows them.
    let source_system = e.record.at("sourceSystem").map_or(Field::Null, Field::Text);
    e.columns()
        .copy_all(&[
            ("ChangeId", "changeId"),
            ("CorrelationId", "correlationId"),
            ("CycleId", "cycleId"),
            ("DurationMs", "durationInMilliseconds"),
            ("Id", "id"),
            ("JobId", "jobId"),
            ("ProvisioningAction", "provisioningAction"),
            (
                "ResultDescription",
                "provisioningStatusInfo/errorInformation/reason",
            ),
            (
                "ResultSignature",
                "provisioningStatusInfo/errorInformation/errorCode",
            ),
        ])
        .copy_all_text(&[
            ("InitiatedBy", "initiatedBy"),
            ("ModifiedProperties", "modifiedProperties"),
            ("ProvisioningStatusInfo", "provisioningStatusInfo"),
            ("ProvisioningSteps", "provisioningSteps"),
            ("ServicePrincipal", "servicePrincipal"),
            ("SourceIdentity", "sourceIdentity"),
            ("TargetIdentity", "targetIdentity"),
            ("TargetSystem", "targetSystem"),
        ])
        .set("ResultType", result)
        .set("AADTenantId", ctx.tenant_id.as_str())
        .set("Category", "ProvisioningLogs")
        .set("OperationName", OPERATION)
        .set("OperationVersion", "1.0");
    e.table_from("AADProvisioningLogs", false, source_system);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ge`/`le` on this resource get Graph's 400: the window is asked with `gt`/`lt` one tick
    /// outside it, so a record exactly on either edge is still read.
    #[test]
    fn the_window_is_asked_with_gt_and_lt_one_tick_outside() {
        let from: DateTime<Utc> = "2026-01-01T10:00:00Z".parse().unwrap();
        let to: DateTime<Utc> = "2026-01-01T10:05:00Z".parse().unwrap();
        assert_eq!(
            Provisioning.filter(from, to, None),
            "activityDateTime gt 2026-01-01T09:59:59.9999999Z and activityDateTime lt 2026-01-01T10:05:00.0000001Z"
        );
    }

    #[test]
    fn every_provisioning_result_has_its_result_type() {
        for (status, want) in [
            ("success", "Success"),
            ("failure", "Failure"),
            ("skipped", "Skipped"),
            ("warning", "Warning"),
            ("unknownFutureValue", "unknownFutureValue"),
        ] {
            assert_eq!(result_type(Some(status)), want);
        }
        assert_eq!(result_type(None), "");
    }
}
