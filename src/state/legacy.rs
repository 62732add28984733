//! State files of versions 1 to 4: one JSON document, rewritten whole on every checkpoint.
//! Read once and converted: the first write after it is a journal ([`super::journal`]). The
//! same reader takes `state export`'s document (versions 5 and up, fingerprints in
//! `seen_fingerprints`), which `state import` reads.

use std::path::Path;

use super::{StateData, StateError, STATE_VERSION};

/// Parses a JSON state file, turning kept ids (versions 1 to 3) and 16-byte fingerprints
/// (version 4) into the current fingerprints.
pub fn read_json(bytes: &[u8], path: &Path) -> Result<StateData, StateError> {
    let corrupt = |reason: String| StateError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    match v.get("version").and_then(serde_json::Value::as_u64) {
        Some(1..=4) => {}
        Some(n) if n <= u64::from(STATE_VERSION) => {}
        Some(n) => {
            return Err(StateError::Version {
                path: path.to_path_buf(),
                found: n,
            })
        }
        None => return Err(corrupt("no numeric `version` field".into())),
    }
    let mut data: StateData = serde_json::from_value(v).map_err(|e| corrupt(e.to_string()))?;
    for s in data
        .tenants
        .values_mut()
        .flat_map(|t| t.streams.values_mut())
    {
        let ids = s.legacy_seen.take().into_iter().flatten();
        let mut keys: Vec<_> = ids
            .flat_map(|(t, ids)| ids.into_iter().map(move |id| (super::fingerprint(&id), t)))
            .collect();
        for (t, texts) in s.fingerprint_texts.take().into_iter().flatten() {
            for text in texts {
                let fp = parse_v4_fingerprint(&text)
                    .ok_or_else(|| corrupt(format!("{text:?} is not an id fingerprint")))?;
                keys.push((fp, t));
            }
        }
        s.seen.extend(keys);
    }
    // Older files read as they are (the new fields default); they are written back as the
    // current version.
    data.version = STATE_VERSION;
    Ok(data)
}

/// Version 4's 22 characters of base64url (16 bytes of SHA-256, whose first 12 bytes are the
/// current fingerprint of the same id), or the 16 characters of a current fingerprint (`state
/// export`).
fn parse_v4_fingerprint(text: &str) -> Option<super::Fingerprint> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    match bytes.len() {
        16 | super::FINGERPRINT_BYTES => bytes[..super::FINGERPRINT_BYTES].try_into().ok(),
        _ => None,
    }
}
