//! The simulator's HTTP side: token endpoint, Graph resources, `/_sim/` controls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine;
use chrono::Utc;
use serde_json::{json, Value};

use super::filter::{self, Expr, Literal, Op};
use super::{
    Fault, Licence, PagePosition, RequestLog, Resource, SimState, Spread, CLIENT_ID, TENANT_DOMAIN,
    TENANT_ID,
};

#[derive(Clone)]
struct App {
    shared: Arc<Mutex<SimState>>,
    base: String,
}

impl App {
    fn state(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(super) fn router(shared: Arc<Mutex<SimState>>, base: String) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route(super::IMDS_IDENTITY_PATH, get(managed_identity))
        .route(super::APP_SERVICE_IDENTITY_PATH, get(managed_identity))
        .route("/_sim/requests", get(control_requests))
        .route("/_sim/records", post(control_records))
        .route("/_sim/reveal", post(control_reveal))
        .route("/_sim/faults", post(control_faults))
        .fallback(graph)
        .with_state(App { shared, base })
}

struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    retry_after: Option<String>,
    records: usize,
}

impl Reply {
    fn json(status: StatusCode, v: Value) -> Reply {
        Reply {
            status,
            body: v.to_string().into_bytes(),
            retry_after: None,
            records: 0,
        }
    }
}

fn log(app: &App, method: &Method, uri: &Uri, reply: &Reply) {
    let mut st = app.state();
    let at = Instant::now();
    let at_ms = at.duration_since(st.started).as_millis() as u64;
    st.requests.push(RequestLog {
        at,
        at_ms,
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        status: reply.status.as_u16(),
        retry_after: reply.retry_after.clone(),
        records: reply.records,
    });
}

fn finish(reply: Reply) -> Response {
    let mut builder = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json; charset=utf-8")
        .header("request-id", uuid_like());
    if let Some(ra) = &reply.retry_after {
        builder = builder.header("retry-after", ra.as_str());
    }
    builder
        .body(Body::from(reply.body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn uuid_like() -> String {
    let n = rand::random::<u128>();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

// ---------------------------------------------------------------------------------------------
// Token endpoint.

fn aad_error(status: StatusCode, error: &str, code: u64, text: &str) -> Reply {
    let trace = uuid_like();
    let corr = uuid_like();
    let ts = Utc::now().format("%Y-%m-%d %H:%M:%SZ");
    Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"),
            "error_codes": [code],
            "timestamp": ts.to_string(),
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}")
        }),
    )
}

async fn token(
    State(app): State<App>,
    Path(tenant): Path<String>,
    method: Method,
    uri: Uri,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let reply = issue_token(&app, &tenant, &form);
    log(&app, &method, &uri, &reply);
    finish(reply)
}

fn issue_token(app: &App, tenant: &str, form: &HashMap<String, String>) -> Reply {
    let f = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let alias = app
        .state()
        .tenant_aliases
        .contains(&tenant.to_ascii_lowercase());
    if !tenant.eq_ignore_ascii_case(TENANT_ID)
        && !tenant.eq_ignore_ascii_case(TENANT_DOMAIN)
        && !alias
    {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
    }
    if f("grant_type") != "client_credentials" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if f("client_id") != CLIENT_ID {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{tenant}'.",
                f("client_id")
            ),
        );
    }
    let scope = f("scope");
    if scope != format!("{}/.default", app.base)
        && scope != "https://graph.microsoft.com/.default"
        && !app.state().extra_scopes.contains(scope)
    {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
        );
    }
    let mut st = app.state();
    let assertion = f("client_assertion");
    if !assertion.is_empty() {
        if f("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90014,
                "The request body must contain the following parameter: 'client_assertion_type'.",
            );
        }
        let audience = format!("{}/{tenant}/oauth2/v2.0/token", app.base);
        let checked = match jsonwebtoken::decode_header(assertion) {
            Ok(h) if h.x5t_s256.is_some() || h.x5t.is_some() => {
                check_certificate_assertion(&st, assertion, &h, &audience)
            }
            _ => check_federated_assertion(&mut st, assertion),
        };
        if let Err(reply) = checked {
            return reply;
        }
        return token_reply(app, &mut st);
    }
    let secret = f("client_secret");
    if secret.is_empty() {
        return aad_error(StatusCode::UNAUTHORIZED, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    if secret != st.secret {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{CLIENT_ID}'."),
        );
    }
    if st.secret_expired {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            &format!("The provided client secret keys for app '{CLIENT_ID}' are expired. Visit the Azure portal to create new keys for your app."),
        );
    }
    token_reply(app, &mut st)
}

/// Certificate credentials: the assertion names its certificate by thumbprint (`x5t#S256` or
/// `x5t`), must be signed by that certificate's key, for this app, at this token endpoint.
fn check_certificate_assertion(
    st: &SimState,
    assertion: &str,
    header: &jsonwebtoken::Header,
    audience: &str,
) -> Result<(), Reply> {
    let refuse =
        |code: u64, text: &str| aad_error(StatusCode::UNAUTHORIZED, "invalid_client", code, text);
    let cert = st.certificates.iter().find(|c| {
        header.x5t_s256.as_deref() == Some(c.sha256.as_str())
            || header.x5t.as_deref() == Some(c.sha1.as_str())
    });
    let Some(cert) = cert else {
        let thumb = header
            .x5t_s256
            .clone()
            .or(header.x5t.clone())
            .unwrap_or_default();
        return Err(refuse(700027, &format!("Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{thumb}']")));
    };
    if !matches!(
        header.alg,
        jsonwebtoken::Algorithm::PS256 | jsonwebtoken::Algorithm::RS256
    ) {
        return Err(refuse(700027, "Client assertion failed signature validation. [Reason - The provided signature algorithm is not supported.]"));
    }
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[CLIENT_ID]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    match jsonwebtoken::decode::<Value>(assertion, &cert.key, &validation) {
        Ok(data) if data.claims["sub"] == CLIENT_ID => Ok(()),
        Ok(_) => Err(refuse(
            50013,
            "Assertion failed validation: the subject is not the client.",
        )),
        Err(e) => match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Err(refuse(
                700027,
                "Client assertion contains an invalid signature.",
            )),
            _ => Err(refuse(50013, &format!("Assertion failed validation: {e}."))),
        },
    }
}

/// Workload identity federation: the external token's claims must match the app's federated
/// credential (issuer, subject, audience `api://AzureADTokenExchange`) and be within their
/// validity. (Entra also checks the issuer's signature through its OIDC discovery document; the
/// simulator checks the claims only.)
fn check_federated_assertion(st: &mut SimState, assertion: &str) -> Result<(), Reply> {
    let invalid =
        |code: u64, text: &str| aad_error(StatusCode::UNAUTHORIZED, "invalid_client", code, text);
    let claims = crate::graph::jwt_claims(assertion)
        .ok_or_else(|| invalid(50027, "JWT token is invalid or malformed."))?;
    let now = Utc::now().timestamp();
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if exp <= now || claims["nbf"].as_i64().unwrap_or(0) > now + 300 {
        return Err(invalid(
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    let matches = claims["iss"] == super::FEDERATED_ISSUER
        && claims["sub"] == super::FEDERATED_SUBJECT
        && claims["aud"] == "api://AzureADTokenExchange";
    if !matches {
        return Err(invalid(
            70021,
            "No matching federated identity record found for presented assertion.",
        ));
    }
    st.assertions
        .push(claims["jti"].as_str().unwrap_or("").to_string());
    Ok(())
}

/// A JWT-shaped access token for Graph, registered as valid for the configured lifetime.
fn token_reply(app: &App, st: &mut SimState) -> Reply {
    let ttl = st.token_ttl;
    let access_token = mint_token(app, st);
    Reply::json(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": ttl.as_secs(), "ext_expires_in": ttl.as_secs(), "access_token": access_token}),
    )
}

fn mint_token(app: &App, st: &mut SimState) -> String {
    let now = Utc::now().timestamp();
    let ttl = st.token_ttl;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(json!({"typ": "JWT", "alg": "RS256", "kid": "simulator"}).to_string());
    let claims = b64.encode(
        json!({
            "aud": app.base, "iss": format!("https://sts.windows.net/{}/", st.tenant_guid),
            "iat": now, "nbf": now, "exp": now + ttl.as_secs() as i64,
            "appid": CLIENT_ID, "tid": st.tenant_guid, "idtyp": "app",
            "roles": st.roles,
            "jti": uuid_like()
        })
        .to_string(),
    );
    let sig = b64.encode(rand::random::<[u8; 32]>());
    let access_token = format!("{header}.{claims}.{sig}");
    st.tokens.insert(access_token.clone(), Instant::now() + ttl);
    st.issued.push(access_token.clone());
    access_token
}

// ---------------------------------------------------------------------------------------------
// Managed identity: Azure IMDS (`Metadata: true`) and App Service (`X-IDENTITY-HEADER`).

async fn managed_identity(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let app_service = uri.path() == super::APP_SERVICE_IDENTITY_PATH;
    let reply = {
        let mut st = app.state();
        let bad = |text: &str| {
            Reply::json(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_request", "error_description": text}),
            )
        };
        let header_ok = if app_service {
            headers
                .get("x-identity-header")
                .and_then(|v| v.to_str().ok())
                == Some(super::IDENTITY_HEADER)
        } else {
            headers.get("metadata").and_then(|v| v.to_str().ok()) == Some("true")
        };
        let version = if app_service {
            "2019-08-01"
        } else {
            "2018-02-01"
        };
        let resource = q.get("resource").map(String::as_str).unwrap_or("");
        if !header_ok {
            bad(if app_service {
                "X-IDENTITY-HEADER is missing or wrong"
            } else {
                "Required metadata header not specified"
            })
        } else if q.get("api-version").map(String::as_str) != Some(version) {
            bad("Missing or unsupported api-version")
        } else if resource != app.base && resource != "https://graph.microsoft.com" {
            bad("Invalid resource")
        } else if q
            .get("client_id")
            .is_some_and(|c| c != super::MANAGED_IDENTITY_CLIENT_ID)
        {
            bad("Identity not found")
        } else {
            let ttl = st.token_ttl.as_secs();
            let token = mint_token(&app, &mut st);
            // Both endpoints send numbers as strings; App Service sends expires_on only.
            let expires_on = (Utc::now().timestamp() + ttl as i64).to_string();
            let body = if app_service {
                json!({"access_token": token, "expires_on": expires_on, "resource": resource, "token_type": "Bearer"})
            } else {
                json!({"access_token": token, "expires_in": ttl.to_string(), "expires_on": expires_on, "resource": resource, "token_type": "Bearer"})
            };
            Reply::json(StatusCode::OK, body)
        }
    };
    log(&app, &method, &uri, &reply);
    finish(reply)
}

// ---------------------------------------------------------------------------------------------
// Graph.

fn graph_error(status: StatusCode, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": code, "message": message, "innerError": {
            "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            "request-id": uuid_like(), "client-request-id": uuid_like()}}}),
    )
}

async fn graph(State(app): State<App>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let delay = app.state().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reply = graph_reply(&app, &method, &uri, &headers);
    log(&app, &method, &uri, &reply);
    finish(reply)
}

fn graph_reply(app: &App, method: &Method, uri: &Uri, headers: &HeaderMap) -> Reply {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let mut st = app.state();
    let valid = st
        .tokens
        .get(token)
        .is_some_and(|exp| *exp > Instant::now());
    if !valid {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            if token.is_empty() {
                "Access token is empty."
            } else {
                "Access token has expired or is not yet valid."
            },
        );
    }
    if method != Method::GET {
        return graph_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Only GET is served by the simulator.",
        );
    }
    let path = uri.path();
    let Some((version, rest)) = path.trim_start_matches('/').split_once('/') else {
        return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "Invalid version.");
    };
    if version != "v1.0" && version != "beta" {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Invalid version: {version}"),
        );
    }
    let rest = format!("/{rest}");
    let Some(resource) = Resource::all()
        .iter()
        .copied()
        .find(|r| r.path().eq_ignore_ascii_case(&rest))
    else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource not found for the segment '{rest}'."),
        );
    };
    if let Some(throttled) = enforce_limits(&mut st, resource) {
        return throttled;
    }
    st.graph_requests += 1;
    let n = st.graph_requests;
    let fault = match &st.fault_every {
        Some((every, f)) if n.is_multiple_of(*every) => Some(f.clone()),
        _ => st.fault_queue.pop_front().flatten(),
    };
    if let Some(f) = fault {
        match f {
            Fault::Throttle { retry_after } => return throttled(retry_after),
            Fault::Unavailable { retry_after } => {
                let mut r = graph_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable for maintenance or is overloaded.",
                );
                r.retry_after = retry_after;
                return r;
            }
            Fault::GatewayTimeout => {
                return graph_error(StatusCode::GATEWAY_TIMEOUT, "gatewayTimeout", "The server, while acting as a proxy, did not receive a timely response.")
            }
            Fault::MalformedPage => {
                return Reply {
                    status: StatusCode::OK,
                    body: br#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits","value":[{"id":"trunc"#.to_vec(),
                    retry_after: None,
                    records: 0,
                }
            }
            Fault::TokenExpired => {
                st.tokens.remove(token);
                return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.");
            }
        }
    }
    if let Some(licence) = resource.licence().filter(|l| !st.licences.contains(l)) {
        return licence_denied(resource, licence);
    }
    if !st.roles.iter().any(|r| r == resource.role()) {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    list(app, &mut st, resource, version, uri)
}

/// Graph's per-tenant limits, when enforced: 5 requests per 10 s to the reports (429 with a
/// fractional `Retry-After`), 1 per second to identity protection (429 without one).
fn enforce_limits(st: &mut SimState, resource: Resource) -> Option<Reply> {
    if !st.enforce_limits {
        return None;
    }
    let now = Instant::now();
    let (arrivals, max, per) = if resource.is_identity_protection() {
        (
            &mut st.protection_arrivals,
            1,
            std::time::Duration::from_secs(1),
        )
    } else {
        (
            &mut st.report_arrivals,
            5,
            std::time::Duration::from_secs(10),
        )
    };
    while arrivals
        .front()
        .is_some_and(|t| now.duration_since(*t) >= per)
    {
        arrivals.pop_front();
    }
    if arrivals.len() < max {
        arrivals.push_back(now);
        return None;
    }
    let free_in = (arrivals[0] + per).saturating_duration_since(now);
    Some(throttled(
        (!resource.is_identity_protection()).then(|| format!("{:.3}", free_in.as_secs_f64())),
    ))
}

/// Graph's 429 (body of `error_429_throttled.json`), with `Retry-After` when given.
fn throttled(retry_after: Option<String>) -> Reply {
    let mut r = Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": {"code": "TooManyRequests", "innerError": {
            "code": "429", "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            "message": "Please retry after", "request-id": uuid_like(), "status": "429"},
            "message": "Please retry again later."}}),
    );
    r.retry_after = retry_after;
    r
}

/// The 403 Graph answers when the tenant lacks the resource's licence.
fn licence_denied(resource: Resource, licence: Licence) -> Reply {
    if resource == Resource::SignIns {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        );
    }
    graph_error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!("Your tenant is not licensed for this feature. ({licence:?} required)"),
    )
}

/// Parses the query options once; the same options must come back with every `$skiptoken`.
fn list(app: &App, st: &mut SimState, resource: Resource, version: &str, uri: &Uri) -> Reply {
    let raw = uri.query().unwrap_or("");
    let mut filter_text = None;
    let mut top = None;
    let mut orderby = None;
    let mut skiptoken = None;
    let mut kept = Vec::new();
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "$filter" => filter_text = Some(v.to_string()),
            "$top" => top = Some(v.to_string()),
            "$orderby" => orderby = Some(v.to_string()),
            "$skiptoken" => {
                skiptoken = Some(v.to_string());
                continue;
            }
            "$skip" => return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "Query option 'Skip' is not allowed. To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings."),
            "$select" | "$count" => {}
            other => return graph_error(StatusCode::BAD_REQUEST, "BadRequest", &format!("Unrecognized query argument specified: '{other}'.")),
        }
        kept.push((k.into_owned(), v.into_owned()));
    }
    let canonical: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept.iter())
        .finish();

    let page_size = match top.as_deref().map(str::parse::<usize>) {
        None => resource.default_top(),
        Some(Ok(n)) if (1..=resource.max_top()).contains(&n) => n,
        Some(_) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "Invalid page size specified: '{}'. Must be between 1 and {} inclusive.",
                    top.unwrap_or_default(),
                    resource.max_top()
                ),
            )
        }
    };
    let desc = match orderby.as_deref().map(|o| o.trim().to_string()) {
        None => true,
        Some(o) if !resource.allows_orderby() => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("OrderBy not supported for '{o}' on this resource."),
            )
        }
        Some(o) => {
            let mut parts = o.split_whitespace();
            let field = parts.next().unwrap_or("");
            let dir = parts.next().unwrap_or("asc");
            if field != resource.time_field()
                || !(dir == "asc" || dir == "desc")
                || parts.next().is_some()
            {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!(
                        "OrderBy not supported for '{o}'; only '{} asc|desc'.",
                        resource.time_field()
                    ),
                );
            }
            dir == "desc"
        }
    };
    let expr = match filter_text.as_deref() {
        None => None,
        Some(text) => match parse_filter(resource, version, text, &st.refused_filters) {
            Ok(e) => Some(e),
            Err(msg) => {
                return graph_error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", &msg)
            }
        },
    };

    let after = match skiptoken {
        None => None,
        Some(tok) => {
            if st.invalid_skiptokens > 0 {
                st.invalid_skiptokens -= 1;
                return graph_error(StatusCode::BAD_REQUEST, "BadRequest", "Invalid Skip Token.");
            }
            match st.positions.get(&tok) {
                Some(p) if p.query == canonical => Some(p.after.clone()),
                _ => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "Invalid Skip Token.",
                    )
                }
            }
        }
    };

    let recs = st.records.get(&resource).map(Vec::as_slice).unwrap_or(&[]);
    let (lo, hi) = expr
        .as_ref()
        .map_or((None, None), |e| time_bounds(e, resource.time_field()));
    let start = lo.map_or(0, |t| recs.partition_point(|r| r.time < t));
    let end = hi.map_or(recs.len(), |t| recs.partition_point(|r| r.time <= t));
    let candidates = &recs[start.min(end)..end];
    // Sign-ins: v1.0 shows interactive ones only and lacks the beta fields; so does beta
    // without a signInEventTypes clause; without P2 the risk fields read "hidden".
    let sign_ins = resource == Resource::SignIns;
    let typed = expr.as_ref().is_some_and(|e| {
        let (mut used, mut or_used) = (Vec::new(), false);
        filter::usage(e, &mut used, &mut or_used);
        used.iter().any(|(p, _)| p == "signInEventTypes/any")
    });
    let interactive_only = sign_ins && !typed;
    let beta = version == "beta";
    let p2 = st.licences.contains(&Licence::P2);
    let reshape = sign_ins && (!beta || !p2);
    let matches = |r: &&super::SimRecord| {
        r.visible
            && (!interactive_only || super::data::is_interactive(&r.json))
            && expr
                .as_ref()
                .is_none_or(|e| filter::eval(e, &view_of(r, reshape, beta, p2)))
    };
    // Keyset paging: continue strictly after the last record of the previous page.
    let candidates = match &after {
        None => candidates,
        Some((t, id)) => {
            let key = (*t, id.as_str());
            if desc {
                &candidates[..candidates.partition_point(|r| (r.time, r.id.as_str()) < key)]
            } else {
                &candidates[candidates.partition_point(|r| (r.time, r.id.as_str()) <= key)..]
            }
        }
    };
    let mut page: Vec<&super::SimRecord> = Vec::with_capacity(page_size + 1);
    if desc {
        page.extend(candidates.iter().rev().filter(matches).take(page_size + 1));
    } else {
        page.extend(candidates.iter().filter(matches).take(page_size + 1));
    }
    let more = page.len() > page_size;
    page.truncate(page_size);
    let values: Vec<Value> = page
        .iter()
        .map(|r| view_of(r, reshape, beta, p2).into_owned())
        .collect();
    let last = page.last().map(|r| (r.time, r.id.clone()));
    let mut body = serde_json::Map::new();
    body.insert(
        "@odata.context".into(),
        format!(
            "{}/{version}/$metadata#{}",
            app.base,
            resource.path().trim_start_matches('/')
        )
        .into(),
    );
    if let (true, Some(last)) = (more, last) {
        let token = format!("{:032x}", rand::random::<u128>());
        st.positions.insert(
            token.clone(),
            PagePosition {
                query: canonical.clone(),
                after: last,
            },
        );
        let sep = if canonical.is_empty() { "" } else { "&" };
        body.insert(
            "@odata.nextLink".into(),
            format!(
                "{}/{version}{}?{canonical}{sep}$skiptoken={token}",
                app.base,
                resource.path()
            )
            .into(),
        );
    }
    let n = values.len();
    body.insert("value".into(), Value::Array(values));
    Reply {
        status: StatusCode::OK,
        body: Value::Object(body).to_string().into_bytes(),
        retry_after: None,
        records: n,
    }
}

fn view_of(
    r: &super::SimRecord,
    reshape: bool,
    beta: bool,
    p2: bool,
) -> std::borrow::Cow<'_, Value> {
    if reshape {
        std::borrow::Cow::Owned(super::data::sign_in_view(&r.json, beta, p2))
    } else {
        std::borrow::Cow::Borrowed(&r.json)
    }
}

fn parse_filter(
    resource: Resource,
    version: &str,
    text: &str,
    refused: &std::collections::HashSet<(Resource, String)>,
) -> Result<Expr, String> {
    let expr = filter::parse(text).map_err(|e| format!("Invalid filter clause: {e}"))?;
    let mut used = Vec::new();
    let mut or_used = false;
    filter::usage(&expr, &mut used, &mut or_used);
    if let Some((path, _)) = used
        .iter()
        .find(|(p, _)| refused.contains(&(resource, p.clone())))
    {
        return Err(format!(
            "Invalid filter clause: The property '{path}' does not support filtering."
        ));
    }
    if version == "v1.0" && used.iter().any(|(p, _)| p == "signInEventTypes/any") {
        return Err(
            "Could not find a property named 'signInEventTypes' on type 'microsoft.graph.signIn'."
                .into(),
        );
    }
    if or_used && !resource.allows_or() {
        return Err(
            "Invalid filter clause: 'or' and 'not' are not supported on this resource.".into(),
        );
    }
    for (path, op) in used {
        let allowed = resource
            .filterable()
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(&path))
            .map(|(_, ops)| *ops);
        match allowed {
            None => return Err(format!("Unsupported or invalid query filter clause specified for property '{path}' of resource '{}'.", resource.path().rsplit('/').next().unwrap_or(""))),
            Some(ops) if !ops.contains(&op) => {
                return Err(format!("Unsupported filter operator '{}' for property '{path}'.", op.name()))
            }
            Some(_) => {}
        }
    }
    Ok(expr)
}

/// The `ge`/`le` (or `gt`/`lt`, `eq`) bounds a top-level conjunction puts on the time field, to
/// narrow the scan before the full filter runs.
fn time_bounds(
    e: &Expr,
    field: &str,
) -> (Option<chrono::DateTime<Utc>>, Option<chrono::DateTime<Utc>>) {
    match e {
        Expr::And(a, b) => {
            let (l1, h1) = time_bounds(a, field);
            let (l2, h2) = time_bounds(b, field);
            (
                l1.max(l2),
                match (h1, h2) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                },
            )
        }
        Expr::Cmp {
            path,
            op,
            lit: Literal::Time(t),
        } if path == field => match op {
            Op::Ge | Op::Gt => (Some(*t), None),
            Op::Le | Op::Lt => (None, Some(*t)),
            Op::Eq => (Some(*t), Some(*t)),
            _ => (None, None),
        },
        _ => (None, None),
    }
}

// ---------------------------------------------------------------------------------------------
// Controls.

async fn control_requests(State(app): State<App>) -> Response {
    axum::Json(app.state().requests.clone()).into_response()
}

async fn control_records(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(resource) = q.get("resource").and_then(|r| Resource::from_name(r)) else {
        return (
            StatusCode::BAD_REQUEST,
            "resource=directory_audits is required\n",
        )
            .into_response();
    };
    let count: u64 = q.get("count").and_then(|c| c.parse().ok()).unwrap_or(1);
    let now = Utc::now();
    let spread = if q.contains_key("same_second") {
        Spread::SameSecond(now - chrono::Duration::seconds(2))
    } else {
        Spread::Between(
            now - chrono::Duration::seconds(60),
            now - chrono::Duration::seconds(1),
        )
    };
    let visible = !q.contains_key("hidden");
    let ids = app
        .state()
        .generate(resource, count, spread, &Value::Null, visible);
    axum::Json(json!({ "ids": ids })).into_response()
}

async fn control_reveal(State(app): State<App>) -> Response {
    let mut st = app.state();
    for recs in st.records.values_mut() {
        recs.iter_mut().for_each(|r| r.visible = true);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn control_faults(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let retry_after = q.get("retry_after").cloned();
    let fault = match q.get("kind").map(String::as_str) {
        Some("429") => Fault::Throttle { retry_after },
        Some("503") => Fault::Unavailable { retry_after },
        Some("504") => Fault::GatewayTimeout,
        Some("malformed") => Fault::MalformedPage,
        Some("token_expired") => Fault::TokenExpired,
        Some("none") => {
            let mut st = app.state();
            st.fault_every = None;
            st.fault_queue.clear();
            return StatusCode::NO_CONTENT.into_response();
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "kind=429|503|504|malformed|token_expired|none is required\n",
            )
                .into_response()
        }
    };
    let mut st = app.state();
    if let Some(every) = q
        .get("every")
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n > 0)
    {
        st.fault_every = Some((every, fault));
    } else {
        let count = q.get("count").and_then(|n| n.parse().ok()).unwrap_or(1);
        for _ in 0..count {
            st.fault_queue.push_back(Some(fault.clone()));
        }
    }
    StatusCode::NO_CONTENT.into_response()
}
