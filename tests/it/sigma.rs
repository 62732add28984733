//! SigmaHQ's Azure rules (`testdata/sigma/`) against `log_analytics` rows, the shape they are
//! written for: each rule's scenario is a simulator record (Graph-shaped, overlaid with what the
//! scenario changes), written as the row of its stream's table. A rule's field names are resolved
//! to the table's columns ignoring case (Kusto's column names are PascalCase, some rules write
//! them camelCase), as a Sigma-to-KQL pipeline maps them. A rule is faithful when every field
//! it names is a column of its table and no value it asks for is one Microsoft never writes
//! (those are listed with the reason); every faithful rule must fire on its scenario, no rule on
//! benign rows, and no unfaithful rule at all, so that README's table stays true.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::Utc;
use entra_simulator::{Resource, Simulator, Spread};
use entra_source::format::Format;
use entra_source::streams::{NormalizeContext, StreamKind};
use rsigma_eval::{Engine, JsonEvent, RuleFieldSet};
use serde_json::{json, Value};

/// What a rule needs to see: a record of `resource` with `overlay` merged in.
struct Scenario {
    resource: Resource,
    overlay: Value,
    /// `None`: must fire. `Some(reason)`: cannot match; README gives the reason.
    unmatched: Option<&'static str>,
}

fn must_fire(resource: Resource, overlay: Value) -> Scenario {
    Scenario {
        resource,
        overlay,
        unmatched: None,
    }
}

fn cannot_fire(resource: Resource, overlay: Value, reason: &'static str) -> Scenario {
    Scenario {
        resource,
        overlay,
        unmatched: Some(reason),
    }
}

fn audit(activity: &str, category: &str, service: &str) -> Value {
    json!({"activityDisplayName": activity, "category": category, "loggedByService": service, "result": "success"})
}

fn sign_in_status(code: i64, reason: &str) -> Value {
    json!({"status": {"errorCode": code, "failureReason": reason, "additionalDetails": null}})
}

fn detection(risk_event_type: &str) -> Scenario {
    must_fire(
        Resource::RiskDetections,
        json!({"riskEventType": risk_event_type}),
    )
}

/// Every rule file (by stem) and its scenario.
fn scenarios() -> BTreeMap<&'static str, Scenario> {
    use Resource::{DirectoryAudits as A, SignIns as S};
    let mut m = BTreeMap::new();
    // signin_logs
    m.insert("azure_account_lockout", must_fire(S, sign_in_status(50053, "Account is locked because user tried to sign in too many times with an incorrect user ID or password.")));
    m.insert(
        "azure_ad_azurehound_discovery",
        must_fire(
            S,
            json!({"userAgent": "azurehound/v2.1.7", "status": {"errorCode": 0}}),
        ),
    );
    m.insert("azure_ad_device_registration_or_join_without_mfa", must_fire(S, json!({"resourceDisplayName": "Device Registration Service", "conditionalAccessStatus": "success", "authenticationRequirement": "singleFactorAuthentication", "status": {"errorCode": 0}})));
    const STATUS: &str = "compares `Status` with `Success`; in `SigninLogs` `Status` is an object (`errorCode`, `failureReason`) and a success is `ResultType` 0";
    m.insert("azure_ad_risky_sign_ins_with_singlefactorauth_from_unknown_devices", cannot_fire(S, json!({"status": {"errorCode": 0}, "authenticationRequirement": "singleFactorAuthentication", "riskState": "atRisk", "riskLevelDuringSignIn": "medium", "deviceDetail": {"trustType": null}}), STATUS));
    m.insert(
        "azure_ad_suspicious_signin_bypassing_mfa",
        cannot_fire(
            S,
            json!({"userAgent": "BAV2ROPC", "status": {"errorCode": 0}}),
            STATUS,
        ),
    );
    m.insert("azure_app_ropc_authentication", cannot_fire(S, json!({"authenticationProtocol": "ropc", "userAgent": "BAV2ROPC"}),
        "needs `properties.message: ROPC`, which no Microsoft sign-in shape has; Graph (beta) marks ROPC as `authenticationProtocol: ropc`"));
    m.insert("azure_legacy_authentication_protocols", cannot_fire(S, json!({"clientAppUsed": "IMAP4"}),
        "needs `ActivityDetails`, `ClientApp` and `Username: 'UPN'` (a literal placeholder), which no Microsoft shape has; Graph has `clientAppUsed`"));
    m.insert(
        "azure_login_to_disabled_account",
        must_fire(
            S,
            sign_in_status(
                50057,
                "User account is disabled. The account has been disabled by an administrator.",
            ),
        ),
    );
    m.insert(
        "azure_unusual_authentication_interruption",
        must_fire(
            S,
            sign_in_status(50097, "Device authentication is required"),
        ),
    );
    m.insert(
        "azure_user_login_blocked_by_conditional_access",
        must_fire(
            S,
            sign_in_status(
                53003,
                "Access has been blocked by Conditional Access policies.",
            ),
        ),
    );
    // identity_protection
    for (stem, t) in [
        (
            "azure_identity_protection_anomalous_token",
            "anomalousToken",
        ),
        (
            "azure_identity_protection_anomalous_user",
            "anomalousUserActivity",
        ),
        (
            "azure_identity_protection_anonymous_ip_activity",
            "riskyIPAddress",
        ),
        (
            "azure_identity_protection_anonymous_ip_address",
            "anonymizedIPAddress",
        ),
        (
            "azure_identity_protection_impossible_travel",
            "impossibleTravel",
        ),
        (
            "azure_identity_protection_leaked_credentials",
            "leakedCredentials",
        ),
        (
            "azure_identity_protection_malicious_ip_address_suspicious",
            "suspiciousIPAddress",
        ),
        (
            "azure_identity_protection_malware_linked_ip",
            "malwareInfectedIPAddress",
        ),
        ("azure_identity_protection_new_coutry_region", "newCountry"),
        (
            "azure_identity_protection_suspicious_browser",
            "suspiciousBrowser",
        ),
        (
            "azure_identity_protection_threat_intel",
            "investigationsThreatIntelligence",
        ),
        (
            "azure_identity_protection_unfamilar_sign_in",
            "unfamiliarFeatures",
        ),
    ] {
        m.insert(stem, detection(t));
    }
    // audit_logs
    let cd = "Core Directory";
    m.insert(
        "azure_aad_secops_ca_policy_removedby_bad_actor",
        must_fire(
            A,
            audit(
                "Delete conditional access policy",
                "Policy",
                "Conditional Access",
            ),
        ),
    );
    m.insert(
        "azure_aad_secops_ca_policy_updatedby_bad_actor",
        must_fire(
            A,
            audit(
                "Update conditional access policy",
                "Policy",
                "Conditional Access",
            ),
        ),
    );
    m.insert("azure_ad_certificate_based_authencation_enabled", cannot_fire(A, {
        let mut a = audit("Authentication Methods Policy Update", "Policy", "Authentication Methods");
        a["targetResources"] = json!([{"id": "x", "displayName": "Authentication Methods Policy", "type": "Policy", "modifiedProperties": [{"displayName": "AuthenticationMethodsPolicy", "oldValue": "{}", "newValue": "{\"X509Certificate\":{\"state\":\"enabled\"}}"}]}]);
        a
    }, "applies `contains` to `TargetResources.modifiedProperties`, a list of objects; it matches a Log Analytics string column, while Graph and entra-source keep the structure (a rule on `TargetResources.modifiedProperties.displayName` matches)"));
    m.insert(
        "azure_ad_device_registration_policy_changes",
        must_fire(A, audit("Set device registration policies", "Policy", cd)),
    );
    m.insert("azure_ad_new_root_ca_added", must_fire(A, {
        let mut a = audit("Set Company Information", "DirectoryManagement", cd);
        a["targetResources"] = json!([{"id": "t", "displayName": null, "type": "Directory", "modifiedProperties": [{"displayName": "TrustedCAsForPasswordlessAuth", "oldValue": "[]", "newValue": "[{\"TrustedCAsForPasswordlessAuth\":\"MIIC...\"}]"}]}]);
        a
    }));
    m.insert("azure_ad_user_added_to_admin_role", cannot_fire(A, {
        let mut a = audit("Add member to role", "RoleManagement", cd);
        a["targetResources"] = json!([{"id": "u", "displayName": "Megan Bowen", "type": "User", "modifiedProperties": [{"displayName": "Role.DisplayName", "oldValue": null, "newValue": "\"Global Administrator\""}]}]);
        a
    }, "applies `contains` to `properties.targetResources`, a list of objects; it matches the string form a SIEM may store, while entra-source keeps Graph's structure"));
    m.insert(
        "azure_app_appid_uri_changes",
        must_fire(A, audit("Update application", "ApplicationManagement", cd)),
    );
    m.insert(
        "azure_app_delegated_permissions_all_users",
        must_fire(
            A,
            audit(
                "Add delegated permission grant",
                "ApplicationManagement",
                cd,
            ),
        ),
    );
    m.insert("azure_app_end_user_consent", cannot_fire(A, {
        let mut a = audit("Consent to application", "ApplicationManagement", cd);
        a["targetResources"] = json!([{"id": "sp", "displayName": "Contoso App", "type": "ServicePrincipal", "modifiedProperties": [{"displayName": "ConsentContext.IsAdminConsent", "oldValue": null, "newValue": "\"False\""}]}]);
        a
    }, "needs a `ConsentContext.IsAdminConsent` field; Graph carries it as a modified-property name/value pair in `targetResources`"));
    m.insert(
        "azure_app_owner_added",
        must_fire(
            A,
            audit("Add owner to application", "ApplicationManagement", cd),
        ),
    );
    m.insert(
        "azure_app_privileged_permissions",
        must_fire(
            A,
            audit(
                "Add app role assignment to service principal",
                "ApplicationManagement",
                cd,
            ),
        ),
    );
    m.insert("azure_app_role_added", cannot_fire(A, {
        let mut a = audit("Add member to role", "RoleManagement", cd);
        a["targetResources"] = json!([{"id": "sp", "displayName": "Contoso App", "type": "ServicePrincipal", "modifiedProperties": []}]);
        a
    }, "needs `targetResources.type: 'Service Principal'`; Graph writes `ServicePrincipal`"));
    m.insert("azure_app_uri_modifications", cannot_fire(A, audit("Update application", "ApplicationManagement", cd),
        "needs the activity `Update Application Sucess- Property Name AppAddress`, which no Microsoft audit record is named"));
    m.insert(
        "azure_application_deleted",
        must_fire(A, audit("Delete application", "ApplicationManagement", cd)),
    );
    m.insert("azure_auditlogs_laps_credential_dumping", cannot_fire(A, {
        let mut a = audit("Recover device local administrator password", "Device", "Device Registration Service");
        a["additionalDetails"] = json!([{"key": "AdditionalInfo", "value": "Successfully recovered local credential by device id"}]);
        a
    }, "needs `category: Device` (the diagnostic envelope's `category` is `AuditLogs`; Graph's is in `Category`), an `activityType` field no Microsoft shape has, and `additionalDetails.additionalInfo` (Graph: key/value pairs)"));
    m.insert(
        "azure_change_to_authentication_method",
        must_fire(
            A,
            audit(
                "User registered security info",
                "UserManagement",
                "Authentication Methods",
            ),
        ),
    );
    m.insert(
        "azure_device_no_longer_managed_or_compliant",
        must_fire(
            A,
            audit("Device no longer compliant", "DeviceManagement", cd),
        ),
    );
    m.insert(
        "azure_federation_modified",
        must_fire(
            A,
            audit(
                "Set federation settings on domain",
                "DirectoryManagement",
                cd,
            ),
        ),
    );
    m.insert(
        "azure_group_user_addition_ca_modification",
        cannot_fire(
            A,
            audit("Add member to group", "GroupManagement", cd),
            "needs the activity `Add member from group`; Microsoft's is `Add member to group`",
        ),
    );
    m.insert(
        "azure_group_user_removal_ca_modification",
        must_fire(A, audit("Remove member from group", "GroupManagement", cd)),
    );
    m.insert("azure_guest_to_member", cannot_fire(A, {
        let mut a = audit("Update user", "UserManagement", cd);
        a["targetResources"] = json!([{"id": "u", "displayName": null, "type": "User", "modifiedProperties": [{"displayName": "UserType", "oldValue": "[\"Guest\"]", "newValue": "[\"Member\"]"}]}]);
        a
    }, "needs `properties.message` to hold the modified-property JSON, while the other audit rules (and entra-source's alias) use it for the activity name"));
    m.insert(
        "azure_mfa_disabled",
        must_fire(
            A,
            audit("Disable Strong Authentication", "UserManagement", cd),
        ),
    );
    m.insert(
        "azure_owner_removed_from_application_or_service_principal",
        must_fire(
            A,
            audit(
                "Remove owner from service principal",
                "ApplicationManagement",
                cd,
            ),
        ),
    );
    m.insert(
        "azure_pim_activation_approve_deny",
        must_fire(A, audit("Request Approved/Denied", "RoleManagement", "PIM")),
    );
    m.insert(
        "azure_pim_alerts_disabled",
        must_fire(A, audit("Disable PIM Alert", "RoleManagement", "PIM")),
    );
    m.insert(
        "azure_pim_change_settings",
        must_fire(
            A,
            audit("Update role setting in PIM", "RoleManagement", "PIM"),
        ),
    );
    m.insert(
        "azure_priviledged_role_assignment_add",
        must_fire(
            A,
            audit("Add eligible member (permanent)", "RoleManagement", "PIM"),
        ),
    );
    m.insert(
        "azure_priviledged_role_assignment_bulk_change",
        must_fire(
            A,
            audit("Remove eligible member (eligible)", "RoleManagement", "PIM"),
        ),
    );
    m.insert("azure_privileged_account_creation", cannot_fire(A, audit("Add member to role", "RoleManagement", cd),
        "needs `Add user` and `Add member to role` in one record; Graph logs them as two records (a correlation rule would join them)"));
    m.insert(
        "azure_service_principal_created",
        must_fire(
            A,
            audit("Add service principal", "ApplicationManagement", cd),
        ),
    );
    m.insert(
        "azure_service_principal_removed",
        must_fire(
            A,
            audit("Remove service principal", "ApplicationManagement", cd),
        ),
    );
    m.insert("azure_tap_added", cannot_fire(A, {
        let mut a = audit("Admin registered security info", "UserManagement", "Authentication Methods");
        a["resultReason"] = json!("Admin registered temporary access pass method for user");
        a
    }, "needs `Status` to hold the result reason, while entra-source's `Status` alias is the outcome (Success/Failure) that other rules expect"));
    m.insert(
        "azure_update_risk_and_mfa_registration_policy",
        must_fire(
            A,
            audit(
                "Update User Risk and MFA Registration Policy",
                "Policy",
                "AAD Management UX",
            ),
        ),
    );
    m.insert("azure_user_account_mfa_disable", cannot_fire(A, {
        let mut a = audit("Update user", "UserManagement", cd);
        a["targetResources"] = json!([{"id": "u", "displayName": null, "type": "User", "modifiedProperties": [{"displayName": "StrongAuthenticationRequirement", "oldValue": "[{\"State\":1}]", "newValue": "[{\"State\":0}]"}]}]);
        a
    }, "uses PascalCase keys inside `TargetResources` (`ModifiedProperties.DisplayName`, `.NewValue`); Graph and Log Analytics both write them camelCase, and rules match field names exactly"));
    m
}

fn rules() -> Vec<(String, String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/sigma");
    let mut out = Vec::new();
    for service in ["signin_logs", "audit_logs", "identity_protection"] {
        for entry in std::fs::read_dir(root.join(service)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) == Some("yml") {
                let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
                out.push((
                    service.to_string(),
                    stem,
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// The Log Analytics table a rule's service is written against.
fn table_of(service: &str) -> &'static str {
    match service {
        "signin_logs" => "SigninLogs",
        "audit_logs" => "AuditLogs",
        _ => "AADUserRiskEvents",
    }
}

/// A rule compiled with its field names resolved to `table`'s columns ignoring case; or the
/// fields that name no column of it.
fn engine(yaml: &str, table: &str) -> Result<Engine, Vec<String>> {
    let collection = rsigma_parser::parse_sigma_yaml(yaml).expect("a SigmaHQ rule parses");
    let columns = entra_source::format::log_analytics::table(table).expect("a published table");
    let mut mapping = BTreeMap::new();
    let mut missing = Vec::new();
    for (field, origin) in RuleFieldSet::collect(&collection, &[], false).iter() {
        if !origin
            .sources
            .contains(&rsigma_eval::FieldSource::Detection)
        {
            continue;
        }
        let (head, rest) = field
            .split_once('.')
            .map_or((field, None), |(h, r)| (h, Some(r)));
        match columns.keys().find(|c| c.eq_ignore_ascii_case(head)) {
            Some(c) if *c == head => {}
            Some(c) => {
                let to = rest.map_or(c.to_string(), |r| format!("{c}.{r}"));
                mapping.insert(field.to_string(), to);
            }
            None => missing.push(format!("`{field}`")),
        }
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    let mut engine = if mapping.is_empty() {
        Engine::new()
    } else {
        let mut yaml = String::from("name: columns\npriority: 10\ntransformations:\n  - id: columns\n    type: field_name_mapping\n    mapping:\n");
        for (from, to) in &mapping {
            yaml.push_str(&format!("      {from}: {to}\n"));
        }
        Engine::new_with_pipeline(rsigma_eval::parse_pipeline(&yaml).expect("the mapping parses"))
    };
    engine
        .add_collection(&collection)
        .expect("a SigmaHQ rule compiles");
    Ok(engine)
}

fn fires(engine: &Engine, event: &Value) -> bool {
    !engine.evaluate(&JsonEvent::borrow(event)).is_empty()
}

fn kind_of(resource: Resource) -> StreamKind {
    match resource {
        Resource::DirectoryAudits => StreamKind::DirectoryAudits,
        Resource::SignIns => StreamKind::SignIns,
        Resource::RiskyUsers => StreamKind::RiskyUsers,
        Resource::RiskDetections => StreamKind::RiskDetections,
        Resource::RiskyServicePrincipals => StreamKind::RiskyServicePrincipals,
        Resource::ServicePrincipalRiskDetections => StreamKind::ServicePrincipalRiskDetections,
        Resource::Provisioning => StreamKind::Provisioning,
        Resource::RiskyAgents => StreamKind::RiskyAgents,
        Resource::AgentRiskDetections => StreamKind::AgentRiskDetections,
    }
}

/// A simulator record of `resource` with `overlay`, as its stream's Log Analytics row.
fn row(sim: &Simulator, resource: Resource, overlay: Value) -> Value {
    let at = Utc::now() - chrono::Duration::minutes(5);
    let id = sim
        .generate_with(resource, 1, Spread::SameSecond(at), overlay, true)
        .remove(0);
    let record = sim
        .records(resource)
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .expect("the generated record");
    let ctx = NormalizeContext::new("t", Utc::now());
    entra_source::streams::spec(kind_of(resource)).render(record, &ctx, Format::LogAnalytics)
}

fn benign(sim: &Simulator) -> Vec<Value> {
    let ok = json!({"status": {"errorCode": 0, "failureReason": null}, "riskLevelDuringSignIn": "none", "riskLevelAggregated": "none", "riskState": "none", "authenticationRequirement": "multiFactorAuthentication"});
    let mut events = vec![
        row(sim, Resource::SignIns, ok.clone()),
        row(sim, Resource::SignIns, {
            let mut o = ok.clone();
            o["signInEventTypes"] = json!(["nonInteractiveUser"]);
            o
        }),
        row(
            sim,
            Resource::SignIns,
            sign_in_status(
                50126,
                "Error validating credentials due to invalid username or password.",
            ),
        ),
        row(sim, Resource::RiskyUsers, json!({})),
        row(sim, Resource::RiskyServicePrincipals, json!({})),
    ];
    for activity in [
        "Update user",
        "Add member to group",
        "Add user",
        "Reset user password",
        "Update group",
    ] {
        events.push(row(
            sim,
            Resource::DirectoryAudits,
            audit(activity, "UserManagement", "Core Directory"),
        ));
    }
    events
}

#[tokio::test]
async fn sigma_rules_fire_on_log_analytics_rows_and_on_nothing_benign() {
    let sim = Simulator::start().await.unwrap();
    let scenarios = scenarios();
    let rules = rules();
    assert_eq!(
        rules.len(),
        scenarios.len(),
        "a rule without a scenario, or a scenario without a rule"
    );
    let benign = benign(&sim);
    // Per service: (rules that fire, rules).
    let mut table: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut unfaithful = Vec::new();
    let mut failures = Vec::new();
    for (service, stem, yaml) in &rules {
        let s = scenarios
            .get(stem.as_str())
            .unwrap_or_else(|| panic!("no scenario for {stem}"));
        let t = table_of(service);
        let row = table.entry(service.clone()).or_default();
        row.1 += 1;
        let engine = match engine(yaml, t) {
            Ok(engine) => engine,
            Err(missing) => {
                unfaithful.push(format!("{service}/{stem}: {}", missing.join(", ")));
                continue;
            }
        };
        let event = row_of(&sim, s);
        let fired = fires(&engine, &event);
        match (s.unmatched, fired) {
            (None, true) => row.0 += 1,
            (None, false) => failures.push(format!(
                "{service}/{stem} does not fire on its {t} row: {event}"
            )),
            (Some(_), true) => failures.push(format!(
                "{service}/{stem} now fires: move it to the matched rules in this test and README"
            )),
            (Some(_), false) => {}
        }
        for b in &benign {
            if fires(&engine, b) {
                failures.push(format!(
                    "{service}/{stem} fires on a benign {} row",
                    b["Type"]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // README's table: per service, the rules that fire out of the rules present.
    let expected: BTreeMap<String, (usize, usize)> = [
        ("audit_logs".to_string(), (10, 34)),
        ("identity_protection".to_string(), (12, 12)),
        ("signin_logs".to_string(), (6, 10)),
    ]
    .into_iter()
    .collect();
    assert_eq!(table, expected, "update README's Sigma table");
    assert_eq!(unfaithful, UNFAITHFUL, "update README's Sigma table");
}

/// A scenario's row.
fn row_of(sim: &Simulator, s: &Scenario) -> Value {
    row(sim, s.resource, s.overlay.clone())
}

/// The rules that name a field no column of their table has (README's Sigma table).
const UNFAITHFUL: [&str; 24] = [
    "audit_logs/azure_aad_secops_ca_policy_removedby_bad_actor: `properties.message`",
    "audit_logs/azure_aad_secops_ca_policy_updatedby_bad_actor: `properties.message`",
    "audit_logs/azure_ad_user_added_to_admin_role: `properties.targetResources`",
    "audit_logs/azure_app_appid_uri_changes: `properties.message`",
    "audit_logs/azure_app_delegated_permissions_all_users: `properties.message`",
    "audit_logs/azure_app_end_user_consent: `ConsentContext.IsAdminConsent`",
    "audit_logs/azure_app_owner_added: `properties.message`",
    "audit_logs/azure_app_privileged_permissions: `properties.message`",
    "audit_logs/azure_app_role_added: `properties.message`",
    "audit_logs/azure_app_uri_modifications: `properties.message`",
    "audit_logs/azure_auditlogs_laps_credential_dumping: `activityType`",
    "audit_logs/azure_group_user_addition_ca_modification: `properties.message`",
    "audit_logs/azure_group_user_removal_ca_modification: `properties.message`",
    "audit_logs/azure_guest_to_member: `properties.message`",
    "audit_logs/azure_mfa_disabled: `properties.result`",
    "audit_logs/azure_pim_activation_approve_deny: `properties.message`",
    "audit_logs/azure_pim_alerts_disabled: `properties.message`",
    "audit_logs/azure_pim_change_settings: `properties.message`",
    "audit_logs/azure_priviledged_role_assignment_add: `properties.message`",
    "audit_logs/azure_priviledged_role_assignment_bulk_change: `properties.message`",
    "audit_logs/azure_privileged_account_creation: `Status`, `properties.message`",
    "audit_logs/azure_tap_added: `Status`, `properties.message`",
    "signin_logs/azure_app_ropc_authentication: `properties.message`",
    "signin_logs/azure_legacy_authentication_protocols: `ActivityDetails`, `ClientApp`, `Username`",
];

/// The Sigma sign-in rules that fire on successful sign-ins: under `summarize` their hits are
/// kept in full the first time an identity shows what they look at (a new client, resource…)
/// within `new_horizon`; later repeats are counted in that identity's summary.
const FIRST_SEEN_ONLY: [&str; 2] = [
    "azure_ad_azurehound_discovery",
    "azure_ad_device_registration_or_join_without_mfa",
];

/// Under the default shaping (the three machine types summarized, interactive sign-ins in
/// full) no Sigma sign-in rule loses a hit on the table it is written for (`SigninLogs`:
/// interactive sign-ins, untouched), and on the machine types every hit of a rule about a
/// failure, risk or conditional access is kept in full however often it repeats; the two about
/// successes keep their first hit per identity and horizon ([`FIRST_SEEN_ONLY`]).
#[tokio::test]
async fn under_the_default_shaping_no_sigma_sign_in_rule_loses_a_hit() {
    use entra_source::record::Record;
    use entra_source::streams::shaping::{always_kept, novelties};
    let sim = Simulator::start().await.unwrap();
    let scenarios = scenarios();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entra-source.toml");
    std::fs::write(&path, format!("[tenant]\nid = \"contoso.onmicrosoft.com\"\nclient_id = \"00000000-0000-0000-0000-000000000000\"\nclient_secret = \"s3cret\"\n{}", crate::shaping::SHAPED)).unwrap();
    let config = entra_source::config::Config::load(&path).unwrap();
    let shaping = &config.tenants[0].streams[0].sign_ins.shaping;
    assert!(!shaping.summarize.iter().any(|t| t == "interactiveUser"));
    let mut failures = Vec::new();
    let mut checked = 0;
    for (service, stem, yaml) in rules() {
        let s = &scenarios[stem.as_str()];
        if service != "signin_logs" || s.unmatched.is_some() {
            continue;
        }
        let engine = engine(&yaml, table_of(&service)).unwrap();
        for t in &shaping.summarize {
            // A routine sign-in (no risk, no failure, no policy expected) with what the rule
            // looks at laid over it.
            let mut overlay = json!({"riskLevelDuringSignIn": "none", "riskLevelAggregated": "none",
                "riskState": "none", "riskEventTypes_v2": [], "riskEventTypes": [],
                "appliedConditionalAccessPolicies": [], "agent": {"agentType": "notAgentic"},
                "status": {"errorCode": 0}});
            for (k, v) in s.overlay.as_object().unwrap() {
                overlay[k] = v.clone();
            }
            overlay["signInEventTypes"] = json!([t]);
            let id = sim
                .generate_with(
                    s.resource,
                    1,
                    Spread::SameSecond(Utc::now()),
                    overlay.clone(),
                    true,
                )
                .remove(0);
            let record = sim
                .records(s.resource)
                .into_iter()
                .find(|r| r["id"] == id.as_str())
                .unwrap();
            let text = record.to_string();
            let r = Record::new(&text);
            // The rule fires on this record (written as a SigninLogs row, the shape it reads).
            let ctx = NormalizeContext::new("t", Utc::now());
            let row = entra_source::streams::spec(StreamKind::SignIns).render(
                record.clone(),
                &ctx,
                Format::LogAnalytics,
            );
            assert!(fires(&engine, &row), "{stem} as {t}");
            checked += 1;
            let first = always_kept(&r).is_some() || !novelties(&r).is_empty();
            let repeat = always_kept(&r).is_some();
            match (FIRST_SEEN_ONLY.contains(&stem.as_str()), first, repeat) {
                (_, false, _) => {
                    failures.push(format!("{stem} ({t}): its first hit is summarized"))
                }
                (false, _, false) => {
                    failures.push(format!("{stem} ({t}): a repeated hit is summarized"))
                }
                (true, _, true) => failures.push(format!(
                    "{stem} ({t}): now always kept: take it out of FIRST_SEEN_ONLY"
                )),
                _ => {}
            }
        }
    }
    assert_eq!(
        checked,
        6 * 3,
        "six firing sign-in rules, three machine types"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
