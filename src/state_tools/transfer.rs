//! `state export` / `state import`: tenants' checkpoints move between stores with the tenants
//! (a re-shard, a move to another host), so a moved tenant resumes where its old shard stopped
//! instead of re-reading `initial_lookback`.
//!
//! The transfer format is `state export`'s JSON document ([`crate::state::transfer`], which
//! writes and reads it). `export --out FILE --remove` writes and fsyncs the file before it takes the
//! tenants out of this store, and never overwrites a file (an earlier export not yet imported).
//! `import` takes every tenant of its files or none: a tenant that already has checkpoints
//! here, or that this store's config (and shard) does not poll, refuses the whole import.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::SecondsFormat;

use super::StateToolError;
use crate::config::Config;
use crate::shard::{owner, Shard};
use crate::state::{PendingWrite, StateData, StateError, StateStore, TenantState};

/// What `state export` writes.
pub struct Export<'a> {
    /// Only these tenants (GUIDs, or domains a run recorded as aliases); else every tenant.
    pub tenants: &'a [String],
    /// Only the tenants of the config's shard (the config's tenant list is already cut to it).
    pub by_shard: bool,
    /// Write here (fsynced) instead of stdout.
    pub out: Option<&'a Path>,
    /// Take the exported tenants out of this store once the file is durable.
    pub remove: bool,
}

/// `state export`: the chosen tenants' sections as one JSON document.
pub fn export(config: &Config, opts: Export<'_>) -> Result<(), StateToolError> {
    let usage = |m: String| Err(StateToolError::Usage(m));
    if opts.remove && opts.out.is_none() {
        return usage("--remove needs --out FILE: the export is written and fsynced before its tenants leave this store".into());
    }
    if let Some(out) = opts.out.filter(|o| o.exists()) {
        return usage(format!(
            "--out {} exists (an earlier export not yet imported?); import it with `entra-source state import`, or move it aside",
            out.display()
        ));
    }
    // Reading beside a run is fine; taking tenants out of the store is not.
    let mut store = if opts.remove {
        StateStore::open_now(&config.state_path)?
    } else {
        StateStore::read_only(&config.state_path)?
    };
    let held = &store.data().tenants;
    let keys: Vec<String> = if !opts.tenants.is_empty() {
        let mut keys = Vec::new();
        for t in opts.tenants {
            let key = store.tenant_key(t);
            if !held.contains_key(&key) {
                return usage(format!(
                    "tenant {t} has no checkpoint in {}; `entra-source state show` lists the tenants it holds",
                    config.state_path.display()
                ));
            }
            keys.push(key);
        }
        keys
    } else if opts.by_shard {
        config
            .tenants
            .iter()
            .map(|t| store.tenant_key(&t.id))
            .filter(|k| held.contains_key(k))
            .collect()
    } else {
        held.keys().cloned().collect()
    };
    let doc =
        crate::state::transfer::encode(keys.iter().filter_map(|k| held.get(k).map(|ts| (k, ts))));
    let Some(out) = opts.out else {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{doc}");
        return Ok(());
    };
    if keys.is_empty() {
        tracing::info!(
            "no tenant to export: {} holds none of the ones asked for; no file written",
            config.state_path.display()
        );
        return Ok(());
    }
    // The store's own durable replace: temp file, fsync, rename, fsync the directory.
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".tmp");
    PendingWrite::Replace {
        bytes: format!("{doc}\n").into_bytes(),
        path: out.to_path_buf(),
        tmp: PathBuf::from(tmp),
    }
    .write()?;
    tracing::info!(
        tenants = keys.len(),
        "exported {} tenant(s) to {}: {}",
        keys.len(),
        out.display(),
        keys.join(", ")
    );
    if opts.remove {
        let at = chrono::Utc::now();
        for key in &keys {
            let aliases = store
                .data_mut()
                .tenants
                .remove(key)
                .map(|t| t.aliases)
                .unwrap_or_default();
            // Remembered, so that a run whose config still names it refuses it.
            store.data_mut().moved.insert(
                key.clone(),
                crate::state::Moved {
                    to: out.display().to_string(),
                    at,
                    aliases: aliases.clone(),
                },
            );
            // The directory cache is rebuilt by the tenant's new shard; a copy left here
            // would only fill the disk.
            for name in std::iter::once(key).chain(&aliases) {
                let _ = std::fs::remove_file(crate::context::cache_path(&config.state_path, name));
            }
        }
        store.save()?;
        tracing::info!(
            "removed them from {}: import the file into the store of the shard that polls them now",
            config.state_path.display()
        );
    }
    Ok(())
}

/// One tenant's sections, with each section's remembered ids.
/// `state import FILE...` (`-` reads stdin): every tenant of the files joins this store, or
/// none does. `config` is the whole config (not cut to `shard`), so a tenant of another shard
/// is named with the shard it belongs to.
pub fn import(
    config: &Config,
    shard: Option<Shard>,
    files: &[PathBuf],
    replace: bool,
) -> Result<(), StateToolError> {
    let usage = |m: String| Err(StateToolError::Usage(m));
    if files.is_empty() {
        return usage(
            "name the files to import (`state export --out FILE` wrote them), or - for stdin"
                .into(),
        );
    }
    let mut incoming: BTreeMap<String, (TenantState, PathBuf)> = BTreeMap::new();
    for file in files {
        let data = read(file)?;
        for (key, ts) in data.tenants {
            if let Some((_, first)) = incoming.get(&key) {
                return usage(format!(
                    "tenant {key} is in both {} and {}: import one of them",
                    first.display(),
                    file.display()
                ));
            }
            incoming.insert(key, (ts, file.clone()));
        }
    }
    let mut store = StateStore::open_now(&config.state_path)?;
    let mut problems = Vec::new();
    for (key, (ts, file)) in &incoming {
        let names = |id: &str| {
            id.eq_ignore_ascii_case(key) || ts.aliases.contains(&id.to_ascii_lowercase())
        };
        match config.tenants.iter().find(|t| names(&t.id)) {
            None => problems.push(format!(
                "tenant {key} (from {}) is not in this config; add it as a [[tenants]] entry, or leave its file out",
                file.display()
            )),
            Some(t) => {
                if let Some(s) = shard.filter(|s| !s.owns(&t.id)) {
                    problems.push(format!(
                        "tenant {key} belongs to shard {}/{}, not {}/{}; import {} into that shard's store",
                        owner(&t.id, s.count),
                        s.count,
                        s.index,
                        s.count,
                        file.display()
                    ));
                }
            }
        }
        // A checkpoint from a host whose clock ran ahead would skip everything up to it.
        let now = chrono::Utc::now();
        for (name, s) in &ts.streams {
            if let Some(c) = s
                .cursor
                .filter(|c| *c > now + crate::poll::window::MAX_CLOCK_SKEW)
            {
                problems.push(format!(
                    "tenant {key} stream {name} (from {}): its checkpoint {} is {} days ahead of this host's clock ({}), so importing it would skip every record up to then; the exporting host's clock was wrong or the file was edited: fix that host's clock and export again, or rewind that store first with `entra-source state reset --stream {} --since TIME`",
                    file.display(),
                    c.to_rfc3339_opts(SecondsFormat::Secs, true),
                    (c - now).num_days(),
                    now.to_rfc3339_opts(SecondsFormat::Secs, true),
                    crate::telemetry::split_section(name).0,
                ));
            }
        }
        let here = std::iter::once(key)
            .chain(&ts.aliases)
            .map(|name| store.tenant_key(name))
            .find(|k| {
                store
                    .data()
                    .tenants
                    .get(k)
                    .is_some_and(|t| !t.streams.is_empty())
            });
        if let (Some(k), false) = (here, replace) {
            problems.push(format!(
                "tenant {key} already has checkpoints in {} (as {k}); pass --replace to overwrite them with {}'s",
                config.state_path.display(),
                file.display()
            ));
        }
    }
    if !problems.is_empty() {
        return usage(format!("nothing imported: {}", problems.join("; ")));
    }
    let data = store.data_mut();
    for (key, (ts, file)) in incoming {
        for alias in &ts.aliases {
            data.tenants.remove(alias);
        }
        // Brought back (or here for the first time): no longer refused.
        data.moved.remove(&key);
        let streams: Vec<String> = ts
            .streams
            .iter()
            .map(|(name, s)| {
                let at = s.cursor.map_or_else(
                    || "never polled".to_string(),
                    |c| c.to_rfc3339_opts(SecondsFormat::Secs, true),
                );
                format!("{name} at {at}")
            })
            .collect();
        tracing::info!(
            "imported tenant {key} from {}: {}",
            file.display(),
            streams.join(", ")
        );
        data.tenants.insert(key, ts);
    }
    store.save()?;
    Ok(())
}

fn read(file: &Path) -> Result<StateData, StateToolError> {
    let mut bytes = Vec::new();
    let result = if file.as_os_str() == "-" {
        std::io::stdin().lock().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut bytes).map(|_| ()))
    };
    result.map_err(|source| {
        StateToolError::State(StateError::Io {
            action: "read",
            path: file.to_path_buf(),
            source,
        })
    })?;
    Ok(crate::state::transfer::decode(&bytes, file)?)
}
