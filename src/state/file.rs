//! The store's file I/O: reading a file (journal or JSON), writing a checkpoint (an append or
//! a whole new file), and the lock.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{journal, legacy, StateData, StateError, STATE_VERSION};

/// A checkpoint's bytes, to be made durable.
pub enum PendingWrite {
    Nothing,
    /// One frame appended to the journal, then fsync.
    Append {
        bytes: Vec<u8>,
        path: PathBuf,
    },
    /// A whole new file: temp file, fsync, rename, fsync the directory.
    Replace {
        bytes: Vec<u8>,
        path: PathBuf,
        tmp: PathBuf,
    },
}

impl PendingWrite {
    /// Blocking I/O.
    pub fn write(self) -> Result<(), StateError> {
        match self {
            PendingWrite::Nothing => Ok(()),
            PendingWrite::Append { bytes, path } => {
                let io = |action, source| StateError::Io {
                    action,
                    path: path.clone(),
                    source,
                };
                let mut f = crate::fs::private_file(OpenOptions::new().append(true))
                    .open(&path)
                    .map_err(|e| io("append to", e))?;
                f.write_all(&bytes).map_err(|e| io("append to", e))?;
                f.sync_data().map_err(|e| io("fsync", e))?;
                crate::telemetry::StateWritten {
                    bytes: bytes.len() as u64,
                }
                .emit();
                Ok(())
            }
            PendingWrite::Replace { bytes, path, tmp } => {
                let io = |action, source| StateError::Io {
                    action,
                    path: path.clone(),
                    source,
                };
                let mut f = crate::fs::private_file(
                    OpenOptions::new().write(true).create(true).truncate(true),
                )
                .open(&tmp)
                .map_err(|e| io("write", e))?;
                f.write_all(&bytes).map_err(|e| io("write", e))?;
                f.sync_all().map_err(|e| io("fsync", e))?;
                drop(f);
                fs::rename(&tmp, &path).map_err(|e| io("rename", e))?;
                crate::telemetry::StateWritten {
                    bytes: bytes.len() as u64,
                }
                .emit();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    if let Ok(d) = File::open(dir) {
                        let _ = d.sync_all();
                    }
                }
                Ok(())
            }
        }
    }
}

pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A file's content.
pub(super) struct Found {
    pub(super) data: StateData,
    /// Read from a JSON file of versions 1 to 4: written back as a journal.
    pub(super) converted: bool,
    pub(super) torn_tail: bool,
    pub(super) file_bytes: u64,
    pub(super) snapshot_bytes: u64,
}

/// `Ok(None)` when the file does not exist (or is empty). `tolerate_torn_tail`: a last
/// append cut short is left out (else the file is refused).
pub(super) fn read_file(
    path: &Path,
    tolerate_torn_tail: bool,
) -> Result<Option<Found>, StateError> {
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
    decode(&bytes, path, tolerate_torn_tail)
}

/// A store's bytes (journal, or JSON of versions 1 to 4 or a `state export`); `path` names
/// where they came from in errors.
pub(super) fn decode(
    bytes: &[u8],
    path: &Path,
    tolerate_torn_tail: bool,
) -> Result<Option<Found>, StateError> {
    // A file created empty beforehand (a volume mount, `touch`, configuration management)
    // holds no checkpoint yet: it is a new state, not a corrupt one.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let corrupt = |reason: String| StateError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if !journal::is_journal(bytes) {
        if bytes.starts_with(&journal::MAGIC[..4]) {
            return Err(corrupt("the header is damaged".into()));
        }
        let data = legacy::read_json(bytes, path)?;
        return Ok(Some(Found {
            data,
            converted: true,
            torn_tail: false,
            file_bytes: bytes.len() as u64,
            snapshot_bytes: 0,
        }));
    }
    match journal::decode(bytes, STATE_VERSION) {
        Ok(d) if d.torn_tail && !tolerate_torn_tail => {
            Err(corrupt("its last frame is incomplete".into()))
        }
        Ok(mut d) => Ok(Some(Found {
            // An older journal (version 5) is rewritten whole, under this version's header,
            // on the first write: an older entra-source then refuses it by its version.
            converted: std::mem::replace(&mut d.data.version, STATE_VERSION) < STATE_VERSION,
            data: d.data,
            torn_tail: d.torn_tail,
            file_bytes: d.valid_len,
            snapshot_bytes: d.snapshot_bytes,
        })),
        Err(journal::DecodeError::Version(found)) => Err(StateError::Version {
            path: path.to_path_buf(),
            found,
        }),
        Err(journal::DecodeError::Corrupt(reason)) => Err(corrupt(reason)),
    }
}

/// Locks `{path}.lock` exclusively, writing this process id into it.
pub(super) fn acquire_lock(path: &Path, wait: Duration) -> Result<File, StateError> {
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
