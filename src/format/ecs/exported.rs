//! ECS for the export-only categories (issue 31). `MicrosoftGraphActivityLogs`: `event.category`
//! `web` (`access`), the request in `http.*` and `url.*`, the caller in `user` (or, for an app's
//! own call, the service principal), `source.ip`, `user_agent.original`, and the rest under
//! `azure.graphactivitylogs` (Elastic's name for the same data); `sign_in_activity_id` there is
//! the join key to a sign-in's `unique_token_identifier`. The other categories: `event.*` from
//! the summary and the record in `event.original`.

use super::{copy, user, Head, Related};
use crate::format::json::Obj;
use crate::format::Native;
use crate::kind::Exported;

pub(super) fn vendor_key(which: Exported) -> &'static str {
    match which {
        Exported::GraphActivity => "graphactivitylogs",
        other => other.name(),
    }
}

pub(super) fn head<'a>(n: &Native<'a>, which: Exported) -> Head<'a> {
    match which {
        Exported::GraphActivity => {
            let mut h = Head::new("web", ["access", ""], "Microsoft Graph");
            h.code = n.raw("responseStatusCode");
            h.duration_ns = n
                .raw("durationMs")
                .and_then(|d| d.parse::<i64>().ok())
                .map(|ms| ms.saturating_mul(1_000_000));
            let who = n
                .s("userId")
                .map(|u| format!("user {u}"))
                .or_else(|| n.s("appId").map(|a| format!("app {a}")))
                .unwrap_or_else(|| "an unknown caller".into());
            h.message = format!(
                "{} {} by {who}: {}",
                n.s("requestMethod").unwrap_or("?"),
                n.s("requestUri").unwrap_or("?"),
                n.raw("responseStatusCode").unwrap_or("no status")
            );
            h
        }
        other => {
            let mut h = Head::new(
                if matches!(
                    other,
                    Exported::AdfsSignIns | Exported::MicrosoftServicePrincipalSignIns
                ) {
                    "authentication"
                } else if matches!(other, Exported::AzureAdGraphActivity) {
                    "web"
                } else {
                    "network"
                },
                ["info", ""],
                "Microsoft Entra diagnostic settings",
            );
            h.message = format!("{}: {}", other.category(), n.summary("action"));
            h
        }
    }
}

pub(super) fn fields<'a>(
    n: &Native<'a>,
    which: Exported,
    doc: &mut Obj<'_>,
    related: &mut Related<'a>,
) {
    if which != Exported::GraphActivity {
        let ip = n.ip("ipAddress").or(n.ip("sourceIp"));
        doc.obj_if_any("source", |s| {
            s.opt_str("ip", ip);
        });
        related.ip.extend(ip);
        return;
    }
    doc.obj_if_any("http", |h| {
        h.obj_if_any("request", |r| {
            r.opt_str("id", n.s("requestId"))
                .opt_str("method", n.s("requestMethod"));
        })
        .obj_if_any("response", |r| {
            r.opt_int(
                "status_code",
                n.raw("responseStatusCode").and_then(|c| c.parse().ok()),
            )
            .obj_if_any("body", |b| {
                b.opt_int(
                    "bytes",
                    n.raw("responseSizeBytes").and_then(|c| c.parse().ok()),
                );
            });
        });
    });
    if let Some(uri) = n.s("requestUri") {
        doc.obj("url", |u| {
            u.str("original", uri);
            if let Ok(parsed) = url::Url::parse(uri) {
                u.str("scheme", n.keep(parsed.scheme().to_string()))
                    .opt_str("domain", parsed.host_str().map(|h| n.keep(h.to_string())))
                    .str("path", n.keep(parsed.path().to_string()))
                    .opt_str("query", parsed.query().map(|q| n.keep(q.to_string())));
            }
        });
    }
    let uid = n.s("userId");
    doc.obj_if_any("user", |u| match uid {
        Some(id) => user(u, Some(id), None, None),
        None => user(u, n.s("servicePrincipalId"), None, None),
    });
    let ip = n.ip("ipAddress");
    doc.obj_if_any("source", |s| {
        s.opt_str("ip", ip);
    });
    related.ip.extend(ip);
    related.user.extend(uid);
    doc.obj_if_any("user_agent", |u| {
        u.opt_str("original", n.s("userAgent"));
    });
    doc.obj_if_any("client", |c| {
        c.opt_str("ip", ip);
    });
}

pub(super) fn vendor(n: &Native<'_>, which: Exported, v: &mut Obj<'_>) {
    if which != Exported::GraphActivity {
        return;
    }
    copy(
        n,
        v,
        &[
            ("app_id", "appId"),
            ("service_principal_id", "servicePrincipalId"),
            ("sign_in_activity_id", "signInActivityId"),
            ("api_version", "apiVersion"),
            ("operation_id", "operationId"),
            ("client_request_id", "clientRequestId"),
            ("client_auth_method", "clientAuthMethod"),
            ("identity_provider", "identityProvider"),
            ("token_issued_at", "tokenIssuedAt"),
            ("roles", "roles"),
            ("scopes", "scopes"),
            ("wids", "wids"),
            ("location", "location"),
            ("device_id", "deviceId"),
            ("session_id", "sessionId"),
            ("duration_ms", "durationMs"),
            ("at_content", "atContent"),
        ],
    );
}
