//! One Event Hubs message of Entra's diagnostic settings: `{"records": [ … ]}`, each record in the
//! Azure Monitor resource-log schema (`time`, `category`, `operationName`, …, `properties` = the
//! Graph record's shape). [`parse`] reads it without building a tree (the records stay their
//! text) and never fails on one bad record: a message that is not JSON, has no `records` or is
//! larger than allowed is refused whole ([`Refused`]); a record that is not an object or names
//! a category no stream knows is counted ([`Parsed::skipped`]) and the rest go on.

use crate::jsontext;
use crate::kind::{Exported, StreamKind};

/// Every category Entra's diagnostic settings export (Microsoft: "What are the identity logs
/// you can stream to an endpoint?").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    AuditLogs,
    SignInLogs,
    NonInteractiveUserSignInLogs,
    ServicePrincipalSignInLogs,
    ManagedIdentitySignInLogs,
    ProvisioningLogs,
    AdfsSignInLogs,
    RiskyUsers,
    UserRiskEvents,
    RiskyServicePrincipals,
    ServicePrincipalRiskEvents,
    NetworkAccessTrafficLogs,
    EnrichedOffice365AuditLogs,
    MicrosoftGraphActivityLogs,
    RemoteNetworkHealthLogs,
    NetworkAccessAlerts,
    NetworkAccessConnectionEvents,
    MicrosoftServicePrincipalSignInLogs,
    AzureAdGraphActivityLogs,
}

/// Where a category's records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A Graph stream's, normalized as its records are (sign-ins: with their event type).
    Stream(StreamKind, Option<&'static str>),
    /// A dataset of its own (`entra.<name>`): no Graph stream reads these.
    Own(Exported),
}

impl Category {
    pub const ALL: [Category; 19] = [
        Category::AuditLogs,
        Category::SignInLogs,
        Category::NonInteractiveUserSignInLogs,
        Category::ServicePrincipalSignInLogs,
        Category::ManagedIdentitySignInLogs,
        Category::ProvisioningLogs,
        Category::AdfsSignInLogs,
        Category::RiskyUsers,
        Category::UserRiskEvents,
        Category::RiskyServicePrincipals,
        Category::ServicePrincipalRiskEvents,
        Category::NetworkAccessTrafficLogs,
        Category::EnrichedOffice365AuditLogs,
        Category::MicrosoftGraphActivityLogs,
        Category::RemoteNetworkHealthLogs,
        Category::NetworkAccessAlerts,
        Category::NetworkAccessConnectionEvents,
        Category::MicrosoftServicePrincipalSignInLogs,
        Category::AzureAdGraphActivityLogs,
    ];

    /// The name the export writes in `category`.
    pub fn name(self) -> &'static str {
        match self {
            Category::AuditLogs => "AuditLogs",
            Category::SignInLogs => "SignInLogs",
            Category::NonInteractiveUserSignInLogs => "NonInteractiveUserSignInLogs",
            Category::ServicePrincipalSignInLogs => "ServicePrincipalSignInLogs",
            Category::ManagedIdentitySignInLogs => "ManagedIdentitySignInLogs",
            Category::ProvisioningLogs => "ProvisioningLogs",
            Category::AdfsSignInLogs => "ADFSSignInLogs",
            Category::RiskyUsers => "RiskyUsers",
            Category::UserRiskEvents => "UserRiskEvents",
            Category::RiskyServicePrincipals => "RiskyServicePrincipals",
            Category::ServicePrincipalRiskEvents => "ServicePrincipalRiskEvents",
            Category::NetworkAccessTrafficLogs => "NetworkAccessTrafficLogs",
            Category::EnrichedOffice365AuditLogs => "EnrichedOffice365AuditLogs",
            Category::MicrosoftGraphActivityLogs => "MicrosoftGraphActivityLogs",
            Category::RemoteNetworkHealthLogs => "RemoteNetworkHealthLogs",
            Category::NetworkAccessAlerts => "NetworkAccessAlerts",
            Category::NetworkAccessConnectionEvents => "NetworkAccessConnectionEvents",
            Category::MicrosoftServicePrincipalSignInLogs => "MicrosoftServicePrincipalSignInLogs",
            Category::AzureAdGraphActivityLogs => "AzureADGraphActivityLogs",
        }
    }

    /// The category a record names (the export's case, or any case: storage copies have been
    /// seen lower-cased).
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
    }

    pub fn destination(self) -> Destination {
        use Destination::{Own, Stream};
        match self {
            Category::AuditLogs => Stream(StreamKind::DirectoryAudits, None),
            Category::SignInLogs => Stream(StreamKind::SignIns, Some("interactiveUser")),
            Category::NonInteractiveUserSignInLogs => {
                Stream(StreamKind::SignIns, Some("nonInteractiveUser"))
            }
            Category::ServicePrincipalSignInLogs => {
                Stream(StreamKind::SignIns, Some("servicePrincipal"))
            }
            Category::ManagedIdentitySignInLogs => {
                Stream(StreamKind::SignIns, Some("managedIdentity"))
            }
            Category::ProvisioningLogs => Stream(StreamKind::Provisioning, None),
            Category::RiskyUsers => Stream(StreamKind::RiskyUsers, None),
            Category::UserRiskEvents => Stream(StreamKind::RiskDetections, None),
            Category::RiskyServicePrincipals => Stream(StreamKind::RiskyServicePrincipals, None),
            Category::ServicePrincipalRiskEvents => {
                Stream(StreamKind::ServicePrincipalRiskDetections, None)
            }
            Category::AdfsSignInLogs => Own(Exported::AdfsSignIns),
            Category::NetworkAccessTrafficLogs => Own(Exported::NetworkAccessTraffic),
            Category::EnrichedOffice365AuditLogs => Own(Exported::EnrichedOffice365Audit),
            Category::MicrosoftGraphActivityLogs => Own(Exported::GraphActivity),
            Category::RemoteNetworkHealthLogs => Own(Exported::RemoteNetworkHealth),
            Category::NetworkAccessAlerts => Own(Exported::NetworkAccessAlerts),
            Category::NetworkAccessConnectionEvents => Own(Exported::NetworkAccessConnections),
            Category::MicrosoftServicePrincipalSignInLogs => {
                Own(Exported::MicrosoftServicePrincipalSignIns)
            }
            Category::AzureAdGraphActivityLogs => Own(Exported::AzureAdGraphActivity),
        }
    }
}

/// One record of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub category: Category,
    /// The whole export record, as the message has it.
    pub record: &'a str,
    /// Its `properties` (the Graph record's shape), when present, and their members.
    pub properties: Option<&'a str>,
    pub members: Option<Members<'a>>,
    /// Its `tenantId` and envelope `time`, as JSON text, when present.
    pub tenant_id: Option<&'a str>,
    pub time: Option<&'a str>,
}

/// Why a record was skipped (the message's other records go on).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skipped {
    /// Not a JSON object.
    NotAnObject,
    /// No `category`, or one that is not a string.
    NoCategory,
    /// A category no stream or dataset knows (a new Microsoft category): counted by name.
    UnknownCategory(String),
}

/// What a message held.
#[derive(Debug, Default)]
pub struct Parsed<'a> {
    pub entries: Vec<Entry<'a>>,
    pub skipped: Vec<Skipped>,
}

/// Why a whole message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("a message of {bytes} bytes is larger than the {max} allowed (Event Hubs' own limit is 1 MiB)")]
    TooLarge { bytes: usize, max: usize },
    #[error("a message is not UTF-8 JSON: {0}")]
    NotJson(String),
    #[error("a message has no \"records\" array (not a diagnostic-settings export)")]
    NoRecords,
}

/// Reads one message in one validating pass: the records, and of each its category, tenant,
/// time and the members of its `properties` (so that normalizing it reads nothing again, as a
/// Graph page is read: `graph/page.rs`).
pub fn parse(message: &[u8], max_bytes: usize) -> Result<Parsed<'_>, Refused> {
    use jsontext::skip_ws as ws;
    if message.len() > max_bytes {
        return Err(Refused::TooLarge {
            bytes: message.len(),
            max: max_bytes,
        });
    }
    let text = std::str::from_utf8(message).map_err(|e| Refused::NotJson(e.to_string()))?;
    let b = text.as_bytes();
    let not_json = || Refused::NotJson("not one well-formed JSON value".into());
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        // Well-formed but not an object: not an export batch.
        return match jsontext::valid_value_end(b, i, 0) {
            Some(end) if ws(b, end) == b.len() => Err(Refused::NoRecords),
            _ => Err(not_json()),
        };
    }
    let mut out = Parsed::default();
    let mut found = false;
    i = ws(b, i + 1);
    if b.get(i) != Some(&b'}') {
        loop {
            let (key, value) = key_and_value(text, i).ok_or_else(not_json)?;
            let end = if key == "records" && b.get(value) == Some(&b'[') && !found {
                found = true;
                records(text, value, &mut out).ok_or_else(not_json)?
            } else {
                jsontext::valid_value_end(b, value, 1).ok_or_else(not_json)?
            };
            i = ws(b, end);
            match b.get(i) {
                Some(b',') => i = ws(b, i + 1),
                Some(b'}') => break,
                _ => return Err(not_json()),
            }
        }
    }
    if ws(b, i + 1) != b.len() {
        return Err(Refused::NotJson("text after the JSON value".into()));
    }
    if !found {
        return Err(Refused::NoRecords);
    }
    Ok(out)
}

/// The key of the member at `i` (unescaped when it needs it) and where its value starts.
fn key_and_value(text: &str, i: usize) -> Option<(std::borrow::Cow<'_, str>, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let key_end = jsontext::valid_string_end(b, i)?;
    let key = jsontext::unescape(text.get(i + 1..key_end - 1)?)?;
    let colon = jsontext::skip_ws(b, key_end);
    if b.get(colon) != Some(&b':') {
        return None;
    }
    Some((key, jsontext::skip_ws(b, colon + 1)))
}

/// The `records` array at `i`: each record's entry (or why it was skipped). Returns the index
/// just past the array.
fn records<'a>(text: &'a str, mut i: usize, out: &mut Parsed<'a>) -> Option<usize> {
    use jsontext::skip_ws as ws;
    let b = text.as_bytes();
    i = ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Some(i + 1);
    }
    loop {
        let end = if b.get(i) == Some(&b'{') {
            record(text, i, out)?
        } else {
            out.skipped.push(Skipped::NotAnObject);
            jsontext::valid_value_end(b, i, 2)?
        };
        i = ws(b, end);
        match *b.get(i)? {
            b',' => i = ws(b, i + 1),
            b']' => return Some(i + 1),
            _ => return None,
        }
    }
}

/// One record (an object at `i`): its entry, or why it was skipped. Returns its end.
fn record<'a>(text: &'a str, start: usize, out: &mut Parsed<'a>) -> Option<usize> {
    use jsontext::skip_ws as ws;
    let b = text.as_bytes();
    let (mut category, mut tenant_id, mut time, mut properties) = (None, None, None, None);
    let mut i = ws(b, start + 1);
    if b.get(i) != Some(&b'}') {
        loop {
            let (key, value) = key_and_value(text, i)?;
            let end = if key == "properties" && b.get(value) == Some(&b'{') && properties.is_none()
            {
                let (end, members) = object_members(text, value)?;
                properties = Some((text.get(value..end)?, members));
                end
            } else {
                let end = jsontext::valid_value_end(b, value, 3)?;
                let v = text.get(value..end)?;
                match key.as_ref() {
                    "category" if category.is_none() => category = Some(v),
                    "tenantId" if tenant_id.is_none() => tenant_id = Some(v),
                    "time" if time.is_none() => time = Some(v),
                    _ => {}
                }
                end
            };
            i = ws(b, end);
            match *b.get(i)? {
                b',' => i = ws(b, i + 1),
                b'}' => break,
                _ => return None,
            }
        }
    }
    let end = i + 1;
    let record = text.get(start..end)?;
    match category.and_then(jsontext::string) {
        None => out.skipped.push(Skipped::NoCategory),
        Some(name) => match Category::parse(&name) {
            Some(category) => {
                let (properties, members) = match properties {
                    Some((p, m)) => (Some(p), Some(m)),
                    None => (None, None),
                };
                out.entries.push(Entry {
                    category,
                    record,
                    properties,
                    members,
                    tenant_id,
                    time,
                })
            }
            None => out
                .skipped
                .push(Skipped::UnknownCategory(name.into_owned())),
        },
    }
    Some(end)
}

/// The members of the object at `i` (each value validated) and its end.
type Members<'a> = Vec<(std::borrow::Cow<'a, str>, &'a str)>;

fn object_members(text: &str, mut i: usize) -> Option<(usize, Members<'_>)> {
    use jsontext::skip_ws as ws;
    let b = text.as_bytes();
    let mut members = Vec::with_capacity(64);
    i = ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some((i + 1, members));
    }
    loop {
        let (key, value) = key_and_value(text, i)?;
        let end = jsontext::valid_value_end(b, value, 4)?;
        members.push((key, text.get(value..end)?));
        i = ws(b, end);
        match *b.get(i)? {
            b',' => i = ws(b, i + 1),
            b'}' => return Some((i + 1, members)),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    fn samples() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/azure-monitor");
        ["samples.jsonl", "graph-activity.jsonl"]
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(root.join(f))
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every peer sample, batched as the export batches them, comes back record by record with
    /// its category and its `properties`.
    #[test]
    fn a_batch_of_the_peers_samples_is_read_record_by_record() {
        let lines = samples();
        let message = format!("{{\"records\": [{}]}}", lines.join(",\n"));
        let parsed = parse(message.as_bytes(), MAX).unwrap();
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        assert_eq!(parsed.entries.len(), lines.len());
        for (e, line) in parsed.entries.iter().zip(&lines) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(e.category.name(), v["category"]);
            let props: serde_json::Value = serde_json::from_str(e.properties.unwrap()).unwrap();
            assert_eq!(props, v["properties"]);
        }
        let graph = parsed
            .entries
            .iter()
            .filter(|e| e.category == Category::MicrosoftGraphActivityLogs)
            .count();
        assert_eq!(graph, 2);
        assert_eq!(
            Category::MicrosoftGraphActivityLogs.destination(),
            Destination::Own(Exported::GraphActivity)
        );
        assert_eq!(
            Category::parse("noninteractiveusersigninlogs").map(Category::destination),
            Some(Destination::Stream(
                StreamKind::SignIns,
                Some("nonInteractiveUser")
            ))
        );
    }

    /// Bad messages are refused whole with the reason; bad records are counted and the rest of
    /// the message goes on.
    #[test]
    fn bad_messages_are_refused_and_bad_records_counted_never_stopping_the_rest() {
        assert!(matches!(parse(b"not json", MAX), Err(Refused::NotJson(_))));
        assert!(matches!(
            parse(b"{\"records\": [", MAX),
            Err(Refused::NotJson(_))
        ));
        assert!(matches!(
            parse(&[0xff, 0xfe], MAX),
            Err(Refused::NotJson(_))
        ));
        assert_eq!(
            parse(b"{\"value\": []}", MAX).unwrap_err(),
            Refused::NoRecords
        );
        assert_eq!(parse(b"[1, 2]", MAX).unwrap_err(), Refused::NoRecords);
        assert_eq!(
            parse(b"{\"records\": {}}", MAX).unwrap_err(),
            Refused::NoRecords
        );
        let big = format!("{{\"records\": [\"{}\"]}}", "x".repeat(MAX));
        assert!(matches!(
            parse(big.as_bytes(), MAX),
            Err(Refused::TooLarge { .. })
        ));
        let mixed = br#"{"records": [
            {"category": "AuditLogs", "properties": {"id": "a"}},
            42,
            {"properties": {}},
            {"category": "SomethingNewLogs", "properties": {}},
            {"category": "SignInLogs", "properties": {"id": "b"}}
        ]}"#;
        let p = parse(mixed, MAX).unwrap();
        assert_eq!(p.entries.len(), 2);
        assert_eq!(
            p.skipped,
            [
                Skipped::NotAnObject,
                Skipped::NoCategory,
                Skipped::UnknownCategory("SomethingNewLogs".into())
            ]
        );
    }

    #[test]
    fn every_category_has_one_name_and_parses_back() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.name()), Some(c));
        }
        let names: std::collections::HashSet<_> = Category::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), Category::ALL.len());
    }
}
