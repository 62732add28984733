//! The v2.0 token endpoint (client secrets, certificate and federated assertions, with Entra's
//! AADSTS errors) and the managed identity endpoints (IMDS and App Service).

use super::*;

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

pub(super) async fn token(
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
    if f("client_id") != app.state().client_id {
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
        let checked = match super::jwt::header(assertion) {
            Some(h) if h.get("x5t#S256").is_some() || h.get("x5t").is_some() => {
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
    header: &Value,
    audience: &str,
) -> Result<(), Reply> {
    let refuse =
        |code: u64, text: &str| aad_error(StatusCode::UNAUTHORIZED, "invalid_client", code, text);
    let (s256, s1) = (header["x5t#S256"].as_str(), header["x5t"].as_str());
    let cert = st
        .certificates
        .iter()
        .find(|c| s256 == Some(c.sha256.as_str()) || s1 == Some(c.sha1.as_str()));
    let Some(cert) = cert else {
        let thumb = s256.or(s1).unwrap_or_default();
        return Err(refuse(700027, &format!("Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '{thumb}']")));
    };
    match super::jwt::verify(assertion, &cert.key, audience, CLIENT_ID) {
        Ok(_) => Ok(()),
        Err(super::jwt::Refusal::Signature(m)) => Err(refuse(700027, &m)),
        Err(super::jwt::Refusal::Claims(m)) => Err(refuse(50013, &m)),
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
    let matches = claims["iss"] == crate::FEDERATED_ISSUER
        && claims["sub"] == crate::FEDERATED_SUBJECT
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

pub(super) async fn managed_identity(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let app_service = uri.path() == crate::APP_SERVICE_IDENTITY_PATH;
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
                == Some(crate::IDENTITY_HEADER)
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
            .is_some_and(|c| c != crate::MANAGED_IDENTITY_CLIENT_ID)
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
