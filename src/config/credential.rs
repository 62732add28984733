//! The one credential a tenant names: a client secret (env, file or inline), a certificate, a
//! federated token file or a managed identity, as a [`CredentialSource`]: nothing is read here
//! (the environment only through the lookup the caller hands in).

use std::path::PathBuf;

use url::Url;

use super::error::{invalid, misplaced, ConfigError};
use super::raw::RawTenant;
use super::url::is_loopback;
use crate::auth::certificate::Signature;
use crate::auth::{CredentialSource, Secret};

/// Exactly one credential: a client secret (env, file or inline), a certificate, a federated
/// token file, or a managed identity.
pub(crate) fn validate_credential(
    prefix: &str,
    t: &RawTenant,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CredentialSource, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let pfx = t.certificate_file.as_ref().is_some_and(|f| {
        let ext = f
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        ext == "pfx" || ext == "p12"
    });
    if t.certificate_password_env.is_some() && !pfx {
        return Err(misplaced(
            key("certificate_password_env"),
            "it applies only to a .pfx or .p12 certificate_file: remove it, or point certificate_file at the PFX",
        ));
    }
    if t.certificate_signature.is_some() && t.certificate_file.is_none() {
        return Err(misplaced(
            key("certificate_signature"),
            "it applies only with certificate_file: remove it, or add certificate_file",
        ));
    }
    let managed = t.managed_identity.unwrap_or(false);
    if t.managed_identity_endpoint.is_some() && !managed {
        return Err(misplaced(
            key("managed_identity_endpoint"),
            "it applies only with managed_identity = true: remove it, or set managed_identity = true",
        ));
    }
    let chosen = [
        ("client_secret_env", t.client_secret_env.is_some()),
        ("client_secret_file", t.client_secret_file.is_some()),
        ("client_secret", t.client_secret.is_some()),
        ("federated_token_file", t.federated_token_file.is_some()),
        ("managed_identity", managed),
        ("certificate_file", t.certificate_file.is_some()),
    ];
    let set: Vec<&str> = chosen.iter().filter(|(_, s)| *s).map(|(k, _)| *k).collect();
    if set.len() > 1 {
        return Err(misplaced(
            key(set[0]),
            format!(
                "so is {}: set exactly one credential of client_secret_env, client_secret_file, client_secret, certificate_file, federated_token_file or managed_identity = true",
                set[1..].join(" and ")
            ),
        ));
    }
    if managed {
        return managed_identity(&key, t, env);
    }
    if let Some(file) = &t.certificate_file {
        let signature = match t
            .certificate_signature
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("ps256") => Signature::Ps256,
            Some("rs256") => Signature::Rs256,
            Some(other) => {
                return Err(invalid(
                    key("certificate_signature"),
                    format!("\"{other}\""),
                    "use \"ps256\" (the default) or \"rs256\"",
                ))
            }
        };
        return Ok(CredentialSource::Certificate {
            key: key("certificate_file"),
            path: file.clone(),
            signature,
            pfx,
            password_env: t
                .certificate_password_env
                .clone()
                .filter(|v| !v.is_empty())
                .map(|v| (key("certificate_password_env"), v)),
        });
    }
    if let Some(file) = t.federated_token_file.clone().or_else(|| {
        set.is_empty()
            .then(|| env("AZURE_FEDERATED_TOKEN_FILE"))
            .flatten()
            .map(PathBuf::from)
    }) {
        return Ok(CredentialSource::FederatedToken { file });
    }
    if let Some(var) = &t.client_secret_env {
        Ok(CredentialSource::SecretEnv {
            key: key("client_secret_env"),
            var: var.clone(),
        })
    } else if let Some(path) = &t.client_secret_file {
        Ok(CredentialSource::SecretFile {
            key: key("client_secret_file"),
            path: path.clone(),
        })
    } else if let Some(inline) = &t.client_secret {
        Ok(CredentialSource::SecretInline {
            key: key("client_secret"),
            secret: Secret::new(inline.clone()),
        })
    } else {
        Err(ConfigError::Missing {
            key: key("client_secret_env"),
            fix: format!(
                "set client_secret_env = \"ENTRA_CLIENT_SECRET\" (or client_secret_file, federated_token_file, managed_identity = true) in [{prefix}]"
            ),
        })
    }
}

/// Azure's identity endpoint: `managed_identity_endpoint`, else App Service's
/// `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, else the VM's IMDS. The App Service protocol is used
/// whenever `IDENTITY_HEADER` is set.
fn managed_identity(
    key: &dyn Fn(&str) -> String,
    t: &RawTenant,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CredentialSource, ConfigError> {
    let header = env("IDENTITY_HEADER").map(Secret::new);
    let (name, raw) = match (&t.managed_identity_endpoint, env("IDENTITY_ENDPOINT")) {
        (Some(e), _) => (key("managed_identity_endpoint"), e.clone()),
        (None, Some(e)) if header.is_some() => ("IDENTITY_ENDPOINT".to_string(), e),
        _ => (key("managed_identity_endpoint"), IMDS_TOKEN_URL.to_string()),
    };
    let url = Url::parse(&raw)
        .map_err(|e| invalid(&name, format!("\"{raw}\""), format!("not a URL ({e})")))?;
    let imds = url.host_str() == Some(IMDS_HOST);
    if url.scheme() == "http" && !imds && !is_loopback(&url) {
        return Err(invalid(
            &name,
            format!("\"{raw}\""),
            "plain http:// is refused except to loopback and the Azure IMDS address 169.254.169.254",
        ));
    }
    Ok(CredentialSource::ManagedIdentity {
        endpoint: url,
        app_service_header: header,
    })
}

/// Azure Instance Metadata Service: plain HTTP by design, link-local.
pub const IMDS_HOST: &str = "169.254.169.254";
pub const IMDS_TOKEN_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
