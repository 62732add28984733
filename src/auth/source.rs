//! Where a tenant's credential comes from, as the config names it, and the one step that reads
//! it: a secret from the environment or a file, a certificate from its file (with a PFX
//! password from the environment). Validation builds a [`CredentialSource`] and reads nothing;
//! `run` and `check` call [`CredentialSource::resolve`] right after loading, before any network
//! call, so a missing secret is still a config error (exit 2). The `state` commands never
//! resolve, so they work in a shell without the service's secret.

use std::path::PathBuf;

use url::Url;

use super::certificate::{ClientCertificate, Signature};
use super::{Credential, Secret};

/// A credential named by the config, not read yet.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// `client_secret_env`: the variable holding the secret.
    SecretEnv { key: String, var: String },
    /// `client_secret_file`: read now and again when Entra says the secret is wrong (rotation).
    SecretFile { key: String, path: PathBuf },
    /// `client_secret`, written in the config (accepted with a warning at resolution).
    SecretInline { key: String, secret: Secret },
    /// `certificate_file`: PEM, or PFX/PKCS#12 with its password in `password_env`.
    Certificate {
        key: String,
        path: PathBuf,
        signature: Signature,
        pfx: bool,
        /// (`certificate_password_env`'s full key, the variable).
        password_env: Option<(String, String)>,
    },
    /// Workload identity federation: read for every token request, not here.
    FederatedToken { file: PathBuf },
    /// An Azure managed identity endpoint (nothing to read).
    ManagedIdentity {
        endpoint: Url,
        app_service_header: Option<Secret>,
    },
}

/// A credential the config names that cannot be read: the key, what it holds, and the fix.
#[derive(Debug, thiserror::Error)]
#[error("config: `{key}` = {value} is invalid: {reason}")]
pub struct CredentialError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

fn error(key: &str, value: impl ToString, reason: impl Into<String>) -> CredentialError {
    CredentialError {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl CredentialSource {
    /// Reads what the source names: the one place a secret or certificate is read at start-up.
    pub fn resolve(&self) -> Result<Credential, CredentialError> {
        match self {
            CredentialSource::SecretEnv { key, var } => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Credential::Secret {
                    secret: Secret::new(v.trim().to_string()),
                    file: None,
                }),
                _ => Err(error(
                    key,
                    format!("\"{var}\""),
                    format!("the environment variable {var} is not set or empty; export it before starting entra-source"),
                )),
            },
            CredentialSource::SecretFile { key, path } => match std::fs::read_to_string(path) {
                Ok(v) if !v.trim().is_empty() => Ok(Credential::Secret {
                    secret: Secret::new(v.trim().to_string()),
                    file: Some(path.clone()),
                }),
                Ok(_) => Err(error(
                    key,
                    path.display(),
                    "the file is empty; write the client secret into it",
                )),
                Err(e) => Err(error(
                    key,
                    path.display(),
                    format!("cannot read it ({e}); check the path and its permissions"),
                )),
            },
            CredentialSource::SecretInline { key, secret } => {
                tracing::warn!(
                    "{key} is written inline in the config file; move it to client_secret_env or client_secret_file"
                );
                Ok(Credential::Secret {
                    secret: secret.clone(),
                    file: None,
                })
            }
            CredentialSource::Certificate {
                key,
                path,
                signature,
                pfx,
                password_env,
            } => {
                let text = std::fs::read(path).map_err(|e| {
                    error(
                        key,
                        path.display(),
                        format!("cannot read it ({e}); check the path and its permissions"),
                    )
                })?;
                let cert = if *pfx {
                    let password = match password_env {
                        None => String::new(),
                        Some((pkey, var)) => std::env::var(var).map_err(|_| {
                            error(
                                pkey,
                                format!("\"{var}\""),
                                format!("the environment variable {var} is not set; export the PFX password in it"),
                            )
                        })?,
                    };
                    ClientCertificate::from_pfx(&text, &password, *signature).map_err(|reason| {
                        error(
                            key,
                            path.display(),
                            format!("{reason}; check certificate_password_env, or export the PFX as PEM"),
                        )
                    })?
                } else {
                    ClientCertificate::from_pem(&text, *signature).map_err(|reason| {
                        error(
                            key,
                            path.display(),
                            format!("{reason}; give a PEM file with the certificate and its RSA private key"),
                        )
                    })?
                };
                Ok(Credential::Certificate(std::sync::Arc::new(cert)))
            }
            CredentialSource::FederatedToken { file } => {
                Ok(Credential::FederatedToken { file: file.clone() })
            }
            CredentialSource::ManagedIdentity {
                endpoint,
                app_service_header,
            } => Ok(Credential::ManagedIdentity {
                endpoint: endpoint.clone(),
                app_service_header: app_service_header.clone(),
            }),
        }
    }

    /// A managed identity needs no client id (a system-assigned one).
    pub fn is_managed_identity(&self) -> bool {
        matches!(self, CredentialSource::ManagedIdentity { .. })
    }
}
