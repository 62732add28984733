//! A realistic sign-in mix for measuring volume shaping (entra-source issue 30): machine
//! identities signing in every few minutes from a few addresses, users' token refreshes, and
//! a sprinkle of what detections look at (failures, risk, a conditional-access failure, a new
//! address). The proportions are the ones a shaping policy is judged on; the records are the
//! simulator's usual sign-ins with these members laid over them.

use serde_json::{json, Value};

use crate::{Resource, Simulator, Spread};

/// How many records of each kind [`Simulator::sign_in_mix`] made (their ids by kind).
#[derive(Debug, Default)]
pub struct Mix {
    /// Routine: the same identity, app and address again.
    pub routine: Vec<String>,
    /// What a `summarize` policy keeps in full: failures, risk, conditional access failed.
    pub notable: Vec<String>,
    /// A routine identity from an address it never used before.
    pub new_address: Vec<String>,
}

/// The apps users' refresh tokens are for: one per address a user signs in from.
const REFRESH_APPS: [(&str, &str); 3] = [
    (
        "00000002-0000-0ff1-ce00-000000000000",
        "Office 365 Exchange Online",
    ),
    ("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams"),
    (
        "ab9b8c07-8f02-4f72-87fa-80105867a763",
        "OneDrive SyncEngine",
    ),
];

/// The conditional-access policies of a tenant with a common baseline: Graph lists every
/// enabled policy on every sign-in, with its result (`notApplied` when its conditions did not
/// match), which is most of a real record's size (Microsoft estimates about 11.5 KB per
/// exported sign-in).
const POLICIES: [(&str, &str, &str); 12] = [
    ("Require MFA for administrators", "Mfa", "notApplied"),
    ("Require MFA for all users", "Mfa", "notApplied"),
    ("Block legacy authentication", "Block", "notApplied"),
    (
        "Require compliant or hybrid joined device",
        "CompliantDevice",
        "notApplied",
    ),
    ("Require MFA for Azure management", "Mfa", "notApplied"),
    (
        "Block access from unsupported countries",
        "Block",
        "notApplied",
    ),
    ("Require MFA for risky sign-ins", "Mfa", "notApplied"),
    (
        "Require password change for high-risk users",
        "PasswordChange",
        "notApplied",
    ),
    ("Require MFA for guest access", "Mfa", "notApplied"),
    ("Block device code flow", "Block", "reportOnlyNotApplied"),
    (
        "Workload identities: block outside named locations",
        "Block",
        "notApplied",
    ),
    (
        "Require app protection policy on mobile",
        "ApprovedApplication",
        "reportOnlyNotApplied",
    ),
];

fn policies() -> Value {
    POLICIES
        .iter()
        .enumerate()
        .map(|(i, (name, control, result))| {
            json!({
                "id": format!("{:08x}-1c2d-4e5f-8a9b-0c1d2e3f4a5b", 0x5ca1_ab1e_u32 + i as u32),
                "displayName": name,
                "enforcedGrantControls": [control],
                "enforcedSessionControls": [],
                "result": result,
                "conditionsSatisfied": "application",
                "conditionsNotSatisfied": "users",
                "includeRulesSatisfied": [{"conditionalAccessCondition": "application", "ruleSatisfied": "appId"}],
                "excludeRulesSatisfied": [],
                "sessionControlsNotSatisfied": [],
                "authenticationStrength": null,
                "enforcedSessionControlsDetails": []
            })
        })
        .collect()
}

fn quiet(event_type: &str, ip: &str, extra: Value) -> Value {
    let mut v = json!({
        "signInEventTypes": [event_type],
        "ipAddress": ip,
        "status": {"errorCode": 0},
        "riskLevelDuringSignIn": "none",
        "riskLevelAggregated": "none",
        "riskState": "none",
        "riskEventTypes_v2": [],
        "conditionalAccessStatus": "notApplied",
        "appliedConditionalAccessPolicies": policies(),
        "authenticationProcessingDetails": [
            {"key": "Legacy TLS (TLS 1.0, 1.1, 3DES)", "value": "False"},
            {"key": "Is CAE Token", "value": "True"},
            {"key": "Oauth Scope Info", "value": "[\"AuditLog.Read.All\",\"Directory.Read.All\",\"offline_access\"]"}
        ],
        "networkLocationDetails": [{"networkType": "trustedNamedLocation", "networkNames": ["Corporate egress"]}],
        "authenticationDetails": [],
        "sessionLifetimePolicies": [],
        "tokenIssuerType": "AzureAD",
        "incomingTokenType": "none",
        "agent": {"agentType": "notAgentic"},
    });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    v
}

impl Simulator {
    /// About `per_identity` sign-ins for each of five service principals (two addresses
    /// each), three managed identities (one address) and twenty users' non-interactive
    /// refreshes (three addresses), spread over `spread`; then, on top, 2 % failures, 0.5 %
    /// risky, 0.5 % conditional-access failures and 1 % from a new address.
    pub fn sign_in_mix(&self, per_identity: u64, spread: Spread) -> Mix {
        let mut mix = Mix::default();
        let add = |overlay: Value, n: u64, into: &mut Vec<String>| {
            into.extend(self.generate_with(Resource::SignIns, n, spread, overlay, true));
        };
        let mut routine = Vec::new();
        for sp in 0..5 {
            for ip in 0..2 {
                let o = quiet(
                    "servicePrincipal",
                    &format!("20.190.{sp}.{ip}"),
                    json!({"servicePrincipalId": format!("00000000-0000-4000-8000-00000000050{sp}"), "userId": "", "appId": format!("00000000-0000-4000-8000-0000000a050{sp}")}),
                );
                add(o, per_identity / 2, &mut routine);
            }
        }
        for mi in 0..3 {
            let o = quiet(
                "managedIdentity",
                &format!("10.1.0.{mi}"),
                json!({"servicePrincipalId": format!("00000000-0000-4000-8000-00000000060{mi}"), "userId": "", "appId": format!("00000000-0000-4000-8000-0000000a060{mi}"), "appDisplayName": format!("mi-app-{mi}")}),
            );
            add(o, per_identity, &mut routine);
        }
        for user in 0..20 {
            for (ip, (app_id, app)) in REFRESH_APPS.iter().enumerate() {
                let o = quiet(
                    "nonInteractiveUser",
                    &format!("203.0.113.{}", user * 3 + ip),
                    json!({"userId": format!("00000000-0000-4000-8000-0000000007{user:02}"), "appId": app_id, "appDisplayName": app}),
                );
                add(o, per_identity / 3, &mut routine);
            }
        }
        let total = routine.len() as u64;
        mix.routine = routine;
        let mut notable = Vec::new();
        let some = |share: f64| ((total as f64 * share).round() as u64).max(1);
        add(
            quiet(
                "servicePrincipal",
                "20.190.0.0",
                json!({"status": {"errorCode": 7000215, "failureReason": "Invalid client secret provided."}, "servicePrincipalId": "00000000-0000-4000-8000-000000000500", "userId": "", "appId": "00000000-0000-4000-8000-0000000a0500"}),
            ),
            some(0.02),
            &mut notable,
        );
        add(
            quiet(
                "nonInteractiveUser",
                "203.0.113.1",
                json!({"riskLevelDuringSignIn": "medium", "riskState": "atRisk", "riskEventTypes_v2": ["unfamiliarFeatures"], "userId": "00000000-0000-4000-8000-000000000700", "appId": REFRESH_APPS[1].0}),
            ),
            some(0.005),
            &mut notable,
        );
        add(
            quiet(
                "nonInteractiveUser",
                "203.0.113.2",
                json!({"conditionalAccessStatus": "failure", "userId": "00000000-0000-4000-8000-000000000700", "appId": REFRESH_APPS[2].0}),
            ),
            some(0.005),
            &mut notable,
        );
        mix.notable = notable;
        let mut new_address = Vec::new();
        add(
            quiet(
                "managedIdentity",
                "198.51.100.7",
                json!({"servicePrincipalId": "00000000-0000-4000-8000-000000000600", "userId": "", "appId": "00000000-0000-4000-8000-0000000a0600", "appDisplayName": "mi-app-0"}),
            ),
            some(0.01),
            &mut new_address,
        );
        mix.new_address = new_address;
        mix
    }
}
