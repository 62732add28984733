//! Graph's error bodies and what entra-source makes of each status (`graph/README.md` §4, §8).

use serde::Deserialize;
use serde_json::Value;

use crate::auth::AuthError;

/// `{"error":{"code":…,"message":…,"innerError":{"request-id":…,"date":…}}}`.
#[derive(Debug, Clone, Default)]
pub struct GraphErrorBody {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
    pub date: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    error: Option<Value>,
}

impl GraphErrorBody {
    /// Reads what there is; a body that is not Graph's shape gives an empty code.
    pub fn parse(body: &[u8]) -> GraphErrorBody {
        let Some(err) = serde_json::from_slice::<Envelope>(body)
            .ok()
            .and_then(|e| e.error)
        else {
            return GraphErrorBody {
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                ..Default::default()
            };
        };
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let inner = err.get("innerError").or_else(|| err.get("innererror"));
        GraphErrorBody {
            code: s(err.get("code")).unwrap_or_default(),
            message: s(err.get("message")).unwrap_or_default(),
            request_id: s(inner.and_then(|i| i.get("request-id"))),
            client_request_id: s(inner.and_then(|i| i.get("client-request-id"))),
            date: s(inner.and_then(|i| i.get("date"))),
        }
    }

    /// `code: message (request-id …, date …)` for logs.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}: {}",
            if self.code.is_empty() {
                "(no code)"
            } else {
                &self.code
            },
            if self.message.is_empty() {
                "(no message)"
            } else {
                &self.message
            }
        );
        if let Some(id) = &self.request_id {
            s.push_str(&format!(" (request-id {id}"));
            if let Some(d) = &self.date {
                s.push_str(&format!(", date {d}"));
            }
            s.push(')');
        }
        s
    }
}

/// Which kind of 403 Graph answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbiddenKind {
    /// The tenant lacks the licence the resource needs.
    Licence,
    /// The app lacks the permission, or its admin consent.
    Permission,
    /// Conditional access blocked the app.
    ConditionalAccess,
    Other,
}

impl ForbiddenKind {
    /// Classifies by `error.code` first, then by message substrings.
    pub fn classify(body: &GraphErrorBody) -> ForbiddenKind {
        let msg = body.message.to_ascii_lowercase();
        match body.code.as_str() {
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant" => ForbiddenKind::Licence,
            "Authorization_RequestDenied" => ForbiddenKind::Permission,
            _ if msg.contains("insufficient_claims") => ForbiddenKind::ConditionalAccess,
            _ if msg.contains("premium license") || msg.contains("not licensed") => {
                ForbiddenKind::Licence
            }
            _ if msg.contains("insufficient privileges") || msg.contains("permission") => {
                ForbiddenKind::Permission
            }
            _ => ForbiddenKind::Other,
        }
    }
}

/// A request that did not yield a page.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("Graph refused the query (HTTP 400 {}) for {url}", body.describe())]
    BadRequest {
        url: String,
        body: Box<GraphErrorBody>,
    },
    #[error("Graph answered 401 twice, with a fresh token ({}); check that the app's token is for this Graph cloud (`cloud`, graph_url)", body.describe())]
    Unauthorized { body: Box<GraphErrorBody> },
    #[error("Graph answered 403 ({kind:?}: {}) for {url}", body.describe())]
    Forbidden {
        url: String,
        kind: ForbiddenKind,
        body: Box<GraphErrorBody>,
    },
    #[error("Graph answered 404 ({}) for {url}; check `cloud`, graph_url and the API version", body.describe())]
    NotFound {
        url: String,
        body: Box<GraphErrorBody>,
    },
    #[error("Graph answered HTTP {status} ({}) for {url}", body.describe())]
    Status {
        url: String,
        status: u16,
        body: Box<GraphErrorBody>,
    },
    #[error("gave up on {url} after {attempts} attempts: {last}; the cursor stays put and the next poll resumes there")]
    RetriesExhausted {
        url: String,
        attempts: u32,
        last: String,
    },
    #[error("the page from {url} is malformed: {reason}; nothing from it was emitted, the cursor stays put")]
    MalformedPage { url: String, reason: String },
    #[error("refusing to follow @odata.nextLink {link}: it does not point at the configured graph_url {base}, and the bearer token must not leave Graph")]
    ForeignNextLink { link: String, base: String },
    #[error("{0}")]
    Tls(String),
    #[error("stopped by shutdown")]
    Shutdown,
}

impl GraphError {
    /// Whether the next poll may succeed without a change of configuration.
    pub fn is_transient(&self) -> bool {
        match self {
            GraphError::Auth(a) => a.retry_next_poll(),
            GraphError::RetriesExhausted { .. } | GraphError::MalformedPage { .. } => true,
            GraphError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
