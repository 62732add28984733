//! The simulator answers like Graph and login.microsoftonline.com do (Microsoft Graph as documented; its example payloads in `testdata/graph-fixtures/`), so
//! that tests against it mean something.

use entra_simulator::{Resource, Simulator, Spread, CLIENT_ID, CLIENT_SECRET, TENANT_ID};
use serde_json::Value;

async fn token_form(sim: &Simulator, tenant: &str, secret: &str, scope: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/{tenant}/oauth2/v2.0/token", sim.base_url()))
        .form(&[
            ("client_id", CLIENT_ID),
            ("client_secret", secret),
            ("scope", scope),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn token(sim: &Simulator) -> String {
    let (status, body) = token_form(
        sim,
        TENANT_ID,
        CLIENT_SECRET,
        &format!("{}/.default", sim.base_url()),
    )
    .await;
    assert_eq!(status, 200);
    body["access_token"].as_str().unwrap().to_string()
}

async fn get(sim: &Simulator, token: &str, path_and_query: &str) -> (u16, Option<String>, Value) {
    let url = if path_and_query.starts_with("http") {
        path_and_query.to_string()
    } else {
        format!("{}{path_and_query}", sim.base_url())
    };
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap();
    (
        status,
        retry_after,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

const AUDITS: &str = "/v1.0/auditLogs/directoryAudits";

#[tokio::test]
async fn token_endpoint_answers_like_entra_id() {
    let sim = Simulator::start().await.unwrap();
    let scope = format!("{}/.default", sim.base_url());
    let (status, ok) = token_form(&sim, TENANT_ID, CLIENT_SECRET, &scope).await;
    assert_eq!(status, 200);
    assert_eq!(ok["token_type"], "Bearer");
    assert!(ok["expires_in"].as_u64().unwrap() > 3000);
    // The token is JWT-shaped and carries the app's roles.
    let claims = ok["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_string();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    assert!(claims["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "AuditLog.Read.All"));

    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/graph-fixtures/token_error_invalid_scope.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for (tenant, secret, scope, status, code) in [
        (TENANT_ID, "wrong", scope.as_str(), 401, 7000215),
        (
            "fabrikam.onmicrosoft.com",
            CLIENT_SECRET,
            scope.as_str(),
            400,
            90002,
        ),
        (
            TENANT_ID,
            CLIENT_SECRET,
            "https://example.com/.default",
            400,
            70011,
        ),
    ] {
        let (got, body) = token_form(&sim, tenant, secret, scope).await;
        assert_eq!(got, status);
        assert_eq!(body["error_codes"][0], code);
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("AADSTS{code}:")));
        // Same keys as Microsoft's documented error body.
        let keys = |v: &Value| {
            v.as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(keys(&body), keys(&fixture));
    }
    sim.set_secret_expired(true);
    let (got, body) = token_form(&sim, TENANT_ID, CLIENT_SECRET, &scope).await;
    assert_eq!((got, body["error_codes"][0].as_u64()), (401, Some(7000222)));
}

#[tokio::test]
async fn graph_refuses_what_graph_refuses() {
    let sim = Simulator::start().await.unwrap();
    let t = token(&sim).await;
    let (status, _, body) = get(&sim, "bogus", AUDITS).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );
    for (query, needle) in [
        ("$top=1001", "Invalid page size"),
        ("$skip=10", "Query option 'Skip' is not allowed"),
        (
            "$filter=activityDateTime gt 2026-01-01T00:00:00Z",
            "Unsupported filter operator 'gt'",
        ),
        (
            "$filter=activityDateTime ge 2026-01-01T00:00:00Z or id eq 'x'",
            "'or'",
        ),
        ("$filter=result eq 'success'", "property 'result'"),
        ("$filter=activityDateTime ge", "Invalid filter clause"),
        ("$orderby=id asc", "OrderBy not supported"),
        ("$skiptoken=forged", "Invalid Skip Token"),
    ] {
        let (status, _, body) = get(&sim, &t, &format!("{AUDITS}?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
        assert!(body["error"]["innerError"]["request-id"].is_string());
    }
    // Agent identities are beta only.
    let (status, _, body) = get(&sim, &t, "/v1.0/identityProtection/riskyAgents").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Resource not found for the segment 'riskyAgents'"));
    // Evolvable enum members come back only to `Prefer: include-unknown-enum-members`.
    sim.generate_with(
        entra_simulator::Resource::SignIns,
        3,
        entra_simulator::Spread::Between(
            chrono::Utc::now() - chrono::Duration::minutes(30),
            chrono::Utc::now() - chrono::Duration::minutes(1),
        ),
        serde_json::json!({"signInEventTypes": ["servicePrincipal"],
            "agent": {"agentType": "agentIdentityBlueprintPrincipal", "agentSubjectType": "agentIDuser"}}),
        true,
    );
    let url = format!(
        "{}/beta/auditLogs/signIns?$filter=signInEventTypes/any(t: t eq 'servicePrincipal')",
        sim.base_url()
    );
    for (prefer, want) in [(false, "unknownFutureValue"), (true, "agentIDuser")] {
        let mut req = reqwest::Client::new().get(&url).bearer_auth(&t);
        if prefer {
            req = req.header("Prefer", "include-unknown-enum-members");
        }
        let body: Value = req.send().await.unwrap().json().await.unwrap();
        let subjects: Vec<&str> = body["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["agent"]["agentSubjectType"].as_str())
            .collect();
        assert!(
            !subjects.is_empty() && subjects.iter().all(|s| *s == want),
            "{prefer}: {subjects:?}"
        );
    }
    // The provisioning list: `gt`/`lt` on its time, never `ge`/`le`; strings case sensitive.
    const PROVISIONING: &str = "/v1.0/auditLogs/provisioning";
    for op in ["ge", "le"] {
        let q = format!("$filter=activityDateTime {op} 2026-01-01T00:00:00Z");
        let (status, _, body) = get(&sim, &t, &format!("{PROVISIONING}?{q}")).await;
        assert_eq!(status, 400, "{q}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("Unsupported filter operator '{op}'")),
            "{body}"
        );
    }
    sim.generate(
        entra_simulator::Resource::Provisioning,
        40,
        entra_simulator::Spread::Between(
            chrono::Utc::now() - chrono::Duration::minutes(30),
            chrono::Utc::now() - chrono::Duration::minutes(1),
        ),
    );
    let count = |q: &'static str| {
        let (sim, t) = (&sim, &t);
        async move {
            let (status, _, body) = get(sim, t, &format!("{PROVISIONING}?{q}")).await;
            assert_eq!(status, 200, "{q}: {body}");
            body["value"].as_array().unwrap().len()
        }
    };
    let updates = count("$filter=provisioningAction eq 'update'&$top=1000").await;
    assert!(updates > 0);
    assert_eq!(
        count("$filter=provisioningAction eq 'Update'&$top=1000").await,
        0,
        "case sensitive"
    );
    assert_eq!(
        count("$filter=activityDateTime gt 2020-01-01T00:00:00Z and activityDateTime lt 2099-01-01T00:00:00Z&$orderby=activityDateTime asc&$top=1000").await,
        40
    );
}

#[tokio::test]
async fn paging_ordering_and_filters_follow_graph() {
    let sim = Simulator::start().await.unwrap();
    let t = token(&sim).await;
    let now = chrono::Utc::now();
    sim.generate(
        Resource::DirectoryAudits,
        250,
        Spread::Between(
            now - chrono::Duration::hours(2),
            now - chrono::Duration::minutes(1),
        ),
    );

    // Default page size and newest-first order.
    let (status, _, page) = get(&sim, &t, AUDITS).await;
    assert_eq!(status, 200);
    let times: Vec<&str> = page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["activityDateTime"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 100);
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first by default"
    );
    assert!(page["@odata.context"]
        .as_str()
        .unwrap()
        .contains("$metadata#auditLogs/directoryAudits"));

    // A time window, ascending, in pages whose nextLinks repeat the query options.
    let from = entra_source::event::graph_time(now - chrono::Duration::minutes(60));
    let mut url = format!(
        "{AUDITS}?$filter=activityDateTime ge {from}&$orderby=activityDateTime asc&$top=40"
    );
    let mut seen = Vec::new();
    loop {
        let (status, _, page) = get(&sim, &t, &url).await;
        assert_eq!(status, 200, "{page}");
        for r in page["value"].as_array().unwrap() {
            seen.push(r["activityDateTime"].as_str().unwrap().to_string());
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.contains("%24filter=") || next.contains("$filter="),
                    "{next}"
                );
                assert!(next.contains("$skiptoken="));
                url = next.to_string();
            }
            None => break,
        }
    }
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    assert!(seen.iter().all(|s| s.as_str() >= from.as_str()));
    assert!(
        (115..=135).contains(&seen.len()),
        "{} records in the last hour",
        seen.len()
    );
}

#[tokio::test]
async fn http_controls_inject_faults_and_records() {
    let sim = Simulator::start().await.unwrap();
    let t = token(&sim).await;
    let c = reqwest::Client::new();
    let r = c
        .post(format!(
            "{}/_sim/records?resource=directory_audits&count=7",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!(
            "{}/_sim/faults?kind=429&count=1&retry_after=2.128",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, retry_after, body) = get(&sim, &t, AUDITS).await;
    assert_eq!((status, retry_after.as_deref()), (429, Some("2.128")));
    assert_eq!(body["error"]["code"], "TooManyRequests");
    let (status, _, page) = get(&sim, &t, AUDITS).await;
    assert_eq!(status, 200);
    assert_eq!(page["value"].as_array().unwrap().len(), 7);
    let log: Value = c
        .get(format!("{}/_sim/requests", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(log.as_array().unwrap().iter().any(|r| r["status"] == 429));
}

/// The simulator showed every record at once, which hid every latency bug: with Microsoft's
/// delays a record is visible only minutes after its timestamp, as Graph shows it (95 % within
/// 2 minutes, 99 % within 5, all within 8); the simulated clock decides, not sleeps.
#[tokio::test]
async fn records_appear_minutes_after_their_timestamp() {
    let sim = Simulator::start().await.unwrap();
    let client = reqwest::Client::new();
    let bad = client
        .post(format!("{}/_sim/delays?profile=fast", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let ok = client
        .post(format!("{}/_sim/delays?profile=microsoft", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 204);
    let now = chrono::Utc::now();
    sim.generate(Resource::DirectoryAudits, 2000, Spread::SameSecond(now));
    let token = token(&sim).await;
    assert_eq!(
        visible_audits(&sim, &token).await,
        0,
        "none at its timestamp"
    );
    let mut seen = Vec::new();
    for minutes in [2, 5, 8] {
        let target = now + chrono::Duration::minutes(minutes);
        sim.advance_clock(target - sim.now());
        seen.push(visible_audits(&sim, &token).await);
    }
    assert!(
        (1850..=1950).contains(&seen[0]),
        "{seen:?} at 2 minutes: about 95 %"
    );
    assert!(
        (1960..2000).contains(&seen[1]),
        "{seen:?} at 5 minutes: about 99 %"
    );
    assert_eq!(seen[2], 2000, "all within 8 minutes");
}

/// How many directory audits a Graph client sees now, page by page.
async fn visible_audits(sim: &Simulator, token: &str) -> usize {
    let mut n = 0;
    let mut next = Some("/v1.0/auditLogs/directoryAudits?$top=999".to_string());
    while let Some(p) = next {
        let (status, _, body) = get(sim, token, &p).await;
        assert_eq!(status, 200);
        n += body["value"].as_array().unwrap().len();
        next = body["@odata.nextLink"].as_str().map(str::to_string);
    }
    n
}

/// `POST /_sim/records?resource=users|devices|role_assignments` answered "resource=directory_audits
/// is required": directory changes can now be tried outside the tests too.
#[tokio::test]
async fn directory_objects_and_role_members_can_be_added_over_http() {
    let sim = Simulator::start().await.unwrap();
    sim.directory_seed(3, 1);
    let client = reqwest::Client::new();
    let post = |q: &str| {
        client
            .post(format!("{}/_sim/records?{q}", sim.base_url()))
            .send()
    };
    let users: Value = post("resource=users&count=2")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["ids"].as_array().unwrap().len(), 2);
    let devices: Value = post("resource=devices&count=3")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(devices["ids"].as_array().unwrap().len(), 3);
    let roles: Value = post("resource=role_assignments&count=1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(roles["ids"].as_array().unwrap().len(), 1);
    assert_eq!(
        sim.directory_ids(entra_simulator::DirectoryKind::Users)
            .len(),
        5
    );
    assert_eq!(
        sim.directory_ids(entra_simulator::DirectoryKind::Devices)
            .len(),
        4
    );
    let bad = post("resource=groups").await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    // Records made now are by the directory's people.
    let id = sim.generate(Resource::SignIns, 1, Spread::SameSecond(chrono::Utc::now()))[0].clone();
    let record = sim
        .records(Resource::SignIns)
        .into_iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    let user = record["userId"].as_str().unwrap();
    assert!(sim
        .directory_ids(entra_simulator::DirectoryKind::Users)
        .iter()
        .any(|u| u == user));
}
