//! The export-only categories of Entra's diagnostic settings (issue 31): records no Graph
//! resource lists, read from Microsoft's export stream only (`[[tenants.hubs]]`). The record is
//! the export's `properties` (as for every other category, where it is the Graph record's
//! shape); the export envelope around it stays the `azure_monitor` line, verbatim.
//!
//! `MicrosoftGraphActivityLogs` (every Graph API request in the tenant) has a mapping of its own
//! (its Log Analytics table, ECS `http`/`url`/`user_agent`, OCSF API Activity); the others are a
//! native event with a summary (`event.action` = the export's `operationName`, the outcome from
//! its `resultType`) and, as Log Analytics rows, their own custom table.

use std::borrow::Cow;

use super::{NormalizeContext, StreamKind, StreamSpec};
use crate::event::{self, EventKind, Field, NativeEvent, Outcome, Severity, Summary};
use crate::kind::Exported;
use crate::record::Record;

/// The spec of one export-only category.
pub struct ExportOnly(pub Exported);

impl ExportOnly {
    /// The `properties` member holding the record's time, per Microsoft's category schema
    /// (the reader falls back to the envelope `time` when a record has none).
    fn time(&self) -> &'static str {
        match self.0 {
            Exported::GraphActivity | Exported::AzureAdGraphActivity => "timeGenerated",
            Exported::EnrichedOffice365Audit => "creationTime",
            _ => "createdDateTime",
        }
    }
}

impl StreamSpec for ExportOnly {
    fn kind(&self) -> StreamKind {
        StreamKind::Exported(self.0)
    }
    /// Never polled: no Graph resource lists these records.
    fn path(&self) -> &'static str {
        ""
    }
    fn time_field(&self) -> &'static str {
        self.time()
    }
    fn max_top(&self) -> u32 {
        1
    }
    /// A request's `requestId` (Microsoft: unique per request), else the record's `id`, else
    /// a Global Secure Access `transactionId`, else a hash of the whole record (the same
    /// record sent twice is the same event).
    fn event_id(&self, record: &Record<'_>) -> String {
        ["requestId", "id", "transactionId"]
            .iter()
            .find_map(|k| record.str(k).filter(|s| !s.is_empty()))
            .map_or_else(|| event::id_of(record), Cow::into_owned)
    }
    fn event<'a>(&self, record: Record<'a>, ctx: &'a NormalizeContext) -> NativeEvent<'a> {
        match self.0 {
            Exported::GraphActivity => graph_activity(self, record, ctx),
            other => generic(self, other, record, ctx),
        }
    }
}

/// The top-level Graph resource a request names (`/v1.0/users/{id}/…` → `users`), the low-
/// cardinality half of `event.action`.
pub fn resource_of(uri: &str) -> &str {
    let path = uri
        .split_once("://")
        .map_or(uri, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut parts = path.split('/').filter(|p| !p.is_empty());
    match parts.next() {
        Some("v1.0" | "beta") => parts.next().unwrap_or(""),
        Some(first) => first,
        None => "",
    }
}

fn graph_activity<'a>(
    spec: &ExportOnly,
    record: Record<'a>,
    ctx: &'a NormalizeContext,
) -> NativeEvent<'a> {
    let method = record.str("requestMethod").unwrap_or(Cow::Borrowed("?"));
    let uri = record.str("requestUri").unwrap_or_default();
    let action = format!("{} {}", method.to_ascii_uppercase(), resource_of(&uri));
    let status = record.int("responseStatusCode");
    let outcome = match status {
        Some(s) if (100..400).contains(&s) => Outcome::Success,
        Some(_) => Outcome::Failure,
        None => Outcome::Unknown,
    };
    // A denied request (401, 403) is what token theft and permission probing look like.
    let severity = match status {
        Some(401 | 403) => Severity::Low,
        _ => Severity::Info,
    };
    let time = spec.record_time(&record).unwrap_or(ctx.ingested);
    let summary = Summary {
        id: spec.event_id(&record),
        stream: spec.kind(),
        kind: EventKind::Event,
        action,
        outcome,
        severity,
    };
    let mut e = NativeEvent::new(
        summary,
        record,
        ctx,
        time,
        "MicrosoftGraphActivityLogs",
        "Microsoft Graph Activity",
    );
    e.duration_ms = e.record.int("durationMs").unwrap_or(0);
    e.result_signature = status.map(|s| Cow::Owned(s.to_string()));
    e.copy("callerIpAddress", "ipAddress")
        .copy("correlationId", "operationId")
        .copy("location", "location");
    // Log Analytics `MicrosoftGraphActivityLogs` (testdata/log-analytics); `ClientAuthMethod`
    // is an int column the export writes as a string (`"2"`).
    let auth_method = e
        .record
        .str("clientAuthMethod")
        .and_then(|m| m.parse::<i64>().ok())
        .map_or(Field::Null, Field::Int);
    e.columns()
        .table("MicrosoftGraphActivityLogs", false)
        .set("AadTenantId", Field::Str(Cow::Owned(ctx.tenant_id.clone())))
        .set("ClientAuthMethod", auth_method)
        .copy_all(&[
            ("ApiVersion", "apiVersion"),
            ("AppId", "appId"),
            ("ATContent", "atContent"),
            ("ClientRequestId", "clientRequestId"),
            ("DurationMs", "durationMs"),
            ("IdentityProvider", "identityProvider"),
            ("IPAddress", "ipAddress"),
            ("Location", "location"),
            ("OperationId", "operationId"),
            ("RequestId", "requestId"),
            ("RequestMethod", "requestMethod"),
            ("RequestUri", "requestUri"),
            ("ResponseSizeBytes", "responseSizeBytes"),
            ("ResponseStatusCode", "responseStatusCode"),
            ("Roles", "roles"),
            ("Scopes", "scopes"),
            ("ServicePrincipalId", "servicePrincipalId"),
            ("SignInActivityId", "signInActivityId"),
            ("TokenIssuedAt", "tokenIssuedAt"),
            ("UserAgent", "userAgent"),
            ("UserId", "userId"),
            ("Wids", "wids"),
        ]);
    e
}

fn generic<'a>(
    spec: &ExportOnly,
    which: Exported,
    record: Record<'a>,
    ctx: &'a NormalizeContext,
) -> NativeEvent<'a> {
    let outcome = match record
        .str("status/errorCode")
        .or_else(|| record.str("result"))
        .as_deref()
    {
        Some("0" | "success" | "Success") => Outcome::Success,
        Some("failure" | "Failure") => Outcome::Failure,
        Some(code) if code.parse::<i64>().is_ok_and(|c| c != 0) => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    let time = spec.record_time(&record).unwrap_or(ctx.ingested);
    let action = record
        .str("operationName")
        .or_else(|| record.str("action"))
        .or_else(|| record.str("trafficType"))
        .map_or_else(|| which.category().to_string(), Cow::into_owned);
    let summary = Summary {
        id: spec.event_id(&record),
        stream: spec.kind(),
        kind: EventKind::Event,
        action: action.clone(),
        outcome,
        severity: Severity::Info,
    };
    let mut e = NativeEvent::new(summary, record, ctx, time, which.category(), action);
    e.copy("correlationId", "correlationId")
        .copy("callerIpAddress", "ipAddress");
    // No `Type` column: a custom table of the record's members (`format/log_analytics.rs`).
    e.columns();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_names_the_method_and_the_top_level_resource() {
        assert_eq!(
            resource_of("https://graph.microsoft.com/v1.0/users/abc/memberOf?$top=5"),
            "users"
        );
        assert_eq!(
            resource_of("https://graph.microsoft.com/beta/me/photos/96x96/$value"),
            "me"
        );
        assert_eq!(resource_of("https://graph.microsoft.com/"), "");
        assert_eq!(resource_of("not a uri"), "not a uri");
        assert_eq!(resource_of(""), "");
    }
}
