//! `[tenant]` / `[[tenants]]`: the tenant, its cloud and hosts, and the settings a run uses.

use url::Url;

use super::credential::validate_credential;
use super::error::{invalid, ConfigError};
use super::raw::RawTenant;
use super::url::validate_url;
use crate::auth::{Credential, CredentialSource};
use crate::streams::settings::StreamSettings;

/// One tenant, ready to poll.
#[derive(Debug)]
pub struct TenantSettings {
    pub id: String,
    pub client_id: String,
    /// The app registration it is read with (`[[apps]]`, or its own client id) and its budget.
    pub app: super::apps::App,
    /// Where the credential comes from; [`crate::config::Config::resolve`] reads it.
    pub credential: CredentialSource,
    pub cloud: Cloud,
    pub login_url: Url,
    pub graph_url: Url,
    pub streams: Vec<StreamSettings>,
    /// Its Event Hubs (`[[tenants.hubs]]`).
    pub hubs: Vec<std::sync::Arc<crate::hub::HubSettings>>,
}

impl TenantSettings {
    /// App-only tokens for this tenant, with its resolved credential.
    pub fn token_provider(
        &self,
        http: &reqwest::Client,
        credential: Credential,
    ) -> crate::auth::TokenProvider {
        crate::auth::TokenProvider::new(
            http.clone(),
            &self.login_url,
            &self.graph_url,
            &self.id,
            &self.client_id,
            credential,
        )
    }
}

/// The Microsoft cloud a tenant lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    Global,
    UsGov,
    UsGovDod,
    China,
}

impl Cloud {
    fn parse(s: &str) -> Option<Cloud> {
        Some(match s {
            "global" => Cloud::Global,
            "usgov" => Cloud::UsGov,
            "usgov-dod" => Cloud::UsGovDod,
            "china" => Cloud::China,
            _ => return None,
        })
    }

    /// The login host of this cloud.
    pub fn login_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov | Cloud::UsGovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The Graph root of this cloud.
    pub fn graph_url(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }
}

pub(crate) fn validate_tenant(
    prefix: &str,
    t: RawTenant,
    streams: Vec<StreamSettings>,
    app_of: &dyn Fn(&str) -> super::apps::App,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<TenantSettings, ConfigError> {
    let key = |k: &str| format!("{prefix}.{k}");
    // AKS workload identity injects these; explicit keys win.
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let id = t
        .id
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| env("AZURE_TENANT_ID"))
        .ok_or_else(|| ConfigError::Missing {
            key: key("id"),
            fix: format!(
                "set id = \"<tenant GUID or domain>\" in [{prefix}] (Entra admin center > Overview > Tenant ID)"
            ),
        })?;
    if id.contains('/') || id.contains(char::is_whitespace) {
        return Err(invalid(
            key("id"),
            format!("\"{id}\""),
            "write the tenant GUID or a verified domain such as contoso.onmicrosoft.com",
        ));
    }
    if ["common", "organizations", "consumers"].contains(&id.to_lowercase().as_str()) {
        return Err(invalid(
            key("id"),
            format!("\"{id}\""),
            "app-only tokens need a specific tenant: write the tenant GUID or a verified domain",
        ));
    }
    let client_id = t
        .client_id
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| env("AZURE_CLIENT_ID"));
    let credential = validate_credential(prefix, &t, &env)?;
    let client_id = match (&credential, client_id) {
        (_, Some(c)) => c,
        // A system-assigned managed identity needs no client id.
        (c, None) if c.is_managed_identity() => String::new(),
        (_, None) => {
            return Err(ConfigError::Missing {
                key: key("client_id"),
                fix: format!("set client_id = \"<application (client) id>\" in [{prefix}]"),
            })
        }
    };

    let cloud_name = t.cloud.as_deref().unwrap_or("global");
    let cloud = Cloud::parse(cloud_name).ok_or_else(|| {
        invalid(
            key("cloud"),
            format!("\"{cloud_name}\""),
            "use \"global\", \"usgov\", \"usgov-dod\" or \"china\"",
        )
    })?;
    if cloud == Cloud::China {
        if let Some(s) = streams
            .iter()
            .find(|s| s.kind.family() == crate::kind::Family::IdentityProtection)
        {
            return Err(invalid(
                format!("streams.{}", s.kind.name()),
                "enabled",
                "identity protection is not offered in the china cloud (21Vianet); disable this stream",
            ));
        }
    }
    if cloud != Cloud::Global {
        if let Some(s) = streams.iter().find(|s| s.kind.beta_only()) {
            return Err(invalid(
                format!("streams.{}", s.kind.name()),
                "enabled",
                "agent identities (Microsoft Entra Agent ID) are a beta API of the global cloud only; disable this stream for a national-cloud tenant",
            ));
        }
    }
    let login_url = validate_url(
        &key("login_url"),
        t.login_url.as_deref().unwrap_or(cloud.login_url()),
    )?;
    let graph_url = validate_url(
        &key("graph_url"),
        t.graph_url.as_deref().unwrap_or(cloud.graph_url()),
    )?;

    Ok(TenantSettings {
        id,
        app: app_of(&client_id),
        client_id,
        credential,
        cloud,
        login_url,
        graph_url,
        streams,
        hubs: Vec::new(),
    })
}
