//! `event.type = "sign_in_summary"`: the sign-ins a `summarize` policy counted instead of
//! emitting (`[streams.sign_ins.shaping]`), one event per window and grouping, dataset
//! `entra.sign_ins`. Its id is fixed by the tenant, the sign-in type, the window and the
//! grouping, so a summary written again after a crash is the same event; `properties` is
//! entra-source's own record (the grouping, the count, the first and last times, a sample id
//! and the members' digest). Rare (one per window and grouping), so built as a tree.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{envelope_time, graph_time};
use crate::state::shaping::Summary;

pub const EVENT_TYPE: &str = "sign_in_summary";
/// The category and Log Analytics table of summaries in Microsoft's two shapes (a custom
/// table: Microsoft has none for them).
pub const CATEGORY: &str = "EntraSignInSummaries";
pub const TABLE: &str = "EntraSignInSummaries_CL";

/// Whether a tree is a summary event.
pub fn is_summary(native: &Value) -> bool {
    native.pointer("/event/type").and_then(Value::as_str) == Some(EVENT_TYPE)
}

/// The native event of one summary of the window starting at `from`: lean, since it stands for
/// records a SIEM would otherwise bill (names left out when Graph gave none).
pub fn event(tenant: &str, sign_in_type: &str, from: DateTime<Utc>, s: &Summary) -> Value {
    let g = &s.grouping;
    let id = {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(
            format!("{tenant}|{sign_in_type}|{}|{}", from.timestamp(), g.key()).as_bytes(),
        );
        d[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let mut properties = json!({
        "signInEventType": sign_in_type,
        "identityId": g.identity_id,
        "appId": g.app_id,
        "resourceId": g.resource_id,
        "ipAddress": g.ip,
        "resultType": g.result,
    });
    for (k, v) in [
        ("identityName", &g.identity_name),
        ("appDisplayName", &g.app_name),
        ("resourceDisplayName", &g.resource_name),
    ] {
        if !v.is_empty() {
            properties[k] = v.as_str().into();
        }
    }
    json!({
        "event": {
            "id": format!("{EVENT_TYPE}:{id}"),
            "dataset": "entra.sign_ins",
            "type": EVENT_TYPE,
            "kind": "event",
            "action": format!("{} sign-ins ({sign_in_type})", s.count),
            "outcome": if g.result == 0 { "success" } else { "failure" },
            "severity": "info",
            "tenant_id": tenant,
        },
        "time": envelope_time(s.first),
        "summary": {
            "count": s.count,
            "first": envelope_time(s.first),
            "last": envelope_time(s.last),
            "sample_id": s.sample_id,
            "digest": s.digest,
            "window_start": graph_time(from),
        },
        "properties": properties,
    })
}
