//! The checkpoint store (`CONTRACT.md` § State): one file at `[state] path`, one section per
//! tenant and stream, guarded by a lock file so two processes never share it. It never holds a
//! secret or a token.
//!
//! The file is a journal ([`journal`]): a snapshot, then one small frame appended and fsynced
//! per checkpoint holding only what changed (the sections a page touched and its new id
//! fingerprints), so a checkpoint costs about a page, not the window. When superseded frames
//! make up most of the file, the next checkpoint compacts it into one snapshot (temp file,
//! fsync, rename); the version is [`STATE_VERSION`] (the journal since 5; 7 adds the learned
//! sweeps and the hour digests, 8 a shaped sign-in stream's summaries and known values, 9 the Event Hubs offsets and audit ledger). Files of versions 1 to 4 (JSON, rewritten whole on every
//! checkpoint) are read and converted on the first write. Streams reach the store only through
//! [`StreamCheckpoint`] ([`door`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod checkpointer;
mod door;
mod file;
pub mod hub;
mod journal;
mod learned;
mod legacy;
mod seen;
pub mod shaping;
pub mod transfer;

pub use crate::telemetry::Health;
pub use door::{Checkpoints, StreamCheckpoint};
pub use file::PendingWrite;
use file::{acquire_lock, read_file, sibling, Found};
pub use hub::HubState;
pub use learned::{hour_of, HourDigest, Ladder, TailDigest, TAIL_SLICE_SECONDS};
pub use seen::{fingerprint, Fingerprint, SeenIds, FINGERPRINT_BYTES};
pub use shaping::Shaped;

/// The state format this build writes: 5, the journal. Versions 1 (no health, no
/// `not_before`), 2 (tenants keyed by `tenant.id` as the config wrote it, GUID or domain), 3
/// (the emitted ids kept whole) and 4 (16-byte fingerprints), all JSON, are read too: a
/// section kept under a domain moves to the tenant's GUID the first time a run learns it, and
/// kept ids become fingerprints.
pub const STATE_VERSION: u32 = 9;

/// A journal is compacted once it is larger than twice its live content and this.
const COMPACT_FLOOR: u64 = 256 * 1024;

/// How long a start waits for a lock still held by a previous instance that is exiting.
const LOCK_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path} is corrupt ({reason}); it was left untouched. Restore it from a backup, or move it aside to start again from initial_lookback (records since then are read again, and may be emitted twice)")]
    Corrupt { path: PathBuf, reason: String },
    #[error("state file {path} has version {found}, which this entra-source (version {STATE_VERSION}) does not understand; upgrade entra-source")]
    Version { path: PathBuf, found: u64 },
    #[error("state file {path} is locked by another entra-source process{holder}; stop that process, or give this instance its own [state] path")]
    Locked { path: PathBuf, holder: String },
    #[error("the checkpoint of {stream} ({cursor}) is more than a day ahead of Graph's clock ({now}, the Date of its answers; this host's clock only when they carry none): the checkpoint came from a host whose clock was wrong, or from an imported state; rewind the stream with `entra-source state reset --stream {stream} --since <time>`")]
    FutureCursor {
        stream: String,
        cursor: String,
        now: String,
    },
    #[error("cannot {action} state file {path}: {source}; {}", io_hint(.source))]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What to do about a state file I/O error, by its kind: a fixed hint sent users to check
/// permissions for a full disk.
fn io_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => "free space on that file system (nothing was checkpointed past the last page written; the run resumes from there)",
        Some(libc::EROFS) => "the file system is read-only: point [state] path at a writable one",
        Some(libc::EACCES) | Some(libc::EPERM) => "make the directory writable by this user, or point [state] path elsewhere",
        Some(libc::ENOENT) => "create the directory, or point [state] path at an existing one",
        _ => "check the directory exists and is writable by this user, and the disk",
    }
}

/// The whole file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateData {
    pub version: u32,
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantState>,
    /// Tenants `state export --remove` took out of this store, by GUID: a run refuses them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub moved: BTreeMap<String, Moved>,
}

/// Where a tenant went: the export file and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moved {
    pub to: String,
    pub at: DateTime<Utc>,
    /// The tenant's other names (domains) this store knew.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// One tenant's sections, keyed in [`StateData::tenants`] by the tenant's GUID.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantState {
    /// Other forms of `tenant.id` (domains, lowercased) configs used for this tenant, so the
    /// `state` commands, which have no token, find the section from a config naming a domain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub streams: BTreeMap<String, StreamState>,
}

/// One stream's checkpoint.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamState {
    /// Where the fresh read has reached: the next one reads `[cursor, now]`.
    pub cursor: Option<DateTime<Utc>>,
    /// Each settle sweep's mark, by age in seconds: records before it were read at that age.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settled: BTreeMap<u64, DateTime<Utc>>,
    /// Fingerprints of the `event.id`s already emitted that a later read could return, by
    /// record second (kept in the journal's binary blocks, not in its JSON).
    #[serde(skip)]
    pub seen: SeenIds,
    /// Versions 1 to 3 kept the ids themselves: read, turned into fingerprints, never written.
    #[serde(default, rename = "seen", skip_serializing)]
    pub(crate) legacy_seen: Option<BTreeMap<DateTime<Utc>, Vec<String>>>,
    /// Fingerprints as base64url text: `state export`'s documents (12 bytes, [`transfer`]) and
    /// version 4's files (16 bytes, cut to 12); read into `seen`, never written as a field.
    #[serde(default, rename = "seen_fingerprints", skip_serializing)]
    pub(crate) fingerprint_texts: Option<BTreeMap<DateTime<Utc>, Vec<String>>>,
    /// When a poll last drained its window.
    pub last_success: Option<DateTime<Utc>>,
    /// Snapshot mode only (Graph refused the time filter): id → fingerprint of every record in
    /// the last full listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<BTreeMap<String, String>>,
    /// Set by `state reset --since`: no window starts before it (the late-arrival re-read
    /// included), so the next run re-emits exactly from there. Cleared once behind the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// How the last poll went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// The last failure, with its fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<DateTime<Utc>>,
    /// Failed polls since the last successful one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consecutive_failures: u32,
    /// The earliest time the stream has read from (its first window's start): with `cursor`,
    /// the range it has read, less its `gaps`. Version 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_from: Option<DateTime<Utc>>,
    /// Time ranges never read because Graph had dropped them before a poll reached them (the
    /// latest [`MAX_GAPS`]). Version 6.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
    /// Inventory streams: where the next delta round starts (Graph's `@odata.deltaLink`; it
    /// holds a delta token, no credential). Version 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_link: Option<String>,
    /// The sweeps learned from the delays the stream observed. Version 7.
    #[serde(default, skip_serializing_if = "Ladder::is_empty")]
    pub ladder: Ladder,
    /// What was emitted per hour once the id set forgot it, for the long-age check. Version 7.
    #[serde(default, skip_serializing_if = "TailDigest::is_empty")]
    pub tail: TailDigest,
    /// A shaped sign-in stream's summaries, accounting and known values. Version 8.
    #[serde(default, skip_serializing_if = "Shaped::is_empty")]
    pub shaping: Shaped,
    /// Microsoft's export stream: a hub's offsets, or a stream section's hub counts and audit
    /// ledger ([`hub`]). Version 9.
    #[serde(default, skip_serializing_if = "HubState::is_empty")]
    pub hub: HubState,
}

/// How many gaps a stream keeps.
pub const MAX_GAPS: usize = 20;

/// A collection gap: `[from, to)` was never read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// When entra-source found it.
    pub found_at: DateTime<Utc>,
    pub reason: String,
}

impl StreamState {
    /// Records a gap (the oldest dropped past [`MAX_GAPS`]); one found again (a poll that
    /// failed after finding it) replaces the earlier record.
    pub fn add_gap(&mut self, gap: Gap) {
        self.gaps.retain(|g| g.from != gap.from);
        self.gaps.push(gap);
        if self.gaps.len() > MAX_GAPS {
            self.gaps.remove(0);
        }
    }

    /// The ranges read: `[read_from, cursor]` less the gaps, oldest first.
    pub fn read_ranges(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let (Some(mut from), Some(to)) = (self.read_from, self.cursor) else {
            return Vec::new();
        };
        let mut gaps: Vec<&Gap> = self.gaps.iter().collect();
        gaps.sort_by_key(|g| g.from);
        let mut out = Vec::new();
        for g in gaps {
            if g.to <= from || g.from >= to {
                continue;
            }
            if g.from > from {
                out.push((from, g.from));
            }
            from = from.max(g.to);
        }
        if from < to {
            out.push((from, to));
        }
        out
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl StreamState {
    /// Every field but the remembered ids (a journal delta's JSON; the ids travel as blocks).
    pub fn without_ids(&self) -> StreamState {
        StreamState {
            cursor: self.cursor,
            settled: self.settled.clone(),
            seen: SeenIds::default(),
            legacy_seen: None,
            fingerprint_texts: None,
            last_success: self.last_success,
            snapshot: self.snapshot.clone(),
            not_before: self.not_before,
            health: self.health,
            last_error: self.last_error.clone(),
            last_error_at: self.last_error_at,
            consecutive_failures: self.consecutive_failures,
            read_from: self.read_from,
            gaps: self.gaps.clone(),
            delta_link: self.delta_link.clone(),
            ladder: self.ladder.clone(),
            tail: self.tail.clone(),
            shaping: self.shaping.for_delta(),
            hub: self.hub.clone(),
        }
    }
}

/// The open, locked state store.
pub struct StateStore {
    path: PathBuf,
    tmp: PathBuf,
    /// `None` for a read-only view ([`StateStore::read_only`]), which never saves.
    lock: Option<File>,
    data: StateData,
    /// Sections changed since the last write: the next delta's content.
    dirty: BTreeSet<(String, String)>,
    /// The next write is a whole snapshot (a new file, a converted one, a structural change,
    /// a failed write).
    full: bool,
    /// Bytes of the file on disk, and of its snapshot frame.
    file_bytes: u64,
    snapshot_bytes: u64,
}

impl StateStore {
    /// Takes the lock (waiting a few seconds for a previous instance to exit), then reads the
    /// file, preferring a complete temp file left by a crash between fsync and rename.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        StateStore::open_waiting(path, LOCK_WAIT)
    }

    /// The same, refusing at once when another process holds the lock (`state` commands).
    pub fn open_now(path: &Path) -> Result<StateStore, StateError> {
        StateStore::open_waiting(path, Duration::ZERO)
    }

    fn open_waiting(path: &Path, wait: Duration) -> Result<StateStore, StateError> {
        let lock = acquire_lock(path, wait)?;
        let tmp = sibling(path, ".tmp");
        let mut store = match read_file(&tmp, false) {
            Ok(Some(found)) => {
                tracing::info!(path = %tmp.display(), "recovered the checkpoint from the temp file of an interrupted write");
                let mut st = StateStore::from_found(path, Some(found));
                st.full = true;
                st
            }
            Ok(None) => StateStore::from_found(path, read_file(path, true)?),
            Err(_) => {
                tracing::warn!(path = %tmp.display(), "ignoring an incomplete temp state file left by an interrupted write");
                StateStore::from_found(path, read_file(path, true)?)
            }
        };
        store.lock = Some(lock);
        Ok(store)
    }

    fn from_found(path: &Path, found: Option<Found>) -> StateStore {
        let mut st = StateStore {
            path: path.to_path_buf(),
            tmp: sibling(path, ".tmp"),
            lock: None,
            data: StateData {
                version: STATE_VERSION,
                tenants: BTreeMap::new(),
                moved: BTreeMap::new(),
            },
            dirty: BTreeSet::new(),
            full: true,
            file_bytes: 0,
            snapshot_bytes: 0,
        };
        if let Some(f) = found {
            st.data = f.data;
            // A torn last append is cut off by rewriting the file whole on the next write.
            st.full = f.converted || f.torn_tail;
            st.file_bytes = f.file_bytes;
            st.snapshot_bytes = f.snapshot_bytes;
            if f.torn_tail {
                tracing::warn!(path = %path.display(), "the state file ends in an incomplete checkpoint write (a crash mid-write); it is ignored, and the records it covered may be emitted once more");
            }
        }
        st
    }

    /// The file as it is, without the lock, for `state show` beside a running `run`: appends
    /// are whole frames with checksums and compactions an atomic rename, so a reader sees the
    /// last complete checkpoint (an append still being written is left out). A missing file
    /// reads as empty.
    pub fn read_only(path: &Path) -> Result<StateStore, StateError> {
        let mut st = StateStore::from_found(path, read_file(path, true)?);
        st.full = false;
        Ok(st)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn data(&self) -> &StateData {
        &self.data
    }

    /// For changes beyond one section (`state reset`, moving a tenant): the next write is a
    /// whole snapshot.
    pub fn data_mut(&mut self) -> &mut StateData {
        self.full = true;
        &mut self.data
    }

    pub fn stream(&self, tenant: &str, stream: &str) -> Option<&StreamState> {
        self.data.tenants.get(tenant)?.streams.get(stream)
    }

    pub fn stream_mut(&mut self, tenant: &str, stream: &str) -> &mut StreamState {
        if !self.full {
            self.dirty.insert((tenant.to_string(), stream.to_string()));
        }
        self.data
            .tenants
            .entry(tenant.to_string())
            .or_default()
            .streams
            .entry(stream.to_string())
            .or_default()
    }

    /// The section key of a configured `tenant.id`: a GUID lowercased; a domain, the GUID a
    /// run recorded it under (else the domain itself, for a tenant never resolved).
    pub fn tenant_key(&self, configured: &str) -> String {
        if crate::tenant::is_guid(configured) {
            return configured.to_ascii_lowercase();
        }
        let alias = configured.to_ascii_lowercase();
        self.data
            .tenants
            .iter()
            .find(|(_, t)| t.aliases.contains(&alias))
            .map_or_else(|| configured.to_string(), |(k, _)| k.clone())
    }

    /// A run learnt that `configured` is tenant `guid`: sections kept under another form of
    /// the id (a domain, an upper-case GUID) move to the GUID, where the GUID's own section
    /// does not already have them, and a domain is remembered as an alias. Returns whether
    /// anything changed (then the caller saves).
    /// Where `state export --remove` sent the tenant `guid` (configured as `configured`), if
    /// it did.
    pub fn moved(&self, guid: &str, configured: &str) -> Option<&Moved> {
        let alias = configured.to_ascii_lowercase();
        self.data.moved.get(guid).or_else(|| {
            self.data
                .moved
                .values()
                .find(|m| m.aliases.contains(&alias))
        })
    }

    pub fn adopt_tenant_alias(&mut self, configured: &str, guid: &str) -> bool {
        let old: Vec<String> = self
            .data
            .tenants
            .keys()
            .filter(|k| k.eq_ignore_ascii_case(configured) && k.as_str() != guid)
            .cloned()
            .collect();
        let mut changed = false;
        for k in old {
            if let Some(moved) = self.data.tenants.remove(&k) {
                let into = self.data.tenants.entry(guid.to_string()).or_default();
                for (name, section) in moved.streams {
                    into.streams.entry(name).or_insert(section);
                }
                for a in moved.aliases {
                    if !into.aliases.contains(&a) {
                        into.aliases.push(a);
                    }
                }
                tracing::info!(
                    from = %k,
                    to = %guid,
                    "state: the tenant's checkpoints move from the id as configured to its GUID"
                );
                changed = true;
            }
        }
        let alias = configured.to_ascii_lowercase();
        if !crate::tenant::is_guid(configured) {
            let entry = self.data.tenants.entry(guid.to_string()).or_default();
            if !entry.aliases.contains(&alias) {
                entry.aliases.push(alias);
                changed = true;
            }
        }
        if changed {
            self.full = true;
        }
        changed
    }

    /// Makes every change durable now (blocking I/O).
    pub fn save(&mut self) -> Result<(), StateError> {
        self.prepare()?.write()
    }

    /// The next write, encoded now (under the caller's lock) and made durable later by
    /// [`PendingWrite::write`], off the async workers: an append of the changed sections, or,
    /// when superseded frames make up most of the file, a compaction into one snapshot.
    pub fn prepare(&mut self) -> Result<PendingWrite, StateError> {
        let io = |action, source| StateError::Io {
            action,
            path: self.path.clone(),
            source,
        };
        if self.lock.is_none() {
            return Err(io(
                "write",
                std::io::Error::other("opened read-only, without the lock"),
            ));
        }
        let serialize = |e: serde_json::Error| io("serialize", std::io::Error::other(e));
        let live = self.snapshot_bytes.max(self.live_estimate());
        let compact = self.full || self.file_bytes > (2 * live).max(COMPACT_FLOOR);
        if compact {
            let mut bytes = journal::header(STATE_VERSION);
            bytes.extend(journal::snapshot(&self.data).map_err(serialize)?);
            for s in self
                .data
                .tenants
                .values_mut()
                .flat_map(|t| t.streams.values_mut())
            {
                s.seen.clear_pending();
                s.shaping.known.clear_pending();
                s.shaping.clear_pending();
            }
            self.dirty.clear();
            self.full = false;
            self.file_bytes = bytes.len() as u64;
            self.snapshot_bytes = self.file_bytes - journal::HEADER_BYTES as u64;
            return Ok(PendingWrite::Replace {
                bytes,
                path: self.path.clone(),
                tmp: self.tmp.clone(),
            });
        }
        let mut changed = Vec::new();
        for (t, name) in std::mem::take(&mut self.dirty) {
            if let Some(s) = self
                .data
                .tenants
                .get_mut(&t)
                .and_then(|ts| ts.streams.get_mut(&name))
            {
                let added = (
                    s.seen.take_pending(),
                    s.shaping.known.take_pending(),
                    s.shaping.take_pending(),
                );
                changed.push((t, name, added));
            }
        }
        let sections: Vec<_> = changed
            .into_iter()
            .filter_map(|(t, name, added)| {
                let s = self.stream(&t, &name)?;
                Some((t, name, s, added))
            })
            .collect();
        if sections.is_empty() {
            return Ok(PendingWrite::Nothing);
        }
        let bytes = journal::delta(sections).map_err(serialize)?;
        self.file_bytes += bytes.len() as u64;
        Ok(PendingWrite::Append {
            bytes,
            path: self.path.clone(),
        })
    }

    /// A prepared write failed: what it carried is not on disk, so the next write is whole.
    pub fn write_failed(&mut self) {
        self.full = true;
    }

    /// About what a snapshot of the state would take: 12 bytes an id, plus the sections.
    fn live_estimate(&self) -> u64 {
        let ids: usize = self
            .data
            .tenants
            .values()
            .flat_map(|t| t.streams.values())
            .map(|s| s.seen.len() + s.shaping.known.len())
            .sum();
        (ids * FINGERPRINT_BYTES) as u64
    }
}

impl StateError {
    /// The same error for another waiter (an I/O error keeps its kind and text).
    pub fn duplicate(&self) -> StateError {
        match self {
            StateError::Corrupt { path, reason } => StateError::Corrupt {
                path: path.clone(),
                reason: reason.clone(),
            },
            StateError::Version { path, found } => StateError::Version {
                path: path.clone(),
                found: *found,
            },
            StateError::Locked { path, holder } => StateError::Locked {
                path: path.clone(),
                holder: holder.clone(),
            },
            StateError::FutureCursor {
                stream,
                cursor,
                now,
            } => StateError::FutureCursor {
                stream: stream.clone(),
                cursor: cursor.clone(),
                now: now.clone(),
            },
            StateError::Io {
                action,
                path,
                source,
            } => StateError::Io {
                action,
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests;
