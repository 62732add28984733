//! `state export`'s document, both ways, in one room: every chosen tenant's sections as the
//! store's JSON fields, and each section's remembered ids as `seen_fingerprints` (record second
//! → base64url of each 12-byte fingerprint). [`encode`] writes it; [`decode`] reads it back (and
//! a store file's bytes, and the JSON files of versions 1 to 4, whose `seen_fingerprints` held
//! 16-byte fingerprints: the same reader, [`super::legacy`]).

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::{StateData, StateError, TenantState, STATE_VERSION};

/// The document of `tenants` (key → sections).
pub fn encode<'a>(tenants: impl IntoIterator<Item = (&'a String, &'a TenantState)>) -> Value {
    let tenants: Map<String, Value> = tenants
        .into_iter()
        .map(|(key, ts)| (key.clone(), tenant(ts)))
        .collect();
    json!({ "version": STATE_VERSION, "tenants": tenants })
}

fn tenant(ts: &TenantState) -> Value {
    use base64::Engine;
    let mut doc = serde_json::to_value(ts).unwrap_or_default();
    for (name, section) in &ts.streams {
        let fps: Map<String, Value> = section
            .seen
            .seconds()
            .map(|(sec, fps)| {
                let at = DateTime::<Utc>::from_timestamp(sec, 0).unwrap_or_default();
                let texts: Vec<Value> = fps
                    .iter()
                    .map(|f| {
                        base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .encode(f)
                            .into()
                    })
                    .collect();
                (
                    at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    Value::Array(texts),
                )
            })
            .collect();
        doc["streams"][name]["seen_fingerprints"] = Value::Object(fps);
    }
    doc
}

/// The tenants of an export document, or of a store file's bytes (`source` names where they
/// came from in errors).
pub fn decode(bytes: &[u8], source: &Path) -> Result<StateData, StateError> {
    Ok(super::file::decode(bytes, source, false)?
        .map(|f| f.data)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fingerprint;

    #[test]
    fn an_export_reads_back_as_the_sections_it_was_made_of() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let mut ts = TenantState {
            aliases: vec!["contoso.onmicrosoft.com".into()],
            ..Default::default()
        };
        let s = ts.streams.entry("directory_audits".into()).or_default();
        s.cursor = Some(t("2026-12-05T08:00:00Z"));
        s.settled.insert(300, t("2026-12-05T07:55:00Z"));
        s.ladder.rungs = 2;
        s.seen.extend([
            (fingerprint("a"), t("2026-12-05T07:59:01Z")),
            (fingerprint("b"), t("2026-12-05T07:59:01Z")),
            (fingerprint("c"), t("2026-12-05T07:59:30Z")),
        ]);
        let key = "8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a21".to_string();
        let doc = encode([(&key, &ts)]);
        let back = decode(doc.to_string().as_bytes(), Path::new("export.json")).unwrap();
        assert_eq!(back.version, STATE_VERSION);
        let got = &back.tenants[&key];
        assert_eq!(got.aliases, ts.aliases);
        let (a, b) = (
            &got.streams["directory_audits"],
            &ts.streams["directory_audits"],
        );
        assert_eq!(
            serde_json::to_value(a).unwrap(),
            serde_json::to_value(b).unwrap()
        );
        let seconds = |s: &crate::state::StreamState| {
            s.seen
                .seconds()
                .map(|(sec, f)| (sec, f.to_vec()))
                .collect::<Vec<_>>()
        };
        assert_eq!(seconds(a), seconds(b));
        assert!(a.seen.contains(fingerprint("c"), t("2026-12-05T07:59:30Z")));
    }
}
