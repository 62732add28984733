//! What the config decides about one tenant's Event Hubs (`[[tenants.hubs]]`), in the types the
//! reader uses. `config` builds them; nothing here reads a secret until a connection needs it.

use std::path::PathBuf;
use std::time::Duration;

use super::partition::Start;
use crate::auth::Secret;

/// One namespace and the hubs read from it.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// `host:port` of the Kafka endpoint (`<namespace>.servicebus.windows.net:9093`).
    pub bootstrap: String,
    /// TLS (always, except to a loopback broker: a test or a local relay).
    pub tls: bool,
    /// The Event Hubs (topics) to read: one per category (`insights-logs-signinlogs`, …) or
    /// one for all.
    pub hubs: Vec<String>,
    pub auth: HubAuth,
    /// Where a hub no checkpoint knows starts.
    pub start: Start,
    /// A message larger than this is refused (counted, never read as records).
    pub max_message_bytes: usize,
    /// How long the ids of a section only the hub feeds are remembered (duplicates Microsoft's
    /// export sends again within it are dropped).
    pub dedup_window: Duration,
    /// The scope of the tenant's token for [`HubAuth::App`]: the cloud's Event Hubs resource.
    pub token_resource: url::Url,
}

/// How the reader signs in to the namespace.
#[derive(Debug, Clone)]
pub enum HubAuth {
    /// The tenant's own app credential: a token for the Event Hubs resource, sent as SASL
    /// OAUTHBEARER (the app needs the "Azure Event Hubs Data Receiver" role on the namespace).
    App,
    /// A shared-access connection string, sent as SASL PLAIN with the user `$ConnectionString`.
    ConnectionString(ConnectionString),
    /// No authentication: a loopback broker only.
    None,
}

/// Where the connection string is read from, when a connection is made (a rotated file is
/// picked up at the next reconnect).
#[derive(Debug, Clone)]
pub enum ConnectionString {
    Env(String),
    File(PathBuf),
}

impl ConnectionString {
    /// Reads it, checking its shape without ever saying its value.
    pub fn read(&self) -> Result<Secret, String> {
        let value = match self {
            ConnectionString::Env(name) => std::env::var(name).map_err(|_| {
                format!("the environment variable {name} (connection_string_env) is not set: set it to the namespace's connection string (Event Hubs > Shared access policies > a Listen policy > Connection string)")
            })?,
            ConnectionString::File(path) => std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "cannot read {} (connection_string_file): {e}; point it at a file holding the connection string",
                    path.display()
                )
            })?,
        };
        let value = value.trim().to_string();
        let has = |k: &str| {
            value.split(';').any(|p| {
                p.trim()
                    .to_ascii_lowercase()
                    .starts_with(&k.to_ascii_lowercase())
            })
        };
        if !(has("Endpoint=sb://") && has("SharedAccessKeyName=") && has("SharedAccessKey=")) {
            return Err("the connection string is not an Event Hubs one (Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…): copy it from Event Hubs > Shared access policies".into());
        }
        Ok(Secret::new(value))
    }
}

/// The Event Hubs resource of each cloud, whose `.default` scope the app's token asks for.
pub fn token_resource(cloud_graph_host: &str) -> &'static str {
    match cloud_graph_host {
        h if h.ends_with(".us") => "https://eventhubs.azure.us",
        h if h.ends_with(".cn") => "https://eventhubs.azure.cn",
        _ => "https://eventhubs.azure.net",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_string_is_read_checked_and_never_said() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        let value = "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=c2VjcmV0LWtleS12YWx1ZQ==";
        std::fs::write(&good, format!("{value}\n")).unwrap();
        let secret = ConnectionString::File(good).read().unwrap();
        assert_eq!(
            secret.expose(),
            value,
            "a trailing newline is not part of it"
        );
        assert!(!format!("{secret:?}").contains("SharedAccessKey"));

        let bad = dir.path().join("bad");
        std::fs::write(&bad, "SharedAccessKey=c2VjcmV0LWtleS12YWx1ZQ==").unwrap();
        let e = ConnectionString::File(bad).read().unwrap_err();
        assert!(e.contains("Shared access policies"), "{e}");
        assert!(
            !e.contains("c2VjcmV0"),
            "the value is never in the message: {e}"
        );

        let e = ConnectionString::Env("ENTRA_SOURCE_TEST_NO_SUCH_VARIABLE".into())
            .read()
            .unwrap_err();
        assert!(e.contains("ENTRA_SOURCE_TEST_NO_SUCH_VARIABLE"), "{e}");
    }

    #[test]
    fn each_cloud_has_its_event_hubs_token_resource() {
        assert_eq!(
            token_resource("graph.microsoft.com"),
            "https://eventhubs.azure.net"
        );
        assert_eq!(
            token_resource("graph.microsoft.us"),
            "https://eventhubs.azure.us"
        );
        assert_eq!(
            token_resource("microsoftgraph.chinacloudapi.cn"),
            "https://eventhubs.azure.cn"
        );
    }
}
