//! `[[apps]]`: app registrations, each with its own credential and its own share of Graph's
//! application-wide reports budget (122 requests per 10 s per app across all its tenants).
//! Tenants name one with `app = "<name>"`. Tenants that carry their own credential belong to the
//! app of their `client_id`: one app registration has one budget however it is written.

use std::collections::BTreeMap;

use super::credential::validate_credential;
use super::error::{invalid, misplaced, ConfigError};
use super::raw::{RawApp, RawTenant};
use crate::auth::CredentialSource;

/// The app registration a tenant is read with, and its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The `[[apps]]` name, or the client id of a tenant that names its credential itself.
    pub name: String,
    /// Requests per 10 s to the audit and sign-in logs across all of this app's tenants.
    pub reports_per_10s: u32,
}

/// The named apps, validated, by client id (lowercased).
pub(super) struct Apps {
    by_name: BTreeMap<String, (RawApp, CredentialSource)>,
    by_client: BTreeMap<String, App>,
}

impl Apps {
    /// Checks each `[[apps]]` entry: a name, a client id, exactly one credential, a budget.
    pub(super) fn validate(
        raw: Vec<RawApp>,
        default_budget: u32,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Apps, ConfigError> {
        let mut by_name = BTreeMap::new();
        let mut by_client: BTreeMap<String, App> = BTreeMap::new();
        for (i, a) in raw.into_iter().enumerate() {
            let prefix = format!("apps[{i}]");
            let key = |k: &str| format!("{prefix}.{k}");
            let name = a
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| ConfigError::Missing {
                    key: key("name"),
                    fix: format!("give [[apps]] entry {i} a name = \"...\" that tenants write as app = \"...\""),
                })?;
            if by_name.contains_key(&name) {
                return Err(invalid(
                    key("name"),
                    format!("\"{name}\""),
                    "two [[apps]] entries have this name; give each its own",
                ));
            }
            let client_id = a
                .client_id
                .clone()
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| ConfigError::Missing {
                    key: key("client_id"),
                    fix: format!(
                        "set client_id = \"<application (client) id>\" in [[apps]] \"{name}\""
                    ),
                })?;
            let credential = validate_credential(&prefix, &as_tenant(&a), env)?;
            let reports_per_10s = a.reports_requests_per_10s.unwrap_or(default_budget);
            if reports_per_10s == 0 {
                return Err(invalid(
                    key("reports_requests_per_10s"),
                    0,
                    "it must be at least 1 (Graph allows 122 per app)",
                ));
            }
            if let Some(other) = by_client.get(&client_id.to_ascii_lowercase()) {
                return Err(invalid(
                    key("client_id"),
                    &client_id,
                    format!("apps \"{}\" and \"{name}\" are the same app registration, which has one budget; list it once and point both sets of tenants at it", other.name),
                ));
            }
            by_client.insert(
                client_id.to_ascii_lowercase(),
                App {
                    name: name.clone(),
                    reports_per_10s,
                },
            );
            by_name.insert(name, (a, credential));
        }
        Ok(Apps { by_name, by_client })
    }

    /// A tenant that names an app takes its client id and credential (and sets neither).
    pub(super) fn fill(&self, prefix: &str, t: &mut RawTenant) -> Result<(), ConfigError> {
        let Some(name) = t.app.clone() else {
            return Ok(());
        };
        let Some((app, _)) = self.by_name.get(&name) else {
            let names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
            return Err(invalid(
                format!("{prefix}.app"),
                format!("\"{name}\""),
                if names.is_empty() {
                    "no [[apps]] entry is defined; add one with this name, client_id and a credential".to_string()
                } else {
                    format!(
                        "no [[apps]] entry has this name; use one of {}",
                        names.join(", ")
                    )
                },
            ));
        };
        let own = [
            ("client_id", t.client_id.is_some()),
            ("client_secret_env", t.client_secret_env.is_some()),
            ("client_secret_file", t.client_secret_file.is_some()),
            ("client_secret", t.client_secret.is_some()),
            ("certificate_file", t.certificate_file.is_some()),
            (
                "certificate_password_env",
                t.certificate_password_env.is_some(),
            ),
            ("certificate_signature", t.certificate_signature.is_some()),
            ("federated_token_file", t.federated_token_file.is_some()),
            ("managed_identity", t.managed_identity.is_some()),
        ];
        if let Some((k, _)) = own.iter().find(|(_, set)| *set) {
            return Err(misplaced(
                format!("{prefix}.{k}"),
                format!("the tenant is read with app \"{name}\", whose [[apps]] entry holds the client id and credential: remove {k} here"),
            ));
        }
        copy_credential(app, t);
        Ok(())
    }

    /// The credential of the app a tenant names, as validated under `apps[i]` (so errors
    /// reading it name the key where it is written).
    pub(super) fn credential(&self, t: &RawTenant) -> Option<CredentialSource> {
        let name = t.app.as_ref()?;
        self.by_name.get(name).map(|(_, c)| c.clone())
    }

    /// The app a validated tenant's client id belongs to: a named one, or its own client id
    /// with the `[throttle]` budget.
    pub(super) fn of(&self, client_id: &str, default_budget: u32) -> App {
        self.by_client
            .get(&client_id.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| App {
                name: if client_id.is_empty() {
                    "managed identity".to_string()
                } else {
                    client_id.to_string()
                },
                reports_per_10s: default_budget,
            })
    }
}

/// An app's credential keys in the shape [`validate_credential`] reads.
fn as_tenant(a: &RawApp) -> RawTenant {
    let mut t = RawTenant::default();
    copy_credential(a, &mut t);
    t
}

/// The one place an app's client id and credential keys become a tenant's (`[[apps]]` and
/// `[tenant]` spell the same keys; `every_app_credential_key_is_a_tenant_key_copied_and_checked`
/// holds the lists equal).
fn copy_credential(a: &RawApp, t: &mut RawTenant) {
    t.client_id = a.client_id.clone();
    t.client_secret_env = a.client_secret_env.clone();
    t.client_secret_file = a.client_secret_file.clone();
    t.client_secret = a.client_secret.clone();
    t.certificate_file = a.certificate_file.clone();
    t.certificate_password_env = a.certificate_password_env.clone();
    t.certificate_signature = a.certificate_signature.clone();
    t.federated_token_file = a.federated_token_file.clone();
}

#[cfg(test)]
mod tests {
    /// The fields of `struct name` in raw.rs.
    fn fields(raw: &str, name: &str) -> Vec<String> {
        let body = &raw[raw.find(&format!("pub struct {name} {{")).unwrap()..];
        let body = &body[..body.find("\n}").unwrap()];
        body.lines()
            .skip(1)
            .filter_map(|l| l.trim().strip_prefix("pub ")?.split(':').next())
            .map(str::to_string)
            .collect()
    }

    /// `[[apps]]` and `[tenant]` spell the credential keys twice (serde's `flatten` does not
    /// work with `deny_unknown_fields`): every app key but its own two is a tenant key, copied
    /// to the tenant, and refused on a tenant that names an app.
    #[test]
    fn every_app_credential_key_is_a_tenant_key_copied_and_checked() {
        let raw = include_str!("raw.rs");
        let apps = include_str!("apps.rs");
        let tenant = fields(raw, "RawTenant");
        let copy = &apps[apps.find("fn copy_credential").unwrap()..];
        let copy = &copy[..copy.find("\n}").unwrap()];
        let own = &apps[apps.find("let own = [").unwrap()..];
        let own: String = own[..own.find("];").unwrap()]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let keys: Vec<String> = fields(raw, "RawApp")
            .into_iter()
            .filter(|k| k != "name" && k != "reports_requests_per_10s")
            .collect();
        assert!(keys.len() >= 8, "{keys:?}");
        for k in &keys {
            assert!(tenant.contains(k), "[[apps]] {k} is not a [tenant] key");
            assert!(
                copy.contains(&format!("t.{k} = a.{k}.clone();")),
                "{k} is not copied"
            );
            assert!(
                own.contains(&format!("(\"{k}\",t.{k}.is_some()")),
                "{k} is not refused beside app"
            );
        }
    }

    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn load(text: &str) -> Result<Config, ConfigError> {
        let path = Path::new("/etc/entra-source/config.toml");
        Config::validate(path, super::super::raw::parse_raw(path, text)?, &|_| None)
    }

    const APPS: &str = r#"
[[apps]]
name = "north"
client_id = "11111111-1111-4111-8111-111111111111"
client_secret_env = "NORTH_SECRET"
reports_requests_per_10s = 60

[[apps]]
name = "south"
client_id = "22222222-2222-4222-8222-222222222222"
certificate_file = "/etc/entra-source/south.pem"

[streams.directory_audits]
"#;

    fn tenants(lines: &[&str]) -> String {
        let mut s = APPS.to_string();
        for (i, extra) in lines.iter().enumerate() {
            s.push_str(&format!(
                "[[tenants]]\nid = \"{:08x}-0000-4000-8000-000000000000\"\n{extra}\n",
                i + 1
            ));
        }
        s
    }

    #[test]
    fn tenants_take_their_apps_credential_and_budget() {
        let c = load(&tenants(&[
            "app = \"north\"",
            "app = \"south\"",
            "app = \"north\"",
            "client_id = \"33333333-3333-4333-8333-333333333333\"\nclient_secret_env = \"OWN\"",
            // Its own keys, but north's client id: the same registration, the same budget.
            "client_id = \"11111111-1111-4111-8111-111111111111\"\nclient_secret_env = \"NORTH_SECRET\"",
        ]))
        .unwrap();
        let apps: Vec<(&str, u32)> = c
            .tenants
            .iter()
            .map(|t| (t.app.name.as_str(), t.app.reports_per_10s))
            .collect();
        assert_eq!(
            apps,
            [
                ("north", 60),
                ("south", 122),
                ("north", 60),
                ("33333333-3333-4333-8333-333333333333", 122),
                ("north", 60),
            ]
        );
        assert_eq!(
            c.tenants[0].client_id,
            "11111111-1111-4111-8111-111111111111"
        );
        assert_eq!(
            c.tenants[1].client_id,
            "22222222-2222-4222-8222-222222222222"
        );
        assert!(format!("{:?}", c.tenants[0].credential).contains("NORTH_SECRET"));
        assert!(format!("{:?}", c.tenants[1].credential).contains("south.pem"));
        // Errors reading it name the key where it is written.
        assert!(format!("{:?}", c.tenants[1].credential).contains("apps[1].certificate_file"));
    }

    #[test]
    fn mistakes_in_apps_are_named_with_the_fix() {
        for (text, needles) in [
            (tenants(&["app = \"east\""]), vec!["tenant.app", "north, south"]),
            (
                tenants(&["app = \"north\"\nclient_id = \"x\"", "app = \"south\""]),
                vec!["tenants[0].client_id", "remove client_id"],
            ),
            (
                tenants(&["app = \"north\"\nclient_secret_env = \"X\"", "app = \"south\""]),
                vec!["tenants[0].client_secret_env"],
            ),
            (
                format!("{}[[apps]]\nname = \"north\"\nclient_id = \"44444444-4444-4444-8444-444444444444\"\nclient_secret_env = \"X\"\n[[tenants]]\nid = \"a.onmicrosoft.com\"\napp = \"north\"\n", APPS),
                vec!["apps[2].name", "two [[apps]]"],
            ),
            (
                format!("{}[[apps]]\nname = \"west\"\nclient_id = \"11111111-1111-4111-8111-111111111111\"\nclient_secret_env = \"X\"\n[[tenants]]\nid = \"a.onmicrosoft.com\"\napp = \"west\"\n", APPS),
                vec!["apps[2].client_id", "same app registration"],
            ),
            (
                "[[apps]]\nname = \"x\"\nclient_id = \"44444444-4444-4444-8444-444444444444\"\n[[tenants]]\nid = \"a.onmicrosoft.com\"\napp = \"x\"\n[streams.directory_audits]\n".to_string(),
                vec!["apps[0]", "client_secret_env"],
            ),
            (
                "[[apps]]\nclient_id = \"4\"\nclient_secret_env = \"X\"\n[tenant]\nid = \"a.onmicrosoft.com\"\napp = \"x\"\n".to_string(),
                vec!["apps[0].name"],
            ),
            (
                "[[apps]]\nname = \"x\"\nclient_id = \"4\"\nclient_secret_env = \"X\"\nreports_requests_per_10s = 0\n[tenant]\nid = \"a.onmicrosoft.com\"\napp = \"x\"\n".to_string(),
                vec!["apps[0].reports_requests_per_10s"],
            ),
            (
                "[tenant]\nid = \"a.onmicrosoft.com\"\napp = \"x\"\n[streams.directory_audits]\n".to_string(),
                vec!["tenant.app", "no [[apps]] entry is defined"],
            ),
        ] {
            let e = load(&text).unwrap_err().to_string();
            for n in needles {
                assert!(e.contains(n), "{n:?} not in: {e}");
            }
        }
    }
}
