//! The few Graph conventions the simulator shares with any Graph client: timestamp shapes, a
//! record's id, a JWT's claims, certificate thumbprints, the sign-in event types. Written here
//! again on purpose: the stand-in must not borrow the connector's helpers, or it would share
//! their bugs and could never disagree with them.

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha1::{Digest, Sha1};
use sha2::Sha256;

/// The sign-in event types Graph documents (beta `signInEventTypes`).
pub const SIGN_IN_EVENT_TYPES: [&str; 4] = [
    "interactiveUser",
    "nonInteractiveUser",
    "servicePrincipal",
    "managedIdentity",
];

/// Whole seconds, `Z`: the form `$filter` literals take.
pub fn graph_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Seven fractional digits, as Graph writes record times.
pub fn record_time(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

/// An RFC 3339 timestamp, any number of fractional digits.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// A record's `id` (string or number); records without one get a content hash.
pub fn record_id(record: &Value) -> String {
    match record.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in record.to_string().bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            format!("fnv1a-{h:016x}")
        }
    }
}

/// `8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a21`, any case.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A JWT's claims, decoded without verifying the signature.
pub fn jwt_claims(token: &str) -> Option<Value> {
    let claims = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `x5t#S256`: base64url of the SHA-256 of the certificate's DER.
pub fn thumbprint_sha256(der: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// `x5t`: base64url of the SHA-1 of the certificate's DER.
pub fn thumbprint_sha1(der: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha1::digest(der))
}
