//! `GET /{version}/{users|devices|directoryRoles}/delta`: a round of a delta query (see
//! `crate::directory`), paged by `Prefer: odata.maxpagesize` (default 100, at most 999) with
//! opaque `$skiptoken` nextLinks, ended by an `@odata.deltaLink`; a `$deltatoken` older than the
//! last expiry gets 410 Gone, as Graph answers a token whose sync state it no longer keeps.

use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine;
use serde_json::{json, Value};

use super::{graph_error, Reply};
use crate::directory::DirectoryKind;
use crate::SimState;

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 999;

fn page_size(headers: &HeaderMap) -> usize {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .find_map(|n| n.trim().parse::<usize>().ok())
        .map_or(DEFAULT_PAGE, |n| n.clamp(1, MAX_PAGE))
}

/// The round a `$skiptoken` continues: (the token it started from, the round's end, offset).
fn decode(token: &str) -> Option<(Option<u64>, u64, usize)> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split(':');
    let from = match parts.next()? {
        "base" => None,
        n => Some(n.parse().ok()?),
    };
    Some((
        from,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

fn encode(from: Option<u64>, end: u64, offset: usize) -> String {
    let from = from.map_or("base".to_string(), |n| n.to_string());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{from}:{end}:{offset}"))
}

/// The reply to a delta request, or `None` when `rest` is no delta path.
pub(super) fn reply(
    st: &mut SimState,
    base: &str,
    (version, rest): (&str, &str),
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Reply> {
    let segment = rest.strip_prefix('/')?.strip_suffix("/delta")?;
    let kind = DirectoryKind::from_segment(segment)?;
    if !kind.roles().iter().any(|r| st.roles.iter().any(|h| h == r)) {
        return Some(graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    st.graph_requests += 1;
    let mut select = None;
    let mut deltatoken = None;
    let mut skiptoken = None;
    for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "$select" => select = Some(v.to_string()),
            "$deltatoken" => deltatoken = Some(v.to_string()),
            "$skiptoken" => skiptoken = Some(v.to_string()),
            _ => {}
        }
    }
    let (from, end, offset) = match (&skiptoken, &deltatoken) {
        (Some(t), _) => match decode(t) {
            Some(d) => d,
            None => {
                return Some(graph_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "Invalid Skip Token",
                ))
            }
        },
        (None, Some(t)) => match t.parse::<u64>() {
            Ok(n) => (Some(n), st.directory.seq, 0),
            Err(_) => {
                return Some(graph_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "Invalid delta token",
                ))
            }
        },
        (None, None) => (None, st.directory.seq, 0),
    };
    if from.is_some_and(|n| n < st.directory.expired_before) {
        return Some(graph_error(
            StatusCode::GONE,
            "resyncRequired",
            "Resync required. Replace any local cached copy with the current data and restart with an empty delta token.",
        ));
    }
    let size = page_size(headers);
    let (page, more) = st.directory.round(kind, from, (offset, size));
    let page: Vec<Value> = page
        .iter()
        .map(|v| selected(v, select.as_deref()))
        .collect();
    let mut query = select
        .as_ref()
        .map(|s| format!("$select={}&", urlencoding(s)))
        .unwrap_or_default();
    let link_base = format!("{base}/{version}/{segment}/delta");
    let mut body = json!({
        "@odata.context": format!("{base}/{version}/$metadata#{segment}"),
        "value": page,
    });
    if more {
        query.push_str(&format!("$skiptoken={}", encode(from, end, offset + size)));
        body["@odata.nextLink"] = format!("{link_base}?{query}").into();
    } else {
        query.push_str(&format!("$deltatoken={end}"));
        body["@odata.deltaLink"] = format!("{link_base}?{query}").into();
    }
    let records = body["value"].as_array().map_or(0, Vec::len);
    let mut r = Reply::json(StatusCode::OK, body);
    r.records = records;
    Some(r)
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Only the `$select`ed properties (and `id`, annotations, `members@delta`), as Graph returns.
fn selected(v: &Value, select: Option<&str>) -> Value {
    let (Some(select), Some(obj)) = (select, v.as_object()) else {
        return v.clone();
    };
    let keep: Vec<&str> = select.split(',').map(str::trim).collect();
    Value::Object(
        obj.iter()
            .filter(|(k, _)| {
                k.as_str() == "id"
                    || k.starts_with('@')
                    || k.contains('@')
                    || keep.contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}
