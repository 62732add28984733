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

use super::filter;
use super::{
    Fault, Licence, PagePosition, RequestLog, Resource, SimState, Spread, CLIENT_ID, TENANT_DOMAIN,
    TENANT_ID,
};

mod control;
mod delta;
pub(crate) mod jwt;
pub(crate) use jwt::rsa_public_key_pem;
mod query;
mod token;

use control::{
    control_clock, control_delays, control_faults, control_records, control_requests,
    control_reveal, stamp_date,
};
use query::{parse_filter, time_bounds, view_of};
use token::{managed_identity, token};

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
        .route("/_sim/clock", post(control_clock))
        .route("/_sim/delays", post(control_delays))
        .fallback(graph)
        .layer(axum::middleware::from_fn_with_state(
            App {
                shared: shared.clone(),
                base: base.clone(),
            },
            stamp_date,
        ))
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
    let base = app.base.clone();
    if let Some(reply) = delta::reply(&mut st, &base, (version, &rest), uri, headers) {
        return reply;
    }
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
    if resource.beta_only() && version != "beta" {
        let segment = rest.rsplit('/').next().unwrap_or("");
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{segment}'."),
        );
    }
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
    let unknown_members = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("include-unknown-enum-members"));
    list(app, &mut st, (resource, unknown_members), version, uri)
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
fn list(
    app: &App,
    st: &mut SimState,
    (resource, unknown_members): (Resource, bool),
    version: &str,
    uri: &Uri,
) -> Reply {
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
    let reshape = sign_ins && (!beta || !p2 || !unknown_members);
    let case = resource.case_sensitive_filters();
    let now = st.now();
    let matches = |r: &&super::SimRecord| {
        r.visible
            && r.appears <= now
            && (!interactive_only || super::data::is_interactive(&r.json))
            && expr.as_ref().is_none_or(|e| {
                filter::eval_with(e, &view_of(r, reshape, (beta, p2, unknown_members)), case)
            })
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
        .map(|r| view_of(r, reshape, (beta, p2, unknown_members)).into_owned())
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

// ---------------------------------------------------------------------------------------------
// Controls.
