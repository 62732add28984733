//! `[[tenants.hubs]]`: a tenant's Event Hubs (issue 31), validated into
//! [`crate::hub::HubSettings`]. Nothing is read here: a connection string is read from its
//! variable or file when a connection is made.

use std::time::Duration;

use super::error::{invalid, misplaced, ConfigError};
use super::raw::RawHub;
use crate::hub::partition::Start;
use crate::hub::{ConnectionString, HubAuth, HubSettings};

/// Event Hubs' own limit on a message (Standard and Premium: 1 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 1024 * 1024;
/// How long a hub-only section remembers ids (Microsoft's export re-sends within minutes).
const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(2 * 3600);
/// Event Hubs' Kafka endpoint.
const KAFKA_PORT: u16 = 9093;

pub(crate) fn validate_hubs(
    prefix: &str,
    raw: &[RawHub],
    graph_host: &str,
) -> Result<Vec<HubSettings>, ConfigError> {
    let mut out = Vec::new();
    for (i, h) in raw.iter().enumerate() {
        let key = |k: &str| format!("{prefix}.hubs[{i}].{k}");
        let namespace = h
            .namespace
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ConfigError::Missing {
                key: key("namespace"),
                fix: "set namespace = \"<namespace>.servicebus.windows.net\" (Event Hubs namespace > Overview > Host name)".into(),
            })?;
        if namespace.contains("://") || namespace.contains('/') {
            return Err(invalid(
                key("namespace"),
                format!("\"{namespace}\""),
                "write the host name only, e.g. \"contoso-logs.servicebus.windows.net\" (port 9093 is implied)",
            ));
        }
        let (host, port) = match namespace.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
                let port: u16 = p.parse().map_err(|_| {
                    invalid(
                        key("namespace"),
                        format!("\"{namespace}\""),
                        "the port is not a number",
                    )
                })?;
                (h.to_string(), port)
            }
            _ => (namespace.to_string(), KAFKA_PORT),
        };
        let loopback = is_loopback_host(&host);
        let hubs = h.hubs.clone().unwrap_or_default();
        if hubs.is_empty() || hubs.iter().any(|n| n.trim().is_empty()) {
            return Err(ConfigError::Missing {
                key: key("hubs"),
                fix: "list the hubs to read, e.g. hubs = [\"insights-logs-signinlogs\", \"insights-logs-auditlogs\"] (a diagnostic setting with no hub named makes one per category)".into(),
            });
        }
        let mut sorted = hubs.clone();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(
                key("hubs"),
                format!("\"{}\" twice", w[0]),
                "list each hub once (reading one twice would emit its records twice)",
            ));
        }
        let auth = match (
            &h.connection_string_env,
            &h.connection_string_file,
            h.authentication.as_deref(),
        ) {
            (Some(_), Some(_), _) => {
                return Err(misplaced(
                    key("connection_string_env"),
                    "so is connection_string_file: set one of them",
                ))
            }
            (Some(env), None, None | Some("connection_string")) => {
                HubAuth::ConnectionString(ConnectionString::Env(env.clone()))
            }
            (None, Some(file), None | Some("connection_string")) => {
                HubAuth::ConnectionString(ConnectionString::File(file.clone()))
            }
            (None, None, Some("connection_string")) => {
                return Err(ConfigError::Missing {
                    key: key("connection_string_env"),
                    fix: "authentication = \"connection_string\" needs connection_string_env or connection_string_file".into(),
                })
            }
            (None, None, None | Some("app")) => HubAuth::App,
            (None, None, Some("none")) if loopback => HubAuth::None,
            (None, None, Some("none")) => {
                return Err(invalid(
                    key("authentication"),
                    "\"none\"",
                    "a hub without authentication is only accepted on a loopback broker (127.0.0.1, ::1, localhost); use \"app\" (the tenant's credential) or a connection string",
                ))
            }
            (_, _, Some("app" | "none")) => {
                return Err(misplaced(
                    key("authentication"),
                    "a connection string is set too: remove one",
                ))
            }
            (_, _, Some(other)) => {
                return Err(invalid(
                    key("authentication"),
                    format!("\"{other}\""),
                    "use \"app\" (default: the tenant's app credential as an OAuth token), \"connection_string\" or, on a loopback broker, \"none\"",
                ))
            }
        };
        let start = match h.start.as_deref().map(str::trim) {
            None | Some("earliest") => Start::Earliest,
            Some("latest") => Start::Latest,
            Some(t) => match crate::event::parse_time(t) {
                Some(t) => Start::At(t),
                None => {
                    return Err(invalid(
                        key("start"),
                        format!("\"{t}\""),
                        "use \"earliest\" (default: the oldest message the hub keeps), \"latest\" or a time such as \"2026-12-01T00:00:00Z\"",
                    ))
                }
            },
        };
        let max = h.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
        if !(1024..=16 * 1024 * 1024).contains(&max) {
            return Err(invalid(
                key("max_message_bytes"),
                max.to_string(),
                "give 1024 to 16777216 (Event Hubs' messages are at most 1 MiB)",
            ));
        }
        let dedup_window = match &h.dedup_window {
            None => DEFAULT_DEDUP_WINDOW,
            Some(text) => crate::duration::parse_duration(text)
                .ok()
                .filter(|d| (Duration::from_secs(60)..=Duration::from_secs(7 * 86_400)).contains(d))
                .ok_or_else(|| {
                    invalid(
                        key("dedup_window"),
                        format!("\"{text}\""),
                        "give a duration from \"1m\" to \"7d\" (default \"2h\")",
                    )
                })?,
        };
        let token_resource = url::Url::parse(crate::hub::settings::token_resource(graph_host))
            .map_err(|e| invalid(key("namespace"), namespace.to_string(), e.to_string()))?;
        out.push(HubSettings {
            bootstrap: format!("{host}:{port}"),
            tls: !loopback,
            hubs,
            auth,
            start,
            max_message_bytes: max as usize,
            dedup_window,
            token_resource,
        });
    }
    Ok(out)
}

/// A loopback host, as a namespace names it.
fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(text: &str) -> Result<Vec<HubSettings>, ConfigError> {
        #[derive(serde::Deserialize)]
        struct T {
            hubs: Vec<RawHub>,
        }
        let t: T = toml::from_str(text).unwrap();
        validate_hubs("tenant", &t.hubs, "graph.microsoft.com")
    }

    #[test]
    fn a_namespace_is_tls_on_9093_with_the_apps_token_and_starts_at_the_oldest_message() {
        let h = hub("[[hubs]]\nnamespace = \"contoso.servicebus.windows.net\"\nhubs = [\"insights-logs-signinlogs\"]\n").unwrap();
        assert_eq!(h[0].bootstrap, "contoso.servicebus.windows.net:9093");
        assert!(h[0].tls);
        assert!(matches!(h[0].auth, HubAuth::App));
        assert_eq!(h[0].start, Start::Earliest);
        assert_eq!(h[0].token_resource.as_str(), "https://eventhubs.azure.net/");
    }

    #[test]
    fn no_authentication_and_plain_text_only_on_loopback() {
        let h = hub("[[hubs]]\nnamespace = \"127.0.0.1:19092\"\nhubs = [\"h\"]\nauthentication = \"none\"\n").unwrap();
        assert!(!h[0].tls && matches!(h[0].auth, HubAuth::None));
        let e = hub("[[hubs]]\nnamespace = \"contoso.servicebus.windows.net\"\nhubs = [\"h\"]\nauthentication = \"none\"\n").unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
    }

    #[test]
    fn mistakes_name_the_key_and_the_fix() {
        for (text, needle) in [
            ("[[hubs]]\nhubs = [\"h\"]\n", "namespace"),
            ("[[hubs]]\nnamespace = \"n.servicebus.windows.net\"\n", "hubs"),
            ("[[hubs]]\nnamespace = \"n.servicebus.windows.net\"\nhubs = [\"a\", \"a\"]\n", "twice"),
            ("[[hubs]]\nnamespace = \"sb://n.servicebus.windows.net\"\nhubs = [\"a\"]\n", "host name only"),
            ("[[hubs]]\nnamespace = \"n.servicebus.windows.net\"\nhubs = [\"a\"]\nstart = \"yesterday\"\n", "earliest"),
            ("[[hubs]]\nnamespace = \"n.servicebus.windows.net\"\nhubs = [\"a\"]\nconnection_string_env = \"A\"\nconnection_string_file = \"/f\"\n", "set one"),
        ] {
            let e = hub(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
