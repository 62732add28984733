//! The ids a stream already emitted inside its re-read window, as fingerprints.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::whole_seconds;

/// A compact stand-in for an emitted `event.id`: the first 16 bytes of its SHA-256. Two ids
/// of one stream's re-read window share a fingerprint with odds of about n²/2¹²⁹ (for a
/// million ids, 1.5·10⁻²⁷); such a pair would drop the second record as a duplicate.
pub type Fingerprint = u128;

/// The fingerprint of an `event.id`.
pub fn fingerprint(id: &str) -> Fingerprint {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// How a fingerprint is written in the state file: 22 characters of base64url.
pub fn fingerprint_text(fp: Fingerprint) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(fp.to_be_bytes())
}

fn parse_fingerprint(text: &str) -> Option<Fingerprint> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    Some(u128::from_be_bytes(bytes.try_into().ok()?))
}

/// Fingerprints of emitted ids grouped by the whole second of their record time, pruned by
/// time (never by count), with an index for lookups: 16 bytes an id (plus the index's own
/// overhead), instead of the id itself.
#[derive(Debug, Default, Clone)]
pub struct SeenIds {
    by_second: BTreeMap<DateTime<Utc>, Vec<Fingerprint>>,
    index: HashSet<Fingerprint>,
}

impl SeenIds {
    pub fn contains(&self, id: &str) -> bool {
        self.contains_fingerprint(fingerprint(id))
    }

    /// For a caller that already hashed the id (the poll loop hashes each key once).
    pub fn contains_fingerprint(&self, fp: Fingerprint) -> bool {
        self.index.contains(&fp)
    }

    pub fn insert(&mut self, id: String, at: DateTime<Utc>) {
        self.insert_fingerprint(fingerprint(&id), at);
    }

    pub fn insert_fingerprint(&mut self, fp: Fingerprint, at: DateTime<Utc>) {
        if self.index.insert(fp) {
            self.by_second
                .entry(whole_seconds(at))
                .or_default()
                .push(fp);
        }
    }

    /// Forgets ids of records older than `from` (a whole second): they are never read again.
    pub fn prune_before(&mut self, from: DateTime<Utc>) {
        let keep = self.by_second.split_off(&from);
        for fp in std::mem::replace(&mut self.by_second, keep)
            .into_values()
            .flatten()
        {
            self.index.remove(&fp);
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

impl Serialize for SeenIds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let texts: BTreeMap<&DateTime<Utc>, Vec<String>> = self
            .by_second
            .iter()
            .map(|(t, fps)| (t, fps.iter().map(|f| fingerprint_text(*f)).collect()))
            .collect();
        texts.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SeenIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let texts = BTreeMap::<DateTime<Utc>, Vec<String>>::deserialize(d)?;
        let mut seen = SeenIds::default();
        for (t, list) in texts {
            for text in list {
                let fp = parse_fingerprint(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("{text:?} is not an id fingerprint"))
                })?;
                seen.insert_fingerprint(fp, t);
            }
        }
        Ok(seen)
    }
}
