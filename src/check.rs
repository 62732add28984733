//! `entra-source check`: the "test connection" of commercial connectors, but precise. Per
//! tenant it gets a token, reads the application permissions granted to it (the token's
//! `roles`), makes one `$top=1` request per enabled stream and gives each a verdict. It reads
//! and writes no state file. Exit 0 only when every enabled stream is ok.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::auth::Credential;
use crate::config::{Config, Resolved, TenantSettings};
use crate::graph::{ForbiddenKind, GraphClient, GraphError};
use crate::http::{http_client, RetryPolicy};
use crate::kind::StreamKind;

/// One stream's verdict.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    PermissionMissing,
    LicenceMissing,
    AdminConsentMissing,
    Throttled,
    Unreachable,
    /// The stream reads, but its configured filter cannot match anything on this tenant
    /// (`filter = "risky"` where Graph hides the risk fields without Entra ID P2).
    FilterCannotMatch,
    Failed,
}

#[derive(Debug, Serialize)]
pub struct StreamReport {
    pub stream: &'static str,
    pub verdict: Verdict,
    /// What is missing or went wrong, and how to fix it; empty when ok.
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct TokenReport {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TenantReport {
    pub tenant: String,
    pub token: TokenReport,
    pub streams: Vec<StreamReport>,
    /// `[context]`: each part of the directory cache and whether the token's permissions read
    /// it (a part the app cannot read is skipped; events go without that context).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<ContextReport>,
}

#[derive(Debug, Serialize)]
pub struct ContextReport {
    pub part: &'static str,
    pub permission: &'static str,
    pub granted: bool,
}

/// What the token's roles let the directory cache read.
fn context_report(roles: &[String]) -> Vec<ContextReport> {
    crate::context::Collection::ALL
        .iter()
        .map(|c| ContextReport {
            part: c.name(),
            permission: c.permission(),
            granted: roles
                .iter()
                .any(|r| r == c.permission() || r == "Directory.Read.All"),
        })
        .collect()
}

/// One app registration: its tenants, its budget and whether all of them passed.
#[derive(Debug, Serialize)]
pub struct AppReport {
    pub app: String,
    pub client_id: String,
    pub tenants: Vec<String>,
    /// Requests per 10 s to the audit and sign-in logs across its tenants.
    pub reports_requests_per_10s: u32,
    /// What each of its tenants is paced at.
    pub per_tenant_requests_per_10s: u32,
    /// Its tenants whose token or a stream failed.
    pub failing_tenants: usize,
    pub ok: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub apps: Vec<AppReport>,
    pub tenants: Vec<TenantReport>,
}

/// The apps of the config's tenants, in the order they first appear.
fn app_reports(config: &Config) -> Vec<AppReport> {
    let mut apps: Vec<AppReport> = Vec::new();
    for t in &config.tenants {
        match apps.iter_mut().find(|a| a.app == t.app.name) {
            Some(a) => a.tenants.push(t.id.clone()),
            None => apps.push(AppReport {
                app: t.app.name.clone(),
                client_id: t.client_id.clone(),
                tenants: vec![t.id.clone()],
                reports_requests_per_10s: t.app.reports_per_10s,
                per_tenant_requests_per_10s: 0,
                failing_tenants: 0,
                ok: true,
            }),
        }
    }
    for a in &mut apps {
        let mut throttle = config.throttle;
        throttle.app_reports_per_10s = a.reports_requests_per_10s;
        let all = config.app_tenants.get(&a.app).copied().unwrap_or(0);
        a.per_tenant_requests_per_10s = throttle.reports_share(all.max(a.tenants.len()));
    }
    apps
}

/// Runs the checks and prints the report; returns the exit status.
pub async fn check(config: Config, resolved: Resolved, json: bool) -> u8 {
    let http = match http_client(resolved.extra_ca_pem.as_deref()) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("cannot build the HTTP client: {e}");
            return 1;
        }
    };
    let mut apps = app_reports(&config);
    let mut tenants = Vec::new();
    for (tenant, credential) in config.tenants.into_iter().zip(resolved.credentials) {
        let mut report = check_tenant(&http, tenant, credential, config.throttle).await;
        if config.context.is_some() && report.token.ok {
            report.context = context_report(&report.token.roles);
        }
        tenants.push(report);
    }
    let passed =
        |t: &TenantReport| t.token.ok && t.streams.iter().all(|s| s.verdict == Verdict::Ok);
    let ok = tenants.iter().all(passed);
    for a in &mut apps {
        a.failing_tenants = tenants
            .iter()
            .filter(|t| a.tenants.contains(&t.tenant) && !passed(t))
            .count();
        a.ok = a.failing_tenants == 0;
    }
    for t in tenants.iter().filter(|t| !t.token.ok) {
        tracing::error!(
            "tenant {}: {}",
            t.tenant,
            t.token.error.as_deref().unwrap_or("no token")
        );
    }
    let report = Report { ok, apps, tenants };
    if json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        print!("{}", render(&report));
    }
    if ok {
        0
    } else {
        1
    }
}

async fn check_tenant(
    http: &reqwest::Client,
    tenant: TenantSettings,
    credential: Credential,
    throttle: crate::graph::Throttle,
) -> TenantReport {
    let tokens = Arc::new(tenant.token_provider(http, credential));
    let token = match tokens.token().await {
        Ok(t) => t,
        Err(e) => {
            return TenantReport {
                tenant: tenant.id,
                token: TokenReport {
                    ok: false,
                    expires: None,
                    roles: Vec::new(),
                    error: Some(e.to_string()),
                },
                streams: Vec::new(),
                context: Vec::new(),
            }
        }
    };
    // Not verified: only read, to report what was granted.
    let claims = crate::auth::jwt_claims(token.value.expose()).unwrap_or_default();
    let roles: Vec<String> = claims
        .get("roles")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let expires = claims
        .get("exp")
        .and_then(Value::as_i64)
        .and_then(|e| DateTime::<Utc>::from_timestamp(e, 0))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
    // One attempt per request: a 429 is a verdict here, not something to wait out.
    let (_trigger, shutdown) = crate::shutdown::channel();
    let client = GraphClient::new(
        http.clone(),
        tenant.graph_url.clone(),
        tokens,
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        shutdown,
        throttle,
    );
    let mut streams = Vec::new();
    for settings in &tenant.streams {
        let spec = crate::streams::specs(settings).remove(0);
        let url = client.url(
            spec.api_version(),
            spec.path(),
            &[("$top".into(), "1".into())],
        );
        let result = client.get_page(&url, spec.family()).await;
        let hidden = result
            .as_ref()
            .is_ok_and(|page| risk_is_hidden(page.records.first()));
        let mut report = verdict(settings.kind, &roles, result.map(|_| ()));
        if report.verdict == Verdict::Ok
            && hidden
            && settings.sign_ins.filter == crate::config::SignInFilter::Risky
        {
            report = StreamReport {
                stream: settings.kind.name(),
                verdict: Verdict::FilterCannotMatch,
                detail: "filter = \"risky\" selects nothing here: Graph returns the sign-ins' risk fields as \"hidden\" because the tenant lacks Microsoft Entra ID P2; set filter = \"all\" or \"failures\" in [streams.sign_ins], or assign P2".into(),
            };
        }
        streams.push(report);
    }
    TenantReport {
        tenant: tenant.id,
        token: TokenReport {
            ok: true,
            expires,
            roles,
            error: None,
        },
        streams,
        context: Vec::new(),
    }
}

/// Sign-ins whose risk fields read `hidden`: what Graph answers on a tenant without P2.
/// Whether the first record of a page reads its risk fields `hidden` (no P2 licence).
fn risk_is_hidden(first: Option<&str>) -> bool {
    first
        .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
        .is_some_and(|r| r.get("riskLevelDuringSignIn").and_then(Value::as_str) == Some("hidden"))
}

fn verdict(kind: StreamKind, roles: &[String], result: Result<(), GraphError>) -> StreamReport {
    let report = |verdict, detail: String| StreamReport {
        stream: kind.name(),
        verdict,
        detail,
    };
    let err = match result {
        Ok(()) => return report(Verdict::Ok, String::new()),
        Err(e) => e,
    };
    match &err {
        GraphError::Forbidden { body, .. } if roles.is_empty() => report(
            Verdict::AdminConsentMissing,
            format!(
                "the token carries no application permissions: an administrator must grant admin consent under App registrations > API permissions (Graph 403 {})",
                body.code
            ),
        ),
        GraphError::Forbidden {
            kind: ForbiddenKind::Licence,
            body,
            ..
        } => report(
            Verdict::LicenceMissing,
            format!(
                "the tenant needs {} (Graph 403 {})",
                kind.licence().unwrap_or("a premium licence"),
                body.code
            ),
        ),
        GraphError::Forbidden { body, .. } => report(
            Verdict::PermissionMissing,
            format!(
                "grant the application permission {} and admin consent{} (Graph 403 {})",
                kind.permission(),
                if roles.iter().any(|r| r == kind.permission()) {
                    ""
                } else {
                    "; the token's roles lack it"
                },
                body.code
            ),
        ),
        GraphError::RetriesExhausted { last, .. } if last.contains("HTTP 429") => {
            report(Verdict::Throttled, format!("{last}; try again later"))
        }
        GraphError::RetriesExhausted { last, .. } => report(Verdict::Unreachable, last.clone()),
        other => report(Verdict::Failed, other.to_string()),
    }
}

/// The report as a table per tenant.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    // One app written as the tenant's own client id: no app line (the tenant's says it all).
    let named = report.apps.len() > 1 || report.apps.iter().any(|a| a.app != a.client_id);
    for a in report.apps.iter().filter(|_| named) {
        let failing = a.failing_tenants;
        out.push_str(&format!(
            "app {}{}: {} tenant(s), {} report requests per 10 s, each tenant paced at {}: {}\n",
            a.app,
            if a.app == a.client_id || a.client_id.is_empty() {
                String::new()
            } else {
                format!(" (client {})", a.client_id)
            },
            a.tenants.len(),
            a.reports_requests_per_10s,
            a.per_tenant_requests_per_10s,
            if failing == 0 {
                "ok".to_string()
            } else {
                format!("{failing} of {} tenant(s) failing", a.tenants.len())
            }
        ));
    }
    for t in &report.tenants {
        if !t.token.ok {
            out.push_str(&format!(
                "tenant {}: no token: {}\n",
                t.tenant,
                t.token.error.as_deref().unwrap_or("")
            ));
            continue;
        }
        out.push_str(&format!(
            "tenant {}: token ok, expires {}, application permissions: {}\n",
            t.tenant,
            t.token.expires.as_deref().unwrap_or("unknown"),
            if t.token.roles.is_empty() {
                "none (admin consent missing?)".to_string()
            } else {
                t.token.roles.join(", ")
            }
        ));
        out.push_str(&format!(
            "  {:<36} {:<24} {}\n",
            "stream", "verdict", "detail"
        ));
        for s in &t.streams {
            let verdict = serde_json::to_value(&s.verdict)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
                .replace('_', " ");
            out.push_str(&format!(
                "  {:<36} {:<24} {}\n",
                s.stream, verdict, s.detail
            ));
        }
        for c in &t.context {
            let (verdict, detail) = if c.granted {
                ("ok", String::new())
            } else {
                (
                    "permission missing",
                    format!("events go without this context; grant {} (or Directory.Read.All) with admin consent", c.permission),
                )
            };
            out.push_str(&format!(
                "  {:<36} {:<24} {}\n",
                format!("context: {}", c.part),
                verdict,
                detail
            ));
        }
    }
    out
}
