//! A list request's query: its `$filter` checked against what the resource documents, the time
//! bounds that narrow the scan, and the view of a record the request is allowed to see.

use chrono::Utc;
use serde_json::Value;

use crate::filter::{self, Expr, Literal, Op};
use crate::Resource;

pub(super) fn view_of(
    r: &crate::SimRecord,
    reshape: bool,
    (beta, p2, unknown_members): (bool, bool, bool),
) -> std::borrow::Cow<'_, Value> {
    if reshape {
        std::borrow::Cow::Owned(crate::data::sign_in_view(
            &r.json,
            beta,
            p2,
            unknown_members,
        ))
    } else {
        std::borrow::Cow::Borrowed(&r.json)
    }
}

pub(super) fn parse_filter(
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
pub(super) fn time_bounds(
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
