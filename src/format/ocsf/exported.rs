//! OCSF for the export-only categories (issue 31): a `MicrosoftGraphActivityLogs` request is API
//! Activity (6003), Create / Read / Update / Delete by its HTTP method (Other for the rest), the
//! caller in `actor` (the user, or the app by its id), the request in `api` and `http_request`,
//! the status in `http_response`; AD FS and Microsoft first-party service-principal sign-ins are
//! Authentication (3002, written as every sign-in is); an Azure AD Graph request is API Activity
//! too; the Global Secure Access categories are Network Activity (4001, Other: the export's
//! operation name) with the source address, the record in `unmapped` as always.

use std::borrow::Cow;

use super::{activity, user, Activity, Class, API_ACTIVITY, AUTHENTICATION, NETWORK_ACTIVITY};
use crate::format::json::Obj;
use crate::format::Native;
use crate::kind::Exported;

pub(super) fn classify<'a>(n: &Native<'a>, which: Exported) -> (Class, Activity<'a>) {
    match which {
        Exported::GraphActivity | Exported::AzureAdGraphActivity => {
            let act = match n.s("requestMethod").map(str::to_ascii_uppercase).as_deref() {
                Some("POST") => activity(1, "Create"),
                Some("GET" | "HEAD") => activity(2, "Read"),
                Some("PATCH" | "PUT") => activity(3, "Update"),
                Some("DELETE") => activity(4, "Delete"),
                _ => Activity {
                    id: 99,
                    name: Cow::Borrowed(n.summary("action")),
                },
            };
            (API_ACTIVITY, act)
        }
        Exported::AdfsSignIns | Exported::MicrosoftServicePrincipalSignIns => {
            (AUTHENTICATION, activity(1, "Logon"))
        }
        _ => (
            NETWORK_ACTIVITY,
            Activity {
                id: 99,
                name: Cow::Borrowed(n.summary("action")),
            },
        ),
    }
}

pub(super) fn fields(n: &Native<'_>, m: &mut Obj<'_>, class: &Class) {
    if class.uid != API_ACTIVITY.uid {
        if let Some(ip) = n.ip("ipAddress").or(n.ip("sourceIp")) {
            m.obj("src_endpoint", |e| {
                e.str("ip", ip);
            });
        }
        return;
    }
    let status = n
        .raw("responseStatusCode")
        .and_then(|c| c.parse::<i64>().ok());
    m.obj("actor", |a| {
        match n.s("userId") {
            Some(id) => {
                a.obj("user", |u| user(u, Some(id), None, None));
            }
            None => {
                if let Some(sp) = n.s("servicePrincipalId") {
                    a.obj("user", |u| super::service_principal(u, Some(sp), None));
                }
            }
        }
        a.opt_str("app_uid", n.s("appId"))
            // The sign-in that issued the token (its `uniqueTokenIdentifier`): the join key.
            .obj_if_any("session", |s| {
                s.opt_str("uid", n.s("sessionId"))
                    .opt_str("uid_alt", n.s("signInActivityId"));
            });
        if let Some(idp) = n.s("identityProvider") {
            a.obj("idp", |i| {
                i.str("name", idp);
            });
        }
    });
    m.obj("api", |a| {
        a.str("operation", n.summary("action"))
            .opt_str("version", n.s("apiVersion"))
            .obj("request", |r| {
                r.str("uid", n.s("requestId").unwrap_or(n.summary("id")));
            })
            .obj("service", |s| {
                s.str("name", "Microsoft Graph");
            });
        if let Some(code) = status {
            a.obj("response", |r| {
                r.int("code", code);
            });
        }
    });
    m.obj("http_request", |h| {
        h.opt_str("http_method", n.s("requestMethod"))
            .opt_str("uid", n.s("clientRequestId"))
            .opt_str("user_agent", n.s("userAgent"));
        if let Some(uri) = n.s("requestUri") {
            h.obj("url", |u| {
                u.str("url_string", uri);
                if let Ok(parsed) = url::Url::parse(uri) {
                    u.str("scheme", n.keep(parsed.scheme().to_string()))
                        .opt_str("hostname", parsed.host_str().map(|h| n.keep(h.to_string())))
                        .str("path", n.keep(parsed.path().to_string()))
                        .opt_str(
                            "query_string",
                            parsed.query().map(|q| n.keep(q.to_string())),
                        );
                }
            });
        }
    });
    if let Some(code) = status {
        m.obj("http_response", |r| {
            r.int("code", code).opt_int(
                "length",
                n.raw("responseSizeBytes").and_then(|c| c.parse().ok()),
            );
        });
    }
    m.obj("src_endpoint", |e| {
        e.opt_str("ip", n.ip("ipAddress"));
    });
}
