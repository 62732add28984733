//! The `/_sim/` controls `entra-source simulate` exposes over HTTP.

use super::*;

pub(super) async fn control_requests(State(app): State<App>) -> Response {
    axum::Json(app.state().requests.clone()).into_response()
}

pub(super) async fn control_records(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let count: u64 = q.get("count").and_then(|c| c.parse().ok()).unwrap_or(1);
    let name = q.get("resource").map(String::as_str).unwrap_or("");
    if matches!(name, "users" | "devices" | "role_assignments") {
        let ids = app.state().directory.add(name, count.min(10_000) as usize);
        return match ids {
            Some(ids) => axum::Json(json!({ "ids": ids })).into_response(),
            None => (
                StatusCode::CONFLICT,
                "the directory has no Global Administrator role: seed it first (simulate does)\n",
            )
                .into_response(),
        };
    }
    let Some(resource) = Resource::from_name(name) else {
        return (
            StatusCode::BAD_REQUEST,
            "resource=directory_audits|sign_ins|…|users|devices|role_assignments is required\n",
        )
            .into_response();
    };
    // On the real clock: `generate` stamps them on the simulated one.
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

/// `POST /_sim/clock?advance_seconds=N`: moves the simulated clock forward.
pub(super) async fn control_clock(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(secs) = q
        .get("advance_seconds")
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| (0..=30 * 86_400).contains(s))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "advance_seconds=N (0 to 2592000) is required\n",
        )
            .into_response();
    };
    let mut st = app.state();
    st.clock_offset += chrono::Duration::seconds(secs);
    axum::Json(json!({ "now": crate::data::graph_timestamp(st.now()) })).into_response()
}

pub(super) async fn control_reveal(State(app): State<App>) -> Response {
    let mut st = app.state();
    for recs in st.records.values_mut() {
        recs.iter_mut().for_each(|r| r.visible = true);
    }
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn control_faults(
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

/// Every answer's `Date` on the simulated clock, as Graph and the token endpoint send theirs.
pub(super) async fn stamp_date(
    State(app): State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut resp = next.run(req).await;
    let date = app
        .state()
        .now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(v) = axum::http::HeaderValue::from_str(&date) {
        resp.headers_mut().insert(axum::http::header::DATE, v);
    }
    resp
}

/// `POST /_sim/delays?profile=microsoft|slow_sign_ins|none[&scale=N]`: when records generated
/// from now on become visible (the appearance delay of Graph; `scale` divides it, for benches).
pub(super) async fn control_delays(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let scale = match q.get("scale").map(|s| s.parse::<f64>()) {
        None => Ok(1.0),
        Some(Ok(s)) if s.is_finite() && (1.0..=3600.0).contains(&s) => Ok(s),
        Some(_) => Err("scale=N must be a number from 1 to 3600\n"),
    };
    let appearance = match (q.get("profile").map(String::as_str), scale) {
        (_, Err(e)) => return (StatusCode::BAD_REQUEST, e).into_response(),
        (Some("none"), _) => crate::Appearance::Immediate,
        (Some(p), Ok(scale)) => match crate::DelayProfile::parse(p) {
            Some(profile) => crate::Appearance::Delayed { profile, scale },
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    "profile=microsoft|slow_sign_ins|none is required\n",
                )
                    .into_response()
            }
        },
        (None, _) => {
            return (
                StatusCode::BAD_REQUEST,
                "profile=microsoft|slow_sign_ins|none is required\n",
            )
                .into_response()
        }
    };
    app.state().appearance = appearance;
    StatusCode::NO_CONTENT.into_response()
}
