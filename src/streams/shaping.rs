//! Sign-in volume shaping (`[streams.sign_ins.shaping]`, `docs/streams.md` § Volume shaping):
//! what a `summarize` policy must still emit in full, and how the rest is grouped.
//!
//! Kept in full, whatever the policy: a failure (`status.errorCode` ≠ 0), any risk (a risk level
//! other than `none` during the sign-in or aggregated, a risk state other than `none`, risk event
//! types), conditional access that failed, or that was not applied while a policy was expected
//! (`notApplied` with a policy that failed or, in report-only mode, would have blocked or
//! interrupted), and agent sign-ins ([`always_kept`]); and the
//! first sign-in of an identity with a [`novelties`] value it had not shown within the horizon
//! (decided by the poll loop against the state). The rest is counted into one summary per window
//! and [`Grouping`] (identity, app, resource, IP, result), Graph's own grouping for summarized
//! sign-ins.

use crate::record::Record;
pub use crate::state::shaping::Grouping;

/// Why a sign-in is kept in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Failure,
    Risk,
    ConditionalAccess,
    Agent,
}

/// Whether `r` must be emitted in full under `summarize`, and why.
pub fn always_kept(r: &Record<'_>) -> Option<Keep> {
    if r.int("status/errorCode").unwrap_or(0) != 0 {
        return Some(Keep::Failure);
    }
    let no_risk = |v: Option<std::borrow::Cow<'_, str>>| {
        v.is_none_or(|v| matches!(v.as_ref(), "" | "none" | "hidden" | "unknownFutureValue"))
    };
    let types = r
        .get("riskEventTypes_v2")
        .or_else(|| r.get("riskEventTypes"))
        .map(crate::record::elements)
        .unwrap_or_default();
    if !no_risk(r.str("riskLevelDuringSignIn"))
        || !no_risk(r.str("riskLevelAggregated"))
        || !no_risk(r.str("riskState"))
        || !types.is_empty()
    {
        return Some(Keep::Risk);
    }
    match r.str("conditionalAccessStatus").as_deref() {
        Some("failure") => return Some(Keep::ConditionalAccess),
        Some("notApplied") if expected_policy(r) => return Some(Keep::ConditionalAccess),
        _ => {}
    }
    if r.get("agent").map(Record::nested).is_some_and(|a| {
        a.str("agentType")
            .is_some_and(|t| !matches!(t.as_ref(), "notAgentic" | ""))
    }) {
        return Some(Keep::Agent);
    }
    None
}

/// A `summarize` policy as a cursor applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Seconds of record time one summary covers.
    pub window: i64,
    /// Seconds a value stays known for an identity.
    pub horizon: i64,
}

impl Policy {
    /// The policy of the cursor reading `event_type`, if its type is summarized.
    pub fn of(s: &super::settings::Shaping, event_type: &str) -> Option<Policy> {
        s.summarize
            .iter()
            .any(|t| t == event_type)
            .then_some(Policy {
                window: s.window.as_secs() as i64,
                horizon: s.new_horizon.as_secs() as i64,
            })
    }
}

/// What a sign-in's summary groups by: the identity (the user for user sign-ins, the service
/// principal for service principals and managed identities), the app, the resource, the IP
/// address and the result, with the names the record gives.
pub fn grouping(r: &Record<'_>) -> Grouping {
    let s = |k: &str| r.str(k).map(|v| v.into_owned()).unwrap_or_default();
    let (identity_id, identity_name) = identity(r);
    Grouping {
        identity_id,
        identity_name,
        app_id: s("appId"),
        app_name: s("appDisplayName"),
        resource_id: s("resourceId"),
        resource_name: s("resourceDisplayName"),
        ip: s("ipAddress"),
        result: r.int("status/errorCode").unwrap_or(0),
    }
}

/// The identity a sign-in is of, and its name: the user (`userId`, `userPrincipalName`), else the
/// service principal (`servicePrincipalId`, `servicePrincipalName`), else the app.
fn identity(r: &Record<'_>) -> (String, String) {
    let s = |k: &str| r.str(k).map(|v| v.into_owned()).filter(|v| !v.is_empty());
    if let Some(u) = s("userId") {
        return (u, s("userPrincipalName").unwrap_or_default());
    }
    if let Some(sp) = s("servicePrincipalId") {
        return (sp, s("servicePrincipalName").unwrap_or_default());
    }
    (
        s("appId").unwrap_or_default(),
        s("appDisplayName").unwrap_or_default(),
    )
}

/// The values whose first sighting for an identity keeps a sign-in in full, each prefixed with
/// the identity: its IP address, autonomous system, country, app, resource, device and client
/// (user agent), those the record has.
pub fn novelties(r: &Record<'_>) -> Vec<String> {
    let (who, _) = identity(r);
    [
        ("ip", "ipAddress"),
        ("asn", "autonomousSystemNumber"),
        ("country", "location/countryOrRegion"),
        ("app", "appId"),
        ("resource", "resourceId"),
        ("device", "deviceDetail/deviceId"),
        ("client", "userAgent"),
    ]
    .into_iter()
    .filter_map(|(name, path)| {
        let v = r
            .str(path)
            .map(|v| v.into_owned())
            .or_else(|| r.int(path).map(|n| n.to_string()))
            .filter(|v| v != "0")?;
        Some(format!("{who}\u{1f}{name}\u{1f}{v}"))
    })
    .collect()
}

/// A policy that would have acted and did not enforce: one that failed, or a report-only policy
/// that would have blocked or interrupted the sign-in (`reportOnlyFailure`,
/// `reportOnlyInterrupted`). A policy merely `notApplied` (its conditions did not match, the
/// common case: listed with its controls on every sign-in it does not cover) is not one.
fn expected_policy(r: &Record<'_>) -> bool {
    r.get("appliedConditionalAccessPolicies")
        .map(crate::record::elements)
        .unwrap_or_default()
        .into_iter()
        .map(Record::nested)
        .any(|p| {
            matches!(
                p.str("result").as_deref(),
                Some("failure" | "reportOnlyFailure" | "reportOnlyInterrupted")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(json: &str) -> Option<Keep> {
        always_kept(&Record::new(json))
    }

    #[test]
    fn failures_risk_conditional_access_and_agents_are_kept_in_full() {
        let quiet = r#"{"status":{"errorCode":0},"riskLevelDuringSignIn":"none","riskState":"none","conditionalAccessStatus":"success"}"#;
        assert_eq!(kept(quiet), None);
        assert_eq!(
            kept(r#"{"status":{"errorCode":50126}}"#),
            Some(Keep::Failure)
        );
        assert_eq!(
            kept(r#"{"riskLevelDuringSignIn":"medium"}"#),
            Some(Keep::Risk)
        );
        assert_eq!(kept(r#"{"riskState":"atRisk"}"#), Some(Keep::Risk));
        assert_eq!(
            kept(r#"{"riskEventTypes_v2":["unfamiliarFeatures"]}"#),
            Some(Keep::Risk)
        );
        // Without P2 Graph writes `hidden`: not a risk.
        assert_eq!(
            kept(r#"{"riskLevelDuringSignIn":"hidden","riskEventTypes_v2":[]}"#),
            None
        );
        assert_eq!(
            kept(r#"{"conditionalAccessStatus":"failure"}"#),
            Some(Keep::ConditionalAccess)
        );
        assert_eq!(kept(r#"{"conditionalAccessStatus":"notApplied"}"#), None);
        // A policy whose conditions did not match is listed on every sign-in it skips.
        assert_eq!(
            kept(
                r#"{"conditionalAccessStatus":"notApplied","appliedConditionalAccessPolicies":[{"enforcedGrantControls":["Mfa"],"result":"notApplied"}]}"#
            ),
            None
        );
        assert_eq!(
            kept(
                r#"{"conditionalAccessStatus":"notApplied","appliedConditionalAccessPolicies":[{"enforcedGrantControls":["Block"],"result":"reportOnlyFailure"}]}"#
            ),
            Some(Keep::ConditionalAccess)
        );
        assert_eq!(kept(r#"{"agent":{"agentType":"notAgentic"}}"#), None);
        assert_eq!(
            kept(r#"{"agent":{"agentType":"agentIdentity"}}"#),
            Some(Keep::Agent)
        );
    }
}

#[cfg(test)]
mod mix_tests {
    use super::*;
    use entra_simulator::{Resource, Simulator, Spread};

    /// On the simulator's realistic mix, exactly the notable records are kept in full by the
    /// classifier: the routine machine and refresh sign-ins, and the new-address ones (kept by
    /// the first-seen rule, not by this one), are not.
    #[tokio::test]
    async fn the_mix_s_notable_sign_ins_and_only_they_are_always_kept() {
        let sim = Simulator::start().await.unwrap();
        let now = chrono::Utc::now();
        let mix = sim.sign_in_mix(30, Spread::Between(now - chrono::Duration::hours(1), now));
        assert_eq!(mix.routine.len(), 840);
        assert_eq!(mix.notable.len(), 17 + 4 + 4);
        assert_eq!(mix.new_address.len(), 8);
        let why: std::collections::HashMap<String, Option<Keep>> = sim
            .records(Resource::SignIns)
            .iter()
            .map(|r| {
                let text = r.to_string();
                let id = r["id"].as_str().unwrap().to_string();
                (id, always_kept(&Record::new(&text)))
            })
            .collect();
        let kept = |ids: &[String]| -> Vec<Option<Keep>> {
            ids.iter()
                .map(|id| why[id])
                .filter(Option::is_some)
                .collect()
        };
        assert_eq!(
            kept(&mix.notable).len(),
            mix.notable.len(),
            "a notable sign-in was not kept"
        );
        let routine = kept(&mix.routine);
        assert!(
            routine.is_empty(),
            "{} routine sign-ins kept: {:?}",
            routine.len(),
            &routine[..routine.len().min(5)]
        );
        assert!(kept(&mix.new_address).is_empty());
    }
}
