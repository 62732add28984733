//! The checkpoint file (`CONTRACT.md` § State file): versioned JSON, one section per tenant and
//! stream, written atomically (temp file, fsync, rename), recovered temp-first, and guarded by a
//! lock file so two processes never share it. It never holds a secret or a token.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod seen;

pub use crate::telemetry::Health;
pub use seen::{fingerprint, fingerprint_text, Fingerprint, SeenIds};

/// The state format this build writes. Versions 1 (no health, no `not_before`), 2 (tenants
/// keyed by `tenant.id` as the config wrote it, GUID or domain) and 3 (the emitted ids kept
/// whole) are read too: a section kept under a domain moves to the tenant's GUID the first time
/// a run learns it, and kept ids become fingerprints.
pub const STATE_VERSION: u32 = 4;

/// How long a start waits for a lock still held by a previous instance that is exiting.
const LOCK_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path} is corrupt ({reason}); it was left untouched. Restore it from a backup, or move it aside to start again from initial_lookback (records since then are read again)")]
    Corrupt { path: PathBuf, reason: String },
    #[error("state file {path} has version {found}, which this entra-source (version {STATE_VERSION}) does not understand; upgrade entra-source")]
    Version { path: PathBuf, found: u64 },
    #[error("state file {path} is locked by another entra-source process{holder}; stop that process, or give this instance its own [state] path")]
    Locked { path: PathBuf, holder: String },
    #[error("the checkpoint of {stream} ({cursor}) is more than a day ahead of this host's clock ({now}); fix the clock (NTP), or rewind the stream with `entra-source state reset --stream {stream} --since <time>`")]
    FutureCursor {
        stream: String,
        cursor: String,
        now: String,
    },
    #[error("cannot {action} state file {path}: {source}; check the directory exists and is writable by this user")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The whole file.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateData {
    pub version: u32,
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantState>,
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
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamState {
    /// The next poll reads from `cursor − late_arrival`.
    pub cursor: Option<DateTime<Utc>>,
    /// Fingerprints of the `event.id`s already emitted inside the re-read window, by record
    /// second.
    #[serde(default, rename = "seen_fingerprints")]
    pub seen: SeenIds,
    /// Versions 1 to 3 kept the ids themselves: read, turned into fingerprints, never written.
    #[serde(default, rename = "seen", skip_serializing)]
    legacy_seen: Option<BTreeMap<DateTime<Utc>, Vec<String>>>,
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
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The open, locked state file.
pub struct StateStore {
    path: PathBuf,
    tmp: PathBuf,
    /// `None` for a read-only view ([`StateStore::read_only`]), which never saves.
    lock: Option<File>,
    pub data: StateData,
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
        let data = match read_state(&tmp) {
            Ok(Some(d)) => {
                tracing::info!(path = %tmp.display(), "recovered the checkpoint from the temp file of an interrupted write");
                d
            }
            Ok(None) => read_state(path)?.unwrap_or_else(|| StateData {
                version: STATE_VERSION,
                tenants: BTreeMap::new(),
            }),
            Err(_) => {
                tracing::warn!(path = %tmp.display(), "ignoring an incomplete temp state file left by an interrupted write");
                read_state(path)?.unwrap_or_else(|| StateData {
                    version: STATE_VERSION,
                    tenants: BTreeMap::new(),
                })
            }
        };
        Ok(StateStore {
            path: path.to_path_buf(),
            tmp,
            lock: Some(lock),
            data,
        })
    }

    /// The file as it is, without the lock, for `state show` beside a running `run`: the file
    /// is only ever replaced by an atomic rename, so a reader sees one whole version (a temp
    /// file mid-write is not looked at). A missing file reads as empty.
    pub fn read_only(path: &Path) -> Result<StateStore, StateError> {
        let data = read_state(path)?.unwrap_or_else(|| StateData {
            version: STATE_VERSION,
            tenants: BTreeMap::new(),
        });
        Ok(StateStore {
            path: path.to_path_buf(),
            tmp: sibling(path, ".tmp"),
            lock: None,
            data,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stream(&self, tenant: &str, stream: &str) -> Option<&StreamState> {
        self.data.tenants.get(tenant)?.streams.get(stream)
    }

    pub fn stream_mut(&mut self, tenant: &str, stream: &str) -> &mut StreamState {
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
        changed
    }

    /// Writes the temp file, fsyncs it, renames it over the state file and fsyncs the directory.
    pub fn save(&self) -> Result<(), StateError> {
        self.prepare()?.write()
    }

    /// The file's next version, serialized now (under the caller's lock) and written later by
    /// [`PendingWrite::write`], off the async workers.
    pub fn prepare(&self) -> Result<PendingWrite, StateError> {
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
        let bytes = serde_json::to_vec(&self.data)
            .map_err(|e| io("serialize", std::io::Error::other(e)))?;
        Ok(PendingWrite {
            bytes,
            path: self.path.clone(),
            tmp: self.tmp.clone(),
        })
    }
}

/// A serialized version of the state file, to be made durable.
pub struct PendingWrite {
    bytes: Vec<u8>,
    path: PathBuf,
    tmp: PathBuf,
}

impl PendingWrite {
    /// Temp file, fsync, rename over the state file, fsync the directory: blocking I/O.
    pub fn write(self) -> Result<(), StateError> {
        let io = |action, source| StateError::Io {
            action,
            path: self.path.clone(),
            source,
        };
        let mut f =
            crate::fs::private_file(OpenOptions::new().write(true).create(true).truncate(true))
                .open(&self.tmp)
                .map_err(|e| io("write", e))?;
        f.write_all(&self.bytes).map_err(|e| io("write", e))?;
        f.sync_all().map_err(|e| io("fsync", e))?;
        drop(f);
        fs::rename(&self.tmp, &self.path).map_err(|e| io("rename", e))?;
        crate::telemetry::StateWritten.emit();
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
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

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `Ok(None)` when the file does not exist.
fn read_state(path: &Path) -> Result<Option<StateData>, StateError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                action: "read",
                path: path.to_path_buf(),
                source,
            })
        }
    };
    // A file created empty beforehand (a volume mount, `touch`, configuration management)
    // holds no checkpoint yet: it is a new state, not a corrupt one.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let corrupt = |reason: String| StateError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    match v.get("version").and_then(serde_json::Value::as_u64) {
        Some(1..=4) => {}
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
        for (t, ids) in s.legacy_seen.take().into_iter().flatten() {
            for id in ids {
                s.seen.insert(id, t);
            }
        }
    }
    // Older files read as they are (the new fields default); they are written back as the
    // current version.
    data.version = STATE_VERSION;
    Ok(Some(data))
}

/// Locks `{path}.lock` exclusively, writing this process id into it.
fn acquire_lock(path: &Path, wait: Duration) -> Result<File, StateError> {
    let lock_path = sibling(path, ".lock");
    let io = |action, source| StateError::Io {
        action,
        path: lock_path.clone(),
        source,
    };
    let mut file = crate::fs::private_file(
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true),
    )
    .open(&lock_path)
    .map_err(|e| io("open the lock of", e))?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(StateError::Locked {
                    path: path.to_path_buf(),
                    holder: if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    },
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io("lock", e)),
        }
    }
    file.set_len(0).map_err(|e| io("write the lock of", e))?;
    write!(file, "{}", std::process::id()).map_err(|e| io("write the lock of", e))?;
    Ok(file)
}

#[cfg(test)]
mod tests;
