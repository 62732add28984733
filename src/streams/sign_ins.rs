//! `sign_ins`: `/auditLogs/signIns`, cursor `createdDateTime`, `$top` 1000.
//!
//! On beta each sign-in event type is read by its own query (`signInEventTypes/any(t: t eq …)`)
//! with its own cursor. `filter = "risky"` sends one `riskLevelDuringSignIn eq '…'` query per
//! level (Graph takes `eq` only on risk fields), sharing one window; `"failures"` filters
//! `status.errorCode != 0` client-side (Graph documents `eq` only on it).

use super::settings::{SignInFilter, SignInOptions};
use super::{NormalizeContext, StreamKind, StreamSpec};
use crate::event::{self, EventKind, NativeEvent, Outcome, Severity, Summary};
use crate::record::{self, Record};

/// The risk levels `filter = "risky"` asks for, one query each.
pub const RISKY_LEVELS: [&str; 3] = ["low", "medium", "high"];

pub struct SignIns {
    pub filter: SignInFilter,
    pub beta: bool,
    /// beta: the `signInEventTypes` value this cursor reads.
    pub event_type: Option<String>,
    /// Its type's `summarize` policy.
    pub shaping: Option<super::shaping::Policy>,
}

/// One spec per cursor: one for v1.0, one per event type on beta.
pub fn specs(o: &SignInOptions) -> Vec<Box<dyn StreamSpec>> {
    if !o.beta {
        return vec![Box::new(SignIns {
            filter: o.filter,
            beta: false,
            event_type: None,
            shaping: None,
        })];
    }
    o.event_types
        .iter()
        .map(|t| {
            Box::new(SignIns {
                filter: o.filter,
                beta: true,
                event_type: Some(t.clone()),
                shaping: super::shaping::Policy::of(&o.shaping, t),
            }) as Box<dyn StreamSpec>
        })
        .collect()
}

/// The Log Analytics table of a diagnostic-export category.
fn table(category: &str) -> &'static str {
    match category {
        "NonInteractiveUserSignInLogs" => "AADNonInteractiveUserSignInLogs",
        "ServicePrincipalSignInLogs" => "AADServicePrincipalSignInLogs",
        "ManagedIdentitySignInLogs" => "AADManagedIdentitySignInLogs",
        _ => "SigninLogs",
    }
}

/// Log Analytics' `IsRisky`: a risk level of low, medium or high during the sign-in or
/// aggregated, or a risk state at risk or compromised; `false` when Graph says none; unknown
/// (null) when the levels are hidden (no P2) or absent.
fn is_risky(record: &Record<'_>) -> Option<bool> {
    let levels = ["riskLevelDuringSignIn", "riskLevelAggregated"].map(|f| record.str(f));
    let state = record.str("riskState");
    let risky_level = levels
        .iter()
        .flatten()
        .any(|l| matches!(l.as_ref(), "low" | "medium" | "high"));
    let risky_state = matches!(state.as_deref(), Some("atRisk" | "confirmedCompromised"));
    if risky_level || risky_state {
        Some(true)
    } else if levels.iter().flatten().any(|l| l == "none") {
        Some(false)
    } else {
        None
    }
}

/// The diagnostic-export category of a sign-in event type.
pub fn category(event_type: Option<&str>) -> &'static str {
    match event_type {
        Some("nonInteractiveUser") => "NonInteractiveUserSignInLogs",
        Some("servicePrincipal") => "ServicePrincipalSignInLogs",
        Some("managedIdentity") => "ManagedIdentitySignInLogs",
        _ => "SignInLogs",
    }
}

impl StreamSpec for SignIns {
    fn kind(&self) -> StreamKind {
        StreamKind::SignIns
    }
    fn api_version(&self) -> &str {
        if self.beta {
            "beta"
        } else {
            "v1.0"
        }
    }
    fn path(&self) -> &'static str {
        "/auditLogs/signIns"
    }
    fn time_field(&self) -> &'static str {
        "createdDateTime"
    }
    fn max_top(&self) -> u32 {
        1000
    }
    fn sign_in_type(&self) -> Option<&str> {
        self.event_type.as_deref()
    }
    fn shaping(&self) -> Option<super::shaping::Policy> {
        self.shaping
    }
    fn state_key(&self) -> String {
        match &self.event_type {
            Some(t) => format!("sign_ins.{t}"),
            None => "sign_ins".into(),
        }
    }
    fn sub_filters(&self) -> Vec<Option<String>> {
        let type_clause = self
            .event_type
            .as_ref()
            .map(|t| format!("signInEventTypes/any(t: t eq '{t}')"));
        match self.filter {
            SignInFilter::Risky => RISKY_LEVELS
                .iter()
                .map(|level| {
                    let risk = format!("riskLevelDuringSignIn eq '{level}'");
                    Some(match &type_clause {
                        Some(c) => format!("{c} and {risk}"),
                        None => risk,
                    })
                })
                .collect(),
            SignInFilter::All | SignInFilter::Failures => vec![type_clause],
        }
    }
    fn keep(&self, record: &Record<'_>) -> bool {
        match self.filter {
            SignInFilter::Failures => error_code(record) != Some(0),
            _ => true,
        }
    }
    fn event_id(&self, record: &Record<'_>) -> String {
        event::id_of(record)
    }
    fn event<'a>(&self, record: Record<'a>, ctx: &'a NormalizeContext) -> NativeEvent<'a> {
        let category = match &self.event_type {
            Some(t) => category(Some(t)),
            None => {
                let first = record.get("signInEventTypes").and_then(|a| {
                    record::elements(a)
                        .first()
                        .copied()
                        .and_then(record::string)
                });
                category(first.as_deref())
            }
        };
        normalize(self, record, ctx, category)
    }
}

/// `status.errorCode`, as a number (some exports carry it as a string).
fn error_code(record: &Record<'_>) -> Option<i64> {
    record.int("status/errorCode")
}

/// `event.action`: what happened, from `status` (`operationName` stays Microsoft's
/// "Sign-in activity"): "Sign-in succeeded", "Sign-in failed (50126): Invalid username or
/// password…", or "Sign-in activity" when the record carries no status.
fn action(code: Option<i64>, reason: Option<&str>) -> String {
    match (code, reason.map(str::trim).filter(|r| !r.is_empty())) {
        (Some(0), _) => "Sign-in succeeded".into(),
        (Some(c), Some(r)) => format!("Sign-in failed ({c}): {r}"),
        (Some(c), None) => format!("Sign-in failed ({c})"),
        (None, _) => "Sign-in activity".into(),
    }
}

fn normalize<'a>(
    spec: &SignIns,
    record: Record<'a>,
    ctx: &'a NormalizeContext,
    category: &'static str,
) -> NativeEvent<'a> {
    let code = error_code(&record);
    let outcome = match code {
        Some(0) => Outcome::Success,
        Some(_) => Outcome::Failure,
        None => Outcome::Unknown,
    };
    let risk = ["riskLevelDuringSignIn", "riskLevelAggregated"]
        .iter()
        .map(|f| event::risk_severity(record.str(f).as_deref()))
        .max()
        .unwrap_or(Severity::Info);
    let compromised = record.str("riskState").as_deref() == Some("confirmedCompromised");
    let severity = if compromised {
        Severity::High
    } else if risk > Severity::Info {
        risk
    } else if outcome == Outcome::Failure {
        Severity::Low
    } else {
        Severity::Info
    };
    let time = spec.record_time(&record).unwrap_or(ctx.ingested);
    // The export's `identity` is the user's display name; an application's sign-in has none.
    let identity = record.str("userDisplayName");
    let result_type = code.map(|c| c.to_string()).unwrap_or_default();
    let caller_ip = event::ip_of(&record, "ipAddress");
    let summary = Summary {
        id: spec.event_id(&record),
        stream: StreamKind::SignIns,
        kind: EventKind::Event,
        action: action(code, record.str("status/failureReason").as_deref()),
        outcome,
        severity,
    };
    let mut e = NativeEvent::new(summary, record, ctx, time, category, "Sign-in activity");
    e.set("resultType", result_type.clone());
    // The export describes failures only.
    if code != Some(0) {
        e.copy("resultDescription", "status/failureReason");
    }
    e.set("callerIpAddress", caller_ip)
        .copy("correlationId", "correlationId")
        .set("identity", identity.clone())
        .copy("location", "location/countryOrRegion");
    let is_risky = is_risky(&e.record);
    // Log Analytics `SigninLogs` (and its AAD*SignInLogs siblings) columns.
    e.columns()
        .copy_all(&[
            ("AppDisplayName", "appDisplayName"),
            ("AppId", "appId"),
            ("AuthenticationDetails", "authenticationDetails"),
            ("AuthenticationProtocol", "authenticationProtocol"),
            ("AuthenticationRequirement", "authenticationRequirement"),
            ("ClientAppUsed", "clientAppUsed"),
            (
                "ConditionalAccessPolicies",
                "appliedConditionalAccessPolicies",
            ),
            ("ConditionalAccessStatus", "conditionalAccessStatus"),
            ("CorrelationId", "correlationId"),
            ("CreatedDateTime", "createdDateTime"),
            ("DeviceDetail", "deviceDetail"),
            ("Id", "id"),
            ("IPAddress", "ipAddress"),
            ("IsInteractive", "isInteractive"),
            ("Location", "location/countryOrRegion"),
            ("LocationDetails", "location"),
            ("ResourceDisplayName", "resourceDisplayName"),
            ("ResourceId", "resourceId"),
            ("ResultDescription", "status/failureReason"),
            ("RiskDetail", "riskDetail"),
            ("RiskEventTypes", "riskEventTypes"),
            ("RiskEventTypes_V2", "riskEventTypes_v2"),
            ("RiskLevelAggregated", "riskLevelAggregated"),
            ("RiskLevelDuringSignIn", "riskLevelDuringSignIn"),
            ("RiskState", "riskState"),
            ("ServicePrincipalId", "servicePrincipalId"),
            ("ServicePrincipalName", "servicePrincipalName"),
            ("UserAgent", "userAgent"),
            ("UserDisplayName", "userDisplayName"),
            ("UserId", "userId"),
            ("UserPrincipalName", "userPrincipalName"),
            ("UserType", "userType"),
        ])
        .set("ResultType", result_type)
        .set("AADTenantId", ctx.tenant_id.as_str());
    // The rest of the four sign-in tables' columns (`testdata/log-analytics/`): one event
    // carries the union, `Type` names its table. Log Analytics shows these as strings.
    e.table(table(category), true)
        .set("Category", category)
        .set("OperationName", "Sign-in activity")
        .set("Identity", identity)
        .set("IsRisky", is_risky)
        .copy_all(&[
            ("AlternateSignInName", "signInIdentifier"),
            ("AppliedEventListeners", "appliedEventListeners"),
            ("CrossTenantAccessType", "crossTenantAccessType"),
            ("FederatedCredentialId", "federatedCredentialId"),
            ("FlaggedForReview", "flaggedForReview"),
            ("HomeTenantId", "homeTenantId"),
            (
                "IPAddressFromResourceProvider",
                "ipAddressFromResourceProvider",
            ),
            ("MfaDetail", "mfaDetail"),
            ("OriginalRequestId", "originalRequestId"),
            ("ResourceIdentity", "resourceId"),
            ("ResourceServicePrincipalId", "resourceServicePrincipalId"),
            ("ResourceTenantId", "resourceTenantId"),
            ("RiskLevel", "riskLevelDuringSignIn"),
            (
                "ServicePrincipalCredentialKeyId",
                "servicePrincipalCredentialKeyId",
            ),
            (
                "ServicePrincipalCredentialThumbprint",
                "servicePrincipalCredentialThumbprint",
            ),
            ("SignInIdentifier", "signInIdentifier"),
            ("SignInIdentifierType", "signInIdentifierType"),
            ("TokenIssuerName", "tokenIssuerName"),
            ("TokenIssuerType", "tokenIssuerType"),
            ("UniqueTokenIdentifier", "uniqueTokenIdentifier"),
        ])
        .copy_all_text(&[
            (
                "AppliedConditionalAccessPolicies",
                "appliedConditionalAccessPolicies",
            ),
            (
                "AuthenticationContextClassReferences",
                "authenticationContextClassReferences",
            ),
            ("AuthenticationMethodsUsed", "authenticationMethodsUsed"),
            (
                "AuthenticationProcessingDetails",
                "authenticationProcessingDetails",
            ),
            (
                "AuthenticationRequirementPolicies",
                "authenticationRequirementPolicies",
            ),
            ("AutonomousSystemNumber", "autonomousSystemNumber"),
            ("NetworkLocationDetails", "networkLocationDetails"),
            (
                "ProcessingTimeInMilliseconds",
                "processingTimeInMilliseconds",
            ),
            ("ProcessingTimeInMs", "processingTimeInMilliseconds"),
            ("SessionLifetimePolicies", "sessionLifetimePolicies"),
            ("SignInEventTypes", "signInEventTypes"),
        ]);
    e.copy("Status", "status");
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every native sign-in said `event.action = "Sign-in activity"`.
    #[test]
    fn the_action_says_what_happened() {
        assert_eq!(action(Some(0), Some("Other.")), "Sign-in succeeded");
        assert_eq!(
            action(Some(50126), Some("Invalid username or password.")),
            "Sign-in failed (50126): Invalid username or password."
        );
        assert_eq!(action(Some(53003), Some(" ")), "Sign-in failed (53003)");
        assert_eq!(action(None, None), "Sign-in activity");
    }
    use serde_json::json;

    fn spec(filter: SignInFilter) -> SignIns {
        SignIns {
            filter,
            beta: true,
            event_type: Some("nonInteractiveUser".into()),
            shaping: None,
        }
    }

    #[test]
    fn risky_uses_one_eq_query_per_level() {
        let subs = spec(SignInFilter::Risky).sub_filters();
        assert_eq!(subs.len(), 3);
        for (s, level) in subs.iter().zip(RISKY_LEVELS) {
            let s = s.as_deref().unwrap();
            assert!(
                s.contains(&format!("riskLevelDuringSignIn eq '{level}'")),
                "{s}"
            );
            assert!(s.contains("signInEventTypes/any(t: t eq 'nonInteractiveUser')"));
            assert!(!s.contains(" ne ") && !s.contains(" or ") && !s.contains(" in "));
        }
    }

    #[test]
    fn failures_are_kept_client_side() {
        let f = spec(SignInFilter::Failures);
        let keep = |v| record::with(&v, |r| f.keep(r));
        assert!(keep(json!({"status": {"errorCode": 50126}})));
        assert!(keep(json!({"status": {"errorCode": "50126"}})));
        assert!(!keep(json!({"status": {"errorCode": 0}})));
        assert!(keep(json!({"status": null})));
        assert_eq!(f.sub_filters().len(), 1);
    }

    #[test]
    fn severity_and_category() {
        let ctx = NormalizeContext::new("t", chrono::Utc::now());
        let s = spec(SignInFilter::All);
        let e = s.normalize(
            json!({"id": "a", "status": {"errorCode": 50126}, "riskLevelDuringSignIn": "none"}),
            &ctx,
        );
        assert_eq!(e["event"]["severity"], "low");
        let r = json!({"id": "a", "status": {"errorCode": 50126}, "riskLevelDuringSignIn": "none"});
        let export = s.render(r.clone(), &ctx, crate::format::Format::AzureMonitor);
        assert_eq!(export["category"], "NonInteractiveUserSignInLogs");
        let row = s.render(r, &ctx, crate::format::Format::LogAnalytics);
        assert_eq!(row["Type"], "AADNonInteractiveUserSignInLogs");
        assert_eq!(row["ResultType"], "50126");
        assert_eq!(
            row["Status"], r#"{"errorCode":50126}"#,
            "a string in this table"
        );
        let e = s.normalize(
            json!({"id": "b", "status": {"errorCode": 0}, "riskLevelAggregated": "high"}),
            &ctx,
        );
        assert_eq!(e["event"]["severity"], "high");
        let e = s.normalize(json!({"id": "c", "status": {"errorCode": 0}, "riskState": "confirmedCompromised", "riskLevelDuringSignIn": "low"}), &ctx);
        assert_eq!(e["event"]["severity"], "high");
        let e = s.normalize(json!({"id": "d", "status": {"errorCode": 0}}), &ctx);
        assert_eq!(
            (
                e["event"]["severity"].as_str(),
                e["event"]["outcome"].as_str()
            ),
            (Some("info"), Some("success"))
        );
    }
}
