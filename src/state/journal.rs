//! The state file's bytes: a header, then frames appended one checkpoint at a time.
//!
//! ```text
//! "ENTRA-SOURCE STATE\n" u32-le version
//! frame*:  u32-le payload length, u32-le CRC-32 of the payload, payload
//! payload: u8 kind (1 snapshot, 2 delta), u32-le JSON length, JSON, fingerprint blocks
//!          (version 8: each section's fingerprint block is followed by one of its known values)
//! block:   varint seconds, then per second: varint zigzag(second − previous second),
//!          varint count, count × 12-byte fingerprints (ascending)
//! ```
//!
//! A snapshot holds the whole state: its JSON is the state without fingerprints, followed by
//! one block per stream section in the JSON's order. A delta holds the sections a checkpoint
//! changed: each one's fields in full, the second from which its fingerprints are kept
//! (older ones were forgotten), and one block of the fingerprints added since the last write.
//! Replaying the frames in order rebuilds the state; a file is compacted into one snapshot
//! when most of its bytes are superseded. A checkpoint is one append and one fsync, so it
//! costs about a page of fingerprints, not the whole window.

use serde::{Deserialize, Serialize};

use super::seen::{Fingerprint, SeenIds, FINGERPRINT_BYTES};
use super::shaping::{PendingSummaries, Summary};
use super::{StateData, StreamState};

pub const MAGIC: &[u8] = b"ENTRA-SOURCE STATE\n";
pub const HEADER_BYTES: usize = MAGIC.len() + 4;
const SNAPSHOT: u8 = 1;
const DELTA: u8 = 2;
/// No sane frame is larger (a snapshot of millions of ids is tens of MB).
const MAX_FRAME: usize = 1 << 31;

/// What reading a file found.
pub struct Decoded {
    pub data: StateData,
    /// Bytes of the frames that were whole (a torn last frame excluded).
    pub valid_len: u64,
    /// Whether a torn last frame followed them (an append interrupted by a crash).
    pub torn_tail: bool,
    /// Bytes of the last snapshot frame: what a compaction would write again.
    pub snapshot_bytes: u64,
}

/// Why the bytes are not a state file this build can read.
pub enum DecodeError {
    Version(u64),
    Corrupt(String),
}

/// One changed section of a delta.
#[derive(Serialize, Deserialize)]
struct DeltaEntry {
    #[serde(rename = "t")]
    tenant: String,
    #[serde(rename = "s")]
    stream: String,
    state: StreamState,
    /// Fingerprints of records before this second were forgotten (`None`: all of them).
    keep_from: Option<i64>,
    /// The same for a shaped stream's known values (version 8).
    #[serde(default, rename = "k", skip_serializing_if = "Option::is_none")]
    known_from: Option<i64>,
    /// A shaped stream's windows closed since the last write (version 8).
    #[serde(default, rename = "sc", skip_serializing_if = "Vec::is_empty")]
    summaries_closed: Vec<i64>,
    /// Its summaries counted into since the last write, whole (version 8): the other open ones
    /// are as the previous frames left them.
    #[serde(default, rename = "so", skip_serializing_if = "Vec::is_empty")]
    summaries: Vec<(i64, String, Summary)>,
}

pub fn header(version: u32) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out
}

/// Whether the bytes start like this format (else: a JSON file of versions 1 to 4).
pub fn is_journal(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// A snapshot frame of the whole state.
pub fn snapshot(data: &StateData) -> Result<Vec<u8>, serde_json::Error> {
    let json = serde_json::to_vec(data)?;
    let mut payload = payload_head(SNAPSHOT, &json);
    for s in data.tenants.values().flat_map(|t| t.streams.values()) {
        let seconds: Vec<(i64, &[Fingerprint])> = s.seen.seconds().collect();
        put_block(&mut payload, &seconds);
        let known: Vec<(i64, &[Fingerprint])> = s.shaping.known.seconds().collect();
        put_block(&mut payload, &known);
    }
    Ok(frame(payload))
}

/// Fingerprints by Unix second, as added since the last write.
pub type Added = Vec<(i64, Fingerprint)>;

/// What a section gained since the last write: fingerprints, known values, summary changes.
pub type Pending = (Added, Added, PendingSummaries);

/// One changed section: tenant, stream, its state, and what it gained since the last write.
pub type Changed<'a> = (String, String, &'a StreamState, Pending);

/// A delta frame: for each section, its fields, the second its ids are kept from, and the
/// fingerprints added since the last write.
pub fn delta(sections: Vec<Changed<'_>>) -> Result<Vec<u8>, serde_json::Error> {
    let mut entries = Vec::with_capacity(sections.len());
    let mut blocks = Vec::new();
    for (tenant, stream, state, (added, known, summaries)) in sections {
        put_added(&mut blocks, added);
        put_added(&mut blocks, known);
        entries.push(DeltaEntry {
            tenant,
            stream,
            keep_from: state.seen.seconds().next().map(|(s, _)| s),
            known_from: state.shaping.known.seconds().next().map(|(s, _)| s),
            summaries: summaries
                .changed
                .into_iter()
                .filter_map(|(start, key)| {
                    let s = state.shaping.open.get(&start)?.get(&key)?.clone();
                    Some((start, key, s))
                })
                .collect(),
            summaries_closed: summaries.closed,
            state: state.without_ids(),
        });
    }
    let json = serde_json::to_vec(&entries)?;
    let mut payload = payload_head(DELTA, &json);
    payload.extend_from_slice(&blocks);
    Ok(frame(payload))
}

fn put_added(out: &mut Vec<u8>, mut added: Added) {
    added.sort_unstable();
    added.dedup();
    let seconds: Vec<(i64, Vec<Fingerprint>)> = added
        .chunk_by(|a, b| a.0 == b.0)
        .map(|g| (g[0].0, g.iter().map(|(_, f)| *f).collect()))
        .collect();
    let refs: Vec<(i64, &[Fingerprint])> =
        seconds.iter().map(|(s, v)| (*s, v.as_slice())).collect();
    put_block(out, &refs);
}

fn payload_head(kind: u8, json: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(json.len() + 5);
    p.push(kind);
    p.extend_from_slice(&(json.len() as u32).to_le_bytes());
    p.extend_from_slice(json);
    p
}

fn frame(payload: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

fn put_block(out: &mut Vec<u8>, seconds: &[(i64, &[Fingerprint])]) {
    put_varint(out, seconds.len() as u64);
    let mut prev = 0i64;
    for (s, fps) in seconds {
        put_varint(out, zigzag(s.wrapping_sub(prev)));
        prev = *s;
        put_varint(out, fps.len() as u64);
        for f in *fps {
            out.extend_from_slice(f);
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Reads a whole file. A last frame cut short or failing its checksum is an append a crash
/// interrupted (never acknowledged), reported in `torn_tail` for the caller to accept or
/// refuse; a bad frame anywhere else is corruption.
pub fn decode(bytes: &[u8], max_version: u32) -> Result<Decoded, DecodeError> {
    let corrupt = |r: String| DecodeError::Corrupt(r);
    if bytes.len() < HEADER_BYTES || !is_journal(bytes) {
        return Err(corrupt("the header is missing".into()));
    }
    let version = u32::from_le_bytes(
        bytes[MAGIC.len()..HEADER_BYTES]
            .try_into()
            .unwrap_or_default(),
    );
    if version > max_version || version < 5 {
        return Err(DecodeError::Version(u64::from(version)));
    }
    let mut data: Option<StateData> = None;
    let mut pos = HEADER_BYTES;
    let mut snapshot_bytes = 0u64;
    let mut torn_tail = false;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let whole = rest.len() >= 8 && {
            let len = u32::from_le_bytes(rest[..4].try_into().unwrap_or_default()) as usize;
            len <= MAX_FRAME && rest.len() >= 8 + len
        };
        if !whole {
            torn_tail = true;
            break;
        }
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap_or_default());
        let payload = &rest[8..8 + len];
        if crc32fast::hash(payload) != crc {
            if pos + 8 + len == bytes.len() {
                torn_tail = true;
                break;
            }
            return Err(corrupt(format!(
                "the checksum of the frame at byte {pos} does not match"
            )));
        }
        let at = |r: String| corrupt(format!("frame at byte {pos}: {r}"));
        match payload.first() {
            Some(&SNAPSHOT) => {
                let (mut d, mut r): (StateData, _) = json_part(payload).map_err(at)?;
                for s in d.tenants.values_mut().flat_map(|t| t.streams.values_mut()) {
                    s.seen = get_block(&mut r).map_err(at)?;
                    if version >= 8 {
                        s.shaping.known = get_block(&mut r).map_err(at)?;
                    }
                }
                d.version = version;
                data = Some(d);
                snapshot_bytes = (8 + len) as u64;
            }
            Some(&DELTA) => {
                let (entries, mut r): (Vec<DeltaEntry>, _) = json_part(payload).map_err(at)?;
                let d = data
                    .as_mut()
                    .ok_or_else(|| at("a delta before any snapshot".into()))?;
                for e in entries {
                    let added = get_block(&mut r).map_err(at)?;
                    let known_added = if version >= 8 {
                        Some(get_block(&mut r).map_err(at)?)
                    } else {
                        None
                    };
                    let section = d
                        .tenants
                        .entry(e.tenant)
                        .or_default()
                        .streams
                        .entry(e.stream)
                        .or_default();
                    let mut seen = std::mem::take(&mut section.seen);
                    let mut known = std::mem::take(&mut section.shaping.known);
                    let mut shaped = std::mem::take(&mut section.shaping);
                    *section = e.state;
                    shaped.replay(&e.summaries_closed, e.summaries);
                    section.shaping.open = shaped.open;
                    if let Some(k) = known_added {
                        for (s, fps) in k.seconds() {
                            known.add_sorted(s, fps.iter().copied());
                        }
                        match e.known_from {
                            Some(from) => known.prune_before_second(from),
                            None => known = SeenIds::default(),
                        }
                    }
                    section.shaping.known = known;
                    for (s, fps) in added.seconds() {
                        seen.add_sorted(s, fps.iter().copied());
                    }
                    match e.keep_from {
                        Some(k) => seen.prune_before_second(k),
                        None => seen = SeenIds::default(),
                    }
                    section.seen = seen;
                }
            }
            _ => return Err(at("unknown frame kind".into())),
        }
        pos += 8 + len;
    }
    let data = data.ok_or_else(|| corrupt("no snapshot frame".into()))?;
    Ok(Decoded {
        data,
        valid_len: pos as u64,
        torn_tail,
        snapshot_bytes,
    })
}

fn json_part<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<(T, &[u8]), String> {
    let len = payload
        .get(1..5)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()) as usize)
        .ok_or("short payload")?;
    let json = payload.get(5..5 + len).ok_or("short payload")?;
    let v = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    Ok((v, &payload[5 + len..]))
}

fn get_block(r: &mut &[u8]) -> Result<SeenIds, String> {
    let mut seen = SeenIds::default();
    let n = get_varint(r)?;
    let mut prev = 0i64;
    for _ in 0..n {
        let s = prev.wrapping_add(unzigzag(get_varint(r)?));
        prev = s;
        let count = usize::try_from(get_varint(r)?).map_err(|_| "count too large")?;
        let bytes = count
            .checked_mul(FINGERPRINT_BYTES)
            .filter(|b| *b <= r.len())
            .ok_or("fingerprints cut short")?;
        let (fps, rest) = r.split_at(bytes);
        *r = rest;
        seen.add_sorted(
            s,
            fps.chunks_exact(FINGERPRINT_BYTES)
                .map(|c| c.try_into().unwrap_or_default()),
        );
    }
    Ok(seen)
}

fn get_varint(r: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = r.split_first().ok_or("varint cut short")?;
        *r = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}
